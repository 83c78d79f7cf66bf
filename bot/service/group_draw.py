"""Drawing a group message (:mod:`bot.service.groups`): which group holds an approval, and
redrawing its message after every change so that it ends showing every member's final state.

Every change of the group or of a member bumps the group's version; then the message is rendered
from fresh reads, ``chat.update``\\ d, and the version read again: if it moved meanwhile, it is
drawn again. The last writer always re-checks. One writer draws at a time (a draw lease): the
others only bump, and the drawer sees their bumps.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Final

from bot.group_blocks import group_message
from bot.group_store import group_id_for
from bot.models import Approval, ApprovalRequest
from bot.ports import Groups as GroupsPort
from bot.ports import SlackRejected, SlackUnavailable
from bot.service.context import Deps

log = logging.getLogger(__name__)

MAX_GROUP_PARTS: Final = 100  # continuation messages of one group, at most
# Drawings by one drawer while the version keeps moving. The writers who found the draw lease
# taken left their change to the drawer, so it must not stop early: each drawing covers every
# change so far, so a burst of 50 joins took 16 drawings in all (tests/functional/test_groups.py).
# Past this bound (a change arriving during every one of 30 updates) it gives up, logged, and
# the message waits for the group's next change.
MAX_REDRAWS: Final = 30


class GroupDrawer:
    def __init__(self, deps: Deps, groups: GroupsPort) -> None:
        self._deps = deps
        self._groups = groups
        self._batch = threading.local()  # group ids whose redraw waits for the end of a click

    # --- which group ---------------------------------------------------------------------------

    def _channel_key(self, approval: Approval) -> str:
        return approval.spec.channel or self._deps.policy.default_channel or approval.channel

    def grouped(self, approval: Approval | ApprovalRequest) -> bool:
        """Whether it belongs in a group message (``group`` set, and a channel message)."""
        return approval.spec.group is not None and approval.spec.in_channel

    def group_of(self, approval: Approval) -> str | None:
        """The id of the group message holding ``approval`` (None: it is in none)."""
        key = approval.spec.group
        if key is None:
            return None
        channel = self._channel_key(approval)
        for part in range(MAX_GROUP_PARTS):
            group = self._groups.get(group_id_for(channel, key, part))
            if group is None:
                return None
            if approval.approval_id in group.members:
                return group.group_id
        return None

    # --- drawing -------------------------------------------------------------------------------

    def on_member_changed(self, approval: Approval) -> bool | None:
        """``Recorder.refresh`` of a grouped approval: redraw its group message instead of a
        message of its own; False when Slack did not take it. None when it is in no group
        (drawn on its own as before)."""
        if not self.grouped(approval):
            return None
        group_id = self.group_of(approval)
        if group_id is None:
            return None
        return self.redraw(group_id)

    def redraw(self, group_id: str) -> bool:
        """Something in the group changed: bump its version, then draw it (unless a click
        deciding many of its items draws it once at its end). False: Slack did not take it."""
        self._groups.bump(group_id)
        if group_id in self._batched():
            return True
        return self._draw(group_id)

    def _batched(self) -> set[str]:
        batched: set[str] | None = getattr(self._batch, "ids", None)
        if batched is None:
            batched = self._batch.ids = set()
        return batched

    @contextmanager
    def one_draw(self, group_id: str) -> Iterator[None]:
        """Within it, changes to the group only bump; it is drawn once at the end."""
        self._batched().add(group_id)
        try:
            yield
        finally:
            self._batched().discard(group_id)
            if not self._draw(group_id):
                self._list_for_redraw(group_id)

    def _list_for_redraw(self, group_id: str) -> None:
        """The group message Slack did not take after a click that decided many: its finished
        members go on the sweep's list (:meth:`Store.mark_redraw`), whose redraw draws it."""
        group = self._groups.get(group_id)
        if group is None:
            return
        for member in self._groups.approvals(group.members):
            if not member.status.is_open:
                try:
                    self._deps.store.mark_redraw(member.approval_id)
                except Exception as exc:  # best effort: logged
                    log.warning("listing a failed redraw failed", extra={"error": str(exc)})

    def _draw(self, group_id: str) -> bool:
        """One writer at a time draws (a draw lease); the others have bumped the version and
        leave it to the drawer, who re-reads the version after each update (and after giving
        the lease back) and draws again when it moved. False: Slack failed."""
        owner = uuid.uuid4().hex
        for _ in range(MAX_REDRAWS):
            taken = self._groups.take_draw(
                group_id,
                owner,
                now=self._deps.clock(),
                lease_seconds=self._deps.policy.post_lease_seconds,
            )
            if not taken:
                return True  # the drawer sees this bump
            try:
                drawn = self._draw_once(group_id)
            finally:
                self._groups.release_draw(group_id, owner)
            if drawn is None:
                return False
            if self._groups.version(group_id) == drawn:
                return True
        log.warning(
            "group message still changing after %d drawings; its next change draws it", MAX_REDRAWS
        )
        return True

    def _draw_once(self, group_id: str) -> int | None:
        """Render from fresh reads (the version first) and update: the version drawn (None:
        Slack did not take the update)."""
        group = self._groups.get(group_id)
        if group is None or group.ts is None or group.message_channel is None:
            return group.version if group else 0  # not posted yet: its poster draws it
        message = group_message(group, self._groups.approvals(group.members))
        try:
            self._deps.slack.update(group.message_channel, group.ts, message)
        except (SlackUnavailable, SlackRejected) as exc:
            log.warning("group chat.update failed", extra={"error": str(exc)})
            return None
        return group.version
