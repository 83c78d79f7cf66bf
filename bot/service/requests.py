"""Posting a request: one Slack message per task token, exactly once.

1. validate the request; an invalid one fails its task with ``InvalidApprovalRequest``;
2. store it as POSTING under a lease (a duplicate delivery stops here);
3. resolve who asked (an e-mail to a user id) and check that enough people could approve
   (:meth:`~bot.service.authorization.AccessPolicy.audience`); a transient Slack failure is
   retried; an e-mail that belongs to nobody in the workspace fails the task as invalid;
4. after a crashed attempt, look for the earlier post by its metadata before posting again;
5. ``chat.postMessage``, then POSTING → PENDING with the message's channel, ts and the
   requester's user id;
6. with ``approval.notify`` dm/both, a direct-message copy to each approver, each exactly once
   (:mod:`bot.service.copies`), before POSTING → PENDING. With ``dm`` alone nothing is posted
   in the channel (``ts`` stays None); the channel still decides who may see the request.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING

from bot.blocks import message_for
from bot.models import (
    MAX_DM_COPIES,
    Approval,
    ApprovalRequest,
    Envelope,
    InvalidApprovalRequest,
    TaskToken,
    parse_request,
)
from bot.ports import SlackRejected, SlackUnavailable
from bot.service.authorization import AccessPolicy, Audience
from bot.service.context import Deps
from bot.service.copies import CopiesAbandoned, CopyPoster
from bot.service.invalid import fail_invalid, invalid_after_store
from bot.service.record import Recorder
from bot.service.results import RequestOutcome, RetryLater
from bot.store import Begin, Posting, StateConflict

if TYPE_CHECKING:
    from bot.service.groups import Groups

log = logging.getLogger(__name__)


class RequestPoster:
    def __init__(self, deps: Deps, record: Recorder, access: AccessPolicy) -> None:
        self._deps = deps
        self._record = record
        self._access = access
        self._copies = CopyPoster(deps)
        self.groups: Groups | None = None  # grouped requests (bot.service.groups)

    def parse(self, envelope: Envelope) -> ApprovalRequest:
        return parse_request(envelope, default_channel=self._deps.policy.default_channel)

    def channel_for(self, envelope: Envelope) -> str | None:
        """Where the request would be posted (None if it is invalid)."""
        try:
            return self.parse(envelope).channel
        except InvalidApprovalRequest:
            return None

    def submit(self, envelope: Envelope) -> RequestOutcome:
        """Post one approval request to Slack, exactly once per task token."""
        deps = self._deps
        now = deps.clock()
        try:
            request = self.parse(envelope)
        except InvalidApprovalRequest as exc:
            self._fail_invalid(envelope.task_token, str(exc))
            return RequestOutcome.INVALID

        try:
            posting = deps.store.begin_posting(
                request, now=now, lease_seconds=deps.policy.post_lease_seconds
            )
        except InvalidApprovalRequest as exc:  # too large to keep
            self._fail_invalid(envelope.task_token, str(exc))
            return RequestOutcome.INVALID
        if posting.outcome is Begin.EXISTS:
            log.info("duplicate delivery skipped", extra={"status": posting.approval.status})
            return RequestOutcome.DUPLICATE
        if posting.outcome is Begin.BUSY:
            raise RetryLater(f"approval {request.approval_id} is being posted by another delivery")
        owner = posting.lease_owner
        assert owner is not None  # NEW and RESUME always hold the lease

        try:
            audience = self._access.audience(request)
        except InvalidApprovalRequest as exc:
            return self._invalid_after_store(request, str(exc))
        except SlackUnavailable as exc:
            deps.store.release_lease(request.approval_id, lease_owner=owner)  # nothing posted
            raise RetryLater(f"cannot resolve the requester, will retry: {exc}") from None
        try:
            recipients = self._recipients(request, owner, audience)
            return self._post(request, posting, owner, audience, recipients)
        except InvalidApprovalRequest as exc:
            return self._invalid_after_store(request, str(exc))

    def _recipients(
        self, request: ApprovalRequest, owner: str, audience: Audience
    ) -> tuple[str, ...]:
        """Who gets a direct-message copy (none unless ``notify`` is dm or both)."""
        if not request.spec.dms:
            return ()
        try:
            return self._copies.recipients(request.spec, audience.requester_id).users
        except SlackUnavailable as exc:
            self._deps.store.release_lease(request.approval_id, lease_owner=owner)
            raise RetryLater(f"cannot read the approvers' groups, will retry: {exc}") from None

    def _post(
        self,
        request: ApprovalRequest,
        posting: Posting,
        owner: str,
        audience: Audience,
        recipients: tuple[str, ...],
    ) -> RequestOutcome:
        """The channel post (unless notify is dm) and the copies, each at most once."""
        resumed = posting.started_at if posting.outcome is Begin.RESUME else None
        found: str | None = None
        if resumed is not None and request.spec.in_channel:
            found = self._find_earlier_post(request, owner, resumed)

        expires_at = request.spec.expires_at
        nothing_posted = found is None and not posting.approval.copies
        if expires_at is not None and expires_at <= self._deps.clock() and nothing_posted:
            raise InvalidApprovalRequest("approval.expires_at is in the past")

        shown = replace(
            posting.approval,
            requester_id=audience.requester_id,
            eligible_approvers=audience.eligible_approvers,
        )
        grouped = self.groups is not None and self.groups.grouped(request)
        channel, ts = request.channel, found
        if request.spec.in_channel and ts is None and not grouped:
            channel, ts = self._post_in_channel(request, owner, shown)
        if recipients:
            try:
                shown = self._copies.post_all(
                    shown, recipients, lease_owner=owner, resumed_since=resumed
                )
            except CopiesAbandoned as exc:
                if exc.release:
                    self._deps.store.release_lease(request.approval_id, lease_owner=owner)
                raise RetryLater(str(exc)) from None
            if not shown.copies and not request.spec.in_channel:
                raise InvalidApprovalRequest("Slack refused the direct message to every approver")
        if grouped and self.groups is not None:
            # notify both: the copies are one per request; the group's message is the channel's
            return self.groups.submit(request, shown, owner)
        posted = self._mark_posted(request, owner, channel, ts, audience)
        if len(posted.copies) >= MAX_DM_COPIES:
            self._record.refresh(posted)  # every copy says that the copies were capped
        if found is not None:
            log.info("earlier post recovered", extra={"ts": found})
            return RequestOutcome.RECOVERED
        self._record.audit(
            posted,
            "posted",
            requester=request.spec.requester,
            channel=channel,
            direct_messages=len(posted.copies) or None,
        )
        self._deps.home_changed(posted)  # App Home tabs of those who may decide it
        return RequestOutcome.POSTED

    def _post_in_channel(
        self, request: ApprovalRequest, owner: str, shown: Approval
    ) -> tuple[str, str]:
        try:
            return self._deps.slack.post(
                request.channel, message_for(shown), approval_id=request.approval_id
            )
        except SlackRejected as exc:
            hint = " (invite the bot to the channel)" if exc.error == "not_in_channel" else ""
            raise InvalidApprovalRequest(
                f"Slack refused the message in {request.channel}: {exc.error}{hint}"
            ) from None
        except SlackUnavailable as exc:
            if not exc.maybe_done:
                # Slack answered that it did not post (rate limited, bad token): retry at once.
                self._deps.store.release_lease(request.approval_id, lease_owner=owner)
            # Otherwise keep the lease: Slack may still be posting it. A redelivery waits for
            # the lease to end, then looks for the post before posting again.
            raise RetryLater(f"posting failed, will retry: {exc}") from None

    def _find_earlier_post(
        self, request: ApprovalRequest, owner: str, since: datetime
    ) -> str | None:
        try:
            return self._deps.slack.find_post(request.channel, request.approval_id, since=since)
        except SlackRejected:
            return None  # the channel is unknown or closed to the bot: nothing was posted there
        except SlackUnavailable as exc:
            # Without the history we cannot tell whether the crashed attempt posted: posting
            # again could duplicate, so retry later (and in the end keep it in the DLQ). Only
            # a read failed, so the next attempt need not wait.
            self._deps.store.release_lease(request.approval_id, lease_owner=owner)
            raise RetryLater(f"cannot check for an earlier post: {exc}") from None

    def _mark_posted(
        self,
        request: ApprovalRequest,
        owner: str,
        channel: str,
        ts: str | None,
        audience: Audience,
    ) -> Approval:
        store = self._deps.store
        now = self._deps.clock()
        try:
            return store.mark_posted(
                request.approval_id,
                lease_owner=owner,
                channel=channel,
                ts=ts,
                now=now,
                requester_id=audience.requester_id,
                eligible_approvers=audience.eligible_approvers,
            )
        except StateConflict as conflict:
            # It left POSTING while we posted (it expired): show that state on the new posts.
            current = conflict.current
            if ts is not None:
                store.attach_message(request.approval_id, channel=channel, ts=ts, now=now)
                current = replace(current, channel=channel, ts=ts)
            self._record.refresh(current)
            return current

    def _invalid_after_store(self, request: ApprovalRequest, reason: str) -> RequestOutcome:
        return invalid_after_store(self._deps, request, reason)

    def _fail_invalid(self, token: TaskToken, reason: str) -> None:
        fail_invalid(self._deps, token, reason)
