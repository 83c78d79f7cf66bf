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

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ConfirmObject,
    ContextBlock,
    HeaderBlock,
    InputBlock,
    MarkdownTextObject,
    PlainTextInputElement,
    PlainTextObject,
    SectionBlock,
)
from slack_sdk.models.views import View

from bot.ids import ACTIONS_BLOCK_PREFIX, METADATA_EVENT_TYPE, Action, Input, Modal
from bot.models import (
    MAX_PAYLOAD_PREVIEW_CHARS,
    MAX_TEXT_CHARS,
    MAX_TITLE_CHARS,
    USER_ID_RE,
    USERGROUP_ID_RE,
    Approval,
    Status,
    execution_name,
)

MAX_BLOCKS: Final = 50
MAX_FALLBACK_TEXT_CHARS: Final = 300
FIELDS_PER_SECTION: Final = 10
MAX_CONTEXT_ELEMENTS: Final = 10
MAX_CONFIRM_TEXT_CHARS: Final = 300  # confirmation dialog text is plain_text, 300 chars


@dataclass(frozen=True)
class Message:
    """What ``chat.postMessage`` / ``chat.update`` send: fallback text and blocks."""

    text: str
    blocks: list[dict[str, Any]]


def escape(text: str) -> str:
    """Escape the three characters Slack's mrkdwn treats as control characters."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def truncate(text: str, limit: int, marker: str = "…") -> str:
    return text if len(text) <= limit else text[: limit - len(marker)] + marker


def mention(principal: str) -> str:
    """A user id, user-group id or email, as Slack shows it."""
    if USER_ID_RE.match(principal):
        return f"<@{principal}>"
    if USERGROUP_ID_RE.match(principal):
        return f"<!subteam^{principal}>"
    return escape(principal)


def slack_date(moment: datetime) -> str:
    """A date Slack renders in the reader's own timezone, with a UTC fallback."""
    epoch = int(moment.timestamp())
    fallback = moment.strftime("%Y-%m-%d %H:%M UTC")
    return f"<!date^{epoch}^{{date_short_pretty}} at {{time}}|{fallback}>"


def console_url(execution_arn: str) -> str:
    """The Step Functions console page of an execution."""
    region = execution_arn.split(":")[3]
    return (
        f"https://{region}.console.aws.amazon.com/states/home?region={region}"
        f"#/v2/executions/details/{execution_arn}"
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
    rendered = escape(rendered)
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
    blocks: list[Block] = [HeaderBlock(text=title_of(approval))]
    if spec.text:
        blocks.append(SectionBlock(text=MarkdownTextObject(text=spec.text)))
    for start in range(0, len(spec.fields), FIELDS_PER_SECTION):
        chunk = spec.fields[start : start + FIELDS_PER_SECTION]
        blocks.append(
            SectionBlock(
                fields=[
                    MarkdownTextObject(text=f"*{escape(label)}*\n{escape(value)}")
                    for label, value in chunk
                ]
            )
        )
    if not spec.text and not spec.fields:
        blocks.append(SectionBlock(text=MarkdownTextObject(text=payload_preview(approval.payload))))
    if spec.links:
        links = "  ·  ".join(f"<{url}|{escape(label)}>" for label, url in spec.links)
        blocks.append(SectionBlock(text=MarkdownTextObject(text=truncate(links, MAX_TEXT_CHARS))))
    blocks.append(_context(approval))
    return blocks


def _context(approval: Approval) -> ContextBlock:
    spec = approval.spec
    parts: list[str] = []
    if spec.requester:
        parts.append(f"Requested by {mention(spec.requester)}")
    if approval.execution_arn:
        name = escape(execution_name(approval.execution_arn) or approval.execution_arn)
        parts.append(f"Execution <{console_url(approval.execution_arn)}|{name}>")
    if spec.approvers:
        parts.append("Approvers: " + ", ".join(mention(a) for a in spec.approvers))
    if spec.expires_at is not None and approval.status.is_open:
        parts.append(f"Expires {slack_date(spec.expires_at)}")
    parts.append(f"Ref `{approval.short_code}`")
    elements = [MarkdownTextObject(text=truncate(p, MAX_TEXT_CHARS)) for p in parts]
    return ContextBlock(elements=elements[:MAX_CONTEXT_ELEMENTS])


def decision_buttons(approval: Approval) -> ActionsBlock:
    """Approve (with a confirm dialog) and Reject (opens the reason modal)."""
    name = execution_name(approval.execution_arn)
    what = f"The workflow {name} will continue." if name else "The workflow will continue."
    return ActionsBlock(
        block_id=f"{ACTIONS_BLOCK_PREFIX}{approval.approval_id}",
        elements=[
            ButtonElement(
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
            ),
            ButtonElement(
                text="Reject",
                action_id=Action.REJECT.value,
                value=approval.approval_id,
                style="danger",
            ),
        ],
    )


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
        line = f"{icon} *{verb}* by <@{decision.actor.id}> {slack_date(decision.decided_at)}"
        return line + (f"\n>{escape(decision.comment)}" if decision.comment else "")
    if decision is not None and approval.status is Status.CLAIMED:
        verb = "Approving" if decision.outcome == "approved" else "Rejecting"
        return f":hourglass_flowing_sand: {verb}… (<@{decision.actor.id}>)"
    head = _FINAL_LINES.get(approval.status)
    if head is None:
        return None
    when = f" {slack_date(approval.updated_at)}" if approval.status is Status.EXPIRED else ""
    reason = f": {escape(approval.status_reason)}" if approval.status_reason else ""
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
    """Notification text (push notifications, screen readers, clients without blocks)."""
    prefix = {
        Status.APPROVED: "Approved",
        Status.REJECTED: "Rejected",
        Status.EXPIRED: "Expired",
        Status.ERROR: "Could not be completed",
        Status.INVALID: "Invalid request",
    }.get(approval.status)
    title = title_of(approval)
    return truncate(f"{prefix}: {title}" if prefix else title, MAX_FALLBACK_TEXT_CHARS)


# --- the reject modal -----------------------------------------------------------------------------

MAX_REASON_CHARS: Final = 3000
MAX_MODAL_TITLE_CHARS: Final = 24


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
                        f"*{escape(title_of(approval))}*\nRef `{approval.short_code}`",
                        MAX_TEXT_CHARS,
                    )
                )
            ),
            InputBlock(
                block_id=Input.REASON_BLOCK.value,
                label=PlainTextObject(text="Reason"),
                hint=PlainTextObject(text="The workflow receives this reason with the rejection."),
                element=PlainTextInputElement(
                    action_id=Input.REASON_INPUT.value,
                    multiline=True,
                    max_length=MAX_REASON_CHARS,
                    placeholder=PlainTextObject(text="Why is this rejected?"),
                ),
            ),
        ],
    )
    return view.to_dict()


# --- /approvals ---------------------------------------------------------------------------------

HELP_TEXT: Final = (
    "*/approvals* — what is waiting for a decision\n"
    "• `/approvals` — every pending approval, newest first\n"
    "• `/approvals mine` — only those you may decide\n"
    "• `/approvals help` — this help\n"
    "Approve or Reject right from the list; the request's message updates everywhere."
)


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
        if approval.spec.requester:
            details.append(f"requested by {mention(approval.spec.requester)}")
        details.append(f"since {slack_date(approval.created_at)}")
        text = f"*{escape(title_of(approval))}*\n" + " · ".join(details)
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
