"""Reaching the approver where they are, in a real browser through the sandbox's page: a DM
approval that updates the channel copy, the Home tab after a decision, and "approve all" over a
group with one item the clicker may not decide. Each checks the Slack side the page shows and
the Step Functions side in moto.

What they expect of the bot's wording (button texts, Home section titles) is named at the top.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.e2e.test_sandbox_browser import act_as, button, confirm, execution_row, shot

pytestmark = pytest.mark.e2e

APPROVE = "approval.approve"
APPROVE_ALL = re.compile(r"^Approve all \d+")  # the group message's button (issue 15, item 3)
WAITING = "Waiting for you"  # the Home tab's sections (issue 15, item 2)
DECIDED = "Recently decided"


# --- helpers --------------------------------------------------------------------------------------


def start(
    page: Page,
    service: str,
    *,
    notify: str = "channel",
    group: str = "",
    count: int = 1,
    approvers: tuple[str, ...] = (),
) -> None:
    """Fill and send the start form (notify, group, how many, approvers); wait for the toast."""
    form = page.get_by_test_id("start-form")
    form.get_by_label("Service").fill(service)
    form.get_by_label("Version").fill("1.0.0")
    form.get_by_label("Requester").select_option("U0BO")
    form.get_by_label("Notify").select_option(notify)
    form.get_by_label("Group").fill(group)
    form.get_by_label("How many").fill(str(count))
    for name in approvers:
        page.get_by_test_id("start-approvers").get_by_label(name, exact=True).check()
    form.get_by_test_id("start-submit").click()
    started = "Started run-" if count == 1 else f"Started {count} executions"
    expect(page.get_by_test_id("toast").filter(has_text=started).last).to_be_visible()
    # Leave the form as the next test expects to find it.
    for checkbox in page.get_by_test_id("start-approvers").get_by_role("checkbox").all():
        checkbox.uncheck()
    form.get_by_label("Notify").select_option("channel")
    form.get_by_label("Group").fill("")
    form.get_by_label("How many").fill("1")


def rows_of(page: Page, service: str) -> Locator:
    title = page.get_by_test_id("execution-title").filter(has_text=re.compile(rf"^{service} "))
    return page.get_by_test_id("execution").filter(has=title)


def channel_message(page: Page, text: str) -> Locator:
    return page.get_by_test_id("messages").get_by_test_id("message").filter(has_text=text)


def dm_message(page: Page, text: str) -> Locator:
    return page.get_by_test_id("dms").get_by_test_id("dm-message").filter(has_text=text)


def open_tab(page: Page, name: str) -> None:
    tab = page.get_by_test_id(f"app-tab-{name}")
    tab.click()
    expect(tab).to_have_attribute("aria-selected", "true")


# --- a DM approval updates the channel copy ----------------------------------------------------


def test_a_dm_approval_updates_the_channel_copy(page: Page, screenshots: Path) -> None:
    start(page, "e2e15-dm", notify="both", approvers=("ana",))
    row = execution_row(page, "e2e15-dm")
    in_channel = channel_message(page, "Deploy e2e15-dm ")
    expect(button(in_channel, APPROVE)).to_be_visible()

    act_as(page, "U0ANA")
    open_tab(page, "messages")
    copy = dm_message(page, "Deploy e2e15-dm ")
    expect(copy).to_have_count(1)
    expect(button(copy, APPROVE)).to_be_visible()
    shot(page, screenshots, "k1-dm-copy")

    button(copy, APPROVE).click()
    confirm(page, "Approve this request?", "Approve")
    expect(row).to_have_attribute("data-status", "SUCCEEDED")
    # Every copy tells the same truth, none keeps a live button.
    for message in (in_channel, copy):
        expect(message).to_contain_text("Approved by @ana")
        expect(message.get_by_test_id("button")).to_have_count(0)
    shot(page, screenshots, "k2-dm-approved-channel-updated")

    act_as(page, "U0CY")  # cy is no approver: no copy in cy's DM
    expect(dm_message(page, "Deploy e2e15-dm ")).to_have_count(0)


# --- the Home tab after a decision ---------------------------------------------------------------


def test_the_home_tab_after_a_decision(page: Page, screenshots: Path) -> None:
    start(page, "e2e15-home", approvers=("ana",))
    row = execution_row(page, "e2e15-home")
    expect(button(channel_message(page, "Deploy e2e15-home "), APPROVE)).to_be_visible()

    act_as(page, "U0ANA")
    open_tab(page, "home")
    home = page.get_by_test_id("home-view")
    expect(home).to_contain_text(WAITING)
    expect(home).to_contain_text("e2e15-home")
    expect(button(home, APPROVE).first).to_be_visible()
    shot(page, screenshots, "l1-home-waiting")

    # Decide from the Home tab itself.
    item = home.locator("[data-block-id]").filter(has_text="e2e15-home")
    target = button(item, APPROVE).first if item.count() else button(home, APPROVE).first
    target.click()
    confirm(page, "Approve this request?", "Approve")
    expect(row).to_have_attribute("data-status", "SUCCEEDED")
    expect(channel_message(page, "Deploy e2e15-home ")).to_contain_text("Approved by @ana")

    # The Home tab is refreshed: the request moved from "Waiting for you" to "Recently decided".
    open_tab(page, "messages")
    open_tab(page, "home")
    expect(home).to_contain_text(DECIDED)
    text = home.inner_text()
    assert "e2e15-home" in text.split(DECIDED, 1)[1], text
    waiting_part = text.split(WAITING, 1)[1].split(DECIDED, 1)[0] if WAITING in text else ""
    assert "e2e15-home" not in waiting_part, text
    shot(page, screenshots, "l2-home-after-decision")

    act_as(page, "U0EVE")  # eve may decide nothing: her Home shows none of it waiting
    open_tab(page, "home")
    expect(page.get_by_test_id("home").get_by_test_id("button")).to_have_count(0)


# --- approve all, one item not decidable by the clicker ------------------------------------------


def test_approve_all_skips_the_item_the_clicker_may_not_decide(
    page: Page, screenshots: Path
) -> None:
    group = "e2e15-batch"
    start(page, "e2e15-group", group=group, count=2, approvers=("ana",))
    start(page, "e2e15-group-cy", group=group, approvers=("cy",))
    ana_rows, cy_rows = rows_of(page, "e2e15-group"), rows_of(page, "e2e15-group-cy")
    expect(ana_rows).to_have_count(2)
    expect(cy_rows).to_have_count(1)

    # One message for the group, listing its three items.
    grouped = (
        page.get_by_test_id("messages")
        .get_by_test_id("message")
        .filter(has=page.get_by_role("button", name=APPROVE_ALL))
    )
    expect(grouped).to_have_count(1)
    expect(grouped).to_contain_text("e2e15-group-cy")
    expect(grouped.get_by_role("button", name=APPROVE_ALL)).to_have_text(
        re.compile(r"Approve all 3")
    )
    shot(page, screenshots, "m1-group")

    act_as(page, "U0ANA")
    grouped.get_by_role("button", name=APPROVE_ALL).click()
    dialog = page.get_by_role("alertdialog")
    expect(dialog).to_contain_text("3")  # the confirm names the count
    dialog.get_by_test_id("confirm-ok").click()

    for index in range(2):
        expect(ana_rows.nth(index)).to_have_attribute("data-status", "SUCCEEDED")
    expect(cy_rows).to_have_attribute("data-status", "RUNNING")  # skipped, still waiting
    # The bot says what it skipped (an ephemeral to ana, or in the message).
    expect(page.get_by_test_id("app")).to_contain_text(re.compile(r"skipped", re.IGNORECASE))
    shot(page, screenshots, "m2-approve-all-skipped-one")

    act_as(page, "U0CY")
    expect(grouped.get_by_role("button", name=APPROVE_ALL)).to_have_text(
        re.compile(r"Approve all 1")
    )
