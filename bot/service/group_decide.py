"""Approve all / Reject all over a group message (:mod:`bot.service.groups`).

Every pending member, one by one, through the Decider — the same authorization as a single
click, asked of Slack anew once per click (:class:`FreshOnce`) — except, for Approve all, those
that need the approve form (inputs, high-risk code). Members the clicker may not decide, or
that someone else decided meanwhile, are skipped; the clicker is told what was done and what
was skipped. The message is drawn once, at the end of the click.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Literal

from bot.blocks import Message
from bot.group_blocks import approvable, rejectable
from bot.group_store import Group
from bot.models import Approval, Status
from bot.ports import Groups as GroupsPort
from bot.ports import Memberships, Slack, UserInfo
from bot.service.authorization import AccessPolicy
from bot.service.completion import Completer
from bot.service.context import Deps
from bot.service.decisions import Decider
from bot.service.expiry import Expirer
from bot.service.group_draw import GroupDrawer
from bot.service.record import Recorder
from bot.service.results import DecisionResult, Verdict

log = logging.getLogger(__name__)


class FreshOnce:
    """The Slack port for one Approve all / Reject all click: each directory question (who
    the clicker is, a user group's members, the clicker's channels) is asked of Slack anew
    once per click, and its answer serves every item of that click. Failures are not kept
    (the next item asks again). Messages pass straight through."""

    def __init__(self, slack: Slack) -> None:
        self._slack = slack
        self._answers: dict[tuple[str, str], Any] = {}

    def _once(self, kind: str, key: str, ask: Callable[[], Any]) -> Any:
        if (kind, key) not in self._answers:
            self._answers[(kind, key)] = ask()
        return self._answers[(kind, key)]

    def user_info(self, user_id: str, *, fresh: bool = False) -> UserInfo:
        return self._once("user", user_id, lambda: self._slack.user_info(user_id, fresh=True))  # type: ignore[no-any-return]

    def usergroup_members(self, group_id: str, *, fresh: bool = False) -> frozenset[str]:
        return self._once(  # type: ignore[no-any-return]
            "group", group_id, lambda: self._slack.usergroup_members(group_id, fresh=True)
        )

    def user_channels(self, user_id: str, *, fresh: bool = False) -> Memberships:
        return self._once(  # type: ignore[no-any-return]
            "channels", user_id, lambda: self._slack.user_channels(user_id, fresh=True)
        )

    def lookup_email(self, email: str) -> str | None:
        return self._once("email", email, lambda: self._slack.lookup_email(email))  # type: ignore[no-any-return]

    def post(self, channel: str, message: Message, *, approval_id: str) -> tuple[str, str]:
        return self._slack.post(channel, message, approval_id=approval_id)

    def update(self, channel: str, ts: str, message: Message) -> None:
        self._slack.update(channel, ts, message)

    def find_post(self, channel: str, approval_id: str, *, since: datetime) -> str | None:
        return self._slack.find_post(channel, approval_id, since=since)

    def post_ephemeral(self, channel: str, user: str, text: str) -> None:
        self._slack.post_ephemeral(channel, user, text)

    def post_reply(self, channel: str, thread_ts: str, text: str) -> None:
        self._slack.post_reply(channel, thread_ts, text)

    def publish_home(self, user_id: str, view: dict[str, Any]) -> None:
        self._slack.publish_home(user_id, view)

    def open_dm(self, user_id: str) -> str:
        return self._slack.open_dm(user_id)

    def post_dm(self, user_id: str, message: Message, *, approval_id: str) -> tuple[str, str]:
        return self._slack.post_dm(user_id, message, approval_id=approval_id)


@dataclass(frozen=True)
class GroupView:
    """A group message as it is now: for the Reject all modal."""

    group: Group
    items: list[Approval]

    @property
    def rejectable(self) -> int:
        return sum(1 for a in self.items if rejectable(a))


@dataclass
class AllResult:
    """What one Approve all / Reject all click did, item by item (numbers as in the message)."""

    outcome: Literal["approved", "rejected"]
    decided: list[int] = field(default_factory=list)
    refused: list[int] = field(default_factory=list)
    taken: list[int] = field(default_factory=list)  # decided meanwhile, expired, not pending
    forms: list[int] = field(default_factory=list)  # need the approve form
    failed: list[int] = field(default_factory=list)  # Slack or Step Functions did not answer
    results: list[DecisionResult] = field(default_factory=list)
    missing: bool = False

    @property
    def text(self) -> str:
        if self.missing:
            return "This group of requests no longer exists."
        verb = "Approved" if self.outcome == "approved" else "Rejected"
        lines = [f"{verb} {len(self.decided)}{_numbers(self.decided)}."]
        if self.refused:
            lines.append(f"Skipped {len(self.refused)} you may not decide{_numbers(self.refused)}.")
        if self.taken:
            lines.append(
                f"Skipped {len(self.taken)} already decided or expired{_numbers(self.taken)}."
            )
        if self.forms:
            lines.append(
                f"{len(self.forms)} need their own Approve… click (inputs or a high-risk code)"
                f"{_numbers(self.forms)}."
            )
        if self.failed:
            lines.append(
                f"{len(self.failed)} could not be decided now{_numbers(self.failed)}: try again."
            )
        return " ".join(lines)


def _numbers(numbers: list[int], limit: int = 20) -> str:
    if not numbers:
        return ""
    shown = ", ".join(str(n) for n in numbers[:limit])
    return f" ({'#' + shown.replace(', ', ', #')}{', …' if len(numbers) > limit else ''})"


class GroupDecider:
    def __init__(self, deps: Deps, groups: GroupsPort, drawer: GroupDrawer) -> None:
        self._deps = deps
        self._groups = groups
        self._drawer = drawer

    def view(self, group_id: str) -> GroupView | None:
        group = self._groups.get(group_id)
        if group is None:
            return None
        return GroupView(group, self._groups.approvals(group.members))

    def decide_all(
        self,
        group_id: str,
        user_id: str,
        outcome: Literal["approved", "rejected"],
        comment: str | None = None,
    ) -> AllResult:
        """Approve all / Reject all: decide every pending item the clicker may decide."""
        result = AllResult(outcome)
        view = self.view(group_id)
        if view is None:
            result.missing = True
            return result
        decider = self._decider(FreshOnce(self._deps.slack))
        with self._drawer.one_draw(group_id):
            for number, approval in enumerate(view.items, start=1):
                if approval.status is not Status.PENDING:
                    result.taken.append(number)
                    continue
                if outcome == "approved" and not approvable(approval):
                    result.forms.append(number)
                    continue
                decided = decider.decide(approval.approval_id, user_id, outcome, comment)
                result.results.append(decided)
                {
                    Verdict.DECIDED: result.decided,
                    Verdict.REFUSED: result.refused,
                    Verdict.TOO_LATE: result.taken,
                    Verdict.NOT_FOUND: result.taken,
                }.get(decided.verdict, result.failed).append(number)
        log.info(
            "decide all",
            extra={
                "group_id": group_id,
                "user": user_id,
                "outcome": outcome,
                "decided": len(result.decided),
                "refused": len(result.refused),
            },
        )
        return result

    def _decider(self, slack: Slack) -> Decider:
        """A Decider whose Slack reads are fresh once per click (:class:`FreshOnce`)."""
        deps = replace(self._deps, slack=slack)
        record = Recorder(deps)
        record.on_group = self._drawer.on_member_changed
        access = AccessPolicy(deps)
        completer = Completer(deps, record)
        return Decider(deps, record, access, completer, Expirer(deps, record, completer))
