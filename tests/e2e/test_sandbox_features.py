"""The sandbox's page and the bot's newer features, in a real browser: N-of-M votes with the
approve form (text, number and select inputs, the bot's per-field errors), high-risk requests
(type the Ref code), reminders and escalation as thread replies (the sweep, run from the page)
and ``/approvals history``. At the end, the page's JSON API for each person's direct messages
with the app and Home tab (and the start form's ``notify`` / ``group`` / "start N"), against the
stand-in directly: what the page shows once the bot posts DM copies or publishes Home views.

As in ``test_sandbox_browser.py``: each test starts its own execution from the page with a
distinct service name, acts as ana / bo / cy / eve through "You are", checks the Slack message
the bot rendered and the execution in moto, and saves a screenshot per feature into
``tests/e2e/screenshots/``.
"""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest
from playwright.sync_api import Locator, Page, expect
from slack_sdk import WebClient

from tests.e2e.test_sandbox_browser import (
    act_as,
    button,
    confirm,
    execution_row,
    request_message,
    run_command,
    shot,
)

pytestmark = pytest.mark.e2e

APPROVE = "approval.approve"
APPROVE_FORM = "approval.approve_form"
REJECT = "approval.reject"
REF_RE = re.compile(r"Ref ([A-Z2-7]{6})")


# --- helpers --------------------------------------------------------------------------------------


def start_request(
    page: Page,
    service: str,
    *,
    approvers: tuple[str, ...] = (),
    required_approvals: int = 1,
    remind_every: int | None = None,
    escalate_after: int | None = None,
    escalate_to: tuple[str, ...] = (),
    inputs: bool = False,
    high_risk: bool = False,
) -> Locator:
    """Fill the "Start an execution" form, policy included; the execution's row once listed."""
    form = page.get_by_test_id("start-form")
    form.get_by_label("Service").fill(service)
    form.get_by_label("Version").fill("1.0.0")
    form.get_by_label("Requester").select_option("U0BO")
    more = form.get_by_test_id("start-more")
    if more.get_attribute("open") is None:
        more.locator("summary").click()  # "Votes, reminders, approve form" opens
    for name in approvers:
        page.get_by_test_id("start-approvers").get_by_label(name, exact=True).check()
    form.get_by_label("Required approvals").fill(str(required_approvals))
    form.get_by_label("Remind every (seconds)").fill(str(remind_every or ""))
    form.get_by_label("Escalate after (seconds)").fill(str(escalate_after or ""))
    for name in escalate_to:
        page.get_by_test_id("start-escalate-to").get_by_label(name, exact=True).check()
    form.get_by_label("Ask for change ticket, rollout % and window").set_checked(inputs)
    form.get_by_label("High risk").set_checked(high_risk)
    form.get_by_role("button", name="Start execution").click()
    row = execution_row(page, service)
    expect(row).to_be_visible()
    # The form keeps what was picked: leave it as the next test expects to find it.
    for box in ("start-approvers", "start-escalate-to"):
        for checkbox in page.get_by_test_id(box).get_by_role("checkbox").all():
            checkbox.uncheck()
    return row


def open_approve_form(page: Page, message: Locator) -> Locator:
    button(message, APPROVE_FORM).click()
    modal = page.get_by_role("dialog", name="Approve request")
    expect(modal).to_be_visible()
    return modal


def submit(modal: Locator) -> None:
    modal.get_by_role("button", name="Approve", exact=True).click()


def error_of(modal: Locator, block_id: str) -> Locator:
    return modal.locator(f'[data-input-block="{block_id}"]').get_by_test_id("input-error")


def decision_of(row: Locator) -> dict[str, Any]:
    """What the approval task returned (the example's last state keeps only part of it)."""
    output = row.get_by_test_id("execution-decision")
    output.locator("summary").click()
    expect(output.locator("pre")).to_be_visible()
    return dict(json.loads(output.locator("pre").inner_text()))


def ref_code(message: Locator) -> str:
    found = REF_RE.search(message.get_by_test_id("block-context").inner_text())
    assert found, message.inner_text()
    return found.group(1)


# --- N of M, with inputs --------------------------------------------------------------------------


