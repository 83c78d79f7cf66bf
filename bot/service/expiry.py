"""Expiry: a pending request whose ``expires_at`` passed, or whose execution stopped waiting."""

from __future__ import annotations

import logging

from bot.models import Approval, Status, format_time
from bot.service.completion import Completer
from bot.service.context import Deps
from bot.service.record import Recorder
from bot.store import ApprovalNotFound, StateConflict

log = logging.getLogger(__name__)


class Expirer:
    def __init__(self, deps: Deps, record: Recorder, completer: Completer) -> None:
        self._deps = deps
        self._record = record
        self._completer = completer

    def overdue(self, approval: Approval) -> bool:
        """Pending past its ``approval.expires_at``."""
        expires_at = approval.spec.expires_at
        return approval.status is Status.PENDING and bool(
            expires_at and expires_at <= self._deps.clock()
        )

    def current(self, approval: Approval) -> Approval:
        """Expire a pending approval whose ``expires_at`` has passed (on clicks and listings)."""
        expires_at = approval.spec.expires_at
        if self.overdue(approval) and expires_at is not None:
            reason = f"approval.expires_at ({format_time(expires_at)}) has passed"
            return self.expire(approval.approval_id, reason, fail_task=True)
        return approval

    def expire(self, approval_id: str, reason: str, fail_task: bool) -> Approval:
        """PENDING/POSTING → EXPIRED, the message updated; with ``fail_task`` the waiting task is
        failed with ``ApprovalExpired`` (when the bot, not Step Functions, ended the wait)."""
        store = self._deps.store
        try:
            expired = store.finish(
                approval_id,
                Status.EXPIRED,
                now=self._deps.clock(),
                reason=reason,
                expected=(Status.PENDING, Status.POSTING),
            )
        except StateConflict as conflict:
            return conflict.current
        if fail_task:
            self._completer.fail_quietly(store.task_token(approval_id), "ApprovalExpired", reason)
        self._record.audit(expired, "expired", reason=reason)
        self._record.refresh(expired)
        log.info("approval expired", extra={"reason": reason})
        return expired

    def expire_execution(self, execution_arn: str, status: str) -> int:
        """The execution stopped (FAILED, TIMED_OUT, ABORTED): expire its open approvals."""
        reason = f"the execution {status.lower().replace('_', ' ')}"
        count = 0
        for approval_id in self._deps.store.ids_for_execution(execution_arn):
            try:
                before = self._deps.store.get(approval_id)
            except ApprovalNotFound:
                continue
            if before.status in (Status.PENDING, Status.POSTING):
                after = self.expire(approval_id, reason, fail_task=False)
                count += after.status is Status.EXPIRED
            elif before.status is Status.CLAIMED:
                self._completer.complete(before)  # finds out the truth and records it
                count += 1
        return count
