"""The App Home tab, rendered: pure, no I/O (snapshot-tested in tests/unit/test_home_blocks.py).

Three sections, each a bounded list that ends with "and N more — `/approvals …`" when the
bot found more than it shows:

* **Waiting for you** — PENDING requests the person may decide, each with the same buttons
  (action ids and values) as the channel message, so a click from Home decides through the
  same listeners;
* **Your requests** — the person is the requester: still pending, and recently finished;
* **Recently decided** — by the person (the audit trail).

A Home view holds at most 100 blocks; this one at most 52 with ``HOME_LIST_MAX`` = 8: a notice
and a divider, each list's header, items (two blocks per waiting item: text and buttons) and
"more" line, two dividers and the footer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

from slack_sdk.models.blocks import (
    Block,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    MarkdownTextObject,
    SectionBlock,
)
from slack_sdk.models.views import View

from bot.blocks import (
    decision_buttons,
    mention,
    slack_date,
    title_of,
    truncate,
)
from bot.models import MAX_TEXT_CHARS, Approval, AuditEvent
from bot.mrkdwn import own_mrkdwn, plain, plain_bold

HOME_LIST_MAX: Final = 8  # items per section
MAX_HOME_BLOCKS: Final = 100  # Slack's limit for a Home tab view

_OUTCOMES: Final = {
    "approved": ":white_check_mark: approved",
    "rejected": ":x: rejected",
    "vote": ":ballot_box_with_ballot: voted",
    "expired": ":hourglass: expired",
    "error": ":warning: ended in an error",
}


@dataclass(frozen=True)
class Section:
    """One list of the Home tab: what is shown, and how many more were found (``more``;
    ``more_unknown``: the bot stopped looking, there may be more)."""

    items: tuple[Any, ...] = ()
    more: int = 0
    more_unknown: bool = False


@dataclass(frozen=True)
class HomeContent:
    """What one person's Home tab shows (built by ``bot.service.home``)."""

    user_id: str
    waiting: Section | None = field(default_factory=Section)  # None: Slack did not answer
    mine_pending: Section = field(default_factory=Section)
    mine_finished: Section = field(default_factory=Section)
    decided: Section = field(default_factory=Section)
    notice: str | None = None  # the answer to the person's last click from Home, if any


def _line(approval: Approval) -> str:
    details = [f"<#{approval.channel}>", f"Ref `{approval.short_code}`"]
    if approval.requester:
        details.append(f"requested by {mention(approval.requester)}")
    details.append(f"since {slack_date(approval.created_at)}")
    return f"*{plain_bold(title_of(approval))}*\n" + " · ".join(details)


def _event_line(event: AuditEvent, *, by: bool) -> str:
    what = _OUTCOMES.get(event.event, event.event)
    if event.event == "vote":
        what += " to " + ("approve" if event.detail.get("outcome") == "approved" else "reject")
    who = f" by <@{event.actor_id}>" if by and event.actor_id else ""
    where = f" in <#{event.channel}>" if event.channel else ""
    title = plain(event.title or event.approval_id)
    return (
        f"{what}{who} — *{title}* (`{event.approval_id[:6].upper()}`){where}"
        f" · {slack_date(event.at)}"
    )


def _more(section: Section, command: str) -> Block | None:
    if section.more:
        text = f"…and {section.more} more — `{command}`"
    elif section.more_unknown:
        text = f"…there may be more — `{command}`"
    else:
        return None
    return ContextBlock(elements=[MarkdownTextObject(text=text)])


def _text(text: str) -> SectionBlock:
    return SectionBlock(text=MarkdownTextObject(text=truncate(text, MAX_TEXT_CHARS)))


def _waiting(section: Section | None) -> list[Block]:
    blocks: list[Block] = [HeaderBlock(text="Waiting for you")]
    if section is None:
        blocks.append(
            _text("Slack did not answer in time, so this list is not shown. Open the tab again.")
        )
        return blocks
    if not section.items:
        blocks.append(_text("Nothing is waiting for you. :tada:"))
    for approval in section.items[:HOME_LIST_MAX]:
        blocks.append(_text(_line(approval)))
        blocks.append(decision_buttons(approval))
    more = _more(section, "/approvals mine")
    return blocks + ([more] if more else [])


def _mine(pending: Section, finished: Section) -> list[Block]:
    blocks: list[Block] = [HeaderBlock(text="Your requests")]
    if not pending.items and not finished.items:
        blocks.append(_text("No requests of yours are pending or finished lately."))
    for approval in pending.items[:HOME_LIST_MAX]:
        blocks.append(_text(":hourglass_flowing_sand: pending — " + _line(approval)))
    more = _more(pending, "/approvals")
    blocks += [more] if more else []
    for event in finished.items[:HOME_LIST_MAX]:
        blocks.append(_text(_event_line(event, by=True)))
    more = _more(finished, "/approvals history")
    return blocks + ([more] if more else [])


def _decided(section: Section) -> list[Block]:
    blocks: list[Block] = [HeaderBlock(text="Recently decided")]
    if not section.items:
        blocks.append(_text("You have not decided anything lately."))
    for event in section.items[:HOME_LIST_MAX]:
        line = _event_line(event, by=False)
        comment = event.detail.get("comment") or event.detail.get("reason")
        if comment:
            line += f"\n>{plain(str(comment))}"
        blocks.append(_text(line))
    more = _more(section, "/approvals history")
    return blocks + ([more] if more else [])


def home_view(content: HomeContent) -> dict[str, Any]:
    """The ``views.publish`` view (``type: home``) of one person's Home tab."""
    blocks: list[Block] = []
    if content.notice:
        blocks.append(_text(":information_source: " + own_mrkdwn(content.notice)))
        blocks.append(DividerBlock())
    blocks += _waiting(content.waiting)
    blocks.append(DividerBlock())
    blocks += _mine(content.mine_pending, content.mine_finished)
    blocks.append(DividerBlock())
    blocks += _decided(content.decided)
    blocks.append(
        ContextBlock(
            elements=[
                MarkdownTextObject(
                    text="Only what you may see in Slack is listed. `/approvals help` for more."
                )
            ]
        )
    )
    view = View(type="home", blocks=blocks[:MAX_HOME_BLOCKS])
    return view.to_dict()
