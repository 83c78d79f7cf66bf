"""Pure Block Kit renderers: an approval in, ``text`` + ``blocks`` out.

No I/O and no clock: everything shown comes from the :class:`~bot.models.Approval`, so the same
record always renders the same message (snapshot-tested in ``tests/unit/test_blocks.py``).
Buttons carry the opaque approval id, never the task token.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final
from urllib.parse import quote

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ConfirmObject,
    ContextBlock,
    HeaderBlock,
    InputBlock,
    MarkdownTextObject,
    NumberInputElement,
    Option,
    PlainTextInputElement,
    PlainTextObject,
    SectionBlock,
    StaticSelectElement,
)
from slack_sdk.models.views import View

from bot.ids import ACTIONS_BLOCK_PREFIX, METADATA_EVENT_TYPE, Action, Input, Modal
from bot.models import (
    MAX_DM_COPIES,
    MAX_PAYLOAD_PREVIEW_CHARS,
    MAX_TEXT_CHARS,
    MAX_TITLE_CHARS,
    USER_ID_RE,
    USERGROUP_ID_RE,
    Approval,
    AuditEvent,
    Decision,
    InputField,
    Status,
    execution_name,
    people,
)
from bot.mrkdwn import author_mrkdwn, link, own_mrkdwn, plain, plain_bold, strip_bidi

MAX_BLOCKS: Final = 50
MAX_FALLBACK_TEXT_CHARS: Final = 300
FIELDS_PER_SECTION: Final = 10
MAX_CONTEXT_ELEMENTS: Final = 10
PROGRESS_BLOCK_ID: Final = "approval_progress"
MAX_CONFIRM_TEXT_CHARS: Final = 300  # confirmation dialog text is plain_text, 300 chars


@dataclass(frozen=True)
class Message:
    """What ``chat.postMessage`` / ``chat.update`` send: fallback text and blocks."""

    text: str
    blocks: list[dict[str, Any]]


def truncate(text: str, limit: int, marker: str = "…") -> str:
    return text if len(text) <= limit else text[: limit - len(marker)] + marker


def mention(principal: str) -> str:
    """A user id, user-group id or email, as Slack shows it."""
    if USER_ID_RE.match(principal):
        return f"<@{principal}>"
    if USERGROUP_ID_RE.match(principal):
        return f"<!subteam^{principal}>"
    return plain(principal)


def slack_date(moment: datetime) -> str:
    """A date Slack renders in the reader's own timezone, with a UTC fallback."""
    epoch = int(moment.timestamp())
    fallback = moment.strftime("%Y-%m-%d %H:%M UTC")
    return f"<!date^{epoch}^{{date_short_pretty}} at {{time}}|{fallback}>"


def console_url(execution_arn: str) -> str:
    """The Step Functions console page of an execution (the ARN percent-encoded: execution
    names may hold any character AWS allows, and the URL goes into a Slack link)."""
    region = execution_arn.split(":")[3]
    return (
        f"https://{region}.console.aws.amazon.com/states/home?region={region}"
        f"#/v2/executions/details/{quote(execution_arn, safe=':/')}"
    )


def title_of(approval: Approval) -> str:
    if approval.spec.title:
        return approval.spec.title
    name = execution_name(approval.execution_arn)
    return truncate(f"Approval needed: {name}" if name else "Approval needed", MAX_TITLE_CHARS)


def payload_preview(payload: Any) -> str:
    """The payload as a readable, size-capped code block (for requests without ``text``)."""
    try:
        rendered = json.dumps(payload, indent=2, ensure_ascii=False, sort_keys=True, default=str)
    except (TypeError, ValueError, RecursionError):
        rendered = repr(payload)
    rendered = plain(rendered).replace("`", "\u02cb")  # nothing closes the code block
    budget = MAX_PAYLOAD_PREVIEW_CHARS - 8
    if len(rendered) > budget:
        marker = f"\n… ({len(rendered) - budget + 40} more characters)"
        rendered = rendered[: budget - len(marker)] + marker
    return f"```\n{rendered}\n```"


def metadata_for(approval_id: str) -> dict[str, Any]:
    """Slack message metadata that lets the notifier find its own post again after a crash."""
    return {"event_type": METADATA_EVENT_TYPE, "event_payload": {"approval_id": approval_id}}


