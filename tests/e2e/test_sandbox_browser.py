"""The sandbox's page in a real browser: what a person sees and clicks, end to end.

Each test starts its own execution from the page (a distinct service name, so the tests share
one sandbox without seeing each other's requests), acts as ana, bo, cy or eve through the
"You are" picker, and checks both sides: the Slack message the bot rendered and the Step
Functions execution in moto. Screenshots of the key steps go to ``tests/e2e/screenshots/``.
"""

from __future__ import annotations

import re
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Locator, Page, expect

pytestmark = pytest.mark.e2e

APPROVE = "approval.approve"
REJECT = "approval.reject"
EXPIRES_IN_SECONDS = 5  # long enough for the request to be posted first, on a slow machine


# --- helpers: what a person does on the page -----------------------------------------------------


def act_as(page: Page, user_id: str) -> None:
    page.get_by_test_id("who").select_option(user_id)
    app = page.get_by_test_id("app")
    expect(app).to_have_attribute("data-user", user_id)
    expect(app).to_have_attribute("data-ready", "true")


def start_execution(
    page: Page,
    service: str,
    *,
    version: str = "1.0.0",
    requester: str = "U0BO",
    expires_in: int | None = None,
) -> Locator:
    """Fill and send the "Start an execution" form; the execution's row once it is listed."""
    form = page.get_by_test_id("start-form")
    form.get_by_label("Service").fill(service)
    form.get_by_label("Version").fill(version)
    form.get_by_label("Requester").select_option(requester)
    form.get_by_label("Expires in (seconds)").fill("" if expires_in is None else str(expires_in))
    form.get_by_role("button", name="Start execution").click()
    row = execution_row(page, service)
    expect(row).to_be_visible()
    return row


def execution_row(page: Page, service: str) -> Locator:
    title = page.get_by_test_id("execution-title").filter(has_text=re.compile(rf"^{service} "))
    return page.get_by_test_id("execution").filter(has=title)


def request_message(page: Page, service: str) -> Locator:
    return page.get_by_test_id("message").filter(has_text=f"Deploy {service} ")


def button(container: Locator, action_id: str) -> Locator:
    return container.locator(f'button[data-action-id="{action_id}"]')


def confirm(page: Page, title: str, answer: str) -> None:
    dialog = page.get_by_role("alertdialog", name=title)
    expect(dialog).to_be_visible()
    dialog.get_by_role("button", name=answer, exact=True).click()
    expect(dialog).to_be_hidden()


def run_command(page: Page, text: str) -> None:
    page.get_by_label("/approvals", exact=True).fill(text)
    page.get_by_test_id("command-send").click()


def shot(page: Page, screenshots: Path, name: str) -> None:
    page.screenshot(path=screenshots / f"{name}.png")


def status_in_moto(sandbox: Any, row: Locator) -> str:
    arn = row.get_attribute("data-arn")
    return str(sandbox.sfn.describe_execution(executionArn=arn)["status"])


# --- the flows ------------------------------------------------------------------------------------


def test_approve_with_confirmation(page: Page, screenshots: Path) -> None:
    row = start_execution(page, "e2e-approve", version="3.1.4")
    message = request_message(page, "e2e-approve")

    expect(message.get_by_test_id("block-header")).to_have_text(
        "Deploy e2e-approve 3.1.4 to production?"
    )
    fields = message.get_by_test_id("block-fields")
    for text in ("Service", "e2e-approve", "Version", "3.1.4", "Environment", "production"):
        expect(fields).to_contain_text(text)
    expect(message.get_by_test_id("block-context")).to_contain_text("Requested by @bo")
    expect(button(message, APPROVE)).to_have_text("Approve")
    expect(button(message, APPROVE)).to_have_class(re.compile(r"\bprimary\b"))
    expect(button(message, REJECT)).to_have_class(re.compile(r"\bdanger\b"))
    expect(row).to_have_attribute("data-status", "RUNNING")
    shot(page, screenshots, "a1-request")

    # The confirm object asks first; Cancel sends nothing.
    button(message, APPROVE).click()
    dialog = page.get_by_role("alertdialog", name="Approve this request?")
    expect(dialog).to_contain_text("The workflow approval-flow/run-")
    shot(page, screenshots, "a2-confirm")
    confirm(page, "Approve this request?", "Cancel")
    expect(button(message, APPROVE)).to_be_visible()

    button(message, APPROVE).click()
    confirm(page, "Approve this request?", "Approve")

    expect(message).to_contain_text("Approved by @ana")
    expect(message.get_by_test_id("button")).to_have_count(0)
    expect(message.get_by_test_id("edited")).to_be_visible()
    expect(row).to_have_attribute("data-status", "SUCCEEDED")
    expect(row.get_by_test_id("execution-status")).to_have_text("SUCCEEDED")
    output = row.get_by_test_id("execution-output")
    output.locator("summary").click()
    expect(output.locator("pre")).to_be_visible()
    expect(output.locator("pre")).to_contain_text('"decision": "approved"')
    expect(output.locator("pre")).to_contain_text('"approved_by": "ana"')
    shot(page, screenshots, "a3-approved")