def test_two_of_two_with_inputs(page: Page, sandbox: Any, screenshots: Path) -> None:
    row = start_request(
        page, "e2e-votes", approvers=("ana", "cy"), required_approvals=2, inputs=True
    )
    message = request_message(page, "e2e-votes")
    expect(message).to_contain_text("0 of 2 approvals")
    expect(message.get_by_test_id("button")).to_have_text(["Approve…", "Reject"])

    # ana: the form, a rollout the bot refuses, then a good one.
    modal = open_approve_form(page, message)
    expect(modal).to_contain_text("0 of 2 approvals so far")
    ticket = modal.get_by_label("Change ticket")
    expect(ticket).to_be_focused()
    expect(ticket).to_have_attribute("aria-required", "true")
    rollout = modal.get_by_label("Rollout %")
    expect(modal.locator('[data-input-block="input:rollout"]')).to_contain_text(
        "A number from 1 to 100"
    )
    window = modal.get_by_label("Window")
    expect(window.locator("option")).to_have_text(["Choose…", "now", "tonight"])
    ticket.fill("CHG-42")
    rollout.fill("250")
    window.select_option("tonight")
    submit(modal)
    expect(error_of(modal, "input:rollout")).to_have_text("At most 100.")
    expect(rollout).to_have_attribute("aria-invalid", "true")
    expect(error_of(modal, "input:ticket")).to_be_hidden()
    expect(rollout).to_be_focused()
    shot(page, screenshots, "f1-inputs-error")

    # The page sends Slack's state shapes; the sandbox, like Slack, only takes the view's options.
    forged = {"type": "static_select", "selected_option": {"value": "never"}}
    answer = page.request.post(
        f"{sandbox.url}api/submit",
        data={
            "user": "U0ANA",
            "view_id": modal.get_attribute("data-view-id"),
            "values": {"input:window": {"value": forged}},
        },
    )
    assert answer.status == 400
    assert "has no option 'never'" in answer.json()["error"]

    rollout.fill("25")
    expect(error_of(modal, "input:rollout")).to_be_hidden()  # typing clears the error
    submit(modal)
    expect(modal).to_be_hidden()
    expect(message).to_contain_text("1 of 2 approvals: @ana")
    expect(page.get_by_test_id("ephemeral").last).to_contain_text("1 of 2 so far")
    expect(row).to_have_attribute("data-status", "RUNNING")
    shot(page, screenshots, "f2-one-of-two")

    # cy: the second approval decides it.
    act_as(page, "U0CY")
    modal = open_approve_form(page, message)
    expect(modal).to_contain_text("1 of 2 approvals so far")
    modal.get_by_label("Change ticket").fill("CHG-42")
    modal.get_by_label("Rollout %").fill("50")
    modal.get_by_label("Window").select_option("now")
    modal.get_by_label("Comment").fill("ok from <oncall> & me")
    submit(modal)
    expect(modal).to_be_hidden()

    expect(message).to_contain_text("Approved by @ana, @cy")
    expect(message).to_contain_text("ticket: CHG-42")
    expect(message).to_contain_text("rollout: 50")
    expect(message.get_by_test_id("button")).to_have_count(0)
    expect(row).to_have_attribute("data-status", "SUCCEEDED")
    approval = decision_of(row)["approval"]["decision"]
    assert approval["inputs"] == {"ticket": "CHG-42", "rollout": 50, "window": "now"}
    assert approval["comment"] == "ok from <oncall> & me"
    assert [a["name"] for a in approval["approvers"]] == ["ana", "cy"]
    decision = row.get_by_test_id("execution-decision").locator("pre")
    decision.evaluate("node => { node.scrollTop = node.scrollHeight; }")  # its inputs, comment
    decision.scroll_into_view_if_needed()
    shot(page, screenshots, "f3-two-of-two-approved")


# --- high risk ------------------------------------------------------------------------------------


