"""What every change leaves behind: a line in the audit trail and every copy of the message
redrawn (the channel message and each direct-message copy).

Both are best effort: a failing audit write or ``chat.update`` is logged and never undoes
the change that caused it.
"""

from __future__ import annotations

import logging
from typing import Any, Final

from bot.blocks import message_for, title_of
from bot.models import Approval, AuditEvent
from bot.ports import SlackRejected, SlackUnavailable
from bot.service.context import Deps

log = logging.getLogger(__name__)

SETTLE_ROUNDS: Final = 3  # redraws of one refresh while the approval keeps changing, at most


class Recorder:
    def __init__(self, deps: Deps) -> None:
        self._deps = deps

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
        """Re-render every message of the approval for its current state: the channel message
        and each direct-message copy, so no copy offers a dead button (best effort, each).

        With direct-message copies, two changes at once (two votes, a vote and the decision)
        each redraw several messages one after another, and the older state could land last
        on some of them. So after drawing, the approval is read again: if it changed, it is
        drawn again (at most :data:`SETTLE_ROUNDS` times). The last change's own drawing starts
        after its write, so whoever drew an older state before sees the newer one here.
        """
        shown = approval
        for _ in range(SETTLE_ROUNDS):
            self._update_copies(shown)
            if not shown.copies:
                return  # one message: a single chat.update per change, as before
            try:
                current = self._deps.store.get(shown.approval_id)
            except Exception as exc:  # best effort: the drawing stands
                log.warning("re-reading after a redraw failed", extra={"error": str(exc)})
                return
            if message_for(current) == message_for(shown):
                return
            shown = current

    def _update_copies(self, approval: Approval) -> None:
        message = message_for(approval)
        for channel, ts in approval.messages():
            try:
                self._deps.slack.update(channel, ts, message)
            except (SlackUnavailable, SlackRejected) as exc:
                log.warning("chat.update failed", extra={"error": str(exc)})

    def reply(self, approval: Approval, text: str) -> None:
        """A reply in the request's thread, in every copy (reminders, escalations; best
        effort, each)."""
        for channel, ts in approval.messages():
            try:
                self._deps.slack.post_reply(channel, ts, text)
            except (SlackUnavailable, SlackRejected) as exc:
                log.warning("thread reply failed", extra={"error": str(exc)})
