"""What every change leaves behind: a line in the audit trail and the channel message redrawn.

Both are best effort: a failing audit write or ``chat.update`` is logged and never undoes
the change that caused it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from bot.blocks import message_for, title_of
from bot.models import Approval, AuditEvent
from bot.ports import SlackRejected, SlackUnavailable
from bot.service.context import Deps

log = logging.getLogger(__name__)


class Recorder:
    def __init__(self, deps: Deps) -> None:
        self._deps = deps
        self.on_group: Callable[[Approval], bool] | None = None  # bot.service.groups

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
        """Re-render the channel message for the approval's current state (best effort)."""
        if self.on_group is not None and self.on_group(approval):
            self._deps.home_changed(approval)  # its group message was redrawn; then Home tabs
            return
        if approval.ts is None:
            return
        try:
            self._deps.slack.update(approval.channel, approval.ts, message_for(approval))
        except (SlackUnavailable, SlackRejected) as exc:
            log.warning("chat.update failed", extra={"error": str(exc)})
        self._deps.home_changed(approval)  # then the App Home tabs (bot.service.home)

    def reply(self, approval: Approval, text: str) -> None:
        """A reply in the request's thread (reminders, escalations; best effort)."""
        if approval.ts is None:
            return
        try:
            self._deps.slack.post_reply(approval.channel, approval.ts, text)
        except (SlackUnavailable, SlackRejected) as exc:
            log.warning("thread reply failed", extra={"error": str(exc)})
