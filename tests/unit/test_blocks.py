"""Block Kit renderers: pure, snapshot-tested, within Slack's limits."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from bot.blocks import (
    MAX_BLOCKS,
    approve_modal,
    history_list,
    message_for,
    payload_preview,
    pending_list,
    reject_modal,
)
from bot.ids import ACTIONS_BLOCK_PREFIX, Action
from bot.models import (
    MAX_PAYLOAD_PREVIEW_CHARS,
    Actor,
    Approval,
    ApprovalSpec,
    AuditEvent,
    Decision,
    InputField,
    Status,
)

CREATED = datetime(2026, 11, 25, 14, 0, tzinfo=UTC)
DECIDED = datetime(2026, 11, 25, 14, 2, tzinfo=UTC)
ARN = "arn:aws:states:eu-west-1:123456789012:execution:approval-flow:run-1"


def approval(**changes: object) -> Approval:
    base = Approval(
        approval_id="k7q2m4x9c3v8b1n6z5a0s2d4f6",
        status=Status.PENDING,
        execution_arn=ARN,
        payload={"task_id": "t-1", "service": "checkout"},
        spec=ApprovalSpec(
            title="Deploy checkout 2.4.1 to production?",
            text="A deployment of *checkout* `2.4.1` is waiting for approval.",
            fields=(("Service", "checkout"), ("Version", "2.4.1"), ("Risk", "<low> & calm")),
            channel="C0OPS",
            approvers=("U0ANA", "S0ONCALL"),
            requester="U0BO",
            links=(("Diff", "https://example.com/diff/1"),),
            expires_at=datetime(2026, 11, 26, 14, 0, tzinfo=UTC),
        ),
        channel="C0OPS",
        ts="1764079200.000100",
        created_at=CREATED,
        updated_at=CREATED,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def all_text(blocks: list[dict[str, object]]) -> str:
    return json.dumps(blocks, ensure_ascii=False)


def test_pending_request(snapshot) -> None:
    message = message_for(approval())
    snapshot("request_pending", {"text": message.text, "blocks": message.blocks})
    actions = message.blocks[-1]
    assert actions["block_id"] == ACTIONS_BLOCK_PREFIX + "k7q2m4x9c3v8b1n6z5a0s2d4f6"
    approve, with_note, reject = actions["elements"]
    assert approve["action_id"] == Action.APPROVE
    assert approve["confirm"]["confirm"]["text"] == "Approve"
    assert with_note["action_id"] == Action.APPROVE_FORM
    assert "confirm" not in with_note
    assert reject["action_id"] == Action.REJECT
    assert {approve["value"], with_note["value"], reject["value"]} == {"k7q2m4x9c3v8b1n6z5a0s2d4f6"}
    assert "&lt;low&gt; &amp; calm" in all_text(message.blocks)


def test_seed_payload_without_approval_object(snapshot) -> None:
    message = message_for(approval(spec=ApprovalSpec(), payload={"task": "t-1", "amount": 5}))
    snapshot("request_seed_payload", {"text": message.text, "blocks": message.blocks})
    assert message.text == "Approval needed: approval-flow/run-1"


def test_approved(snapshot) -> None:
    decision = Decision("approved", Actor("U0ANA", "ana"), DECIDED, "ship it")
    message = message_for(approval(status=Status.APPROVED, decision=decision, updated_at=DECIDED))
    snapshot("request_approved", {"text": message.text, "blocks": message.blocks})
    assert all(b["type"] != "actions" for b in message.blocks)
    assert message.text.startswith("Approved: ")


def test_rejected(snapshot) -> None:
    decision = Decision("rejected", Actor("U0ANA", "ana"), DECIDED, "not on a Friday")
    message = message_for(approval(status=Status.REJECTED, decision=decision))
    snapshot("request_rejected", {"text": message.text, "blocks": message.blocks})
    assert "not on a Friday" in all_text(message.blocks)


def test_expired_and_error(snapshot) -> None:
    expired = message_for(
        approval(status=Status.EXPIRED, status_reason="the execution TIMED_OUT", updated_at=DECIDED)
    )
    snapshot("request_expired", {"text": expired.text, "blocks": expired.blocks})
    assert all(b["type"] != "actions" for b in expired.blocks)
    assert "Expires" not in all_text(expired.blocks)
    error = message_for(approval(status=Status.ERROR, status_reason="InvalidToken"))
    assert "Could not be completed" in all_text(error.blocks)


def test_claimed_shows_progress_without_buttons() -> None:
    decision = Decision("approved", Actor("U0ANA", "ana"), DECIDED)
    message = message_for(approval(status=Status.CLAIMED, decision=decision))
    assert all(b["type"] != "actions" for b in message.blocks)
    assert "Approving…" in all_text(message.blocks)


def test_the_token_never_reaches_a_message() -> None:
    payload = {"note": "payload fields are shown; the token is not part of an Approval"}
    message = message_for(approval(spec=ApprovalSpec(), payload=payload))
    assert "TaskToken" not in all_text(message.blocks)


@pytest.mark.parametrize("size", [10, 5_000, 300_000])
def test_payload_preview_is_capped(size: int) -> None:
    preview = payload_preview({"blob": "x" * size})
    assert len(preview) <= MAX_PAYLOAD_PREVIEW_CHARS
    assert preview.startswith("```")
    assert preview.endswith("```")
    if size > MAX_PAYLOAD_PREVIEW_CHARS:
        assert "more characters" in preview


def test_limits_hold_for_the_largest_valid_request() -> None:
    spec = ApprovalSpec(
        title="t" * 150,
        text="x" * 3000,
        fields=tuple((f"L{i}" + "l" * 90, "v" * 1900) for i in range(20)),
        approvers=tuple(f"U{i:08d}" for i in range(50)),
        requester="someone@example.com",
        links=tuple((f"link {i}", "https://example.com/" + "p" * 900) for i in range(10)),
    )
    message = message_for(approval(spec=spec))
    assert len(message.blocks) <= MAX_BLOCKS
    for block in message.blocks:
        if block["type"] == "section":
            assert len(block.get("text", {}).get("text", "")) <= 3000
            assert len(block.get("fields", [])) <= 10
            assert all(len(f["text"]) <= 2000 for f in block.get("fields", []))
        if block["type"] == "header":
            assert len(block["text"]["text"]) <= 150
        if block["type"] == "context":
            assert len(block["elements"]) <= 10
            assert all(len(e["text"]) <= 3000 for e in block["elements"])
        if block["type"] == "actions":
            assert all(len(e["value"]) <= 2000 for e in block["elements"])


def test_n_of_m_progress_and_all_approvers(snapshot) -> None:
    spec = ApprovalSpec(
        title="Rotate the prod keys?", required_approvals=3, reject_policy="majority"
    )
    votes = (
        Decision("approved", Actor("U0ANA", "ana"), CREATED, "ok"),
        Decision("approved", Actor("U0BO", "bo"), DECIDED),
        Decision("rejected", Actor("U0CY", "cy"), DECIDED, "not now"),
    )
    pending = message_for(approval(spec=spec, votes=votes))
    snapshot("request_two_of_three", {"text": pending.text, "blocks": pending.blocks})
    text = all_text(pending.blocks)
    assert "*2 of 3 approvals*: <@U0ANA>, <@U0BO>" in text
    assert "*1 of 3 rejections*: <@U0CY>" in text
    final = Decision("approved", Actor("U0EVE", "eve"), DECIDED)
    done = message_for(
        approval(spec=spec, votes=(*votes, final), status=Status.APPROVED, decision=final)
    )
    assert "*Approved* by <@U0ANA>, <@U0BO>, <@U0EVE>" in all_text(done.blocks)
    assert "approvals*" not in all_text(done.blocks)


def test_requests_with_a_form_get_approve_ellipsis_and_no_confirm(snapshot) -> None:
    spec = ApprovalSpec(
        title="Wire the refund?",
        risk="high",
        inputs=(
            InputField("ticket", "Ticket", required=True),
            InputField("amount", "Amount", "number", minimum=0, maximum=1000),
            InputField("region", "Region", "select", options=("eu", "us")),
        ),
    )
    message = message_for(approval(spec=spec))
    approve, reject = message.blocks[-1]["elements"]
    assert reject["action_id"] == Action.REJECT
    assert approve["text"]["text"] == "Approve…"
    assert approve["action_id"] == Action.APPROVE_FORM
    assert "confirm" not in approve
    assert "High risk" in all_text(message.blocks)
    modal = approve_modal(approval(spec=spec), channel_id="C0OPS")
    snapshot("approve_modal_high_risk", modal)
    block_ids = [b.get("block_id") for b in modal["blocks"]]
    assert block_ids[1:] == ["input:ticket", "input:amount", "input:region", "comment", "code"]
    assert modal["blocks"][1]["optional"] is False
    assert modal["blocks"][2]["element"]["type"] == "number_input"
    assert modal["blocks"][3]["element"]["type"] == "static_select"
    assert modal["blocks"][-1]["label"]["text"] == "Type K7Q2M4 to confirm"


def test_history_lists_events_newest_first(snapshot) -> None:
    events = [
        AuditEvent(
            "k7q2m4x9c3v8b1n6z5a0s2d4f6",
            "approved",
            DECIDED,
            "U0ANA",
            "ana",
            "Deploy?",
            {"comment": "ship it"},
        ),
        AuditEvent(
            "k7q2m4x9c3v8b1n6z5a0s2d4f6",
            "refused",
            CREATED,
            "U0EVE",
            "eve",
            "Deploy?",
            {"reason": "Only <@U0ANA> can decide"},
        ),
    ]
    message = history_list(events)
    snapshot("history", {"text": message.text, "blocks": message.blocks})
    assert len(message.blocks) == 3
    assert ">Only <@U0ANA> can decide" in all_text(message.blocks)  # the bot's own mrkdwn


# --- the mrkdwn rule at render time (bot.mrkdwn) ------------------------------------------------

HOSTILE_TITLE = "Deploy <!channel> <https://evil.example|bank.com> @here"


def test_the_notification_text_never_broadcasts_nor_links() -> None:
    """chat.postMessage's ``text`` is parsed as mrkdwn and drives push notifications."""
    for status in (Status.PENDING, Status.APPROVED, Status.EXPIRED):
        text = message_for(approval(spec=ApprovalSpec(title=HOSTILE_TITLE), status=status)).text
        assert "<!channel>" not in text
        assert "<https" not in text
        assert "@here" not in text  # typed as a word: a full-width at sign (never parsed)
        assert "&lt;!channel&gt;" in text  # shown as typed
        assert "\uff20here" in text