def test_reject_needs_a_reason(page: Page, screenshots: Path) -> None:
    act_as(page, "U0CY")
    row = start_execution(page, "e2e-reject")
    message = request_message(page, "e2e-reject")

    button(message, REJECT).click()
    modal = page.get_by_role("dialog", name="Reject request")
    expect(modal).to_be_visible()
    expect(modal).to_contain_text("Deploy e2e-reject 1.0.0 to production?")
    reason = modal.get_by_label("Reason")
    expect(reason).to_be_focused()

    modal.get_by_role("button", name="Reject", exact=True).click()  # empty: the bot refuses
    expect(modal.get_by_test_id("input-error")).to_have_text("Please give a reason.")
    expect(reason).to_have_attribute("aria-invalid", "true")
    expect(modal).to_be_visible()
    shot(page, screenshots, "b1-reason-required")

    reason.fill("Not during the <freeze> & not on a Friday")
    modal.get_by_role("button", name="Reject", exact=True).click()
    expect(modal).to_be_hidden()

    expect(message).to_contain_text("Rejected by @cy")
    expect(message).to_contain_text("Not during the <freeze> & not on a Friday")
    expect(message.locator("freeze")).to_have_count(0)  # the reason is text, never markup
    expect(message.get_by_test_id("button")).to_have_count(0)
    expect(row).to_have_attribute("data-status", "FAILED")
    expect(row.get_by_test_id("execution-error-name")).to_have_text("Rejected")
    # The cause the bot sent (moto keeps none): who rejected and why, from the witness.
    cause = row.get_by_test_id("execution-cause")
    expect(cause).to_contain_text('"reason": "Not during the <freeze> & not on a Friday"')
    expect(cause).to_contain_text('"name": "cy"')
    expect(row).not_to_contain_text("none recorded")
    shot(page, screenshots, "b2-rejected")


def test_outsider_is_refused_privately(page: Page, sandbox: Any, screenshots: Path) -> None:
    row = start_execution(page, "e2e-outsider")
    message = request_message(page, "e2e-outsider")
    expect(button(message, APPROVE)).to_be_visible()

    act_as(page, "U0EVE")
    button(message, APPROVE).click()
    confirm(page, "Approve this request?", "Approve")

    refusal = page.get_by_test_id("ephemeral").filter(has_text="can decide this request")
    expect(refusal).to_be_visible()
    expect(refusal).to_contain_text("Only visible to you")
    expect(refusal).to_contain_text("Only @ana, @oncall can decide this request.")
    expect(button(message, APPROVE)).to_be_visible()  # still open for the approvers
    expect(row).to_have_attribute("data-status", "RUNNING")
    shot(page, screenshots, "c1-eve-refused")

    act_as(page, "U0ANA")
    expect(
        page.get_by_test_id("ephemeral").filter(has_text="can decide this request")
    ).to_have_count(0)
    expect(button(message, APPROVE)).to_be_visible()
    expect(row).to_have_attribute("data-status", "RUNNING")
    assert status_in_moto(sandbox, row) == "RUNNING"
    shot(page, screenshots, "c2-ana-sees-no-refusal")