def test_high_risk_needs_the_ref_code(page: Page, screenshots: Path) -> None:
    row = start_request(page, "e2e-risky", high_risk=True)
    message = request_message(page, "e2e-risky")
    expect(message.get_by_test_id("block-context")).to_contain_text("High risk")
    code = ref_code(message)

    modal = open_approve_form(page, message)
    typed = modal.get_by_label(f"Type {code} to confirm")
    typed.fill("ZZZZZZ" if code != "ZZZZZZ" else "YYYYYY")
    submit(modal)
    expect(error_of(modal, "code")).to_have_text(f"Type {code} to confirm.")
    expect(typed).to_have_attribute("aria-invalid", "true")
    expect(row).to_have_attribute("data-status", "RUNNING")
    shot(page, screenshots, "g1-high-risk-wrong-code")

    typed.fill(code.lower())  # the bot compares case-insensitively
    submit(modal)
    expect(modal).to_be_hidden()
    expect(message).to_contain_text("Approved by @ana")
    expect(row).to_have_attribute("data-status", "SUCCEEDED")
    shot(page, screenshots, "g2-high-risk-approved")


# --- reminders and escalation: thread replies -----------------------------------------------------


def test_reminder_then_escalation_in_the_thread(page: Page, screenshots: Path) -> None:
    """remind_every PT1S, escalate_after PT2S: a sweep after 1 s reminds, one after 2 s
    escalates (escalation wins when both are due). The background sweep runs every 10 s and
    does the same thing, so whichever sweep comes first, the thread reads the same."""
    row = start_request(
        page,
        "e2e-nudge",
        approvers=("ana",),
        remind_every=1,
        escalate_after=2,
        escalate_to=("@oncall",),
    )
    message = request_message(page, "e2e-nudge")
    expect(button(message, APPROVE)).to_be_visible()
    posted = float(message.get_attribute("data-ts") or 0)  # when the bot posted it (wall clock)
    sweep = page.get_by_test_id("sweep-now")
    thread_toggle = message.get_by_test_id("thread-toggle")

    def sweep_at(age: float) -> None:
        """Run the sweep once the request is ``age`` seconds old."""
        page.wait_for_timeout(max(0.0, posted + age - time.time()) * 1000)
        sweep.click()
        expect(page.get_by_test_id("toast").filter(has_text="Sweep done")).not_to_have_count(0)

    sweep_at(1.3)  # the reminder is due, the escalation not yet
    expect(thread_toggle).to_be_visible()
    expect(thread_toggle).to_have_attribute("aria-expanded", "false")
    expect(message.get_by_test_id("thread")).to_have_count(0)  # collapsed, as in Slack
    thread_toggle.click()
    expect(thread_toggle).to_have_attribute("aria-expanded", "true")
    replies = message.get_by_test_id("thread-reply")
    expect(replies.first).to_contain_text("Reminder: still waiting for a decision")
    expect(replies.first).to_contain_text("@ana")

    sweep_at(2.3)
    escalation = replies.filter(has_text="Escalated to @oncall")
    expect(escalation).to_have_count(1)
    expect(escalation).to_contain_text("You can decide it now.")
    expect(message.get_by_test_id("reply-count")).to_have_text(re.compile(r"^\d+ replies$"))
    expect(message.get_by_test_id("block-context")).to_contain_text("Approvers: @ana, @oncall")
    expect(message.get_by_test_id("block-context")).to_contain_text("Escalated")
    # The thread is not in the channel's history: only the request is a channel message.
    expect(page.get_by_test_id("message").filter(has_text="Escalated to @oncall")).to_have_count(1)
    shot(page, screenshots, "h1-reminder-and-escalation")

    # Escalated to @oncall: cy may decide now.
    act_as(page, "U0CY")
    expect(message.get_by_test_id("thread")).to_be_visible()  # still open for the reader
    button(message, APPROVE).click()
    confirm(page, "Approve this request?", "Approve")
    expect(message).to_contain_text("Approved by @cy")
    expect(row).to_have_attribute("data-status", "SUCCEEDED")


# --- /approvals history ---------------------------------------------------------------------------


def test_history_lists_the_events(page: Page, screenshots: Path) -> None:
    row = start_request(page, "e2e-history")
    message = request_message(page, "e2e-history")
    expect(button(message, APPROVE_FORM)).to_have_text("Approve with note…")

    modal = open_approve_form(page, message)
    modal.get_by_label("Comment").fill("fine by me <3")
    submit(modal)
    expect(modal).to_be_hidden()
    expect(message).to_contain_text("Approved by @ana")
    expect(row).to_have_attribute("data-status", "SUCCEEDED")

    page.get_by_test_id("command-history").click()
    history = page.get_by_test_id("ephemeral").filter(has_text="Approval history")
    expect(history).to_be_visible()
    events = history.get_by_test_id("block-context")
    mine = events.filter(has_text="Deploy e2e-history 1.0.0 to production?")
    expect(mine.first).to_contain_text("approved by @ana")
    expect(mine.first).to_contain_text("fine by me <3")  # the comment, as text
    expect(mine.last).to_contain_text("posted")
    expect(mine).to_have_count(2)
    shot(page, screenshots, "i1-history")

    run_command(page, "history 3")
    expect(page.get_by_test_id("ephemeral").last.get_by_test_id("block-context")).to_have_count(3)