def _body_blocks(approval: Approval) -> list[Block]:
    spec = approval.spec
    blocks: list[Block] = [HeaderBlock(text=strip_bidi(title_of(approval)))]
    if spec.text:
        text = truncate(author_mrkdwn(spec.text), MAX_TEXT_CHARS)
        blocks.append(SectionBlock(text=MarkdownTextObject(text=text)))
    for start in range(0, len(spec.fields), FIELDS_PER_SECTION):
        chunk = spec.fields[start : start + FIELDS_PER_SECTION]
        blocks.append(
            SectionBlock(
                fields=[
                    MarkdownTextObject(text=f"*{plain_bold(label)}*\n{plain(value)}")
                    for label, value in chunk
                ]
            )
        )
    if not spec.text and not spec.fields:
        blocks.append(SectionBlock(text=MarkdownTextObject(text=payload_preview(approval.payload))))
    if spec.links:
        links = "  ·  ".join(link(url, plain(label)) for label, url in spec.links)
        blocks.append(SectionBlock(text=MarkdownTextObject(text=truncate(links, MAX_TEXT_CHARS))))
    progress = _progress(approval)
    if progress:
        blocks.append(
            SectionBlock(text=MarkdownTextObject(text=truncate(progress, MAX_TEXT_CHARS)))
        )
    blocks.append(_context(approval))
    return blocks


def _shortfall(approval: Approval) -> str | None:
    """A warning when fewer people could approve than the request needs (counted through the
    approver groups when it was posted: groups may grow, so it is posted all the same)."""
    eligible, needed = approval.eligible_approvers, approval.spec.required_approvals
    if eligible is None or eligible >= needed:
        return None
    return (
        f":warning: This request needs {needed} approval{'s' if needed > 1 else ''}, but only "
        f"{people(eligible)} could approve it when it was posted (the approver groups' "
        "members): add people to the groups, or it waits until it expires."
    )


def _progress(approval: Approval) -> str | None:
    """ "2 of 3 approvals: @ana, @bo" while votes are being collected."""
    spec = approval.spec
    if not approval.status.is_open:
        return None
    shortfall = _shortfall(approval)
    if spec.required_approvals == 1:
        return shortfall
    lines = []
    approved = approval.votes_for("approved")
    who = ", ".join(f"<@{v.actor.id}>" for v in approved)
    lines.append(
        f"*{len(approved)} of {spec.required_approvals} approvals*" + (f": {who}" if who else "")
    )
    rejected = approval.votes_for("rejected")
    if spec.reject_policy == "majority":
        who = ", ".join(f"<@{v.actor.id}>" for v in rejected)
        lines.append(
            f"*{len(rejected)} of {spec.required_approvals} rejections*"
            + (f": {who}" if who else "")
        )
    if shortfall:
        lines.append(shortfall)
    return "\n".join(lines)


def _context(approval: Approval) -> ContextBlock:
    spec = approval.spec
    parts: list[str] = []
    if approval.requester:  # the user id resolved when posted; an older record: as sent
        parts.append(f"Requested by {mention(approval.requester)}")
    if approval.execution_arn:
        name = plain(execution_name(approval.execution_arn) or approval.execution_arn)
        parts.append(f"Execution <{console_url(approval.execution_arn)}|{name}>")
    approvers = approval.approvers()
    if approvers:
        parts.append("Approvers: " + ", ".join(mention(a) for a in approvers))
    if approval.escalated_at is not None and spec.escalate_to:
        parts.append(f"Escalated {slack_date(approval.escalated_at)}")
    if spec.risk == "high" and approval.status.is_open:
        parts.append(":warning: High risk: approvers type the Ref code and need Slack 2FA")
    if spec.expires_at is not None and approval.status.is_open:
        parts.append(f"Expires {slack_date(spec.expires_at)}")
    if len(approval.copies) >= MAX_DM_COPIES and approval.status.is_open:
        parts.append(
            f"Sent by direct message to {MAX_DM_COPIES} people, the most one request sends"
        )
    parts.append(f"Ref `{approval.short_code}`")
    elements = [MarkdownTextObject(text=truncate(p, MAX_TEXT_CHARS)) for p in parts]
    return ContextBlock(elements=elements[:MAX_CONTEXT_ELEMENTS])


