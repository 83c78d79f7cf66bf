"""Listings: what is pending (``/approvals``, ``mine``, "Show more") and the history."""

from __future__ import annotations

from typing import Final

from bot.models import Approval, AuditEvent, Status
from bot.ports import SlackRejected, SlackUnavailable
from bot.service.authorization import AccessPolicy
from bot.service.context import Deps
from bot.service.expiry import Expirer
from bot.service.results import PendingPage

HISTORY_SCAN_FACTOR: Final = 5  # events read per event shown, at most (others skipped)
LIST_PAGE_SIZE: Final = 10
LIST_MAX_QUERIES: Final = 5


class Listing:
    def __init__(self, deps: Deps, access: AccessPolicy, expirer: Expirer) -> None:
        self._deps = deps
        self._access = access
        self._expirer = expirer

    def pending(
        self, user_id: str, *, mine: bool, cursor: str | None = None, size: int = LIST_PAGE_SIZE
    ) -> PendingPage:
        """PENDING approvals, newest first; ``mine``: only those ``user_id`` may decide."""
        user = self._deps.slack.user_info(user_id) if mine else None
        found: list[Approval] = []
        for _ in range(LIST_MAX_QUERIES):
            page = self._deps.store.list_open(Status.PENDING, limit=size, cursor=cursor)
            for approval in page.approvals:
                current = self._expirer.current(approval)
                if current.status is not Status.PENDING:
                    continue
                if user is not None and self._access.refusal(current, user) is not None:
                    continue
                found.append(current)
            cursor = page.cursor
            if len(found) >= size or cursor is None:
                break
        return PendingPage(found[:size], cursor)

    def history(self, user_id: str, limit: int) -> list[AuditEvent]:
        """The latest audit events ``user_id`` may read, newest first (``/approvals history``):
        those of requests posted in channels they are a member of."""
        readable: dict[str, bool] = {}
        found: list[AuditEvent] = []
        events = self._deps.store.audit(limit=limit * HISTORY_SCAN_FACTOR, newest_first=True)
        for event in events:
            channel = event.channel or ""
            if channel not in readable:
                try:
                    readable[channel] = user_id in self._deps.slack.channel_members(channel)
                except (SlackUnavailable, SlackRejected):
                    readable[channel] = False
            if readable[channel]:
                found.append(event)
                if len(found) >= limit:
                    break
        return found
