"""Pure Block Kit renderers of grouped requests (``approval.group``): one message, many items.

Layout, sized for Slack's limits (50 blocks, 25 elements per actions block, section text 3000
characters, button text 75): a header; a summary; per :data:`ITEMS_PER_SECTION` items one
section listing them (number, title, Ref, state) and one actions block with their buttons
(Approve n / Approve… n, Reject n: the actions of a single request's buttons, as
``<action>:<n>`` since action ids are unique per block, with the approval id as value, so
the same listeners and modals work per item); then **Approve all N** / **Reject all N**,
each with a confirm dialog naming the count. :data:`~bot.group_store.MAX_GROUP_ITEMS` items take
2 + 2 * 10 + 2 = 24 blocks; later requests of the group go to a continuation message.

Snapshot-tested in ``tests/unit/test_group_blocks.py``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, Final

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ConfirmObject,
    ContextBlock,
    HeaderBlock,
    MarkdownTextObject,
    PlainTextObject,
    SectionBlock,
)
from slack_sdk.models.views import View

from bot.blocks import (
    MAX_BLOCKS,
    MAX_CONFIRM_TEXT_CHARS,
    MAX_FALLBACK_TEXT_CHARS,
    Message,
    reason_input,
    slack_date,
    title_of,
    truncate,
)
from bot.group_store import Group
from bot.ids import (
    GROUP_ALL_BLOCK_ID,
    GROUP_ITEMS_BLOCK_PREFIX,
    Action,
    Modal,
    item_action,
)
from bot.models import MAX_TEXT_CHARS, Approval, Status
from bot.mrkdwn import plain, plain_bold, strip_bidi

ITEMS_PER_SECTION: Final = 5
MAX_ITEM_LINE_CHARS: Final = MAX_TEXT_CHARS // ITEMS_PER_SECTION - 2  # 5 lines fit one section
MAX_ITEM_TITLE_CHARS: Final = 120
MAX_HEADER_CHARS: Final = 150
MAX_KEY_CHARS: Final = 80
MAX_REASON_PREVIEW_CHARS: Final = 150


def _waiting(approval: Approval) -> bool:
    """Pending (or being posted: it is drawn before it leaves POSTING)."""
    return approval.status in (Status.POSTING, Status.PENDING)


def approvable(approval: Approval) -> bool:
    """Approve all takes it: pending, and approving needs no form (inputs, high-risk code)."""
    return _waiting(approval) and not approval.spec.needs_form


def rejectable(approval: Approval) -> bool:
    return _waiting(approval)


def _state(approval: Approval) -> str:
    status, decision = approval.status, approval.decision
    if status in (Status.POSTING, Status.PENDING):
        line = ":large_yellow_circle: Waiting"
        needed = approval.spec.required_approvals
        if needed > 1:
            line += f" · {len(approval.votes_for('approved'))} of {needed} approvals"
        if approval.spec.needs_form:
            line += " · needs its own Approve… click"
        return line
    if status is Status.CLAIMED and decision is not None:
        verb = "Approving" if decision.outcome == "approved" else "Rejecting"
        return f":hourglass_flowing_sand: {verb}… (<@{decision.actor.id}>)"
    if status in (Status.APPROVED, Status.REJECTED) and decision is not None:
        icon, verb = (
            (":white_check_mark:", "Approved") if status is Status.APPROVED else (":x:", "Rejected")
        )
        voters = approval.votes_for(decision.outcome) or (decision,)
        who = ", ".join(f"<@{v.actor.id}>" for v in voters)
        line = f"{icon} *{verb}* by {who} {slack_date(decision.decided_at)}"
        if status is Status.REJECTED and decision.comment:
            line += f": {plain(truncate(decision.comment, MAX_REASON_PREVIEW_CHARS))}"
        return line
    if status is Status.EXPIRED:
        return f":hourglass: *Expired* {slack_date(approval.updated_at)}"
    if status is Status.ERROR:
        return ":warning: *Could not be completed*"
    return ":no_entry: *Invalid request*"


def _item_line(number: int, approval: Approval) -> str:
    title = plain_bold(truncate(strip_bidi(title_of(approval)), MAX_ITEM_TITLE_CHARS))
    line = f"*{number}.* {title} · Ref `{approval.short_code}`\n{_state(approval)}"
    return truncate(line, MAX_ITEM_LINE_CHARS)


def _item_buttons(number: int, approval: Approval) -> list[ButtonElement]:
    if not _waiting(approval):
        return []
    reject = ButtonElement(
        text=f"Reject {number}",
        action_id=item_action(Action.REJECT, number),
        value=approval.approval_id,
    )
    if approval.spec.needs_form:
        approve = ButtonElement(
            text=f"Approve… {number}",
            action_id=item_action(Action.APPROVE_FORM, number),
            value=approval.approval_id,
        )
    else:
        title = truncate(title_of(approval), MAX_CONFIRM_TEXT_CHARS)
        approve = ButtonElement(
            text=f"Approve {number}",
            action_id=item_action(Action.APPROVE, number),
            value=approval.approval_id,
            confirm=ConfirmObject(
                title=f"Approve request {number}?",
                text=PlainTextObject(text=title),
                confirm="Approve",
                deny="Cancel",
            ),
        )
    return [approve, reject]


def _all_buttons(group: Group, items: Sequence[Approval]) -> ActionsBlock | None:
    to_approve = sum(1 for a in items if approvable(a))
    to_reject = sum(1 for a in items if rejectable(a))
    forms = sum(1 for a in items if rejectable(a) and not approvable(a))
    skip = " Requests you may not decide are skipped."
    elements: list[ButtonElement] = []
    if to_approve:
        text = f"This approves {to_approve} pending request{'s' if to_approve > 1 else ''}." + skip
        if forms:
            text += f" {forms} need their own Approve… click."
        elements.append(
            ButtonElement(
                text=f"Approve all {to_approve}",
                action_id=Action.APPROVE_ALL.value,
                value=group.group_id,
                style="primary",
                confirm=ConfirmObject(
                    title=f"Approve all {to_approve}?",
                    text=PlainTextObject(text=truncate(text, MAX_CONFIRM_TEXT_CHARS)),
                    confirm=f"Approve {to_approve}",
                    deny="Cancel",
                ),
            )
        )
    if to_reject:
        text = (
            f"This rejects {to_reject} pending request{'s' if to_reject > 1 else ''} "
            "with one reason (asked next)." + skip
        )
        elements.append(
            ButtonElement(
                text=f"Reject all {to_reject}",
                action_id=Action.REJECT_ALL.value,
                value=group.group_id,
                style="danger",
                confirm=ConfirmObject(
                    title=f"Reject all {to_reject}?",
                    text=PlainTextObject(text=truncate(text, MAX_CONFIRM_TEXT_CHARS)),
                    confirm="Continue",
                    deny="Cancel",
                ),
            )
        )
    return ActionsBlock(block_id=GROUP_ALL_BLOCK_ID, elements=elements) if elements else None


_SUMMARY_ORDER: Final = (
    (Status.PENDING, "pending"),
    (Status.CLAIMED, "being decided"),
    (Status.APPROVED, "approved"),
    (Status.REJECTED, "rejected"),
    (Status.EXPIRED, "expired"),
    (Status.ERROR, "could not be completed"),
    (Status.INVALID, "invalid"),
)


def _summary(items: Sequence[Approval]) -> str:
    """``*3 pending* · 2 approved · 1 rejected``"""
    parts = []
    for status, label in _SUMMARY_ORDER:
        n = sum(
            1
            for a in items
            if a.status is status or (status is Status.PENDING and a.status is Status.POSTING)
        )
        if n:
            parts.append(f"*{n} {label}*" if status is Status.PENDING else f"{n} {label}")
    return " · ".join(parts) or "No requests yet"


def group_message(group: Group, items: Sequence[Approval]) -> Message:
    """The channel message of one group part, from its members as they are now (in order)."""
    key = truncate(strip_bidi(group.key), MAX_KEY_CHARS)
    n = len(items)
    header = f"{n} approval request{'s' if n != 1 else ''}: {key}"
    if group.part:
        header += f" (continued, part {group.part + 1})"
    blocks: list[Block] = [
        HeaderBlock(text=truncate(header, MAX_HEADER_CHARS)),
        SectionBlock(text=MarkdownTextObject(text=_summary(items))),
    ]
    for start in range(0, n, ITEMS_PER_SECTION):
        chunk = items[start : start + ITEMS_PER_SECTION]
        lines = [_item_line(start + i + 1, a) for i, a in enumerate(chunk)]
        blocks.append(SectionBlock(text=MarkdownTextObject(text="\n".join(lines))))
        buttons = [b for i, a in enumerate(chunk) for b in _item_buttons(start + i + 1, a)]
        if buttons:
            blocks.append(
                ActionsBlock(block_id=f"{GROUP_ITEMS_BLOCK_PREFIX}{start + 1}", elements=buttons)
            )
    all_buttons = _all_buttons(group, items)
    if all_buttons is not None:
        blocks.append(all_buttons)
    blocks.append(
        ContextBlock(
            elements=[
                MarkdownTextObject(
                    text="Approve all skips requests that need a form (inputs, high risk) "
                    "and those you may not decide"
                )
            ]
        )
    )
    pending = sum(1 for a in items if a.status.is_open)
    text = f"{n} approval requests: {plain(key)} ({pending} open)"
    return Message(
        text=truncate(text, MAX_FALLBACK_TEXT_CHARS),
        blocks=[b.to_dict() for b in blocks[:MAX_BLOCKS]],
    )


def reject_all_modal(group: Group, count: int, *, channel_id: str | None) -> dict[str, Any]:
    """``views.open`` payload: one reason for every request Reject all rejects."""
    metadata = json.dumps({"group_id": group.group_id, "channel_id": channel_id})
    key = plain_bold(truncate(strip_bidi(group.key), MAX_KEY_CHARS))
    view = View(
        type="modal",
        callback_id=Modal.REJECT_ALL.value,
        title=PlainTextObject(text=truncate(f"Reject all {count}", 24)),
        submit=PlainTextObject(text=truncate(f"Reject {count}", 24)),
        close=PlainTextObject(text="Cancel"),
        private_metadata=metadata,
        blocks=[
            SectionBlock(
                text=MarkdownTextObject(
                    text=f"*{key}*\nRejects the {count} pending request"
                    f"{'s' if count != 1 else ''} of this group that you may decide; "
                    "the others are skipped, and you are told which."
                )
            ),
            reason_input(
                hint="Every rejected workflow receives this reason with the rejection.",
                placeholder="Why are these rejected?",
            ),
        ],
    )
    return view.to_dict()