# --- the page's API: each person's direct messages and Home tab -----------------------------------


def api(sandbox: Any, path: str, body: Any = None) -> tuple[int, Any]:
    """The page's JSON API as the page calls it (GET without a body, POST with one)."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(  # noqa: S310 - 127.0.0.1
        sandbox.url.rstrip("/") + path,
        data=data,
        headers={"Content-Type": "application/json"},
        method="GET" if data is None else "POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:  # noqa: S310
            return answer.status, json.loads(answer.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def state_of(sandbox: Any, user: str) -> dict[str, Any]:
    status, answer = api(sandbox, f"/api/state?user={user}")
    assert status == 200, answer
    return dict(answer)


def bot_client(sandbox: Any) -> WebClient:
    """The bot's side of Slack: what wp-dm / wp-home will post through the same Web API."""
    from bot.local.sandbox import BOT_TOKEN

    return WebClient(base_url=sandbox.standin.url, token=BOT_TOKEN, timeout=10)


def channel_request(sandbox: Any, service: str) -> dict[str, Any]:
    """The bot's request in #approvals for ``service``, once posted."""
    for _ in range(300):  # bounded: 30 s
        for message in sandbox.standin.messages("C0APPROVALS"):
            if f"Deploy {service} " in json.dumps(message["blocks"]):
                return dict(message)
        time.sleep(0.1)
    raise AssertionError(f"no request for {service} in #approvals")


def execution_status(sandbox: Any, arn: str, *, until: str) -> str:
    status = ""
    for _ in range(300):  # bounded: 30 s
        status = str(sandbox.sfn.describe_execution(executionArn=arn)["status"])
        if status == until:
            break
        time.sleep(0.1)
    return status


def test_the_page_shows_each_persons_direct_messages(sandbox: Any) -> None:
    assert state_of(sandbox, "U0EVE")["dm"] == {"channel": None, "messages": []}

    posted = bot_client(sandbox).chat_postMessage(
        channel="U0EVE",
        text="a direct message",
        blocks=[{"type": "section", "text": {"type": "mrkdwn", "text": "*Only for eve*"}}],
    )

    eve = state_of(sandbox, "U0EVE")["dm"]
    assert eve["channel"] == posted["channel"] == sandbox.standin.im_channel("U0EVE")
    assert eve["channel"].startswith("D")
    assert [m["ts"] for m in eve["messages"]] == [posted["ts"]]
    assert eve["messages"][0]["blocks"][0]["text"]["text"] == "*Only for eve*"
    # Nobody else sees eve's conversation with the app, and it is not in the channel.
    for other in ("U0ANA", "U0BO", "U0CY"):
        assert posted["ts"] not in json.dumps(state_of(sandbox, other)["dm"])
    assert posted["ts"] not in [m["ts"] for m in state_of(sandbox, "U0EVE")["messages"]]