def test_author_text_keeps_its_formatting_but_not_broadcasts_or_disguised_links() -> None:
    """Stored before the rule (or by a future bug), still rendered by the rule."""
    text = (
        "*Deploy* `v2` to <#C0OPS> for <@U0ANA> <!here> <!subteam^S0ONCALL> "
        "<https://evil.example/x|bank.com> <https://example.com/d|example.com> \u202eevil"
    )
    rendered = message_for(approval(spec=ApprovalSpec(text=text))).blocks[1]["text"]["text"]
    assert rendered.startswith("*Deploy* `v2` to <#C0OPS> for <@U0ANA> ")
    assert "<!here>" not in rendered
    assert "\u2039!here\u203a" in rendered
    assert "<!subteam" not in rendered
    assert "<https://evil.example/x|bank.com> (evil.example)" in rendered
    assert "<https://example.com/d|example.com> " in rendered  # the label is the host
    assert "\u202e" not in rendered


def test_the_execution_name_cannot_break_the_context_line_or_the_console_link() -> None:
    arn = "arn:aws:states:eu-west-1:123456789012:execution:flow:run-é-\u202e-(1)"
    context = next(
        b for b in message_for(approval(execution_arn=arn)).blocks if b["type"] == "context"
    )
    line = next(e["text"] for e in context["elements"] if e["text"].startswith("Execution"))
    url, name = line.removeprefix("Execution <").removesuffix(">").split("|")
    assert url.endswith(
        "details/arn:aws:states:eu-west-1:123456789012:execution:flow:run-%C3%A9-%E2%80%AE-%281%29"
    )
    assert name == "flow/run-é--(1)"  # no bidi override in what is shown