def test_approvals_command_lists_and_decides(page: Page, screenshots: Path) -> None:
    row = start_execution(page, "e2e-listed")
    message = request_message(page, "e2e-listed")
    expect(button(message, APPROVE)).to_be_visible()
    approval_id = button(message, APPROVE).get_attribute("data-value")

    page.get_by_test_id("command-help").click()
    expect(page.get_by_test_id("ephemeral").filter(has_text="/approvals mine")).to_be_visible()

    run_command(page, "mine")
    listing = page.get_by_test_id("ephemeral").filter(has_text="Pending approvals you can decide")
    expect(listing).to_be_visible()
    expect(listing).to_contain_text("Deploy e2e-listed 1.0.0 to production?")
    expect(listing).to_contain_text("#approvals")
    listed_approve = listing.locator(
        f'button[data-action-id="{APPROVE}"][data-value="{approval_id}"]'
    )
    listed_reject = listing.locator(
        f'button[data-action-id="{REJECT}"][data-value="{approval_id}"]'
    )
    expect(listed_approve).to_be_visible()
    expect(listed_reject).to_be_visible()
    shot(page, screenshots, "d1-approvals-mine")

    # Approve right from the list: the request's message updates too.
    listed_approve.click()
    confirm(page, "Approve this request?", "Approve")
    expect(message).to_contain_text("Approved by @ana")
    expect(message.get_by_test_id("button")).to_have_count(0)
    expect(row).to_have_attribute("data-status", "SUCCEEDED")
    shot(page, screenshots, "d2-approved-from-list")


def test_request_expires(page: Page, sandbox: Any, screenshots: Path) -> None:
    """``expires in N seconds`` → ``approval.expires_at``. Once it has passed, listings leave
    it out (they change nothing), and the sweep expires it (so does a click: whichever comes
    first, the outcome is the same)."""
    row = start_execution(page, "e2e-expiry", expires_in=EXPIRES_IN_SECONDS)
    message = request_message(page, "e2e-expiry")
    expect(message.get_by_test_id("block-context")).to_contain_text("Expires today at")
    expect(button(message, APPROVE)).to_be_visible()
    shot(page, screenshots, "e1-expiring")

    arn = row.get_attribute("data-arn")
    execution = next(e for e in sandbox.executions() if e["arn"] == arn)
    deadline = datetime.fromisoformat(execution["input"]["expires_at"]).timestamp()
    wait = deadline - time.time() + 0.3
    assert wait < EXPIRES_IN_SECONDS + 1
    if wait > 0:
        page.wait_for_timeout(wait * 1000)

    run_command(page, "")
    listing = page.get_by_test_id("ephemeral").last
    expect(listing).to_contain_text("Pending approvals")
    expect(listing).not_to_contain_text("e2e-expiry")

    sandbox.sweep()  # what the sandbox's 10 s timer (EventBridge Scheduler in AWS) runs
    expect(message).to_contain_text("Expired")
    expect(message.get_by_test_id("button")).to_have_count(0)
    expect(row).to_have_attribute("data-status", "FAILED")
    expect(row.get_by_test_id("execution-error-name")).to_have_text("ApprovalExpired")
    # The example flow's Fail state gives its own cause; the bot's SendTaskFailure said why.
    expect(row.get_by_test_id("execution-cause")).to_contain_text("Nobody decided")
    expect(row.get_by_test_id("execution-sent-error")).to_have_text("ApprovalExpired")
    expect(row.get_by_test_id("execution-sent-cause")).to_have_text(
        re.compile(r"^approval\.expires_at \(.+\) has passed$")
    )
    shot(page, screenshots, "e2-expired")


# --- the page's mrkdwn renderer -------------------------------------------------------------------


def render(page: Page, text: str) -> str:
    return str(page.evaluate("text => window.sandboxPage.renderMrkdwn(text)", text))


