"""In-memory fakes of the service's ports (bot.ports), with the same conditional semantics."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.blocks import Message
from bot.group_store import (
    MAX_GROUP_ITEMS,
    Group,
    GroupBegin,
    GroupFull,
    GroupPosting,
    group_id_for,
)
from bot.models import (
    Approval,
    ApprovalRequest,
    AuditEvent,
    Decision,
    MessageCopy,
    Status,
    TaskToken,
)
from bot.ports import Memberships, SlackRejected, SlackUnavailable, UserInfo
from bot.store import ApprovalNotFound, Begin, Page, Posting, StateConflict
from bot.workflow import ExecutionStatus, TaskGone, WorkflowUnavailable


class FakeClock:
    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2026, 11, 25, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@dataclass
class _Row:
    approval: Approval
    token: TaskToken
    lease_owner: str | None = None
    lease_until: float = 0.0


class FakeStore:
    def __init__(self) -> None:
        self.redraw: set[str] = set()  # finished approvals listed for the sweep's redraw
        self.rows: dict[str, _Row] = {}
        self.audit_events: list[AuditEvent] = []
        self._lock = threading.Lock()

    def begin_posting(
        self, request: ApprovalRequest, *, now: datetime, lease_seconds: int
    ) -> Posting:
        with self._lock:
            owner = uuid.uuid4().hex
            row = self.rows.get(request.approval_id)
            if row is None:
                approval = Approval(
                    approval_id=request.approval_id,
                    status=Status.POSTING,
                    execution_arn=request.execution_arn,
                    payload=request.payload,
                    spec=request.spec,
                    channel=request.channel,
                    ts=None,
                    created_at=now,
                    updated_at=now,
                )
                self.rows[request.approval_id] = _Row(
                    approval, request.task_token, owner, now.timestamp() + lease_seconds
                )
                return Posting(Begin.NEW, approval, owner, now)
            if row.approval.status is not Status.POSTING:
                return Posting(Begin.EXISTS, row.approval)
            if row.lease_until >= now.timestamp():
                return Posting(Begin.BUSY, row.approval)
            row.lease_owner, row.lease_until = owner, now.timestamp() + lease_seconds
            return Posting(Begin.RESUME, row.approval, owner, row.approval.created_at)

    def mark_posted(
        self,
        approval_id: str,
        *,
        lease_owner: str,
        channel: str,
        ts: str | None,
        now: datetime,
        requester_id: str | None = None,
        eligible_approvers: int | None = None,
    ) -> Approval:
        with self._lock:
            row = self.rows[approval_id]
            if row.approval.status is not Status.POSTING or row.lease_owner != lease_owner:
                raise StateConflict(row.approval)
            row.approval = replace(
                row.approval,
                status=Status.PENDING,
                channel=channel,
                ts=ts,
                updated_at=now,
                requester_id=requester_id or row.approval.requester_id,
                eligible_approvers=eligible_approvers,
            )
            row.lease_owner = None
            return row.approval

    def record_copy(
        self, approval_id: str, copy: MessageCopy, *, lease_owner: str | None
    ) -> Approval:
        with self._lock:
            row = self.rows[approval_id]
            if lease_owner is not None and (
                row.approval.status is not Status.POSTING or row.lease_owner != lease_owner
            ):
                raise StateConflict(row.approval)
            others = tuple(c for c in row.approval.copies if c.user != copy.user)
            row.approval = replace(row.approval, copies=(*others, copy))
            return row.approval

    def release_lease(self, approval_id: str, *, lease_owner: str) -> None:
        with self._lock:
            row = self.rows[approval_id]
            if row.approval.status is Status.POSTING and row.lease_owner == lease_owner:
                row.lease_until = 0

    def attach_message(self, approval_id: str, *, channel: str, ts: str, now: datetime) -> None:
        with self._lock:
            row = self.rows[approval_id]
            row.approval = replace(row.approval, channel=channel, ts=ts, updated_at=now)

    def get(self, approval_id: str) -> Approval:
        row = self.rows.get(approval_id)
        if row is None:
            raise ApprovalNotFound(approval_id)
        return row.approval

    def task_token(self, approval_id: str) -> TaskToken:
        row = self.rows.get(approval_id)
        if row is None:
            raise ApprovalNotFound(approval_id)
        return row.token

    def list_open(self, status: Status, *, limit: int, cursor: str | None = None) -> Page:
        rows = sorted(
            (r.approval for r in self.rows.values() if r.approval.status is status),
            key=lambda a: a.created_at,
            reverse=True,
        )
        start = int(cursor or 0)
        chunk = rows[start : start + limit]
        more = start + limit < len(rows)
        return Page(chunk, str(start + limit) if more else None)

    def ids_for_execution(self, execution_arn: str) -> list[str]:
        return [k for k, r in self.rows.items() if r.approval.execution_arn == execution_arn]

    def mark_redraw(self, approval_id: str) -> None:
        row = self.rows.get(approval_id)
        if row is not None and not row.approval.status.is_open:
            self.redraw.add(approval_id)

    def redraw_done(self, approval_id: str) -> None:
        self.redraw.discard(approval_id)

    def needs_redraw(self, *, limit: int) -> list[Approval]:
        return [self.rows[i].approval for i in sorted(self.redraw)][:limit]

    def vote(
        self,
        approval_id: str,
        vote: Decision,
        *,
        now: datetime,
        final: bool,
        counts: tuple[int, int] | None = None,
    ) -> Approval:
        with self._lock:
            row = self.rows.get(approval_id)
            if row is None:
                raise ApprovalNotFound(approval_id)
            current = row.approval
            have = (len(current.votes_for("approved")), len(current.votes_for("rejected")))
            voted = any(v.actor.id == vote.actor.id for v in current.votes)
            if current.status is not Status.PENDING or voted or (counts and counts != have):
                raise StateConflict(current)
            changes: dict[str, Any] = {"votes": (*current.votes, vote), "updated_at": now}
            if final:
                changes.update(status=Status.CLAIMED, decision=vote)
            row.approval = replace(current, **changes)
            return row.approval

    def claim(self, approval_id: str, decision: Decision, *, now: datetime) -> Approval:
        return self.vote(approval_id, decision, now=now, final=True)

    def release(self, approval_id: str, decision: Decision, *, now: datetime) -> Approval:
        with self._lock:
            row = self.rows[approval_id]
            if row.approval.status is not Status.CLAIMED:
                raise StateConflict(row.approval)
            votes = tuple(v for v in row.approval.votes if v.actor.id != decision.actor.id)
            row.approval = replace(
                row.approval, status=Status.PENDING, decision=None, votes=votes, updated_at=now
            )
            return row.approval

    def mark_reminded(
        self, approval_id: str, *, previous: datetime | None, now: datetime
    ) -> Approval | None:
        with self._lock:
            row = self.rows[approval_id]
            if row.approval.status is not Status.PENDING or row.approval.reminded_at != previous:
                return None
            row.approval = replace(
                row.approval, reminded_at=now, reminders=row.approval.reminders + 1
            )
            return row.approval

    def mark_escalated(self, approval_id: str, *, now: datetime) -> Approval | None:
        with self._lock:
            row = self.rows[approval_id]
            if row.approval.status is not Status.PENDING or row.approval.escalated_at:
                return None
            row.approval = replace(row.approval, escalated_at=now, updated_at=now)
            return row.approval

    def append_audit(self, event: AuditEvent) -> None:
        with self._lock:
            self.audit_events.append(event)

    def audit(
        self,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int | None = None,
        newest_first: bool = False,
    ) -> Iterator[AuditEvent]:
        events = [
            e
            for e in self.audit_events
            if (since is None or e.at >= since) and (until is None or e.at <= until)
        ]
        events.sort(key=lambda e: e.at, reverse=newest_first)
        yield from events[:limit]

    def finish(
        self,
        approval_id: str,
        status: Status,
        *,
        now: datetime,
        reason: str | None = None,
        expected: Sequence[Status] = (Status.CLAIMED,),
    ) -> Approval:
        with self._lock:
            row = self.rows.get(approval_id)
            if row is None:
                raise ApprovalNotFound(approval_id)
            if row.approval.status not in expected:
                raise StateConflict(row.approval)
            row.approval = replace(
                row.approval,
                status=status,
                updated_at=now,
                status_reason=reason or row.approval.status_reason,
            )
            return row.approval


@dataclass
class WorkflowCall:
    action: str
    token: TaskToken
    output: Any = None
    error: str | None = None
    cause: str | None = None


@dataclass
class FakeWorkflow:
    calls: list[WorkflowCall] = field(default_factory=list)
    gone: set[str] = field(default_factory=set)  # token values Step Functions refuses
    unavailable: int = 0  # the next N calls fail transiently
    statuses: dict[str, ExecutionStatus] = field(default_factory=dict)
    completed: dict[str, str] = field(default_factory=dict)  # approval id -> outcome in history

    def _check(self, token: TaskToken) -> None:
        if self.unavailable:
            self.unavailable -= 1
            raise WorkflowUnavailable("SendTask*: ThrottlingException")
        if token.reveal() in self.gone:
            raise TaskGone("SendTask*: TaskTimedOut")

    def succeed(self, token: TaskToken, output: Any) -> None:
        self._check(token)
        self.calls.append(WorkflowCall("succeed", token, output=output))
        self.gone.add(token.reveal())

    def fail(self, token: TaskToken, *, error: str, cause: str) -> None:
        self._check(token)
        self.calls.append(WorkflowCall("fail", token, error=error, cause=cause))
        self.gone.add(token.reveal())

    def execution_status(self, execution_arn: str) -> ExecutionStatus:
        return self.statuses.get(execution_arn, ExecutionStatus("RUNNING"))

    def completed_by(self, execution_arn: str, approval_id: str) -> str | None:
        return self.completed.get(approval_id)


@dataclass
class FakeSlack:
    posts: list[dict[str, Any]] = field(default_factory=list)
    updates: list[dict[str, Any]] = field(default_factory=list)
    ephemerals: list[dict[str, Any]] = field(default_factory=list)
    replies: list[dict[str, Any]] = field(default_factory=list)
    users: dict[str, UserInfo] = field(default_factory=dict)
    groups: dict[str, frozenset[str]] = field(default_factory=dict)
    members: dict[str, frozenset[str]] = field(default_factory=dict)
    emails: dict[str, str] = field(default_factory=dict)  # e-mail (lower case) -> user id
    asked: list[tuple[str, str, bool]] = field(default_factory=list)  # (method, key, fresh)
    unavailable: set[str] = field(default_factory=set)  # directory methods that fail
    fail_post: list[Exception] = field(default_factory=list)  # raised by the next posts
    crash_after_post: bool = False  # post succeeds, then the caller "crashes"
    history_unavailable: bool = False
    crash_after_nth_post: int = 0  # the Nth post from now succeeds, then the caller "crashes"
    fail_update: list[Exception] = field(default_factory=list)  # raised by the next updates
    _ts: int = 0
    homes: dict[str, dict[str, Any]] = field(default_factory=dict)  # views.publish: user -> view
    published: list[str] = field(default_factory=list)  # the user of every views.publish

    def post(self, channel: str, message: Message, *, approval_id: str) -> tuple[str, str]:
        if self.fail_post:
            raise self.fail_post.pop(0)
        self._ts += 1
        ts = f"1764072000.{self._ts:06d}"
        self.posts.append(
            {"channel": channel, "ts": ts, "message": message, "approval_id": approval_id}
        )
        if self.crash_after_post:
            self.crash_after_post = False
            raise SystemExit("crash after chat.postMessage")
        if self.crash_after_nth_post:
            self.crash_after_nth_post -= 1
            if not self.crash_after_nth_post:
                raise SystemExit("crash after chat.postMessage")
        return channel, ts

    def update(self, channel: str, ts: str, message: Message) -> None:
        if self.fail_update:
            raise self.fail_update.pop(0)
        self.updates.append({"channel": channel, "ts": ts, "message": message})

    def find_post(self, channel: str, approval_id: str, *, since: datetime) -> str | None:
        if self.history_unavailable:
            raise SlackUnavailable("conversations.history: internal_error", maybe_done=False)
        for post in self.posts:
            if post["channel"] == channel and post["approval_id"] == approval_id:
                return str(post["ts"])
        return None

    def open_dm(self, user_id: str) -> str:
        if "conversations.open" in self.unavailable:
            raise SlackUnavailable("conversations.open: internal_error", maybe_done=False)
        return f"D{user_id}"

    def post_dm(self, user_id: str, message: Message, *, approval_id: str) -> tuple[str, str]:
        """A direct message: posted into the IM "D<user>" (the same failures as ``post``)."""
        return self.post(self.open_dm(user_id), message, approval_id=approval_id)

    def dms(self, user_id: str) -> list[dict[str, Any]]:
        return [p for p in self.posts if p["channel"] == f"D{user_id}"]

    def post_ephemeral(self, channel: str, user: str, text: str) -> None:
        self.ephemerals.append({"channel": channel, "user": user, "text": text})

    def post_reply(self, channel: str, thread_ts: str, text: str) -> None:
        self.replies.append({"channel": channel, "thread_ts": thread_ts, "text": text})

    def _ask(self, method: str, key: str, fresh: bool) -> None:
        self.asked.append((method, key, fresh))
        if method in self.unavailable:
            raise SlackUnavailable(f"{method}: internal_error", maybe_done=False)

    def user_info(self, user_id: str, *, fresh: bool = False) -> UserInfo:
        self._ask("users.info", user_id, fresh)
        if user_id not in self.users:
            raise SlackRejected("users.info", "user_not_found")
        return self.users[user_id]

    def usergroup_members(self, group_id: str, *, fresh: bool = False) -> frozenset[str]:
        self._ask("usergroups.users.list", group_id, fresh)
        return self.groups.get(group_id, frozenset())

    def user_channels(self, user_id: str, *, fresh: bool = False) -> Memberships:
        self._ask("users.conversations", user_id, fresh)
        mine = frozenset(c for c, members in self.members.items() if user_id in members)
        return Memberships(mine, complete=True)

    def lookup_email(self, email: str) -> str | None:
        self._ask("users.lookupByEmail", email, True)
        return self.emails.get(email.lower())

    def publish_home(self, user_id: str, view: dict[str, Any]) -> None:
        if "views.publish" in self.unavailable:
            raise SlackUnavailable("views.publish: internal_error", maybe_done=False)
        self.published.append(user_id)
        self.homes[user_id] = view


class FakeHomeVisits:
    """bot.home_store.HomeStore in memory: who opened their Home tab, when, by which event."""

    def __init__(self) -> None:
        self.visits: dict[str, tuple[datetime, str | None]] = {}

    def opened(self, user_id: str, *, event_id: str | None, now: datetime) -> bool:
        seen = self.visits.get(user_id)
        if event_id is not None and seen is not None and seen[1] == event_id:
            return False
        self.visits[user_id] = (now, event_id)
        return True

    def recent(self, *, since: datetime, limit: int) -> list[str]:
        return [u for u, (at, _) in list(self.visits.items())[:limit] if at >= since]


class FakeGroupStore:
    """In memory, the semantics of :class:`bot.group_store.GroupStore` (members of ``store``)."""

    def __init__(self, store: FakeStore) -> None:
        self.store = store
        self.groups: dict[str, Group] = {}
        self.leases: dict[str, tuple[str, datetime]] = {}  # group id -> (owner, until)
        self.drawers: dict[str, tuple[str, datetime]] = {}
        self._lock = threading.Lock()

    def join(self, channel: str, key: str, part: int, approval_id: str, *, now: datetime) -> Group:
        group_id = group_id_for(channel, key, part)
        with self._lock:
            group = self.groups.get(group_id) or Group(
                group_id, channel, key, part, frozenset(), 0, now
            )
            if approval_id not in group.members and len(group.members) >= MAX_GROUP_ITEMS:
                raise GroupFull(group_id)
            group = replace(group, members=group.members | {approval_id}, version=group.version + 1)
            self.groups[group_id] = group
            return group

    def get(self, group_id: str) -> Group | None:
        return self.groups.get(group_id)

    def approvals(self, approval_ids: Iterable[str]) -> list[Approval]:
        found = [r.approval for i, r in self.store.rows.items() if i in set(approval_ids)]
        return sorted(found, key=lambda a: (a.created_at, a.approval_id))

    def version(self, group_id: str) -> int:
        group = self.groups.get(group_id)
        return group.version if group else 0

    def bump(self, group_id: str) -> int:
        with self._lock:
            group = self.groups.get(group_id)
            if group is None:
                return 0
            self.groups[group_id] = replace(group, version=group.version + 1)
            return group.version + 1

    def begin_post(self, group_id: str, *, now: datetime, lease_seconds: int) -> GroupPosting:
        with self._lock:
            group = self.groups[group_id]
            if group.ts is not None:
                return GroupPosting(GroupBegin.POSTED, group)
            lease = self.leases.get(group_id)
            if lease is not None and lease[1] > now:
                return GroupPosting(GroupBegin.BUSY, group)
            owner = uuid.uuid4().hex
            self.leases[group_id] = (owner, now + timedelta(seconds=lease_seconds))
            outcome = GroupBegin.NEW if group.post_started_at is None else GroupBegin.RESUME
            if group.post_started_at is None:
                self.groups[group_id] = replace(group, post_started_at=now)
            return GroupPosting(outcome, group, owner)

    def mark_posted(
        self, group_id: str, *, lease_owner: str, channel: str, ts: str
    ) -> Group | None:
        with self._lock:
            group = self.groups[group_id]
            lease = self.leases.get(group_id)
            if group.ts is not None or lease is None or lease[0] != lease_owner:
                return None
            del self.leases[group_id]
            group = replace(group, message_channel=channel, ts=ts)
            self.groups[group_id] = group
            return group

    def release_lease(self, group_id: str, *, lease_owner: str) -> None:
        with self._lock:
            lease = self.leases.get(group_id)
            if lease is not None and lease[0] == lease_owner:
                self.leases[group_id] = (lease_owner, datetime(2000, 1, 1, tzinfo=UTC))

    def take_draw(self, group_id: str, owner: str, *, now: datetime, lease_seconds: int) -> bool:
        with self._lock:
            held = self.drawers.get(group_id)
            if group_id not in self.groups or (held is not None and held[1] >= now):
                return False
            self.drawers[group_id] = (owner, now + timedelta(seconds=lease_seconds))
            return True

    def release_draw(self, group_id: str, owner: str) -> None:
        with self._lock:
            held = self.drawers.get(group_id)
            if held is not None and held[0] == owner:
                del self.drawers[group_id]
