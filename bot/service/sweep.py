"""The scheduled sweep: the safety net and the clock of pending requests.

Expires overdue requests, reminds and escalates pending ones, finishes claims whose worker
died, and draws again the messages of finished requests that Slack did not take when they
changed (rate limited, unavailable). Every step is taken with a conditional write first, so two
sweeps at once do each once (a redraw twice at worst, which shows the same).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import datetime
from typing import Final

from bot.models import Approval, Status
from bot.service.completion import STALE_CLAIM_SECONDS, Completer
from bot.service.context import Deps
from bot.service.copies import CopyPoster
from bot.service.expiry import Expirer
from bot.service.record import Recorder
from bot.service.texts import escalation_text, reminder_text

log = logging.getLogger(__name__)

REDRAW_PER_SWEEP: Final = 25  # finished requests whose messages one sweep draws again, at most


class Sweeper:
    def __init__(
        self, deps: Deps, record: Recorder, completer: Completer, expirer: Expirer
    ) -> None:
        self._deps = deps
        self._record = record
        self._completer = completer
        self._expirer = expirer
        self._copies = CopyPoster(deps)

    def sweep(self, *, stale_claim_seconds: int = STALE_CLAIM_SECONDS) -> dict[str, int]:
        now = self._deps.clock()
        report = {"expired": 0, "reminded": 0, "escalated": 0, "claims_completed": 0}
        for approval in self._all_open(Status.PENDING):
            current = self._expirer.current(approval)
            if current.status is Status.EXPIRED:
                report["expired"] += 1
                continue
            if self._escalate(current, now):
                report["escalated"] += 1
            elif self._remind(current, now):
                report["reminded"] += 1
        for approval in self._all_open(Status.CLAIMED):
            if (now - approval.updated_at).total_seconds() >= stale_claim_seconds:  # worker died
                self._completer.complete(approval)
                report["claims_completed"] += 1
        report["redrawn"] = self._redraw_finished()
        return report

    def _redraw_finished(self) -> int:
        """Draw the messages of finished requests Slack did not take; off the list once it
        took them all (otherwise the next sweep tries again)."""
        redrawn = 0
        for approval in self._deps.store.needs_redraw(limit=REDRAW_PER_SWEEP):
            if self._record.redraw(approval):
                self._deps.store.redraw_done(approval.approval_id)
                redrawn += 1
            else:
                log.warning("redraw failed again", extra={"approval_id": approval.approval_id})
        return redrawn

    def _remind(self, approval: Approval, now: datetime) -> bool:
        every = approval.spec.remind_every
        if every is None or not approval.messages():
            return False
        if now - (approval.reminded_at or approval.created_at) < every:
            return False
        taken = self._deps.store.mark_reminded(
            approval.approval_id, previous=approval.reminded_at, now=now
        )
        if taken is None:
            return False  # another sweep took this reminder
        self._record.reply(taken, reminder_text(taken, self._deps.policy.default_approvers, now))
        self._record.audit(taken, "reminded", count=taken.reminders)
        return True

    def _escalate(self, approval: Approval, now: datetime) -> bool:
        after = approval.spec.escalate_after
        if after is None or approval.escalated_at is not None or not approval.messages():
            return False
        if now - approval.created_at < after:
            return False
        escalated = self._deps.store.mark_escalated(approval.approval_id, now=now)
        if escalated is None:
            return False
        if escalated.spec.dms:  # the escalation targets get a copy too (at most once)
            escalated = self._copies.post_later(
                escalated, self._copies.escalation_targets(escalated)
            )
        self._record.reply(escalated, escalation_text(escalated, now))
        self._record.audit(escalated, "escalated", to=list(escalated.spec.escalate_to))
        self._record.refresh(escalated)
        return True

    def _all_open(self, status: Status) -> Iterator[Approval]:
        cursor: str | None = None
        while True:
            page = self._deps.store.list_open(status, limit=100, cursor=cursor)
            yield from page.approvals
            cursor = page.cursor
            if cursor is None:
                return
