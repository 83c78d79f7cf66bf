"""ApprovalService: the domain logic. Knows neither Bolt nor Lambda.

Request path (:meth:`ApprovalService.submit`), exactly once per task token:

1. validate the request; an invalid one fails its task with ``InvalidApprovalRequest``;
2. store it as POSTING under a lease (a duplicate delivery stops here);
3. after a crashed attempt, look for the earlier post by its metadata before posting again;
4. ``chat.postMessage``, then POSTING → PENDING with the message's channel and ts.

Decision path (:meth:`ApprovalService.decide`), exactly once per approval:

1. authorize the user (approvers, user groups, channel members; never the requester);
2. claim it with a conditional write PENDING → CLAIMED (one concurrent click wins);
3. SendTaskSuccess / SendTaskFailure; a transient failure rolls the claim back, a dead token
   is explained by the execution's history and status (EXPIRED or ERROR);
4. CLAIMED → APPROVED / REJECTED, and ``chat.update`` on the stored channel + ts.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from bot.blocks import mention, message_for, slack_date
from bot.models import (
    USERGROUP_ID_RE,
    Actor,
    Approval,
    ApprovalRequest,
    Decision,
    Envelope,
    InvalidApprovalRequest,
    Status,
    TaskToken,
    format_time,
    parse_request,
)
from bot.ports import Clock, Slack, Store, Workflow
from bot.slack_gateway import SlackRejected, SlackUnavailable, UserInfo
from bot.store import ApprovalNotFound, Begin, StateConflict
from bot.workflow import InvalidTaskOutput, TaskGone, WorkflowUnavailable

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


class Verdict(StrEnum):
    ALLOWED = "allowed"  # check(): the user may decide it now
    DECIDED = "decided"  # this click decided it (or had already, for a retried lazy call)
    REFUSED = "refused"  # the user may not decide it
    TOO_LATE = "too_late"  # someone else decided first, or it expired
    NOT_FOUND = "not_found"
    UNAVAILABLE = "unavailable"  # Step Functions failed transiently: nothing was decided


@dataclass(frozen=True)
class DecisionResult:
    verdict: Verdict
    text: str  # what to tell the clicking user privately ("" when the message says it all)
    approval: Approval | None = None


@dataclass(frozen=True)
class PendingPage:
    approvals: list[Approval]
    cursor: str | None


LIST_PAGE_SIZE = 10
LIST_MAX_QUERIES = 5
STALE_CLAIM_SECONDS = 60  # > the interactions function's timeout (25 s)


def describe_decision(approval: Approval) -> str:
    """ "<@U…> approved it at …" for a refusal message."""
    decision = approval.decision
    if approval.status is Status.EXPIRED:
        reason = f" ({approval.status_reason})" if approval.status_reason else ""
        return f"This request has expired{reason}."
    if approval.status is Status.ERROR:
        return f"This request could not be completed: {approval.status_reason or 'unknown error'}."
    if approval.status is Status.INVALID:
        return "This request was invalid and has been failed."
    if decision is None:
        return f"This request is {approval.status.lower()}."
    verb = "approved" if decision.outcome == "approved" else "rejected"
    if approval.status is Status.CLAIMED:
        verb = "is approving" if decision.outcome == "approved" else "is rejecting"
        return f"<@{decision.actor.id}> {verb} it right now."
    return f"<@{decision.actor.id}> already {verb} it {slack_date(decision.decided_at)}."


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

    def channel_for(self, envelope: Envelope) -> str | None:
        """Where the request would be posted (None if it is invalid)."""
        try:
            return parse_request(envelope, default_channel=self._policy.default_channel).channel
        except InvalidApprovalRequest:
            return None

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

    # --- decision path ---------------------------------------------------------------------------

    def refusal(self, approval: Approval, user: UserInfo) -> str | None:
        """Why ``user`` may not decide ``approval`` — or None if they may.

        Who may decide: ``approval.approvers`` (users and user groups); otherwise the bot's
        ``DEFAULT_APPROVERS``; with neither, any member of the request's channel. The requester
        never decides their own request unless ``ALLOW_SELF_APPROVAL`` is on.
        """
        if user.deleted or user.is_bot:
            return "Only active human users can decide approvals."
        requester = approval.spec.requester
        if requester and not self._policy.allow_self_approval:
            mine = requester == user.id or (
                user.email is not None and requester.lower() == user.email.lower()
            )
            if mine:
                return "You requested this approval, so someone else has to decide it."
        approvers = approval.spec.approvers or self._policy.default_approvers
        if approvers:
            if user.id in approvers:
                return None
            for group in (a for a in approvers if USERGROUP_ID_RE.match(a)):
                if user.id in self._slack.usergroup_members(group):
                    return None
            who = ", ".join(mention(a) for a in approvers)
            return f"Only {who} can decide this request."
        if user.id in self._slack.channel_members(approval.channel):
            return None
        return f"Only members of <#{approval.channel}> can decide this request."

    def check(self, approval_id: str, user_id: str) -> DecisionResult:
        """Before opening the reject modal: may ``user_id`` decide it now (ALLOWED), or why not."""
        try:
            approval = self._current(self._store.get(approval_id))
        except ApprovalNotFound:
            return DecisionResult(Verdict.NOT_FOUND, "This approval request no longer exists.")
        if approval.status is not Status.PENDING:
            return DecisionResult(Verdict.TOO_LATE, describe_decision(approval), approval)
        refusal = self.refusal(approval, self._slack.user_info(user_id))
        if refusal is not None:
            log.warning("decision refused", extra={"user": user_id, "reason": refusal})
            return DecisionResult(Verdict.REFUSED, refusal, approval)
        return DecisionResult(Verdict.ALLOWED, "", approval)

    def decide(
        self,
        approval_id: str,
        user_id: str,
        outcome: Literal["approved", "rejected"],
        comment: str | None = None,
    ) -> DecisionResult:
        """Decide an approval once: authorize, claim, complete the task, update the message.

        Idempotent for the same user and outcome (Lambda retries lazy listeners): a repeated
        call finishes an unfinished claim, or reports the decision already made.
        """
        try:
            approval = self._current(self._store.get(approval_id))
        except ApprovalNotFound:
            return DecisionResult(Verdict.NOT_FOUND, "This approval request no longer exists.")
        decision = approval.decision
        if approval.status is not Status.PENDING:
            if decision and decision.actor.id == user_id and decision.outcome == outcome:
                # The same decision again: a double click, or Lambda retrying this lazy call.
                if approval.status is Status.CLAIMED and self._stale(approval):
                    return self._complete(approval)  # its worker died: finish the job
                if approval.status in (Status.CLAIMED, decision.status):
                    return DecisionResult(Verdict.DECIDED, "", approval)
            return DecisionResult(Verdict.TOO_LATE, describe_decision(approval), approval)

        user = self._slack.user_info(user_id)
        refusal = self.refusal(approval, user)
        if refusal is not None:
            log.warning(
                "decision refused",
                extra={"user": user_id, "outcome": outcome, "reason": refusal},
            )
            return DecisionResult(Verdict.REFUSED, refusal, approval)
        now = self._clock()
        claim = Decision(outcome, Actor(user.id, user.name), now, comment)
        try:
            claimed = self._store.claim(approval_id, claim, now=now)
        except StateConflict as conflict:
            return DecisionResult(Verdict.TOO_LATE, describe_decision(conflict.current))
        log.info("approval claimed", extra={"user": user_id, "outcome": outcome})
        return self._complete(claimed)

    def _stale(self, claimed: Approval) -> bool:
        """A claim older than any live worker could be (its worker died after claiming)."""
        age = (self._clock() - claimed.updated_at).total_seconds()
        return age >= STALE_CLAIM_SECONDS

    def _complete(self, claimed: Approval) -> DecisionResult:
        """CLAIMED → the task completed in Step Functions → APPROVED / REJECTED (or the truth)."""
        decision = claimed.decision
        assert decision is not None  # a claim always carries its decision
        token = self._store.task_token(claimed.approval_id)
        try:
            if decision.outcome == "approved":
                self._workflow.succeed(token, approval_output(claimed, decision))
            else:
                self._workflow.fail(
                    token, error="Rejected", cause=rejection_cause(claimed, decision)
                )
        except WorkflowUnavailable as exc:
            # Roll the claim back so the buttons work again; nothing was decided.
            log.warning("completing the task failed; claim released", extra={"error": str(exc)})
            released = self._store.release(claimed.approval_id, now=self._clock())
            self._refresh(released)
            return DecisionResult(
                Verdict.UNAVAILABLE,
                "Step Functions did not answer, so nothing was decided. Please try again.",
                released,
            )
        except TaskGone:
            status, reason = self._truth_after_dead_token(claimed, decision)
            finished = self._finish(claimed.approval_id, status, reason)
            if status is decision.status:
                return DecisionResult(Verdict.DECIDED, "", finished)
            return DecisionResult(Verdict.TOO_LATE, describe_decision(finished), finished)
        except InvalidTaskOutput as exc:
            reason = f"the decision could not be delivered: {exc}"
            self._fail_quietly(token, "ApprovalOutputInvalid", reason)
            finished = self._finish(claimed.approval_id, Status.ERROR, reason)
            return DecisionResult(Verdict.TOO_LATE, describe_decision(finished), finished)
        finished = self._finish(claimed.approval_id, decision.status, None)
        log.info("approval decided", extra={"status": finished.status})
        return DecisionResult(Verdict.DECIDED, "", finished)

    def _truth_after_dead_token(
        self, claimed: Approval, decision: Decision
    ) -> tuple[Status, str | None]:
        """Step Functions refused the token: find out what really happened to the execution."""
        arn = claimed.execution_arn
        if arn is None:
            return Status.ERROR, "Step Functions no longer accepts this request's task token"
        if self._workflow.completed_by(arn, claimed.approval_id) == decision.outcome:
            return decision.status, None  # an earlier attempt delivered this very decision
        execution = self._workflow.execution_status(arn)
        if execution.running:
            return Status.ERROR, "Step Functions refused the task token although the execution runs"
        rejected = execution.status == "FAILED" and execution.error == "Rejected"
        if rejected and decision.outcome == "rejected":
            return Status.REJECTED, None
        return Status.EXPIRED, f"the execution is {execution.status.lower().replace('_', ' ')}"

    def _finish(self, approval_id: str, status: Status, reason: str | None) -> Approval:
        finished = self._store.finish(approval_id, status, now=self._clock(), reason=reason)
        self._refresh(finished)
        return finished

    def _refresh(self, approval: Approval) -> None:
        """Re-render the channel message for the approval's current state (best effort)."""
        if approval.ts is None:
            return
        try:
            self._slack.update(approval.channel, approval.ts, message_for(approval))
        except (SlackUnavailable, SlackRejected) as exc:
            log.warning("chat.update failed", extra={"error": str(exc)})

    def _fail_quietly(self, token: TaskToken, error: str, cause: str) -> None:
        try:
            self._workflow.fail(token, error=error, cause=cause)
        except (TaskGone, WorkflowUnavailable, InvalidTaskOutput) as exc:
            log.warning("could not fail the task", extra={"error": str(exc)})

    # --- expiry ----------------------------------------------------------------------------------

    def _current(self, approval: Approval) -> Approval:
        """Expire a pending approval whose ``expires_at`` has passed (on clicks and listings)."""
        expires_at = approval.spec.expires_at
        if approval.status is Status.PENDING and expires_at and expires_at <= self._clock():
            reason = f"approval.expires_at ({format_time(expires_at)}) has passed"
            return self.expire(approval.approval_id, reason, fail_task=True)
        return approval

    def expire(self, approval_id: str, reason: str, fail_task: bool) -> Approval:
        """PENDING/POSTING → EXPIRED, the message updated; with ``fail_task`` the waiting task is
        failed with ``ApprovalExpired`` (when the bot, not Step Functions, ended the wait)."""
        try:
            expired = self._store.finish(
                approval_id,
                Status.EXPIRED,
                now=self._clock(),
                reason=reason,
                expected=(Status.PENDING, Status.POSTING),
            )
        except StateConflict as conflict:
            return conflict.current
        if fail_task:
            self._fail_quietly(self._store.task_token(approval_id), "ApprovalExpired", reason)
        self._refresh(expired)
        log.info("approval expired", extra={"reason": reason})
        return expired

    def expire_execution(self, execution_arn: str, status: str) -> int:
        """The execution stopped (FAILED, TIMED_OUT, ABORTED): expire its open approvals."""
        reason = f"the execution {status.lower().replace('_', ' ')}"
        count = 0
        for approval_id in self._store.ids_for_execution(execution_arn):
            try:
                before = self._store.get(approval_id)
            except ApprovalNotFound:
                continue
            if before.status in (Status.PENDING, Status.POSTING):
                after = self.expire(approval_id, reason, fail_task=False)
                count += after.status is Status.EXPIRED
            elif before.status is Status.CLAIMED:
                self._complete(before)  # finds out the truth and records it
                count += 1
        return count

    def sweep(self, *, stale_claim_seconds: int = STALE_CLAIM_SECONDS) -> dict[str, int]:
        """The scheduled safety net: expire overdue requests, finish claims whose worker died."""
        now = self._clock()
        report = {"expired": 0, "claims_completed": 0}
        for approval in self._all_open(Status.PENDING):
            if self._current(approval).status is Status.EXPIRED:
                report["expired"] += 1
        for approval in self._all_open(Status.CLAIMED):
            if (now - approval.updated_at).total_seconds() >= stale_claim_seconds:  # worker died
                self._complete(approval)
                report["claims_completed"] += 1
        return report

    def _all_open(self, status: Status) -> Iterator[Approval]:
        cursor: str | None = None
        while True:
            page = self._store.list_open(status, limit=100, cursor=cursor)
            yield from page.approvals
            cursor = page.cursor
            if cursor is None:
                return

    # --- listing ---------------------------------------------------------------------------------

    def pending(
        self, user_id: str, *, mine: bool, cursor: str | None = None, size: int = LIST_PAGE_SIZE
    ) -> PendingPage:
        """PENDING approvals, newest first; ``mine``: only those ``user_id`` may decide."""
        user = self._slack.user_info(user_id) if mine else None
        found: list[Approval] = []
        for _ in range(LIST_MAX_QUERIES):
            page = self._store.list_open(Status.PENDING, limit=size, cursor=cursor)
            for approval in page.approvals:
                current = self._current(approval)
                if current.status is not Status.PENDING:
                    continue
                if user is not None and self.refusal(current, user) is not None:
                    continue
                found.append(current)
            cursor = page.cursor
            if len(found) >= size or cursor is None:
                break
        return PendingPage(found[:size], cursor)


def approval_output(approval: Approval, decision: Decision) -> Any:
    """SendTaskSuccess output: the original payload plus ``approval`` (the decision)."""
    record = {
        "id": approval.approval_id,
        "decision": decision.outcome,
        "approver": decision.actor.to_dict(),
        "decided_at": format_time(decision.decided_at),
        "comment": decision.comment,
    }
    if isinstance(approval.payload, dict):
        return {**approval.payload, "approval": record}
    return {"Payload": approval.payload, "approval": record}


def rejection_cause(approval: Approval, decision: Decision) -> str:
    """SendTaskFailure cause: JSON the workflow can parse in a Catch."""
    return json.dumps(
        {
            "approval_id": approval.approval_id,
            "approver": decision.actor.to_dict(),
            "reason": decision.comment or "",
            "decided_at": format_time(decision.decided_at),
        },
        ensure_ascii=False,
    )
