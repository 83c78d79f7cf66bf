"""Completing a claimed approval: CLAIMED → the task completed in Step Functions → final.

Shared by the decision path (the click that claimed it), the sweep (a claim whose worker
died) and execution expiry (a claim whose execution stopped meanwhile).
"""

from __future__ import annotations

import logging
from typing import Final

from bot.models import Approval, Decision, Status, TaskToken
from bot.service.context import Deps
from bot.service.output import approval_output, rejection_cause
from bot.service.record import Recorder
from bot.service.results import DecisionResult, Verdict
from bot.service.texts import describe_decision
from bot.workflow import InvalidTaskOutput, TaskGone, WorkflowUnavailable

log = logging.getLogger(__name__)

STALE_CLAIM_SECONDS: Final = 60  # > the interactions function's timeout (25 s)


class Completer:
    def __init__(self, deps: Deps, record: Recorder) -> None:
        self._deps = deps
        self._record = record

    def stale(self, claimed: Approval) -> bool:
        """A claim older than any live worker could be (its worker died after claiming)."""
        age = (self._deps.clock() - claimed.updated_at).total_seconds()
        return age >= STALE_CLAIM_SECONDS

    def complete(self, claimed: Approval) -> DecisionResult:
        """CLAIMED → the task completed in Step Functions → APPROVED / REJECTED (or the truth)."""
        decision = claimed.decision
        assert decision is not None  # a claim always carries its decision
        token = self._deps.store.task_token(claimed.approval_id)
        try:
            if decision.outcome == "approved":
                self._deps.workflow.succeed(token, approval_output(claimed, decision))
            else:
                self._deps.workflow.fail(
                    token, error="Rejected", cause=rejection_cause(claimed, decision)
                )
        except WorkflowUnavailable as exc:
            # Roll the claim back so the buttons work again; nothing was decided.
            log.warning("completing the task failed; claim released", extra={"error": str(exc)})
            released = self._deps.store.release(
                claimed.approval_id, decision, now=self._deps.clock()
            )
            self._record.audit(released, "rolled_back", decision.actor.id, decision.actor.name)
            self._record.refresh(released)
            return DecisionResult(
                Verdict.UNAVAILABLE,
                "Step Functions did not answer, so nothing was decided. Please try again.",
                released,
            )
        except TaskGone:
            status, reason = self._truth_after_dead_token(claimed, decision)
            finished = self.finish(claimed.approval_id, status, reason)
            if status is decision.status:
                return DecisionResult(Verdict.DECIDED, "", finished)
            return DecisionResult(Verdict.TOO_LATE, describe_decision(finished), finished)
        except InvalidTaskOutput as exc:
            reason = f"the decision could not be delivered: {exc}"
            self.fail_quietly(token, "ApprovalOutputInvalid", reason)
            finished = self.finish(claimed.approval_id, Status.ERROR, reason)
            return DecisionResult(Verdict.TOO_LATE, describe_decision(finished), finished)
        finished = self.finish(claimed.approval_id, decision.status, None)
        log.info("approval decided", extra={"status": finished.status})
        return DecisionResult(Verdict.DECIDED, "", finished)

    def _truth_after_dead_token(
        self, claimed: Approval, decision: Decision
    ) -> tuple[Status, str | None]:
        """Step Functions refused the token: find out what really happened to the execution."""
        arn = claimed.execution_arn
        if arn is None:
            return Status.ERROR, "Step Functions no longer accepts this request's task token"
        workflow = self._deps.workflow
        if workflow.completed_by(arn, claimed.approval_id) == decision.outcome:
            return decision.status, None  # an earlier attempt delivered this very decision
        execution = workflow.execution_status(arn)
        if execution.running:
            return Status.ERROR, "Step Functions refused the task token although the execution runs"
        rejected = execution.status == "FAILED" and execution.error == "Rejected"
        if rejected and decision.outcome == "rejected":
            return Status.REJECTED, None
        return Status.EXPIRED, f"the execution is {execution.status.lower().replace('_', ' ')}"

    def finish(self, approval_id: str, status: Status, reason: str | None) -> Approval:
        finished = self._deps.store.finish(
            approval_id, status, now=self._deps.clock(), reason=reason
        )
        decision = finished.decision
        if decision is not None and status is decision.status:
            self._record.audit(
                finished,
                status.lower(),
                decision.actor.id,
                decision.actor.name,
                comment=decision.comment,
                votes=[v.actor.id for v in finished.votes_for(decision.outcome)],
            )
        else:
            self._record.audit(finished, status.lower(), reason=reason)
        self._record.refresh(finished)
        return finished

    def fail_quietly(self, token: TaskToken, error: str, cause: str) -> None:
        try:
            self._deps.workflow.fail(token, error=error, cause=cause)
        except (TaskGone, WorkflowUnavailable, InvalidTaskOutput) as exc:
            log.warning("could not fail the task", extra={"error": str(exc)})
