"""Listings: what is pending (``/approvals``, ``mine``, "Show more") and the history.

A listing shows a request only to someone who may see its channel or may decide it
(:meth:`~bot.service.authorization.AccessPolicy.may_see`). It answers within Slack's 3 s ack,
so it is bounded: at most ``LIST_MAX_QUERIES`` table queries (one more when a store page holds
more than the listing's page shows), and Slack calls that do not
grow with the requests listed or the size of their channels — at most one ``users.info``
(``mine``), ``MEMBERSHIP_MAX_PAGES`` ``users.conversations`` pages and ``LISTING_MAX_GROUPS``
``usergroups.users.list`` calls, each answer possibly remembered from the last minute. A
listing changes nothing: a request past its ``expires_at`` is left out (the sweep or the
next click expires it).
"""

from __future__ import annotations

from typing import Final

from bot.models import Approval, AuditEvent, Status
from bot.ports import SlackUnavailable, UserInfo
from bot.service.authorization import AccessPolicy, Directory
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
        """PENDING approvals ``user_id`` may see, newest first; ``mine``: only those they may
        decide. Raises :class:`SlackUnavailable` when Slack did not answer what it needed."""
        directory = self._access.for_listing()
        user = directory.user(user_id) if mine else None
        found: list[Approval] = []
        for _ in range(LIST_MAX_QUERIES):
            start = cursor
            page = self._deps.store.list_open(Status.PENDING, limit=size, cursor=start)
            shown = [a for a in page.approvals if self._shown(a, user_id, user, directory)]
            cursor = page.cursor
            if len(found) + len(shown) > size:
                # More than a page's worth: stop at the last one shown, and read this store page
                # again only up to it, so that "Show more" starts right after it (not after the
                # whole store page, which would skip the rest).
                shown = shown[: size - len(found)]
                upto = page.approvals.index(shown[-1]) + 1
                cursor = self._deps.store.list_open(Status.PENDING, limit=upto, cursor=start).cursor
            found += shown
            if len(found) >= size or cursor is None:
                break
        if directory.unanswered:
            raise SlackUnavailable("the directory did not answer", maybe_done=False)
        return PendingPage(found, cursor)

    def _shown(
        self, approval: Approval, user_id: str, user: UserInfo | None, directory: Directory
    ) -> bool:
        if approval.status is not Status.PENDING or self._expirer.overdue(approval):
            return False
        if user is not None:  # mine: what they may decide (and so may see)
            return self._access.refusal(approval, user, directory) is None
        return self._access.may_see(approval, user_id, directory)

    def history(self, user_id: str, limit: int) -> list[AuditEvent]:
        """The latest audit events ``user_id`` may read, newest first (``/approvals history``):
        those of requests posted in channels they are a member of (fail closed)."""
        directory = self._access.for_listing()
        found: list[AuditEvent] = []
        for event in self._deps.store.audit(limit=limit * HISTORY_SCAN_FACTOR, newest_first=True):
            if event.channel and directory.member_of(user_id, event.channel):
                found.append(event)
                if len(found) >= limit:
                    break
        return found
