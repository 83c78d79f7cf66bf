"""Grouped requests (``approval.group``): one channel message for many requests, Approve all.

Requests with the same ``group`` key for the same channel collect into one message
(:mod:`bot.group_blocks`); each is still its own approval and task token, decided exactly once
by the :class:`~bot.service.decisions.Decider`.

Three use cases, one module each, composed by :class:`Groups`:

* :mod:`~bot.service.group_post` — posting a grouped request (the notifier): join the group,
  post its message exactly once, mark the approval PENDING on it;
* :mod:`~bot.service.group_draw` — which group holds an approval, and redrawing its message
  after every change (one drawer at a time, until the version stops moving);
* :mod:`~bot.service.group_decide` — Approve all / Reject all, each item through the Decider.

With ``notify: dm`` a request has no channel message, so ``group`` does nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Literal

from bot.models import Approval, ApprovalRequest
from bot.ports import Groups as GroupsPort
from bot.service.context import Deps
from bot.service.group_decide import AllResult, FreshOnce, GroupDecider, GroupView
from bot.service.group_draw import GroupDrawer
from bot.service.group_post import GroupPoster
from bot.service.record import Recorder
from bot.service.results import RequestOutcome

__all__ = ["AllResult", "FreshOnce", "GroupView", "Groups"]


class Groups:
    """The three group use cases over one group store: what the facade, the request poster and
    the recorder call."""

    def __init__(
        self,
        deps: Deps,
        groups: GroupsPort,
        record: Recorder,
        *,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._groups = groups  # the store (tests observe it)
        self._drawer = GroupDrawer(deps, groups)
        self._poster = GroupPoster(deps, groups, record, self._drawer, sleep=sleep)
        self._decider = GroupDecider(deps, groups, self._drawer)

    def grouped(self, approval: Approval | ApprovalRequest) -> bool:
        """Whether it belongs in a group message (``group`` set, and a channel message)."""
        return self._drawer.grouped(approval)

    def group_of(self, approval: Approval) -> str | None:
        """The id of the group message holding ``approval`` (None: it is in none)."""
        return self._drawer.group_of(approval)

    def submit(self, request: ApprovalRequest, shown: Approval, lease_owner: str) -> RequestOutcome:
        """Post a grouped request (:meth:`GroupPoster.submit`)."""
        return self._poster.submit(request, shown, lease_owner)

    def on_member_changed(self, approval: Approval) -> bool | None:
        """``Recorder.refresh`` of a grouped approval: redraw its group message (None: it is
        in no group)."""
        return self._drawer.on_member_changed(approval)

    def redraw(self, group_id: str) -> bool:
        return self._drawer.redraw(group_id)

    def view(self, group_id: str) -> GroupView | None:
        return self._decider.view(group_id)

    def decide_all(
        self,
        group_id: str,
        user_id: str,
        outcome: Literal["approved", "rejected"],
        comment: str | None = None,
    ) -> AllResult:
        """Approve all / Reject all (:meth:`GroupDecider.decide_all`)."""
        return self._decider.decide_all(group_id, user_id, outcome, comment)