def decision_buttons(approval: Approval) -> ActionsBlock:
    """Approve (with a confirm dialog), Approve with note… and Reject (the reason modal).

    Requests with inputs to fill in or ``risk: high`` get Approve… (the approve modal) instead.
    """
    approve_form = ButtonElement(
        text="Approve…" if approval.spec.needs_form else "Approve with note…",
        action_id=Action.APPROVE_FORM.value,
        value=approval.approval_id,
        style="primary" if approval.spec.needs_form else None,
    )
    reject = ButtonElement(
        text="Reject", action_id=Action.REJECT.value, value=approval.approval_id, style="danger"
    )
    if approval.spec.needs_form:
        elements = [approve_form, reject]
    else:
        name = execution_name(approval.execution_arn)
        what = f"The workflow {name} will continue." if name else "The workflow will continue."
        approve = ButtonElement(
            text="Approve",
            action_id=Action.APPROVE.value,
            value=approval.approval_id,
            style="primary",
            confirm=ConfirmObject(
                title="Approve this request?",
                text=PlainTextObject(text=truncate(what, MAX_CONFIRM_TEXT_CHARS)),
                confirm="Approve",
                deny="Cancel",
            ),
        )
        elements = [approve, approve_form, reject]
    return ActionsBlock(block_id=f"{ACTIONS_BLOCK_PREFIX}{approval.approval_id}", elements=elements)


def _inputs_lines(voters: tuple[Decision, ...]) -> str:
    """What approvers filled in: one line per field (prefixed by who, with several)."""
    lines = []
    for vote in voters:
        who = f"<@{vote.actor.id}> " if len(voters) > 1 else ""
        lines += [f"\n• {who}*{plain_bold(k)}:* {plain(str(v))}" for k, v in vote.inputs]
    return "".join(lines)


_FINAL_LINES: Final = {
    Status.EXPIRED: ":hourglass: *Expired*",
    Status.ERROR: ":warning: *Could not be completed*",
    Status.INVALID: ":no_entry: *Invalid request*",
}


def _outcome_line(approval: Approval) -> str | None:
    decision = approval.decision
    if decision is not None and approval.status in (Status.APPROVED, Status.REJECTED):
        icon, verb = (
            (":white_check_mark:", "Approved")
            if approval.status is Status.APPROVED
            else (":x:", "Rejected")
        )
        voters = approval.votes_for(decision.outcome) or (decision,)
        who = ", ".join(f"<@{v.actor.id}>" for v in voters)
        line = f"{icon} *{verb}* by {who} {slack_date(decision.decided_at)}"
        notes = [f"\n><@{v.actor.id}>: {plain(v.comment)}" for v in voters if v.comment]
        if len(voters) == 1:
            notes = [f"\n>{plain(decision.comment)}"] if decision.comment else []
        return line + "".join(notes) + _inputs_lines(voters)
    if decision is not None and approval.status is Status.CLAIMED:
        verb = "Approving" if decision.outcome == "approved" else "Rejecting"
        return f":hourglass_flowing_sand: {verb}… (<@{decision.actor.id}>)"
    head = _FINAL_LINES.get(approval.status)
    if head is None:
        return None
    when = f" {slack_date(approval.updated_at)}" if approval.status is Status.EXPIRED else ""
    reason = f": {plain(approval.status_reason)}" if approval.status_reason else ""
    return head + when + reason


def message_for(approval: Approval) -> Message:
    """The channel message of an approval in its current state.

    Open requests get the Approve / Reject buttons; decided, expired or failed ones get a line
    saying who did what and when, and no buttons.
    """
    blocks = _body_blocks(approval)
    outcome = _outcome_line(approval)
    if approval.status in (Status.POSTING, Status.PENDING):
        blocks.append(decision_buttons(approval))
    elif outcome is not None:
        blocks.append(SectionBlock(text=MarkdownTextObject(text=truncate(outcome, MAX_TEXT_CHARS))))
    rendered = [b.to_dict() for b in blocks[:MAX_BLOCKS]]
    return Message(text=fallback_text(approval), blocks=rendered)


def fallback_text(approval: Approval) -> str:
    """Notification text (push notifications, screen readers, clients without blocks).

    Slack parses it as mrkdwn, and a ``<!channel>`` here would notify the channel: the title is
    author text, escaped like any other."""
    prefix = {
        Status.APPROVED: "Approved",
        Status.REJECTED: "Rejected",
        Status.EXPIRED: "Expired",
        Status.ERROR: "Could not be completed",
        Status.INVALID: "Invalid request",
    }.get(approval.status)
    title = truncate(title_of(approval), MAX_FALLBACK_TEXT_CHARS - 30)
    return plain(f"{prefix}: {title}" if prefix else title)


# --- the reject modal -----------------------------------------------------------------------------

MAX_REASON_CHARS: Final = 3000
MAX_MODAL_TITLE_CHARS: Final = 24