TRICKY_TITLE = "Deploy *prod* `v2` _now_"


def _bold_line(text: str) -> str:
    first = text.split("\n", 1)[0]
    assert first.startswith("*"), first
    assert first.endswith("*"), first
    inner = first[1:-1]
    assert "*" not in inner, first  # nothing can end the bold early
    assert "`" not in inner, first
    return inner


def test_titles_with_asterisks_or_backticks_stay_one_bold_span() -> None:
    tricky = approval(spec=ApprovalSpec(title=TRICKY_TITLE))
    listed = pending_list([tricky], cursor=None, mine=False).blocks[1]["text"]["text"]
    assert _bold_line(listed) == "Deploy \u2217prod\u2217 \u02cbv2\u02cb _now_"
    assert _bold_line(approve_modal(tricky, channel_id="C0OPS")["blocks"][0]["text"]["text"])
    assert _bold_line(reject_modal(tricky, channel_id="C0OPS")["blocks"][0]["text"]["text"])
    labelled = approval(spec=ApprovalSpec(fields=(("*Owner* `x`", "bo"),)))
    field = message_for(labelled).blocks[1]["fields"][0]["text"]
    assert _bold_line(field)


def test_history_renders_the_bots_own_mentions_and_escapes_everything_else() -> None:
    events = [
        AuditEvent(
            "k7q2m4x9c3v8b1n6z5a0s2d4f6",
            "refused",
            CREATED,
            "U0EVE",
            "eve",
            TRICKY_TITLE,
            {"reason": "Only <@U0ANA>, <!subteam^S0ONCALL> can decide <!channel>"},
        ),
        AuditEvent(
            "k7q2m4x9c3v8b1n6z5a0s2d4f6",
            "rejected",
            CREATED,
            "U0ANA",
            "ana",
            "<!here>",
            {"comment": "because <@U0BO> & <!channel>"},
        ),
    ]
    refused, rejected = (b["elements"][1]["text"] for b in history_list(events).blocks[1:])
    assert refused.endswith(">Only <@U0ANA>, <!subteam^S0ONCALL> can decide &lt;!channel&gt;")
    assert rejected.endswith(
        "— &lt;!here&gt; (`K7Q2M4`)\n>because &lt;@U0BO&gt; &amp; &lt;!channel&gt;"
    )


def test_a_payload_with_backticks_cannot_close_its_code_block() -> None:
    preview = payload_preview({"note": "```\n<!channel> @here *x*"})
    assert preview.count("```") == 2
    assert "<!channel>" not in preview
    assert "@here" not in preview


def test_the_listing_names_the_resolved_requester_not_the_email_as_sent() -> None:
    """An e-mail requester is resolved to a user id when posted: the listing says who that is
    (a mention Slack renders), as the request's own message does."""
    spec = replace(approval().spec, requester="bo@example.com")
    resolved = approval(spec=spec, requester_id="U0BO")
    listed = pending_list([resolved], cursor=None, mine=False).blocks[1]["text"]["text"]
    assert "requested by <@U0BO>" in listed
    assert "bo@example.com" not in listed
