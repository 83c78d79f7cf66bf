"""ApprovalService: the domain logic. Knows neither Bolt nor Lambda.

Request path (:meth:`ApprovalService.submit`), exactly once per task token:

1. validate the request; an invalid one fails its task with ``InvalidApprovalRequest``;
2. store it as POSTING under a lease (a duplicate delivery stops here);
3. after a crashed attempt, look for the earlier post by its metadata before posting again;
4. ``chat.postMessage``, then POSTING → PENDING with the message's channel and ts.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from bot.blocks import message_for
from bot.models import (
    ApprovalRequest,
    Envelope,
    InvalidApprovalRequest,
    Status,
    TaskToken,
    parse_request,
)
from bot.ports import Clock, Slack, Store, Workflow
from bot.slack_gateway import SlackRejected, SlackUnavailable
from bot.store import Begin, StateConflict
from bot.workflow import TaskGone

log = logging.getLogger(__name__)


class RetryLater(RuntimeError):
    """The message could not be handled now; redeliver it (an SQS batch item failure)."""


class RequestOutcome(StrEnum):
    POSTED = "posted"
    RECOVERED = "recovered"  # an earlier attempt had posted; its ts was saved now
    DUPLICATE = "duplicate"  # already handled: nothing posted
    INVALID = "invalid"  # the task was failed with InvalidApprovalRequest


@dataclass(frozen=True)
class Policy:
    default_channel: str | None = None
    default_approvers: tuple[str, ...] = ()
    allow_self_approval: bool = False
    post_lease_seconds: int = 120


class ApprovalService:
    def __init__(
        self, *, store: Store, workflow: Workflow, slack: Slack, policy: Policy, clock: Clock
    ) -> None:
        self._store = store
        self._workflow = workflow
        self._slack = slack
        self._policy = policy
        self._clock = clock

    # --- request path ----------------------------------------------------------------------------

    def submit(self, envelope: Envelope) -> RequestOutcome:
        """Post one approval request to Slack, exactly once per task token."""
        now = self._clock()
        try:
            request = parse_request(envelope, default_channel=self._policy.default_channel)
        except InvalidApprovalRequest as exc:
            self._fail_invalid(envelope.task_token, str(exc))
            return RequestOutcome.INVALID

        posting = self._store.begin_posting(
            request, now=now, lease_seconds=self._policy.post_lease_seconds
        )
        if posting.outcome is Begin.EXISTS:
            log.info("duplicate delivery skipped", extra={"status": posting.approval.status})
            return RequestOutcome.DUPLICATE
        if posting.outcome is Begin.BUSY:
            raise RetryLater(f"approval {request.approval_id} is being posted by another delivery")
        owner = posting.lease_owner
        assert owner is not None  # NEW and RESUME always hold the lease

        if posting.outcome is Begin.RESUME and posting.started_at is not None:
            found = self._find_earlier_post(request, owner, posting.started_at)
            if found is not None:
                self._mark_posted(request, owner, request.channel, found)
                log.info("earlier post recovered", extra={"ts": found})
                return RequestOutcome.RECOVERED

        expires_at = request.spec.expires_at
        if expires_at is not None and expires_at <= now:
            return self._invalid_after_store(request, "approval.expires_at is in the past")

        try:
            channel, ts = self._slack.post(
                request.channel, message_for(posting.approval), approval_id=request.approval_id
            )
        except SlackRejected as exc:
            hint = " (invite the bot to the channel)" if exc.error == "not_in_channel" else ""
            reason = f"Slack refused the message in {request.channel}: {exc.error}{hint}"
            return self._invalid_after_store(request, reason)
        except SlackUnavailable as exc:
            self._store.release_lease(request.approval_id, lease_owner=owner)
            raise RetryLater(f"posting failed, will retry: {exc}") from None
        self._mark_posted(request, owner, channel, ts)
        return RequestOutcome.POSTED

    def _find_earlier_post(
        self, request: ApprovalRequest, owner: str, since: datetime
    ) -> str | None:
        try:
            return self._slack.find_post(request.channel, request.approval_id, since=since)
        except (SlackUnavailable, SlackRejected) as exc:
            # Without the history we cannot tell whether the crashed attempt posted: posting
            # again could duplicate, so retry later (and in the end keep it in the DLQ).
            self._store.release_lease(request.approval_id, lease_owner=owner)
            raise RetryLater(f"cannot check for an earlier post: {exc}") from None

    def _mark_posted(self, request: ApprovalRequest, owner: str, channel: str, ts: str) -> None:
        now = self._clock()
        try:
            self._store.mark_posted(
                request.approval_id, lease_owner=owner, channel=channel, ts=ts, now=now
            )
        except StateConflict as conflict:
            # It left POSTING while we posted (it expired): show that state on the new post.
            self._store.attach_message(request.approval_id, channel=channel, ts=ts, now=now)
            current = replace(conflict.current, channel=channel, ts=ts)
            self._slack.update(channel, ts, message_for(current))

    def _invalid_after_store(self, request: ApprovalRequest, reason: str) -> RequestOutcome:
        self._fail_invalid(request.task_token, reason)
        self._store.finish(
            request.approval_id,
            Status.INVALID,
            now=self._clock(),
            reason=reason,
            expected=(Status.POSTING,),
        )
        return RequestOutcome.INVALID

    def _fail_invalid(self, token: TaskToken, reason: str) -> None:
        log.warning("invalid approval request", extra={"reason": reason})
        try:
            self._workflow.fail(token, error=InvalidApprovalRequest.error_code, cause=reason)
        except TaskGone:
            log.info("task of the invalid request was already gone")
