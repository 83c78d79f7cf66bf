"""The App Home tab: what one person sees there, and keeping it fresh.

**What it shows** (:meth:`HomeTab.content`), with the visibility rules of ``/approvals``:

* *Waiting for you* — :meth:`Listing.pending` with ``mine``: exactly what ``/approvals mine``
  lists (requests the person may decide), its first ``HOME_LIST_MAX``;
* *Your requests* — PENDING requests whose requester is the person and that they may see
  (:meth:`AccessPolicy.may_see`), from at most ``HOME_PENDING_PAGES`` pages of the by-status
  index; and finished ones, among the newest ``HOME_AUDIT_SCAN`` audit events (at most
  ``HOME_MAX_GETS`` requests read to learn their requester);
* *Recently decided* — the person's own decisions and votes among those audit events.
  Audit events are shown only when the person is a member of the request's channel (the rule
  of ``/approvals history``); an unknown answer hides them (fail closed).

**When it is republished** (:meth:`HomeTab.changed`, called for every change of a request:
posted, vote, decision, expiry, reminder, escalation): the people who opened their Home in the
last ``REFRESH_WINDOW_HOURS`` (``bot.home_store``, one bounded query reading at most
``REFRESH_SCAN`` visits) and who could see the change there — the requester, those who voted
or decided, the approvers named (users, members of at most ``LISTING_MAX_GROUPS`` groups as
Slack told recently), or anyone when the request names no approvers (any channel member may
decide it) — at most ``REFRESH_MAX`` of them per change. Best effort: a failure is logged and
never undoes the change. Within :meth:`HomeTab.deferred` (a notifier batch, an Approve all
click) the people concerned are collected instead, and each is published once at its end: a
batch of requests for the same approvers republishes their Home once, not once per request.

Slack retries an ``app_home_opened`` event it thinks was not received: :meth:`HomeTab.opened`
records each event id once, and a repeated one is not published again.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Final

from bot.home_blocks import HOME_LIST_MAX, HomeContent, Section, home_view
from bot.models import USER_ID_RE, USERGROUP_ID_RE, Approval, AuditEvent, Status
from bot.ports import HomeVisits, SlackRejected, SlackUnavailable
from bot.service.authorization import AccessPolicy, Directory
from bot.service.context import Deps
from bot.service.expiry import Expirer
from bot.service.listing import Listing
from bot.store import ApprovalNotFound

log = logging.getLogger(__name__)

HOME_PENDING_PAGES: Final = 2
HOME_PENDING_PAGE_SIZE: Final = 50
HOME_AUDIT_SCAN: Final = 200
HOME_MAX_GETS: Final = 10
REFRESH_WINDOW_HOURS: Final = 8
REFRESH_SCAN: Final = 100
REFRESH_MAX: Final = 10

FINISHED_EVENTS: Final = frozenset({"approved", "rejected", "expired", "error"})
DECIDED_EVENTS: Final = frozenset({"approved", "rejected", "vote"})


def _section(found: list[object], *, more_unknown: bool = False) -> Section:
    return Section(
        tuple(found[:HOME_LIST_MAX]),
        more=max(0, len(found) - HOME_LIST_MAX),
        more_unknown=more_unknown and len(found) <= HOME_LIST_MAX,
    )


class HomeTab:
    def __init__(
        self,
        deps: Deps,
        access: AccessPolicy,
        listing: Listing,
        expirer: Expirer,
        visits: HomeVisits | None,
    ) -> None:
        self._deps = deps
        self._access = access
        self._listing = listing
        self._expirer = expirer
        self._visits = visits
        self._lock = threading.Lock()
        self._deferred: list[set[str]] = []  # the open deferred() blocks' collected users

    # --- opening the tab ---------------------------------------------------------------------

    def opened(self, user_id: str, event_id: str | None) -> bool:
        """Remember the visit; False when this event was already handled (a Slack retry)."""
        if self._visits is None:
            return True
        return self._visits.opened(user_id, event_id=event_id, now=self._deps.clock())

    def publish(self, user_id: str, notice: str | None = None) -> None:
        """Publish ``user_id``'s Home view now (raises SlackUnavailable / SlackRejected)."""
        self._deps.slack.publish_home(user_id, home_view(self.content(user_id, notice)))

    # --- what it shows -----------------------------------------------------------------------

    def content(self, user_id: str, notice: str | None = None) -> HomeContent:
        directory = self._access.for_listing()
        waiting: Section | None
        try:
            page = self._listing.pending(user_id, mine=True, size=HOME_LIST_MAX)
            waiting = Section(tuple(page.approvals), more_unknown=page.cursor is not None)
        except (SlackUnavailable, SlackRejected):
            waiting = None
        mine_pending = self._mine_pending(user_id, directory)
        finished, decided = self._from_audit(user_id, directory)
        return HomeContent(
            user_id=user_id,
            waiting=waiting,
            mine_pending=mine_pending,
            mine_finished=finished,
            decided=decided,
            notice=notice,
        )

    def _mine_pending(self, user_id: str, directory: Directory) -> Section:
        found: list[object] = []
        cursor: str | None = None
        for _ in range(HOME_PENDING_PAGES):
            page = self._deps.store.list_open(
                Status.PENDING, limit=HOME_PENDING_PAGE_SIZE, cursor=cursor
            )
            found += [
                a
                for a in page.approvals
                if a.requester == user_id
                and not self._expirer.overdue(a)
                and self._access.may_see(a, user_id, directory)
            ]
            cursor = page.cursor
            if cursor is None:
                break
        return _section(found, more_unknown=cursor is not None)

    def _from_audit(self, user_id: str, directory: Directory) -> tuple[Section, Section]:
        decided: list[object] = []
        finished: list[object] = []
        asked: set[str] = set()
        for event in self._deps.store.audit(limit=HOME_AUDIT_SCAN, newest_first=True):
            if not event.channel or directory.member_of(user_id, event.channel) is not True:
                continue
            if event.actor_id == user_id and event.event in DECIDED_EVENTS:
                decided.append(event)
            if event.event in FINISHED_EVENTS and self._requested_by(event, user_id, asked):
                finished.append(event)
        return _section(finished), _section(decided)

    def _requested_by(self, event: AuditEvent, user_id: str, asked: set[str]) -> bool:
        if event.approval_id in asked or len(asked) >= HOME_MAX_GETS:
            return False
        asked.add(event.approval_id)
        try:
            return self._deps.store.get(event.approval_id).requester == user_id
        except ApprovalNotFound:
            return False

    # --- keeping it fresh --------------------------------------------------------------------

    def changed(self, approval: Approval) -> None:
        """Republish the Home of recent visitors who could see ``approval`` change there.
        Best effort: never raises."""
        if self._visits is None:
            return
        try:
            since = self._deps.clock() - timedelta(hours=REFRESH_WINDOW_HOURS)
            visitors = self._visits.recent(since=since, limit=REFRESH_SCAN)
            if not visitors:
                return
            concerned = self._concerned(approval, visitors)
        except Exception as exc:  # a failing refresh never undoes the change
            log.warning("home refresh skipped", extra={"error": str(exc)})
            return
        targets = concerned[:REFRESH_MAX]
        with self._lock:
            for pending in self._deferred:
                pending.update(targets)
            if self._deferred:
                return
        self._publish_each(targets)

    @contextmanager
    def deferred(self) -> Iterator[None]:
        """Collect the Homes to republish while the block runs; publish each once at its end
        (best effort, as :meth:`changed`)."""
        pending: set[str] = set()
        with self._lock:
            self._deferred.append(pending)
        try:
            yield
        finally:
            with self._lock:
                self._deferred.remove(pending)
            self._publish_each(sorted(pending))

    def _publish_each(self, user_ids: list[str]) -> None:
        for user_id in user_ids:
            try:
                self.publish(user_id)
            except Exception as exc:
                log.warning("views.publish failed", extra={"error": str(exc)})

    def _concerned(self, approval: Approval, visitors: list[str]) -> list[str]:
        people = {approval.requester, *(v.actor.id for v in approval.votes)}
        if approval.decision is not None:
            people.add(approval.decision.actor.id)
        approvers = approval.approvers(self._deps.policy.default_approvers)
        anyone = not approvers or any(
            not (USER_ID_RE.match(a) or USERGROUP_ID_RE.match(a)) for a in approvers
        )
        first = sorted(visitors, key=lambda u: u not in people)  # those named first (stable)
        if anyone:  # any channel member may decide (or an e-mail names someone): all visitors
            return first
        people.update(approvers)
        directory = self._access.for_listing()
        groups = [a for a in approvers if USERGROUP_ID_RE.match(a)]
        return [
            u
            for u in first
            if u in people or any(directory.in_group(u, g) is not False for g in groups)
        ]