def reason_input(*, hint: str, placeholder: str) -> InputBlock:
    """The required reason of a rejection modal (one request, or Reject all): the block and
    action ids the listeners read it by (``bot.slack_payloads.reason_of``)."""
    return InputBlock(
        block_id=Input.REASON_BLOCK.value,
        label=PlainTextObject(text="Reason"),
        hint=PlainTextObject(text=hint),
        element=PlainTextInputElement(
            action_id=Input.REASON_INPUT.value,
            multiline=True,
            max_length=MAX_REASON_CHARS,
            placeholder=PlainTextObject(text=placeholder),
        ),
    )


def reject_modal(approval: Approval, *, channel_id: str | None) -> dict[str, Any]:
    """``views.open`` payload: a required reason, passed to the workflow as the failure cause."""
    metadata = json.dumps({"approval_id": approval.approval_id, "channel_id": channel_id})
    view = View(
        type="modal",
        callback_id=Modal.REJECT.value,
        title=PlainTextObject(text="Reject request"),
        submit=PlainTextObject(text="Reject"),
        close=PlainTextObject(text="Cancel"),
        private_metadata=metadata,
        blocks=[
            SectionBlock(
                text=MarkdownTextObject(
                    text=truncate(
                        f"*{plain_bold(title_of(approval))}*\nRef `{approval.short_code}`",
                        MAX_TEXT_CHARS,
                    )
                )
            ),
            reason_input(
                hint="The workflow receives this reason with the rejection.",
                placeholder="Why is this rejected?",
            ),
        ],
    )
    return view.to_dict()


# --- the approve modal ---------------------------------------------------------------------------


def _input_element(field: InputField) -> Any:
    if field.type == "number":
        return NumberInputElement(
            action_id=Input.VALUE.value,
            is_decimal_allowed=True,
            min_value=None if field.minimum is None else f"{field.minimum:g}",
            max_value=None if field.maximum is None else f"{field.maximum:g}",
        )
    if field.type == "select":
        return StaticSelectElement(
            action_id=Input.VALUE.value,
            placeholder=PlainTextObject(text="Choose…"),
            options=[Option(text=PlainTextObject(text=o), value=o) for o in field.options],
        )
    return PlainTextInputElement(
        action_id=Input.VALUE.value, multiline=field.multiline, max_length=MAX_TEXT_CHARS
    )


def approve_modal(approval: Approval, *, channel_id: str | None) -> dict[str, Any]:
    """``views.open`` payload: the request's inputs, an optional comment and, for high-risk
    requests, the short code to type. Submitting it approves."""
    metadata = json.dumps({"approval_id": approval.approval_id, "channel_id": channel_id})
    summary = f"*{plain_bold(title_of(approval))}*\nRef `{approval.short_code}`"
    if approval.spec.required_approvals > 1:
        have = len(approval.votes_for("approved"))
        summary += f"\n{have} of {approval.spec.required_approvals} approvals so far"
    blocks: list[Block] = [
        SectionBlock(text=MarkdownTextObject(text=truncate(summary, MAX_TEXT_CHARS)))
    ]
    for field in approval.spec.inputs:
        blocks.append(
            InputBlock(
                block_id=f"{Input.FIELD_PREFIX.value}{field.name}",
                label=PlainTextObject(text=field.label),
                optional=not field.required,
                element=_input_element(field),
            )
        )
    blocks.append(
        InputBlock(
            block_id=Input.COMMENT_BLOCK.value,
            label=PlainTextObject(text="Comment"),
            optional=True,
            hint=PlainTextObject(text="The workflow receives it with the approval."),
            element=PlainTextInputElement(
                action_id=Input.VALUE.value, multiline=True, max_length=MAX_REASON_CHARS
            ),
        )
    )
    if approval.spec.risk == "high":
        blocks.append(
            InputBlock(
                block_id=Input.CODE_BLOCK.value,
                label=PlainTextObject(text=f"Type {approval.short_code} to confirm"),
                hint=PlainTextObject(text="High-risk request: confirm you mean this one."),
                element=PlainTextInputElement(action_id=Input.VALUE.value, max_length=20),
            )
        )
    view = View(
        type="modal",
        callback_id=Modal.APPROVE.value,
        title=PlainTextObject(text="Approve request"),
        submit=PlainTextObject(text="Approve"),
        close=PlainTextObject(text="Cancel"),
        private_metadata=metadata,
        blocks=blocks,
    )
    return view.to_dict()


# --- /approvals history ---------------------------------------------------------------------------

MAX_HISTORY: Final = 40
_EVENT_ICONS: Final = {
    "posted": ":incoming_envelope:",
    "vote": ":ballot_box_with_ballot:",
    "approved": ":white_check_mark:",
    "rejected": ":x:",
    "refused": ":no_entry_sign:",
    "reminded": ":alarm_clock:",
    "escalated": ":rotating_light:",
    "expired": ":hourglass:",
    "error": ":warning:",
    "rolled_back": ":leftwards_arrow_with_hook:",
}


