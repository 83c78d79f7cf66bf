"""What the use cases answer: outcomes of a request, verdicts of a decision, listing pages."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from bot.models import Approval


class RetryLater(RuntimeError):
    """The message could not be handled now; redeliver it (an SQS batch item failure)."""


class RequestOutcome(StrEnum):
    POSTED = "posted"
    RECOVERED = "recovered"  # an earlier attempt had posted; its ts was saved now
    DUPLICATE = "duplicate"  # already handled: nothing posted
    INVALID = "invalid"  # the task was failed with InvalidApprovalRequest


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
