"""The domain: use cases over ports. Knows neither Bolt nor Lambda.

Read top-down: ``bot.handlers`` / ``bot.slack_app`` → :class:`ApprovalService` (a facade)
→ one module per use case → the ports (``bot.ports``):

* :mod:`~bot.service.requests` — post a request, exactly once per task token;
* :mod:`~bot.service.decisions` — approve / reject / vote, exactly once per approval;
* :mod:`~bot.service.completion` — complete a claimed approval in Step Functions;
* :mod:`~bot.service.expiry` and :mod:`~bot.service.sweep` — expiry, reminders, escalation;
* :mod:`~bot.service.listing` — ``/approvals`` and its history;
* :mod:`~bot.service.authorization` — who may decide (and see) a request;
* :mod:`~bot.service.record` — the audit trail and every copy of the message after each change;
* :mod:`~bot.service.output` — what the workflow receives;
* :mod:`~bot.service.groups` — grouped requests: one message per group
  (:mod:`~bot.service.group_post` posting, :mod:`~bot.service.group_draw` redrawing,
  :mod:`~bot.service.group_decide` Approve all / Reject all);
* :mod:`~bot.service.copies` — direct-message copies of a request (``notify: dm`` / ``both``);
* :mod:`~bot.service.home` — the App Home tab and its refresh;
* :mod:`~bot.service.invalid` — an invalid request fails its task.
"""

from bot.service.context import Policy
from bot.service.facade import ApprovalService
from bot.service.forms import FORM_CODE, FORM_COMMENT, ApproveForm, read_approve_form
from bot.service.output import approval_output, rejection_cause
from bot.service.results import (
    DecisionResult,
    PendingPage,
    RequestOutcome,
    RetryLater,
    Verdict,
)

__all__ = [
    "FORM_CODE",
    "FORM_COMMENT",
    "ApprovalService",
    "ApproveForm",
    "DecisionResult",
    "PendingPage",
    "Policy",
    "RequestOutcome",
    "RetryLater",
    "Verdict",
    "approval_output",
    "read_approve_form",
    "rejection_cause",
]
