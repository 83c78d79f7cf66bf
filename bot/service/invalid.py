"""An invalid request: its task fails with ``InvalidApprovalRequest`` (and, once stored, the
approval ends INVALID). Shared by single and grouped requests."""

from __future__ import annotations

import logging

from bot.models import ApprovalRequest, InvalidApprovalRequest, Status, TaskToken
from bot.service.context import Deps
from bot.service.results import RequestOutcome
from bot.workflow import TaskGone

log = logging.getLogger(__name__)


def fail_invalid(deps: Deps, token: TaskToken, reason: str) -> None:
    """Fail the task with ``InvalidApprovalRequest`` and the reason (gone already: fine)."""
    log.warning("invalid approval request", extra={"reason": reason})
    try:
        deps.workflow.fail(token, error=InvalidApprovalRequest.error_code, cause=reason)
    except TaskGone:
        log.info("task of the invalid request was already gone")


def invalid_after_store(deps: Deps, request: ApprovalRequest, reason: str) -> RequestOutcome:
    """A stored request turned out invalid while posting: fail its task, POSTING → INVALID."""
    fail_invalid(deps, request.task_token, reason)
    deps.store.finish(
        request.approval_id,
        Status.INVALID,
        now=deps.clock(),
        reason=reason,
        expected=(Status.POSTING,),
    )
    return RequestOutcome.INVALID