def test_mrkdwn_is_rendered_and_escaped(page: Page) -> None:
    assert render(page, "*bold* _it_ ~gone~ `a &lt; b`") == (
        "<b>bold</b> <i>it</i> <s>gone</s> <code>a &lt; b</code>"
    )
    assert render(page, '```\n{"a": 1}\n```') == "<pre>{&quot;a&quot;: 1}</pre>"
    assert (
        render(page, "head\n>quoted &lt;b&gt;") == "head<blockquote>quoted &lt;b&gt;</blockquote>"
    )
    assert render(page, "snake_case_name and 2*3*4") == "snake_case_name and 2*3*4"

    people = render(page, "<@U0CY> <!subteam^S0ONCALL> <#C0APPROVALS> <@U0NOBODY|ghost>")
    assert ">@cy</span>" in people
    assert ">@oncall</span>" in people
    assert ">#approvals</span>" in people
    assert ">@ghost</span>" in people

    link = render(page, "<https://example.com/a?b=1&amp;c=2|the *diff*>")
    assert link == (
        '<a href="https://example.com/a?b=1&amp;c=2" target="_blank" '
        'rel="noopener noreferrer">the *diff*</a>'
    )
    date = render(page, "<!date^1893456000^{date_num} at {time}|2030-01-01 00:00 UTC>")
    assert 'datetime="2030-01-01T00:00:00.000Z"' in date
    assert 'title="2030-01-01 00:00 UTC"' in date
    assert ">2030-01-01 at 12:00 AM</time>" in date

    # Nothing a message says becomes markup or a script link.
    for hostile in (
        "<img src=x onerror=alert(1)>",
        "<javascript:alert(1)|click>",
        '&lt;img src=x onerror="alert(1)"&gt;',
        "*<script>alert(1)</script>*",
        "`</code><img src=x>`",
    ):
        html = render(page, hostile)
        assert "<img" not in html, html
        assert "<script" not in html, html
        assert "href" not in html, html


# --- what a newcomer trips over: failures, long text, bad input, small things ---------------------

ROOT = Path(__file__).resolve().parents[2]


def start_via_api(page: Page, sandbox: Any, input_: dict[str, Any], **extra: Any) -> str:
    """Start an execution through the page's API (as the form does); its ARN."""
    answer = page.request.post(f"{sandbox.url}api/executions", data={"input": input_, **extra})
    assert answer.status == 200, answer.text()
    return str(answer.json()["arn"])


def row_of(page: Page, arn: str) -> Locator:
    return page.locator(f'[data-testid="execution"][data-arn="{arn}"]')


def overflows(locator: Locator) -> dict[str, int]:
    """How far an element's content overflows it (0, 0 when everything fits)."""
    return dict(
        locator.evaluate(
            "n => ({x: n.scrollWidth - n.clientWidth, y: n.scrollHeight - n.clientHeight})"
        )
    )


def test_an_invalid_request_shows_why(page: Page, sandbox: Any, screenshots: Path) -> None:
    """A 5,000-character service name: the title is too long for Slack, the bot fails the task
    with InvalidApprovalRequest and says why; the card shows it without widening the panel."""
    service = "s" * 5000
    row = start_execution(page, service)
    expect(row).to_have_attribute("data-status", "FAILED")
    expect(row.get_by_test_id("execution-error-name")).to_have_text("InvalidApprovalRequest")
    expect(row.get_by_test_id("execution-cause")).to_have_text(
        re.compile(r"^approval\.title is 50\d\d characters; Slack allows at most 150$")
    )

    side = page.locator("aside.side")
    assert overflows(side)["x"] <= 0
    assert overflows(page.get_by_test_id("executions"))["x"] <= 0
    title = row.get_by_test_id("execution-title")
    expect(row.get_by_role("button", name="Show all of the title")).to_be_visible()
    assert overflows(title)["y"] > 0  # clamped to two lines …
    row.get_by_role("button", name="Show all of the title").click()  # … with a way to see all
    expect(row.get_by_role("button", name="Show less of the title")).to_be_visible()
    assert overflows(title) == {"x": 0, "y": 0}
    assert len(title.inner_text().replace("\n", "")) == len(f"{service} 1.0.0 production")
    assert overflows(side)["x"] <= 0
    row.scroll_into_view_if_needed()
    shot(page, screenshots, "j1-long-title-invalid-request")