def test_a_button_in_a_direct_message_reaches_the_bot(sandbox: Any) -> None:
    """A copy of the channel request in ana's DM (as wp-dm's copies will be): its Approve
    clicks through the page like the channel's, on the D… conversation, and decides."""
    status, started = api(sandbox, "/api/executions", {"input": {"service": "api-dm-click"}})
    assert status == 200, started
    request = channel_request(sandbox, "api-dm-click")
    copy = bot_client(sandbox).chat_postMessage(
        channel="U0ANA", text=request["text"], blocks=request["blocks"]
    )
    approve = next(
        e
        for b in request["blocks"]
        if b["type"] == "actions"
        for e in b["elements"]
        if e["action_id"] == APPROVE
    )
    click = {"user": "U0ANA", "ts": copy["ts"], "action_id": APPROVE, "value": approve["value"]}

    # Only ana's own DM: another person's D… or an unknown one is refused, nothing is sent.
    assert api(sandbox, "/api/click", {**click, "user": "U0CY", "channel": copy["channel"]}) == (
        400,
        {"error": f"{copy['channel']!r} is not U0CY's direct message with the app"},
    )
    assert api(sandbox, "/api/click", {**click, "channel": "D0NOPE"})[0] == 400
    assert execution_status(sandbox, started["arn"], until="RUNNING") == "RUNNING"

    status, answer = api(sandbox, "/api/click", {**click, "channel": copy["channel"]})
    assert (status, answer["status"]) == (200, 200), answer
    assert execution_status(sandbox, started["arn"], until="SUCCEEDED") == "SUCCEEDED"
    decided = sandbox.standin.message("C0APPROVALS", request["ts"])  # the bot's stored copy
    assert decided["text"].startswith("Approved"), decided


def test_an_accessory_button_clicks_like_an_actions_button(sandbox: Any) -> None:
    """A list with one button per item (a section's accessory, as a grouped request may be):
    the click carries that section's block id, in the channel and in a DM."""
    blocks = [
        {
            "type": "section",
            "block_id": f"item:{n}",
            "text": {"type": "mrkdwn", "text": f"*Item {n}*"},
            "accessory": {
                "type": "button",
                "action_id": APPROVE,
                "value": f"not-an-approval-{n}",
                "text": {"type": "plain_text", "text": "Approve"},
            },
        }
        for n in (1, 2)
    ]
    client = bot_client(sandbox)
    in_channel = client.chat_postMessage(channel="C0APPROVALS", text="items", blocks=blocks)
    in_dm = client.chat_postMessage(channel="U0BO", text="items", blocks=blocks)
    seen: list[dict[str, Any]] = []
    forward = sandbox.post_to_endpoint

    def spy(body: str, headers: dict[str, str]) -> Any:
        seen.append(json.loads(parse_qs(body)["payload"][0]))
        return forward(body, headers)

    sandbox.post_to_endpoint = spy
    try:
        for posted in (in_channel, in_dm):
            click = {
                "user": "U0BO",
                "ts": posted["ts"],
                "action_id": APPROVE,
                "value": "not-an-approval-2",
                "channel": posted["channel"],
            }
            status, answer = api(sandbox, "/api/click", click)
            assert (status, answer["status"]) == (200, 200), answer
    finally:
        del sandbox.post_to_endpoint
    assert [p["container"]["channel_id"] for p in seen] == [
        in_channel["channel"],
        in_dm["channel"],
    ]
    for payload in seen:
        assert payload["actions"][0]["block_id"] == "item:2"
        assert payload["actions"][0]["value"] == "not-an-approval-2"


HOME_VIEW: dict[str, Any] = {
    "type": "home",
    "blocks": [
        {"type": "header", "text": {"type": "plain_text", "text": "Waiting for you"}},
        {
            "type": "section",
            "block_id": "item:1",
            "text": {"type": "mrkdwn", "text": "*Deploy api-home 1.0.0*"},
            "accessory": {
                "type": "button",
                "action_id": "approval.approve",
                "value": "not-an-approval-id",
                "text": {"type": "plain_text", "text": "Approve"},
            },
        },
    ],
}


def test_the_page_shows_and_clicks_each_persons_home_tab(sandbox: Any) -> None:
    assert state_of(sandbox, "U0CY")["home"]["view"] is None
    published = bot_client(sandbox).views_publish(user_id="U0CY", view=HOME_VIEW)["view"]

    home = state_of(sandbox, "U0CY")["home"]
    assert home["view"]["id"] == published["id"]
    assert home["view"]["type"] == "home"
    assert home["view"]["blocks"] == HOME_VIEW["blocks"]
    assert isinstance(home["available"], bool)
    assert state_of(sandbox, "U0ANA")["home"]["view"] is None  # a Home tab is per person

    # A click on a Home button: block_actions from the view, signed, to the interactions endpoint.
    seen: list[dict[str, Any]] = []
    forward = sandbox.post_to_endpoint

    def spy(body: str, headers: dict[str, str]) -> Any:
        seen.append(json.loads(parse_qs(body)["payload"][0]))
        return forward(body, headers)

    sandbox.post_to_endpoint = spy
    try:
        click = {"user": "U0CY", "action_id": APPROVE, "value": "not-an-approval-id"}
        status, answer = api(sandbox, "/api/click_home", click)
        assert status == 200, answer
        assert answer["status"] == 200, answer  # the bot acknowledged it
        assert api(sandbox, "/api/click_home", {**click, "user": "U0ANA"})[0] == 404  # no Home
        assert api(sandbox, "/api/click_home", {**click, "action_id": "nope"})[0] == 404
    finally:
        del sandbox.post_to_endpoint
    assert len(seen) == 1
    payload = seen[0]
    assert payload["type"] == "block_actions"
    assert payload["container"] == {"type": "view", "view_id": published["id"]}
    assert payload["view"]["type"] == "home"
    assert payload["user"]["id"] == "U0CY"
    assert payload["actions"][0]["block_id"] == "item:1"
    assert "channel" not in payload
    assert "response_url" not in payload


