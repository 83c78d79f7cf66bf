"""ApprovalService: the one object the handlers and the Bolt app call.

A thin facade over the use cases; it wires them to one set of ports and adds no logic.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Literal

from bot.models import AuditEvent, Envelope
from bot.ports import Clock, HomeVisits, Slack, Store, Workflow
from bot.ports import Groups as GroupsPort
from bot.service.authorization import AccessPolicy
from bot.service.completion import STALE_CLAIM_SECONDS, Completer
from bot.service.context import Deps, Policy
from bot.service.decisions import Decider
from bot.service.expiry import Expirer
from bot.service.forms import ApproveForm
from bot.service.groups import AllResult, Groups, GroupView
from bot.service.home import HomeTab
from bot.service.listing import LIST_PAGE_SIZE, Listing
from bot.service.record import Recorder
from bot.service.requests import RequestPoster
from bot.service.results import DecisionResult, PendingPage, RequestOutcome
from bot.service.sweep import Sweeper


class ApprovalService:
    def __init__(
        self,
        *,
        store: Store,
        workflow: Workflow,
        slack: Slack,
        policy: Policy,
        clock: Clock,
        groups: GroupsPort | None = None,
        home: HomeVisits | None = None,
    ) -> None:
        self._deps = deps = Deps(store, workflow, slack, policy, clock)
        # The adapters, for tests and benchmarks that observe them (hooks on their clients).
        self._store, self._workflow, self._slack, self._policy = store, workflow, slack, policy
        record = Recorder(deps)
        access = AccessPolicy(deps)
        completer = Completer(deps, record)
        expirer = Expirer(deps, record, completer)
        self._requests = RequestPoster(deps, record, access)
        self._decider = Decider(deps, record, access, completer, expirer)
        self._expirer = expirer
        self._sweeper = Sweeper(deps, record, completer, expirer)
        self._listing = Listing(deps, access, expirer)
        # Grouped requests (approval.group): one message per group; without a group store,
        # every request gets its own message.
        self._groups = Groups(deps, groups, record) if groups is not None else None
        if self._groups is not None:
            record.on_group = self._groups.on_member_changed
            self._requests.groups = self._groups
        # The App Home tab; with ``home`` (who opened it lately) it is refreshed on changes.
        self._home = HomeTab(deps, access, self._listing, expirer, home)
        if home is not None:
            deps.home_changed = self._home.changed

    @property
    def _clock(self) -> Clock:
        return self._deps.clock

    @_clock.setter
    def _clock(self, clock: Clock) -> None:  # a test moving time for a running service
        self._deps.clock = clock

    # --- requests (the notifier) -------------------------------------------------------------

    def submit(self, envelope: Envelope) -> RequestOutcome:
        """Post one approval request to Slack, exactly once per task token."""
        return self._requests.submit(envelope)

    def channel_for(self, envelope: Envelope) -> str | None:
        """Where the request would be posted (None if it is invalid)."""
        return self._requests.channel_for(envelope)

    # --- decisions (the interactions function) -----------------------------------------------

    def check(self, approval_id: str, user_id: str) -> DecisionResult:
        """Before opening a modal: may ``user_id`` decide it now (ALLOWED), or why not."""
        return self._decider.check(approval_id, user_id)

    def approve_form(
        self, approval_id: str, raw: dict[str, str | None]
    ) -> tuple[ApproveForm | None, dict[str, str]]:
        """Validate what an approver submitted in the approve modal (errors by field)."""
        return self._decider.approve_form(approval_id, raw)

    def decide(
        self,
        approval_id: str,
        user_id: str,
        outcome: Literal["approved", "rejected"],
        comment: str | None = None,
        *,
        form: ApproveForm | None = None,
    ) -> DecisionResult:
        """Record a person's decision (see :meth:`bot.service.decisions.Decider.decide`)."""
        return self._decider.decide(approval_id, user_id, outcome, comment, form=form)

    # --- listings ----------------------------------------------------------------------------

    def pending(
        self, user_id: str, *, mine: bool, cursor: str | None = None, size: int = LIST_PAGE_SIZE
    ) -> PendingPage:
        """PENDING approvals, newest first; ``mine``: only those ``user_id`` may decide."""
        return self._listing.pending(user_id, mine=mine, cursor=cursor, size=size)

    def history(self, user_id: str, limit: int) -> list[AuditEvent]:
        """The latest audit events ``user_id`` may read, newest first."""
        return self._listing.history(user_id, limit)

    # --- the App Home tab (the interactions function) ----------------------------------------

    def home_opened(self, user_id: str, event_id: str | None = None) -> bool:
        """Remember that ``user_id`` opened their Home tab; False for an event already seen
        (Slack retried it): then it need not be published again."""
        return self._home.opened(user_id, event_id)

    def publish_home(self, user_id: str, notice: str | None = None) -> None:
        """Publish ``user_id``'s Home tab (``notice``: an answer to their last click there)."""
        self._home.publish(user_id, notice)

    def home_refresh_deferred(self) -> AbstractContextManager[None]:
        """Within it, the Home tabs a change concerns are republished once, at its end (a
        notifier batch: one publish per person, not one per request)."""
        return self._home.deferred()

    # --- expiry and the sweep (the expirations function) -------------------------------------

    def expire_execution(self, execution_arn: str, status: str) -> int:
        """The execution stopped (FAILED, TIMED_OUT, ABORTED): expire its open approvals."""
        return self._expirer.expire_execution(execution_arn, status)

    def sweep(self, *, stale_claim_seconds: int = STALE_CLAIM_SECONDS) -> dict[str, int]:
        """Expire overdue requests, remind and escalate, finish claims whose worker died."""
        return self._sweeper.sweep(stale_claim_seconds=stale_claim_seconds)

    # --- grouped requests (Approve all / Reject all) -----------------------------------------

    def group(self, group_id: str) -> GroupView | None:
        """A group message's members as they are now (None: no such group)."""
        return self._groups.view(group_id) if self._groups is not None else None

    def decide_all(
        self,
        group_id: str,
        user_id: str,
        outcome: Literal["approved", "rejected"],
        comment: str | None = None,
    ) -> AllResult:
        """Approve all / Reject all (see :meth:`bot.service.groups.Groups.decide_all`)."""
        if self._groups is None:
            return AllResult(outcome, missing=True)
        with self._home.deferred():  # each Home concerned republished once, at the end
            return self._groups.decide_all(group_id, user_id, outcome, comment)
