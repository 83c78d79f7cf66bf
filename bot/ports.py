"""What the service needs from the outside world, as protocols.

Production adapters: :class:`bot.store.ApprovalStore` (DynamoDB),
:class:`bot.workflow.StepFunctionsGateway` and :class:`bot.slack_gateway.SlackGateway`.
Unit tests pass in-memory fakes with the same methods.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from bot.blocks import Message
from bot.group_store import Group, GroupPosting
from bot.models import (
    Approval,
    ApprovalRequest,
    AuditEvent,
    Decision,
    MessageCopy,
    Status,
    TaskToken,
)
from bot.store import Page, Posting
from bot.workflow import ExecutionStatus


class SlackRejected(RuntimeError):
    """Slack refused the request itself (unknown channel, bot not in the channel, blocks Slack
    won't take, an unknown user): retrying cannot help."""

    def __init__(self, method: str, error: str) -> None:
        super().__init__(f"Slack refused {method}: {error}")
        self.error = error


class SlackUnavailable(RuntimeError):
    """Slack did not do it now. ``maybe_done``: it may have anyway (a timeout, a dropped
    connection or a 5xx can hide a request Slack carried out); a retry must check first."""

    def __init__(self, message: str, *, maybe_done: bool) -> None:
        super().__init__(message)
        self.maybe_done = maybe_done


@dataclass(frozen=True)
class UserInfo:
    id: str
    name: str
    email: str | None
    is_bot: bool
    deleted: bool
    has_2fa: bool | None


@dataclass(frozen=True)
class Memberships:
    """The channels a user is a member of, as Slack's ``users.conversations`` lists them for
    the bot: public channels, and private ones the bot is in too; archived ones left out."""

    channels: frozenset[str]
    complete: bool  # False: the user is in more channels than the bot read (a bounded read)

    def member_of(self, channel: str) -> bool | None:
        """True, False — or None when the list was cut short and does not say."""
        if channel in self.channels:
            return True
        return False if self.complete else None


class Clock(Protocol):
    def __call__(self) -> datetime: ...


class Store(Protocol):
    def begin_posting(
        self, request: ApprovalRequest, *, now: datetime, lease_seconds: int
    ) -> Posting: ...
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
    ) -> Approval: ...
    def release_lease(self, approval_id: str, *, lease_owner: str) -> None: ...
    def record_copy(
        self, approval_id: str, copy: MessageCopy, *, lease_owner: str | None
    ) -> Approval: ...
    def attach_message(self, approval_id: str, *, channel: str, ts: str, now: datetime) -> None: ...
    def get(self, approval_id: str) -> Approval: ...
    def task_token(self, approval_id: str) -> TaskToken: ...
    def list_open(self, status: Status, *, limit: int, cursor: str | None = None) -> Page: ...
    def ids_for_execution(self, execution_arn: str) -> list[str]: ...
    def mark_redraw(self, approval_id: str) -> None: ...
    def redraw_done(self, approval_id: str) -> None: ...
    def needs_redraw(self, *, limit: int) -> list[Approval]: ...
    def vote(
        self,
        approval_id: str,
        vote: Decision,
        *,
        now: datetime,
        final: bool,
        counts: tuple[int, int] | None = None,
    ) -> Approval: ...
    def claim(self, approval_id: str, decision: Decision, *, now: datetime) -> Approval: ...
    def release(self, approval_id: str, decision: Decision, *, now: datetime) -> Approval: ...
    def mark_reminded(
        self, approval_id: str, *, previous: datetime | None, now: datetime
    ) -> Approval | None: ...
    def mark_escalated(self, approval_id: str, *, now: datetime) -> Approval | None: ...
    def append_audit(self, event: AuditEvent) -> None: ...
    def audit(
        self,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int | None = None,
        newest_first: bool = False,
    ) -> Iterator[AuditEvent]: ...
    def finish(
        self,
        approval_id: str,
        status: Status,
        *,
        now: datetime,
        reason: str | None = None,
        expected: Sequence[Status] = ...,
    ) -> Approval: ...


class Workflow(Protocol):
    def succeed(self, token: TaskToken, output: Any) -> None: ...
    def fail(self, token: TaskToken, *, error: str, cause: str) -> None: ...
    def execution_status(self, execution_arn: str) -> ExecutionStatus: ...
    def completed_by(self, execution_arn: str, approval_id: str) -> str | None: ...


class Slack(Protocol):
    def post(self, channel: str, message: Message, *, approval_id: str) -> tuple[str, str]: ...
    def update(self, channel: str, ts: str, message: Message) -> None: ...
    def find_post(self, channel: str, approval_id: str, *, since: datetime) -> str | None: ...
    def post_ephemeral(self, channel: str, user: str, text: str) -> None: ...
    def post_reply(self, channel: str, thread_ts: str, text: str) -> None: ...
    # The directory. ``fresh``: ask Slack now (decisions); otherwise a recent answer may do
    # (listings). Answers are always remembered for later non-fresh reads.
    def user_info(self, user_id: str, *, fresh: bool = False) -> UserInfo: ...
    def usergroup_members(self, group_id: str, *, fresh: bool = False) -> frozenset[str]: ...
    def user_channels(self, user_id: str, *, fresh: bool = False) -> Memberships: ...
    def lookup_email(self, email: str) -> str | None: ...
    # Direct messages (approval.notify dm/both): the bot's IM with a user (conversations.open,
    # remembered), a post there (like ``post``; returns the IM's channel id and the ts).
    def open_dm(self, user_id: str) -> str: ...
    def post_dm(self, user_id: str, message: Message, *, approval_id: str) -> tuple[str, str]: ...
    # The App Home tab (bot.service.home): replace ``user_id``'s Home view (views.publish).
    def publish_home(self, user_id: str, view: dict[str, Any]) -> None: ...


class Groups(Protocol):
    """The group messages of grouped requests (:class:`bot.group_store.GroupStore`)."""

    def join(
        self, channel: str, key: str, part: int, approval_id: str, *, now: datetime
    ) -> Group: ...
    def get(self, group_id: str) -> Group | None: ...
    def version(self, group_id: str) -> int: ...
    def bump(self, group_id: str) -> int: ...
    def begin_post(self, group_id: str, *, now: datetime, lease_seconds: int) -> GroupPosting: ...
    def mark_posted(
        self, group_id: str, *, lease_owner: str, channel: str, ts: str
    ) -> Group | None: ...
    def release_lease(self, group_id: str, *, lease_owner: str) -> None: ...
    def take_draw(
        self, group_id: str, owner: str, *, now: datetime, lease_seconds: int
    ) -> bool: ...
    def release_draw(self, group_id: str, owner: str) -> None: ...
    def approvals(self, approval_ids: Iterable[str]) -> list[Approval]: ...


class HomeVisits(Protocol):
    """Who opened their App Home recently (bot.home_store.HomeStore; bot.service.home)."""

    def opened(self, user_id: str, *, event_id: str | None, now: datetime) -> bool: ...
    def recent(self, *, since: datetime, limit: int) -> list[str]: ...