def test_opening_the_home_tab(sandbox: Any) -> None:
    """Opening the tab sends app_home_opened when the driver can (wp-home's
    ``SlackDriver.open_home``); before that the page is told the tab is not available."""
    status, answer = api(sandbox, "/api/home_open", {"user": "U0BO"})
    assert status == 200, answer
    available = hasattr(sandbox.driver, "open_home")
    assert answer["available"] is available
    assert state_of(sandbox, "U0BO")["home"]["available"] is available
    if available:
        assert answer["status"] == 200, answer
    assert api(sandbox, "/api/home_open", {"user": "U0NOBODY"})[0] == 400


def test_opening_the_home_tab_calls_the_drivers_open_home(sandbox: Any) -> None:
    """With ``open_home`` on the driver (here a stand-in for wp-home's), the page's "open
    Home" calls it for the person and says what the bot answered."""
    from bot.local.slack_driver import Response

    opened: list[str] = []

    def open_home(user_id: str) -> Response:
        opened.append(user_id)
        return Response(200, "", {})

    had = "open_home" in vars(sandbox.driver)
    saved = vars(sandbox.driver).get("open_home")
    sandbox.driver.open_home = open_home
    try:
        assert state_of(sandbox, "U0DAN")["home"] == {"available": True, "view": None}
        status, answer = api(sandbox, "/api/home_open", {"user": "U0DAN"})
    finally:
        if had:
            sandbox.driver.open_home = saved
        else:
            del sandbox.driver.open_home
    assert (status, answer) == (200, {"available": True, "status": 200, "body": ""})
    assert opened == ["U0DAN"]


def test_an_events_api_callback_reaches_the_bot_as_json(sandbox: Any) -> None:
    """What ``SlackDriver.open_home`` sends (``app_home_opened``) is an Events API callback,
    JSON, not a form: the sandbox forwards it with its content type. Slack's URL check is one
    the bot answers today."""
    from bot.local.sandbox import SIGNING_SECRET
    from bot.local.slack_requests import sign

    body = json.dumps({"token": "t", "challenge": "c-15", "type": "url_verification"})
    headers = {"content-type": "application/json", **sign(SIGNING_SECRET, body)}
    response = sandbox.post_to_endpoint(body, headers)
    assert (response.status, response.json()) == (200, {"challenge": "c-15"})


def test_the_start_form_sets_notify_group_and_starts_n(sandbox: Any) -> None:
    approval = {"notify": "both", "group": "api-batch-1"}
    status, answer = api(
        sandbox, "/api/executions", {"input": {"service": "api-group", **approval}, "count": 3}
    )
    assert status == 200, answer
    assert len(answer["arns"]) == len(set(answer["arns"])) == 3
    assert answer["arn"] == answer["arns"][0]
    for arn in answer["arns"]:
        described = sandbox.sfn.describe_execution(executionArn=arn)
        assert json.loads(described["input"])["group"] == "api-batch-1"
    # The example task generator passes both on in the approval object it returns.
    events = sandbox.sfn.get_execution_history(executionArn=answer["arn"])["events"]
    outputs = [
        json.loads(details["output"])
        for event in events
        for key, details in event.items()
        if key.endswith("EventDetails") and isinstance(details.get("output"), str)
    ]
    approvals = [o["approval"] for o in outputs if isinstance(o, dict) and "approval" in o]
    assert approvals, outputs
    assert {a.get("notify") for a in approvals} == {"both"}
    assert {a.get("group") for a in approvals} == {"api-batch-1"}
    for bad in (0, 51, True, "3"):
        status, answer = api(sandbox, "/api/executions", {"input": {}, "count": bad})
        assert status == 400, answer


