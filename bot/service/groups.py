"""Grouped requests (``approval.group``): one channel message for many requests, Approve all.

Requests with the same ``group`` key for the same channel collect into one message
(:mod:`bot.group_blocks`); each is still its own approval and task token, decided exactly once
by the :class:`~bot.service.decisions.Decider`.

**Posting** (the notifier; :meth:`Groups.submit`, after the request is stored as POSTING):

1. join the group (:class:`~bot.group_store.GroupStore`: a set, at most
   :data:`~bot.group_store.MAX_GROUP_ITEMS` members; a full part sends the request to the next
   part, a continuation message);
2. make sure the group's message exists, exactly once across crashes: a posting lease, and
   after a crashed attempt a look for the earlier post by its metadata (as for a single
   request). Another delivery posting it right now is waited for, briefly, then retried later;
3. the message redrawn (a request still POSTING shows as waiting; when Slack does not take
   the update, the delivery is retried);
4. the approval POSTING → PENDING with the group message's channel and ts.

**Redrawing** (:meth:`Groups.redraw`): every change of the group or of a member bumps the
group's version; then the message is rendered from fresh reads, ``chat.update``\\ d, and the
version read again: if it moved meanwhile, it is drawn again. The last writer always
re-checks, so the message ends showing every member's final state. One writer draws at a
time (a draw lease): the others only bump, and the drawer sees their bumps.

**Approve all / Reject all** (:meth:`Groups.decide_all`): every pending member, one by one,
through the Decider — the same authorization as a single click, asked of Slack anew once per
click (:class:`FreshOnce`) — except, for Approve all, those that need the approve form
(inputs, high-risk code). Members the clicker may not decide, or that someone else decided
meanwhile, are skipped; the clicker is told what was done and what was skipped.

With ``notify: dm`` a request has no channel message, so ``group`` does nothing.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Final, Literal

from bot.blocks import Message
from bot.group_blocks import approvable, group_message, rejectable
from bot.group_store import Group, GroupBegin, GroupFull, group_id_for
from bot.models import Approval, ApprovalRequest, InvalidApprovalRequest, Status
from bot.ports import Groups as GroupsPort
from bot.ports import Memberships, Slack, SlackRejected, SlackUnavailable, UserInfo
from bot.service.authorization import AccessPolicy
from bot.service.completion import Completer
from bot.service.context import Deps
from bot.service.decisions import Decider
from bot.service.expiry import Expirer
from bot.service.record import Recorder
from bot.service.results import DecisionResult, RequestOutcome, RetryLater, Verdict
from bot.store import StateConflict
from bot.workflow import TaskGone

log = logging.getLogger(__name__)

MAX_GROUP_PARTS: Final = 100  # continuation messages of one group, at most
MAX_REDRAWS: Final = 5  # a redraw that keeps seeing the version move gives up to the last writer
WAIT_FOR_POST_ROUNDS: Final = 20
WAIT_FOR_POST_SECONDS: Final = 0.25  # 20 x 0.25 s: another delivery is posting the message


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


class Groups:
    def __init__(
        self,
        deps: Deps,
        groups: GroupsPort,
        record: Recorder,
        *,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._deps = deps
        self._groups = groups
        self._record = record
        self._sleep = sleep
        self._batch = threading.local()  # group ids whose redraw waits for the end of a click

    # --- which group ---------------------------------------------------------------------------

    def _channel_key(self, approval: Approval) -> str:
        return approval.spec.channel or self._deps.policy.default_channel or approval.channel

    def grouped(self, approval: Approval | ApprovalRequest) -> bool:
        """Whether it belongs in a group message (``group`` set, and a channel message)."""
        return approval.spec.group is not None and approval.spec.in_channel

    def group_of(self, approval: Approval) -> str | None:
        """The id of the group message holding ``approval`` (None: it is in none)."""
        key = approval.spec.group
        if key is None:
            return None
        channel = self._channel_key(approval)
        for part in range(MAX_GROUP_PARTS):
            group = self._groups.get(group_id_for(channel, key, part))
            if group is None:
                return None
            if approval.approval_id in group.members:
                return group.group_id
        return None

    # --- posting -------------------------------------------------------------------------------

    def submit(self, request: ApprovalRequest, shown: Approval, lease_owner: str) -> RequestOutcome:
        """Post a grouped request: join its group, make sure the group message exists, mark
        the approval PENDING on that message, redraw it."""
        deps = self._deps
        key = request.spec.group
        assert key is not None
        group = self._join(request, key)
        try:
            where = self._ensure_posted(group, request.channel)
        except SlackRejected as exc:
            hint = " (invite the bot to the channel)" if exc.error == "not_in_channel" else ""
            reason = f"Slack refused the message in {request.channel}: {exc.error}{hint}"
            return self._invalid(request, reason)
        except RetryLater:
            deps.store.release_lease(request.approval_id, lease_owner=lease_owner)
            raise
        channel, ts = where
        # Drawn before the approval leaves POSTING (it shows as waiting either way): when Slack
        # does not take the update, the delivery is retried and draws again.
        if not self.redraw(group.group_id):
            deps.store.release_lease(request.approval_id, lease_owner=lease_owner)
            raise RetryLater("drawing the group message failed, will retry")
        now = deps.clock()
        try:
            posted = deps.store.mark_posted(
                request.approval_id,
                lease_owner=lease_owner,
                channel=channel,
                ts=ts,
                now=now,
                requester_id=shown.requester_id,
                eligible_approvers=shown.eligible_approvers,
            )
        except StateConflict as conflict:  # it left POSTING meanwhile (it expired)
            if conflict.current.ts is None:
                deps.store.attach_message(request.approval_id, channel=channel, ts=ts, now=now)
            posted = replace(conflict.current, channel=channel, ts=ts)
            self.redraw(group.group_id)
        self._record.audit(
            posted, "posted", requester=request.spec.requester, channel=channel, group=key
        )
        deps.home_changed(posted)  # App Home tabs of those who may decide it (bot.service.home)
        return RequestOutcome.POSTED

    def _join(self, request: ApprovalRequest, key: str) -> Group:
        for part in range(MAX_GROUP_PARTS):
            try:
                return self._groups.join(
                    request.channel, key, part, request.approval_id, now=self._deps.clock()
                )
            except GroupFull:
                continue
        raise InvalidApprovalRequest(  # pragma: no cover - 5,000 requests in one group
            f"approval.group {key!r} holds too many requests"
        )

    def _ensure_posted(self, group: Group, channel: str) -> tuple[str, str]:
        """The group message's (channel, ts), posting it if nobody has: exactly once."""
        deps, store = self._deps, self._groups
        for _ in range(WAIT_FOR_POST_ROUNDS):
            if group.ts is not None and group.message_channel is not None:
                return group.message_channel, group.ts
            posting = store.begin_post(
                group.group_id, now=deps.clock(), lease_seconds=deps.policy.post_lease_seconds
            )
            if posting.outcome is GroupBegin.POSTED:
                group = posting.group
                continue
            if posting.outcome is GroupBegin.BUSY:
                self._sleep(WAIT_FOR_POST_SECONDS)
                group = store.get(group.group_id) or group
                continue
            owner = posting.lease_owner
            assert owner is not None
            if posting.outcome is GroupBegin.RESUME:
                found = self._find_earlier_post(group, channel, owner, posting.group)
                if found is not None:
                    store.mark_posted(group.group_id, lease_owner=owner, channel=channel, ts=found)
                    return channel, found
            current = store.get(group.group_id) or group
            message = group_message(current, store.approvals(current.members))
            try:
                posted_channel, ts = deps.slack.post(channel, message, approval_id=group.group_id)
            except SlackRejected:
                store.release_lease(group.group_id, lease_owner=owner)
                raise
            except SlackUnavailable as exc:
                if not exc.maybe_done:
                    store.release_lease(group.group_id, lease_owner=owner)
                raise RetryLater(f"posting the group message failed, will retry: {exc}") from None
            store.mark_posted(group.group_id, lease_owner=owner, channel=posted_channel, ts=ts)
            log.info("group message posted", extra={"group_id": group.group_id, "ts": ts})
            return posted_channel, ts
        raise RetryLater(f"group message {group.group_id} is being posted by another delivery")

    def _find_earlier_post(
        self, group: Group, channel: str, owner: str, before: Group
    ) -> str | None:
        since = before.post_started_at or group.created_at
        try:
            return self._deps.slack.find_post(channel, group.group_id, since=since)
        except SlackRejected:
            return None
        except SlackUnavailable as exc:
            self._groups.release_lease(group.group_id, lease_owner=owner)
            raise RetryLater(f"cannot check for an earlier group message: {exc}") from None

    def _invalid(self, request: ApprovalRequest, reason: str) -> RequestOutcome:
        log.warning("invalid approval request", extra={"reason": reason})
        try:
            self._deps.workflow.fail(
                request.task_token, error=InvalidApprovalRequest.error_code, cause=reason
            )
        except TaskGone:
            log.info("task of the invalid request was already gone")
        self._deps.store.finish(
            request.approval_id,
            Status.INVALID,
            now=self._deps.clock(),
            reason=reason,
            expected=(Status.POSTING,),
        )
        return RequestOutcome.INVALID

    # --- drawing -------------------------------------------------------------------------------

    def on_member_changed(self, approval: Approval) -> bool:
        """``Recorder.refresh`` of a grouped approval: redraw its group message instead of a
        message of its own. False when it is in no group (drawn on its own as before)."""
        if not self.grouped(approval):
            return False
        group_id = self.group_of(approval)
        if group_id is None:
            return False
        self.redraw(group_id)
        return True

    def redraw(self, group_id: str) -> bool:
        """Something in the group changed: bump its version, then draw it (unless a click
        deciding many of its items draws it once at its end). False: Slack did not take it."""
        self._groups.bump(group_id)
        if group_id in self._batched():
            return True
        return self._draw(group_id)

    def _batched(self) -> set[str]:
        batched: set[str] | None = getattr(self._batch, "ids", None)
        if batched is None:
            batched = self._batch.ids = set()
        return batched

    @contextmanager
    def _one_draw(self, group_id: str) -> Iterator[None]:
        self._batched().add(group_id)
        try:
            yield
        finally:
            self._batched().discard(group_id)
            self._draw(group_id)

    def _draw(self, group_id: str) -> bool:
        """One writer at a time draws (a draw lease); the others have bumped the version and
        leave it to the drawer, who re-reads the version after each update (and after giving
        the lease back) and draws again when it moved. False: Slack failed."""
        owner = uuid.uuid4().hex
        for _ in range(MAX_REDRAWS):
            taken = self._groups.take_draw(
                group_id,
                owner,
                now=self._deps.clock(),
                lease_seconds=self._deps.policy.post_lease_seconds,
            )
            if not taken:
                return True  # the drawer sees this bump
            try:
                drawn = self._draw_once(group_id)
            finally:
                self._groups.release_draw(group_id, owner)
            if drawn is None:
                return False
            if self._groups.version(group_id) == drawn:
                return True
        log.warning("group message still changing; the last writer draws it")
        return True

    def _draw_once(self, group_id: str) -> int | None:
        """Render from fresh reads (the version first) and update: the version drawn (None:
        Slack did not take the update)."""
        group = self._groups.get(group_id)
        if group is None or group.ts is None or group.message_channel is None:
            return group.version if group else 0  # not posted yet: its poster draws it
        message = group_message(group, self._groups.approvals(group.members))
        try:
            self._deps.slack.update(group.message_channel, group.ts, message)
        except (SlackUnavailable, SlackRejected) as exc:
            log.warning("group chat.update failed", extra={"error": str(exc)})
            return None
        return group.version

    # --- many at once --------------------------------------------------------------------------

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
        with self._one_draw(group_id):
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
        record.on_group = self.on_member_changed
        access = AccessPolicy(deps)
        completer = Completer(deps, record)
        return Decider(deps, record, access, completer, Expirer(deps, record, completer))
