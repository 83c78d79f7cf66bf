"""Deciding: a person's approval or rejection, exactly once per approval.

1. authorize the user (:class:`~bot.service.authorization.AccessPolicy`);
2. vote with a conditional write; the vote that decides claims it (PENDING → CLAIMED, one
   concurrent click wins);
3. complete the task (:class:`~bot.service.completion.Completer`), update the message.
"""

from __future__ import annotations

import logging
from typing import Final, Literal

from bot.models import Actor, Approval, ApprovalSpec, Decision, Status
from bot.ports import SlackRejected, SlackUnavailable, UserInfo
from bot.service.authorization import AccessPolicy
from bot.service.completion import Completer
from bot.service.context import Deps
from bot.service.expiry import Expirer
from bot.service.forms import FORM_COMMENT, ApproveForm, read_approve_form
from bot.service.record import Recorder
from bot.service.results import DecisionResult, Verdict
from bot.service.texts import already_voted, describe_decision, vote_recorded
from bot.store import ApprovalNotFound, StateConflict

log = logging.getLogger(__name__)

MAX_VOTE_ATTEMPTS: Final = 5


def decides(spec: ApprovalSpec, counts: tuple[int, int], outcome: str) -> bool:
    """Whether one more vote for ``outcome`` decides the request."""
    approvals, rejections = counts
    if outcome == "approved":
        return approvals + 1 >= spec.required_approvals
    return spec.reject_policy == "any" or rejections + 1 >= spec.required_approvals


class Decider:
    def __init__(
        self,
        deps: Deps,
        record: Recorder,
        access: AccessPolicy,
        completer: Completer,
        expirer: Expirer,
    ) -> None:
        self._deps = deps
        self._record = record
        self._access = access
        self._completer = completer
        self._expirer = expirer

    def check(self, approval_id: str, user_id: str) -> DecisionResult:
        """Before opening a modal: may ``user_id`` decide it now (ALLOWED), or why not."""
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

    def approve_form(
        self, approval_id: str, raw: dict[str, str | None]
    ) -> tuple[ApproveForm | None, dict[str, str]]:
        """Validate what an approver submitted in the approve modal (errors by field)."""
        try:
            approval = self._deps.store.get(approval_id)
        except ApprovalNotFound:
            return None, {FORM_COMMENT: "This approval request no longer exists."}
        return read_approve_form(approval, raw)

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
            self._deps.clock(),
            (form.comment if form else None) or comment,
            tuple(form.inputs.items()) if form else (),
        )
        return self._cast(approval, vote)

    def _load(self, approval_id: str) -> Approval | DecisionResult:
        """The approval as it is now (expired if its ``expires_at`` passed), or NOT_FOUND."""
        try:
            return self._expirer.current(self._deps.store.get(approval_id))
        except ApprovalNotFound:
            return DecisionResult(Verdict.NOT_FOUND, "This approval request no longer exists.")

    def _gate(
        self, approval: Approval, user_id: str, *, form_missing: bool = False
    ) -> UserInfo | DecisionResult:
        """The user if they may decide ``approval`` now; else why not (refusals audited).

        Asks Slack anew (never a remembered answer): who the user is, their groups and
        channels as they are at this click."""
        directory = self._access.for_decision()
        try:
            user = directory.user(user_id)
        except SlackRejected:
            return DecisionResult(Verdict.REFUSED, "Slack does not know your account here.")
        except SlackUnavailable:
            return DecisionResult(
                Verdict.UNAVAILABLE, "Slack did not answer in time, so nothing changed. Try again."
            )
        refusal = self._access.refusal(approval, user, directory)
        if refusal is None and form_missing:
            refusal = "This request needs the approve form: use the Approve… button."
        if refusal is not None:
            log.warning("decision refused", extra={"user": user.id, "reason": refusal})
            self._record.audit(approval, "refused", user.id, user.name, reason=refusal)
            return DecisionResult(Verdict.REFUSED, refusal, approval)
        return user

    def _revisit(self, approval: Approval, user_id: str, outcome: str) -> DecisionResult:
        """A decision on a request that is no longer pending."""
        decision = approval.decision
        if decision and decision.actor.id == user_id and decision.outcome == outcome:
            # The same decision again: a double click, or Lambda retrying this lazy call.
            if approval.status is Status.CLAIMED and self._completer.stale(approval):
                return self._completer.complete(approval)  # its worker died: finish the job
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
                voted = self._deps.store.vote(
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
                return self._completer.complete(voted)
            self._record.audit(
                voted,
                "vote",
                vote.actor.id,
                vote.actor.name,
                outcome=vote.outcome,
                comment=vote.comment,
            )
            self._record.refresh(voted)
            return DecisionResult(Verdict.DECIDED, vote_recorded(voted, vote), voted)
        return DecisionResult(
            Verdict.UNAVAILABLE, "Too many people are voting at once. Please try again.", approval
        )