def test_long_text_wraps_with_a_way_to_read_all(
    page: Page, sandbox: Any, screenshots: Path
) -> None:
    """A 120-character unbroken service name fits Slack's title limit: the message wraps it.
    A long rejection reason: the cause box wraps, is clamped, and "Show all" shows its end."""
    service = "w" * 120
    row = start_execution(page, service)
    message = page.get_by_test_id("message").filter(has_text=f"Deploy {service} ")
    expect(button(message, REJECT)).to_be_visible()
    assert overflows(page.get_by_test_id("messages"))["x"] <= 0

    reason = " ".join(f"word{i}" for i in range(300)) + " THE-END"
    button(message, REJECT).click()
    modal = page.get_by_role("dialog", name="Reject request")
    modal.get_by_label("Reason").fill(reason)
    modal.get_by_role("button", name="Reject", exact=True).click()
    expect(modal).to_be_hidden()
    expect(row).to_have_attribute("data-status", "FAILED")

    cause = row.get_by_test_id("execution-cause")
    expect(cause).to_contain_text("THE-END")  # all of it is there …
    # Measured once the page has laid it out (it shows "Show all" after measuring).
    expect(row.get_by_role("button", name="Show all of the cause")).to_be_visible()
    assert overflows(cause)["x"] <= 0  # … wrapped, never cut at the side
    assert overflows(cause)["y"] > 0  # clamped
    row.get_by_role("button", name="Show all of the cause").click()
    assert overflows(cause) == {"x": 0, "y": 0}
    cause.evaluate("n => n.scrollIntoView({block: 'end'})")
    expect(cause.get_by_text("THE-END", exact=False)).to_be_in_viewport()
    shot(page, screenshots, "j2-long-cause-expanded")


def test_the_api_refuses_bad_input(page: Page, sandbox: Any) -> None:
    before = len(sandbox.executions())
    refused = {
        '{"nonsense": true}': (
            "unknown field 'nonsense': /api/executions takes input, short_wait, count"
        ),
        '{"input": [1, 2]}': "'input' must be an object, not an array",
        '{"input": "checkout"}': "'input' must be an object, not a string",
        '{"input": {}, "short_wait": "yes"}': "'short_wait' must be true or false, not a string",
        "[]": "the body must be a JSON object, not an array",
        "{not json": "the body is not valid JSON",
    }
    for body, error in refused.items():
        answer = page.request.post(
            f"{sandbox.url}api/executions",
            data=body.encode(),  # bytes: sent as they are (a str would be JSON-encoded)
            headers={"Content-Type": "application/json"},
        )
        assert (answer.status, answer.json()) == (400, {"error": error}), body
    for path, body, error in [
        ("api/click", {"user": "U0ANA"}, "missing field 'ts'"),
        ("api/command", {"user": "U0NOBODY"}, "unknown user 'U0NOBODY'"),
        ("api/command", {"user": "U0ANA", "text": 5}, "'text' must be a string, not a number"),
    ]:
        answer = page.request.post(f"{sandbox.url}{path}", data=body)
        assert answer.status == 400, answer.text()
        assert answer.json()["error"].startswith(error)
    answer = page.request.post(f"{sandbox.url}api/nothing", data={})
    assert (answer.status, answer.json()) == (404, {"error": "no API POST /api/nothing"})
    assert len(sandbox.executions()) == before  # nothing started


def test_the_readme_names_the_people_of_the_page(page: Page) -> None:
    try_it = (ROOT / "README.md").read_text().split("## Try it", 1)[1].split("\n## ", 1)[0]
    count = re.search(r"any of (\w+) people", try_it)
    assert count, "the README's Try it no longer says how many people the page has"
    words = {"three": 3, "four": 4, "five": 5, "six": 6, "seven": 7}
    options = page.get_by_test_id("who").locator("option")
    assert options.count() == words[count.group(1)]
    for name in options.all_inner_texts():
        assert f"{name.split(' — ')[0]} (" in try_it, name


