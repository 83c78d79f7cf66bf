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

from bot.blocks import mention, message_for, slack_date, title_of
from bot.durations import humanize
from bot.models import (
    USERGROUP_ID_RE,
    Actor,
    Approval,
    ApprovalRequest,
    ApprovalSpec,
    AuditEvent,
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


MAX_VOTE_ATTEMPTS = 5
HISTORY_SCAN_FACTOR = 5  # events read per event shown, at most (others' channels are skipped)
LIST_PAGE_SIZE = 10
LIST_MAX_QUERIES = 5
STALE_CLAIM_SECONDS = 60  # > the interactions function's timeout (25 s)


@dataclass(frozen=True)
class ApproveForm:
    """What an approver submitted in the approve modal, validated."""

    inputs: dict[str, Any]
    comment: str | None


def read_approve_form(
    approval: Approval, raw: dict[str, str | None]
) -> tuple[ApproveForm | None, dict[str, str]]:
    """Validate the approve modal: (the form, {}) or (None, errors by field name).

    ``raw`` maps input names (plus ``comment`` and ``code``) to what was typed or picked.
    """
    errors: dict[str, str] = {}
    inputs: dict[str, Any] = {}
    for field in approval.spec.inputs:
        value, error = field.validate(raw.get(field.name))
        if error:
            errors[field.name] = error
        elif value is not None:
            inputs[field.name] = value
    if approval.spec.risk == "high":
        typed = (raw.get(FORM_CODE) or "").strip().upper()
        if typed != approval.short_code:
            errors[FORM_CODE] = f"Type {approval.short_code} to confirm."
    comment = (raw.get(FORM_COMMENT) or "").strip() or None
    if comment is not None and len(comment) > MAX_COMMENT_CHARS:
        errors[FORM_COMMENT] = f"At most {MAX_COMMENT_CHARS} characters."
    if errors:
        return None, errors
    return ApproveForm(inputs, comment), {}


FORM_COMMENT = "comment"
FORM_CODE = "code"
MAX_COMMENT_CHARS = 3000


def decides(spec: ApprovalSpec, counts: tuple[int, int], outcome: str) -> bool:
    """Whether one more vote for ``outcome`` decides the request."""
    approvals, rejections = counts
    if outcome == "approved":
        return approvals + 1 >= spec.required_approvals
    return spec.reject_policy == "any" or rejections + 1 >= spec.required_approvals


def vote_recorded(approval: Approval, vote: Decision) -> str:
    verb = "approval" if vote.outcome == "approved" else "rejection"
    have = len(approval.votes_for(vote.outcome))
    return (
        f"Your {verb} is recorded: {have} of {approval.spec.required_approvals} so far. "
        "The request is decided when enough people agree."
    )


def already_voted(approval: Approval, vote: Decision) -> str:
    verb = "approved" if vote.outcome == "approved" else "rejected"
    have = len(approval.votes_for("approved"))
    return (
        f"You already {verb} this request ({have} of {approval.spec.required_approvals} "
        "approvals so far); each person counts once."
    )


def reminder_text(approval: Approval, defaults: tuple[str, ...], now: datetime) -> str:
    waiting = humanize(now - approval.created_at)
    who = ", ".join(mention(a) for a in approval.approvers(defaults)) or "approvers"
    return f":alarm_clock: Reminder: still waiting for a decision after {waiting} — {who}"


def escalation_text(approval: Approval, now: datetime) -> str:
    waiting = humanize(now - approval.created_at)
    who = ", ".join(mention(a) for a in approval.spec.escalate_to)
    return (
        f":rotating_light: Escalated to {who}: no decision after {waiting}. You can decide it now."
    )


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

        try:
            posting = self._store.begin_posting(
                request, now=now, lease_seconds=self._policy.post_lease_seconds
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
            if not exc.maybe_done:
                # Slack answered that it did not post (rate limited, bad token): retry at once.
                self._store.release_lease(request.approval_id, lease_owner=owner)
            # Otherwise keep the lease: Slack may still be posting it. A redelivery waits for
            # the lease to end, then looks for the post before posting again.
            raise RetryLater(f"posting failed, will retry: {exc}") from None
        posted = self._mark_posted(request, owner, channel, ts)
        self._audit(posted, "posted", requester=request.spec.requester, channel=channel)
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
        except SlackRejected:
            return None  # the channel is unknown or closed to the bot: nothing was posted there
        except SlackUnavailable as exc:
            # Without the history we cannot tell whether the crashed attempt posted: posting
            # again could duplicate, so retry later (and in the end keep it in the DLQ). Only
            # a read failed, so the next attempt need not wait.
            self._store.release_lease(request.approval_id, lease_owner=owner)
            raise RetryLater(f"cannot check for an earlier post: {exc}") from None

    def _mark_posted(self, request: ApprovalRequest, owner: str, channel: str, ts: str) -> Approval:
        now = self._clock()
        try:
            return self._store.mark_posted(
                request.approval_id, lease_owner=owner, channel=channel, ts=ts, now=now
            )
        except StateConflict as conflict:
            # It left POSTING while we posted (it expired): show that state on the new post.
            self._store.attach_message(request.approval_id, channel=channel, ts=ts, now=now)
            current = replace(conflict.current, channel=channel, ts=ts)
            self._slack.update(channel, ts, message_for(current))
            return current

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
        if approval.spec.risk == "high" and user.has_2fa is False:
            return (
                "This is a high-risk request: only people with two-factor authentication "
                "turned on in Slack can decide it."
            )
        try:
            return self._not_an_approver(approval, user)
        except (SlackUnavailable, SlackRejected):
            return "Slack did not tell whether you are an approver, so nothing changed. Try again."

    def _not_an_approver(self, approval: Approval, user: UserInfo) -> str | None:
        approvers = approval.approvers(self._policy.default_approvers)
        if not approvers:
            if user.id in self._slack.channel_members(approval.channel):
                return None
            return f"Only members of <#{approval.channel}> can decide this request."
        if user.id in approvers:
            return None
        for group in (a for a in approvers if USERGROUP_ID_RE.match(a)):
            if user.id in self._slack.usergroup_members(group):
                return None
        return f"Only {', '.join(mention(a) for a in approvers)} can decide this request."

    def check(self, approval_id: str, user_id: str) -> DecisionResult:
        """Before opening the reject modal: may ``user_id`` decide it now (ALLOWED), or why not."""
        approval = self._load(approval_id)
        if isinstance(approval, DecisionResult):
            return approval
        if approval.status is not Status.PENDING:
            return DecisionResult(Verdict.TOO_LATE, describe_decision(approval), approval)
        user = self._gate(approval, user_id)
        if isinstance(user, DecisionResult):
            return user
        mine = next((v for v in approval.votes if v.actor.id == user_id), None)
        if mine is not None:
            return DecisionResult(Verdict.TOO_LATE, already_voted(approval, mine), approval)
        return DecisionResult(Verdict.ALLOWED, "", approval)

    def _load(self, approval_id: str) -> Approval | DecisionResult:
        """The approval as it is now (expired if its ``expires_at`` passed), or NOT_FOUND."""
        try:
            return self._current(self._store.get(approval_id))
        except ApprovalNotFound:
            return DecisionResult(Verdict.NOT_FOUND, "This approval request no longer exists.")

    def _gate(
        self, approval: Approval, user_id: str, *, form_missing: bool = False
    ) -> UserInfo | DecisionResult:
        """The user if they may decide ``approval`` now; else why not (refusals audited)."""
        user = self._who(user_id)
        if isinstance(user, DecisionResult):
            return user
        refusal = self.refusal(approval, user)
        if refusal is None and form_missing:
            refusal = "This request needs the approve form: use the Approve… button."
        if refusal is not None:
            self._refused(approval, user, refusal)
            return DecisionResult(Verdict.REFUSED, refusal, approval)
        return user

    def approve_form(
        self, approval_id: str, raw: dict[str, str | None]
    ) -> tuple[ApproveForm | None, dict[str, str]]:
        """Validate what an approver submitted in the approve modal (errors by field)."""
        try:
            approval = self._store.get(approval_id)
        except ApprovalNotFound:
            return None, {FORM_COMMENT: "This approval request no longer exists."}
        return read_approve_form(approval, raw)

    def _who(self, user_id: str) -> UserInfo | DecisionResult:
        """The user, from Slack; or why they cannot decide now. Directory answers (users,
        groups, channel members) are needed to authorize, so their failures refuse."""
        try:
            return self._slack.user_info(user_id)
        except SlackRejected:
            return DecisionResult(Verdict.REFUSED, "Slack does not know your account here.")
        except SlackUnavailable:
            return DecisionResult(
                Verdict.UNAVAILABLE, "Slack did not answer in time, so nothing changed. Try again."
            )

    def _refused(self, approval: Approval, user: UserInfo, reason: str) -> None:
        log.warning("decision refused", extra={"user": user.id, "reason": reason})
        self._audit(approval, "refused", user.id, user.name, reason=reason)

    def decide(
        self,
        approval_id: str,
        user_id: str,
        outcome: Literal["approved", "rejected"],
        comment: str | None = None,
        *,
        form: ApproveForm | None = None,
    ) -> DecisionResult:
        """Record a person's decision: authorize, vote, and once the vote decides it, complete
        the task and update the message.

        With ``required_approvals`` N, approvals are votes: the N-th distinct approver's vote
        claims it. A rejection claims it at once (``reject_policy: any``) or when rejections
        reach N (``majority``). Requests with inputs or ``risk: high`` need the approve form.

        Idempotent for the same user and outcome (Lambda retries lazy listeners): a repeated
        call finishes an unfinished claim, or reports the decision already made.
        """
        approval = self._load(approval_id)
        if isinstance(approval, DecisionResult):
            return approval
        if approval.status is not Status.PENDING:
            return self._revisit(approval, user_id, outcome)
        form_missing = outcome == "approved" and approval.spec.needs_form and not form
        user = self._gate(approval, user_id, form_missing=form_missing)
        if isinstance(user, DecisionResult):
            return user
        vote = Decision(
            outcome,
            Actor(user.id, user.name),
            self._clock(),
            (form.comment if form else None) or comment,
            tuple(form.inputs.items()) if form else (),
        )
        return self._cast(approval, vote)

    def _revisit(self, approval: Approval, user_id: str, outcome: str) -> DecisionResult:
        """A decision on a request that is no longer pending."""
        decision = approval.decision
        if decision and decision.actor.id == user_id and decision.outcome == outcome:
            # The same decision again: a double click, or Lambda retrying this lazy call.
            if approval.status is Status.CLAIMED and self._stale(approval):
                return self._complete(approval)  # its worker died: finish the job
            if approval.status in (Status.CLAIMED, decision.status):
                return DecisionResult(Verdict.DECIDED, "", approval)
        return DecisionResult(Verdict.TOO_LATE, describe_decision(approval), approval)

    def _cast(self, approval: Approval, vote: Decision) -> DecisionResult:
        """Record ``vote`` atomically; when it decides the request, complete the task."""
        for _ in range(MAX_VOTE_ATTEMPTS):
            mine = next((v for v in approval.votes if v.actor.id == vote.actor.id), None)
            if mine is not None:
                return DecisionResult(Verdict.TOO_LATE, already_voted(approval, mine), approval)
            counts = (len(approval.votes_for("approved")), len(approval.votes_for("rejected")))
            final = decides(approval.spec, counts, vote.outcome)
            try:
                voted = self._store.vote(
                    approval.approval_id, vote, now=vote.decided_at, final=final, counts=counts
                )
            except StateConflict as conflict:  # someone voted meanwhile: look again
                approval = conflict.current
                if approval.status is not Status.PENDING:
                    text = describe_decision(approval)
                    return DecisionResult(Verdict.TOO_LATE, text, approval)
                continue
            if final:
                log.info("approval claimed", extra={"user": vote.actor.id, "outcome": vote.outcome})
                return self._complete(voted)
            self._audit(
                voted,
                "vote",
                vote.actor.id,
                vote.actor.name,
                outcome=vote.outcome,
                comment=vote.comment,
            )
            self._refresh(voted)
            return DecisionResult(Verdict.DECIDED, vote_recorded(voted, vote), voted)
        return DecisionResult(
            Verdict.UNAVAILABLE, "Too many people are voting at once. Please try again.", approval
        )

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
            released = self._store.release(claimed.approval_id, decision, now=self._clock())
            self._audit(released, "rolled_back", decision.actor.id, decision.actor.name)
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
        decision = finished.decision
        if decision is not None and status is decision.status:
            self._audit(
                finished,
                status.lower(),
                decision.actor.id,
                decision.actor.name,
                comment=decision.comment,
                votes=[v.actor.id for v in finished.votes_for(decision.outcome)],
            )
        else:
            self._audit(finished, status.lower(), reason=reason)
        self._refresh(finished)
        return finished

    def _audit(
        self,
        approval: Approval,
        event: str,
        actor_id: str | None = None,
        actor_name: str | None = None,
        **detail: Any,
    ) -> None:
        """Append to the audit trail; a failing audit write never undoes a decision."""
        try:
            self._store.append_audit(
                AuditEvent(
                    approval_id=approval.approval_id,
                    event=event,
                    at=self._clock(),
                    actor_id=actor_id,
                    actor_name=actor_name,
                    title=title_of(approval),
                    detail={k: v for k, v in detail.items() if v is not None},
                    channel=approval.channel,
                )
            )
        except Exception as exc:  # logged; the decision stands
            log.error("audit write failed", extra={"event": event, "error": str(exc)})

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
        self._audit(expired, "expired", reason=reason)
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
        """The scheduled safety net and clock: expire overdue requests, remind and escalate
        pending ones, finish claims whose worker died. Safe to run twice at once."""
        now = self._clock()
        report = {"expired": 0, "reminded": 0, "escalated": 0, "claims_completed": 0}
        for approval in self._all_open(Status.PENDING):
            current = self._current(approval)
            if current.status is Status.EXPIRED:
                report["expired"] += 1
                continue
            if self._escalate(current, now):
                report["escalated"] += 1
            elif self._remind(current, now):
                report["reminded"] += 1
        for approval in self._all_open(Status.CLAIMED):
            if (now - approval.updated_at).total_seconds() >= stale_claim_seconds:  # worker died
                self._complete(approval)
                report["claims_completed"] += 1
        return report

    def _remind(self, approval: Approval, now: datetime) -> bool:
        every = approval.spec.remind_every
        if every is None or approval.ts is None:
            return False
        if now - (approval.reminded_at or approval.created_at) < every:
            return False
        taken = self._store.mark_reminded(
            approval.approval_id, previous=approval.reminded_at, now=now
        )
        if taken is None:
            return False  # another sweep took this reminder
        text = reminder_text(taken, self._policy.default_approvers, now)
        self._reply(taken, text)
        self._audit(taken, "reminded", count=taken.reminders)
        return True

    def _escalate(self, approval: Approval, now: datetime) -> bool:
        after = approval.spec.escalate_after
        if after is None or approval.escalated_at is not None or approval.ts is None:
            return False
        if now - approval.created_at < after:
            return False
        escalated = self._store.mark_escalated(approval.approval_id, now=now)
        if escalated is None:
            return False
        self._reply(escalated, escalation_text(escalated, now))
        self._audit(escalated, "escalated", to=list(escalated.spec.escalate_to))
        self._refresh(escalated)
        return True

    def _reply(self, approval: Approval, text: str) -> None:
        if approval.ts is None:
            return
        try:
            self._slack.post_reply(approval.channel, approval.ts, text)
        except (SlackUnavailable, SlackRejected) as exc:
            log.warning("thread reply failed", extra={"error": str(exc)})

    def history(self, user_id: str, limit: int) -> list[AuditEvent]:
        """The latest audit events ``user_id`` may read, newest first (``/approvals history``):
        those of requests posted in channels they are a member of."""
        readable: dict[str, bool] = {}
        found: list[AuditEvent] = []
        for event in self._store.audit(limit=limit * HISTORY_SCAN_FACTOR, newest_first=True):
            channel = event.channel or ""
            if channel not in readable:
                try:
                    readable[channel] = user_id in self._slack.channel_members(channel)
                except (SlackUnavailable, SlackRejected):
                    readable[channel] = False
            if readable[channel]:
                found.append(event)
                if len(found) >= limit:
                    break
        return found

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
    approvers = approval.votes_for("approved") or (decision,)
    record = {
        "id": approval.approval_id,
        "decision": decision.outcome,
        "approver": decision.actor.to_dict(),
        "approvers": [vote.to_dict() for vote in approvers],
        "decided_at": format_time(decision.decided_at),
        "comment": decision.comment,
        "inputs": dict(decision.inputs),
    }
    if isinstance(approval.payload, dict):
        return {**approval.payload, "approval": record}
    return {"Payload": approval.payload, "approval": record}


def rejection_cause(approval: Approval, decision: Decision) -> str:
    """SendTaskFailure cause: JSON the workflow can parse in a Catch."""
    cause: dict[str, Any] = {
        "approval_id": approval.approval_id,
        "approver": decision.actor.to_dict(),
        "reason": decision.comment or "",
        "decided_at": format_time(decision.decided_at),
    }
    rejecters = approval.votes_for("rejected")
    if len(rejecters) > 1:
        cause["rejecters"] = [vote.to_dict() for vote in rejecters]
    return json.dumps(cause, ensure_ascii=False)