# --- the page: the app's Home and Messages tabs beside the channel -------------------------------


def test_the_app_tabs_show_the_dm_and_home_and_click_through(
    page: Page, sandbox: Any, screenshots: Path
) -> None:
    """What the bot will post (a DM copy of a request) and publish (a Home view), put into the
    stand-in directly: the page shows them to their person only and its buttons decide."""
    row = start_request(page, "e2e-tabs")
    request = channel_request(sandbox, "e2e-tabs")
    bot_client(sandbox).chat_postMessage(
        channel="U0CY", text=request["text"], blocks=request["blocks"]
    )
    home = {
        "type": "home",
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": "Waiting for you"}},
            {"type": "section", "text": {"type": "mrkdwn", "text": "*Deploy e2e-tabs-home*"}},
        ],
    }
    bot_client(sandbox).views_publish(user_id="U0CY", view=home)

    pane = page.get_by_test_id("app-pane")
    dms = page.get_by_test_id("dms")
    expect(dms).to_be_visible()  # Messages is the tab shown first
    expect(dms.get_by_test_id("dm-message").filter(has_text="Deploy e2e-tabs ")).to_have_count(0)
    act_as(page, "U0CY")
    copy = dms.get_by_test_id("dm-message").filter(has_text="Deploy e2e-tabs ")
    expect(copy).to_have_count(1)
    expect(pane.get_by_test_id("dm-count")).not_to_have_text("")
    expect(dms).to_have_attribute("data-channel-id", re.compile(r"^D"))

    pane.get_by_test_id("app-tab-home").click()
    expect(pane.get_by_test_id("app-tab-home")).to_have_attribute("aria-selected", "true")
    expect(dms).to_be_hidden()
    view = page.get_by_test_id("home-view")
    expect(view.get_by_test_id("block-header")).to_have_text("Waiting for you")
    expect(view).to_contain_text("Deploy e2e-tabs-home")
    if not hasattr(sandbox.driver, "open_home"):
        act_as(page, "U0EVE")  # nothing published for eve, and no app_home_opened to send
        expect(page.get_by_test_id("home-unavailable")).to_have_text(
            re.compile("^Home tab not available")
        )
        act_as(page, "U0CY")
    shot(page, screenshots, "j1-home-tab")

    pane.get_by_test_id("app-tab-messages").click()
    shot(page, screenshots, "j2-dm-copy")
    button(copy, APPROVE).click()
    confirm(page, "Approve this request?", "Approve")
    expect(row).to_have_attribute("data-status", "SUCCEEDED")
    expect(request_message(page, "e2e-tabs")).to_contain_text("Approved by @cy")


def test_the_start_form_sends_notify_group_and_how_many(page: Page, sandbox: Any) -> None:
    form = page.get_by_test_id("start-form")
    form.get_by_label("Notify").select_option("both")
    form.get_by_label("Group").fill("e2e-form-batch")
    form.get_by_label("How many").fill("2")
    expect(form.get_by_test_id("start-submit")).to_have_text("Start 2 executions")
    form.get_by_label("Service").fill("e2e-form")
    form.get_by_label("Requester").select_option("U0BO")
    form.get_by_test_id("start-submit").click()
    expect(page.get_by_test_id("toast").filter(has_text="Started 2 executions")).to_have_count(1)
    rows = page.get_by_test_id("execution").filter(
        has=page.get_by_test_id("execution-title").filter(has_text=re.compile(r"^e2e-form "))
    )
    expect(rows).to_have_count(2)
    for arn in [rows.nth(i).get_attribute("data-arn") for i in range(2)]:
        sent = json.loads(sandbox.sfn.describe_execution(executionArn=arn)["input"])
        assert (sent["notify"], sent["group"]) == ("both", "e2e-form-batch")
    # Leave the form as the next test expects to find it.
    form.get_by_label("Notify").select_option("channel")
    form.get_by_label("Group").fill("")
    form.get_by_label("How many").fill("1")