def test_the_toast_leaves_the_start_button_free(page: Page, screenshots: Path) -> None:
    """With the form's optional part open, the Start button sits at the bottom right."""
    more = page.get_by_test_id("start-more")
    more.locator("summary").click()
    expect(more).to_have_attribute("open", "")
    start_execution(page, "e2e-toast")
    toast = page.get_by_test_id("toast").filter(has_text="Started run-")
    expect(toast).to_be_visible()
    box = toast.bounding_box()
    assert box
    for control in (
        page.get_by_test_id("start-submit"),
        page.get_by_test_id("command-form"),
        page.get_by_test_id("who"),
        page.get_by_test_id("sweep-now"),
    ):
        other = control.bounding_box()
        assert other
        apart = (
            box["x"] + box["width"] <= other["x"]
            or other["x"] + other["width"] <= box["x"]
            or box["y"] + box["height"] <= other["y"]
            or other["y"] + other["height"] <= box["y"]
        )
        assert apart, (box, other)
    shot(page, screenshots, "j3-toast")


def test_a_card_without_a_service_names_the_run_once(page: Page, sandbox: Any) -> None:
    arn = start_via_api(page, sandbox, {})
    row = row_of(page, arn)
    expect(row).to_be_visible()
    name = arn.rsplit(":", 1)[-1]
    expect(row.get_by_test_id("execution-title")).to_have_text(name)
    assert row.inner_text().count(name) == 1


def test_the_short_wait_hint_says_what_the_card_shows(
    page: Page, sandbox: Any, screenshots: Path
) -> None:
    from tests.e2e.conftest import SHORT_WAIT_SECONDS

    hint = page.get_by_test_id("short-wait-hint")
    expect(page.get_by_label(f"{SHORT_WAIT_SECONDS} s wait")).to_be_visible()
    page.get_by_label(f"{SHORT_WAIT_SECONDS} s wait").check()
    try:
        row = start_execution(page, "e2e-short-wait")
    finally:
        page.get_by_label(f"{SHORT_WAIT_SECONDS} s wait").uncheck()
    expect(row).to_have_attribute(
        "data-status", "FAILED", timeout=SHORT_WAIT_SECONDS * 1000 + 15_000
    )
    shown = row.get_by_test_id("execution-error-name").inner_text()
    task = row.get_by_test_id("execution-task-error")
    expect(task).to_contain_text("States.Timeout")
    assert shown == "ApprovalExpired"
    for name in (shown, "States.Timeout"):
        expect(hint.locator("code", has_text=name)).to_have_count(1)
    expect(hint).to_contain_text(f"after {SHORT_WAIT_SECONDS} s")
    row.scroll_into_view_if_needed()
    shot(page, screenshots, "j4-short-wait")


def test_show_more_replaces_the_page_it_was_on(page: Page, sandbox: Any, screenshots: Path) -> None:
    """More than 10 pending: "Show more" on the listing replaces that listing with the next
    page (the bot answers ``replace_original``), as Slack does with the message clicked."""
    arns = [start_via_api(page, sandbox, {"service": f"e2e-more-{i:02d}"}) for i in range(11)]
    expect(page.get_by_test_id("message").filter(has_text="Deploy e2e-more-")).to_have_count(
        len(arns), timeout=30_000
    )
    ephemerals = page.get_by_test_id("ephemeral")
    shown = ephemerals.count()
    run_command(page, "")
    expect(ephemerals).to_have_count(shown + 1)
    listing = ephemerals.last
    expect(listing).to_contain_text("Pending approvals")
    first_ts = listing.get_attribute("data-message-ts")
    more = listing.locator('button[data-action-id="approvals.more"]')
    expect(more).to_be_visible()
    more.click()

    continued = page.get_by_test_id("ephemeral").filter(has_text="Pending approvals (continued)")
    expect(continued).to_have_count(1)
    expect(page.locator(f'[data-testid="ephemeral"][data-message-ts="{first_ts}"]')).to_have_count(
        0
    )
    expect(page.locator('button[data-action-id="approvals.more"]')).to_have_count(
        continued.locator('button[data-action-id="approvals.more"]').count()
    )
    shot(page, screenshots, "j5-show-more")