def history_list(events: list[AuditEvent]) -> Message:
    """The ephemeral answer of ``/approvals history [n]``: one line per audit event."""
    blocks: list[Block] = [HeaderBlock(text="Approval history")]
    if not events:
        blocks.append(SectionBlock(text=MarkdownTextObject(text="No history yet.")))
    for event in events[:MAX_HISTORY]:
        icon = _EVENT_ICONS.get(event.event, ":small_blue_diamond:")
        who = f" by <@{event.actor_id}>" if event.actor_id else ""
        title = plain(event.title or event.approval_id)
        what = event.event
        if what == "vote":
            what = "voted to " + (
                "approve" if event.detail.get("outcome") == "approved" else "reject"
            )
        line = f"{icon} *{what}*{who} — {title} (`{event.approval_id[:6].upper()}`)"
        # A reason is the bot's own text (its mentions render); a comment is a person's.
        if event.detail.get("reason"):
            line += f"\n>{own_mrkdwn(str(event.detail['reason']))}"
        elif event.detail.get("comment"):
            line += f"\n>{plain(str(event.detail['comment']))}"
        blocks.append(
            ContextBlock(
                elements=[
                    MarkdownTextObject(text=slack_date(event.at)),
                    MarkdownTextObject(text=truncate(line, MAX_TEXT_CHARS)),
                ]
            )
        )
    return Message(
        text=f"Approval history: {len(events)} events",
        blocks=[b.to_dict() for b in blocks[:MAX_BLOCKS]],
    )


# --- /approvals ---------------------------------------------------------------------------------

HELP_TEXT: Final = (
    "*/approvals* — what is waiting for a decision\n"
    "• `/approvals` — every pending approval, newest first\n"
    "• `/approvals mine` — only those you may decide\n"
    "• `/approvals history [n]` — the last n (1 to 40, default 10) decisions, refusals, "
    "reminders and expiries\n"
    "• `/approvals help` — this help\n"
    "Approve or Reject right from the list; the request's message updates everywhere."
)


MAX_ECHO_CHARS: Final = 60


def not_understood(text: str, problem: str) -> str:
    """``/approvals …`` that is not a command: what was not understood, then the usage. The
    input is echoed (bounded, escaped, in inline code) so the user sees what Slack sent."""
    said = " ".join(text.split())
    said = said if len(said) <= MAX_ECHO_CHARS else said[: MAX_ECHO_CHARS - 1] + "…"
    echo = f"`/approvals {plain_bold(said)}`" if said else "`/approvals`"
    return f":thinking_face: I did not understand {echo}: {problem}.\n\n{HELP_TEXT}"


def pending_list(
    approvals: list[Approval], *, cursor: str | None, mine: bool, continued: bool = False
) -> Message:
    """The ephemeral answer of ``/approvals``: one section + buttons per approval, and a
    "Show more" button carrying the next page's cursor. At most 2 + 2 * 10 + 1 blocks."""
    heading = "Pending approvals you can decide" if mine else "Pending approvals"
    if continued:
        heading += " (continued)"
    blocks: list[Block] = [HeaderBlock(text=heading)]
    if not approvals:
        empty = "Nothing is waiting for you. :tada:" if mine else "Nothing is waiting. :tada:"
        blocks.append(SectionBlock(text=MarkdownTextObject(text=empty)))
    for approval in approvals:
        details = [f"<#{approval.channel}>", f"Ref `{approval.short_code}`"]
        if approval.requester:  # the user id resolved when posted, as in the message
            details.append(f"requested by {mention(approval.requester)}")
        details.append(f"since {slack_date(approval.created_at)}")
        text = f"*{plain_bold(title_of(approval))}*\n" + " · ".join(details)
        blocks.append(SectionBlock(text=MarkdownTextObject(text=truncate(text, MAX_TEXT_CHARS))))
        blocks.append(decision_buttons(approval))
    if cursor is not None:
        value = json.dumps({"cursor": cursor, "mine": mine}, separators=(",", ":"))
        blocks.append(
            ActionsBlock(
                block_id="approvals_more",
                elements=[
                    ButtonElement(
                        text="Show more", action_id=Action.MORE_PENDING.value, value=value
                    )
                ],
            )
        )
    count = f"{len(approvals)}{'+' if cursor else ''}"
    return Message(text=f"{heading}: {count}", blocks=[b.to_dict() for b in blocks[:MAX_BLOCKS]])
