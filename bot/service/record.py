"""What every change leaves behind: a line in the audit trail and every copy of the message
redrawn (the channel message and each direct-message copy).

Both are best effort: a failing audit write or ``chat.update`` is logged and never undoes
the change that caused it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any, Final

from bot.blocks import message_for, title_of
from bot.models import Approval, AuditEvent, Status
from bot.ports import SlackRejected, SlackUnavailable
from bot.service.context import Deps

log = logging.getLogger(__name__)

SETTLE_ROUNDS: Final = 3  # drawings of one refresh while the approval keeps changing, at most
# After a chat.update that failed (an update Slack may still apply late), wait before drawing
# again. An update Slack applies later than that can still leave an older state on a copy.
LATE_UPDATE_SECONDS: Final = 2.0


class Recorder:
    def __init__(self, deps: Deps) -> None:
        self._deps = deps
        # bot.service.groups: draws a grouped approval's group message (True: Slack took it);
        # None for an approval in no group.
        self.on_group: Callable[[Approval], bool | None] | None = None

    def audit(
        self,
        approval: Approval,
        event: str,
        actor_id: str | None = None,
        actor_name: str | None = None,
        **detail: Any,
    ) -> None:
        """Append to the audit trail; a failing audit write never undoes a decision."""
        try:
            self._deps.store.append_audit(
                AuditEvent(
                    approval_id=approval.approval_id,
                    event=event,
                    at=self._deps.clock(),
                    actor_id=actor_id,
                    actor_name=actor_name,
                    title=title_of(approval),
                    detail={k: v for k, v in detail.items() if v is not None},
                    channel=approval.channel,
                )
            )
        except Exception as exc:  # logged; the decision stands
            log.error("audit write failed", extra={"event": event, "error": str(exc)})

    def refresh(self, approval: Approval) -> None:
        """The approval changed: redraw what shows it. The one place every change goes through
        (decisions, votes, expiry, escalation); other views of an approval hook in here. A
        finished approval whose messages Slack did not all take is listed for the sweep
        (:meth:`Store.mark_redraw`), which draws them again until they show its end."""
        shown, ok = self._redraw(approval)
        if not ok and not shown.status.is_open:
            try:
                self._deps.store.mark_redraw(shown.approval_id)
            except Exception as exc:  # best effort: logged
                log.warning("listing a failed redraw failed", extra={"error": str(exc)})
        self._deps.home_changed(approval)  # then the App Home tabs (bot.service.home)

    def redraw(self, approval: Approval) -> bool:
        """Draw every message of ``approval`` as it is (the sweep's retry): True when Slack
        took every update."""
        return self._redraw(approval)[1]

    def _redraw(self, approval: Approval) -> tuple[Approval, bool]:
        drawn_by_group = self.on_group(approval) if self.on_group is not None else None
        if drawn_by_group is None:
            return self._draw_every_copy(approval)
        # Its group message was redrawn (by the group); its own DM copies, if any, here.
        if approval.copies:  # notify both
            shown, ok = self._draw_every_copy(approval, channel=False)
            return shown, ok and drawn_by_group
        return approval, drawn_by_group

    def _draw_every_copy(
        self, approval: Approval, *, channel: bool = True
    ) -> tuple[Approval, bool]:
        """Re-render every message of the approval for its current state: the channel message
        and each direct-message copy, so no copy offers a dead button (best effort).

        Two changes at once (two votes, a vote and the decision) each redraw the messages, and
        the older state could land last. So after drawing, the approval is read again: if it
        changed, or a ``chat.update`` failed, it is drawn again (at most :data:`SETTLE_ROUNDS`
        drawings; after an update whose answer was lost, :data:`LATE_UPDATE_SECONDS` later).
        The newest change's own drawing starts after its write, so whoever drew an older state
        before that write sees the newer one here. One exception: a request being completed
        (CLAIMED) is not drawn, as its completion draws the outcome after this drawing landed.
        ``channel=False``: the DM copies only (a group message shows the request in the
        channel).
        """

        def drawn(approval: Approval) -> Approval:
            return approval if channel else replace(approval, ts=None)

        shown = drawn(approval)
        for drawing in range(1, SETTLE_ROUNDS + 1):
            failed, maybe_late = self._update_copies(shown)
            if drawing == SETTLE_ROUNDS:
                return shown, not failed
            if maybe_late:
                # Slack may still apply an update whose answer was lost (a timeout, a 5xx):
                # give it time to land before drawing over it. An update Slack answered it
                # did not apply (rate limited past the retries) needs no wait.
                time.sleep(LATE_UPDATE_SECONDS)
            try:
                current = self._deps.store.get(shown.approval_id)
            except Exception as exc:  # best effort: the drawing stands
                log.warning("re-reading after a redraw failed", extra={"error": str(exc)})
                return shown, not failed
            if not failed and message_for(current) == message_for(shown):
                return shown, True
            if not failed and current.status is Status.CLAIMED:
                # A decision is being completed: its next write (decided, or released back to
                # pending) is drawn by whoever makes it, after it, so after this drawing landed.
                return current, True
            shown = drawn(current)
        return shown, True  # pragma: no cover - the loop returns in its last round

    def _update_copies(self, approval: Approval) -> tuple[int, int]:
        """``chat.update`` of every message: how many failed for now, and how many of those
        Slack may still apply (its answer was lost). Slack refusing one (e.g. a deleted
        message) is not retried."""
        message = message_for(approval)
        failed = maybe_late = 0
        for channel, ts in approval.messages():
            try:
                self._deps.slack.update(channel, ts, message)
            except SlackUnavailable as exc:
                log.warning("chat.update failed", extra={"error": str(exc)})
                failed += 1
                maybe_late += exc.maybe_done
            except SlackRejected as exc:
                log.warning("chat.update refused", extra={"error": str(exc)})
        return failed, maybe_late

    def reply(self, approval: Approval, text: str) -> None:
        """A reply in the request's thread, in every copy (reminders, escalations; best
        effort, each)."""
        for channel, ts in approval.messages():
            try:
                self._deps.slack.post_reply(channel, ts, text)
            except (SlackUnavailable, SlackRejected) as exc:
                log.warning("thread reply failed", extra={"error": str(exc)})
