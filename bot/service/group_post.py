"""Posting a grouped request (:mod:`bot.service.groups`), after it is stored as POSTING:

1. join the group (:class:`~bot.group_store.GroupStore`: a set, at most
   :data:`~bot.group_store.MAX_GROUP_ITEMS` members; a full part sends the request to the next
   part, a continuation message);
2. make sure the group's message exists, exactly once across crashes: a posting lease, and
   after a crashed attempt a look for the earlier post by its metadata (as for a single
   request). Another delivery posting it right now is waited for, briefly, then retried later;
3. the message redrawn (a request still POSTING shows as waiting; when Slack does not take
   the update, the delivery is retried);
4. the approval POSTING → PENDING with the group message's channel and ts.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Final

from bot.group_blocks import group_message
from bot.group_store import Group, GroupBegin, GroupFull
from bot.models import Approval, ApprovalRequest, InvalidApprovalRequest
from bot.ports import Groups as GroupsPort
from bot.ports import SlackRejected, SlackUnavailable
from bot.service.context import Deps
from bot.service.group_draw import MAX_GROUP_PARTS, GroupDrawer
from bot.service.invalid import invalid_after_store
from bot.service.record import Recorder
from bot.service.results import RequestOutcome, RetryLater
from bot.store import StateConflict

log = logging.getLogger(__name__)

WAIT_FOR_POST_ROUNDS: Final = 20
WAIT_FOR_POST_SECONDS: Final = 0.25  # 20 x 0.25 s: another delivery is posting the message


class GroupPoster:
    def __init__(
        self,
        deps: Deps,
        groups: GroupsPort,
        record: Recorder,
        drawer: GroupDrawer,
        *,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._deps = deps
        self._groups = groups
        self._record = record
        self._drawer = drawer
        self._sleep = sleep

    def submit(self, request: ApprovalRequest, shown: Approval, lease_owner: str) -> RequestOutcome:
        """Post a grouped request: join its group, make sure the group message exists, mark
        the approval PENDING on that message, redraw it."""
        deps = self._deps
        key = request.spec.group
        assert key is not None
        group = self._join(request, key)
        try:
            where = self._ensure_posted(group, request.channel)
        except SlackRejected as exc:
            hint = " (invite the bot to the channel)" if exc.error == "not_in_channel" else ""
            reason = f"Slack refused the message in {request.channel}: {exc.error}{hint}"
            return invalid_after_store(deps, request, reason)
        except RetryLater:
            deps.store.release_lease(request.approval_id, lease_owner=lease_owner)
            raise
        channel, ts = where
        # Drawn before the approval leaves POSTING (it shows as waiting either way): when Slack
        # does not take the update, the delivery is retried and draws again.
        if not self._drawer.redraw(group.group_id):
            deps.store.release_lease(request.approval_id, lease_owner=lease_owner)
            raise RetryLater("drawing the group message failed, will retry")
        now = deps.clock()
        try:
            posted = deps.store.mark_posted(
                request.approval_id,
                lease_owner=lease_owner,
                channel=channel,
                ts=ts,
                now=now,
                requester_id=shown.requester_id,
                eligible_approvers=shown.eligible_approvers,
            )
        except StateConflict as conflict:  # it left POSTING meanwhile (it expired)
            if conflict.current.ts is None:
                deps.store.attach_message(request.approval_id, channel=channel, ts=ts, now=now)
            posted = replace(conflict.current, channel=channel, ts=ts)
            self._drawer.redraw(group.group_id)
        self._record.audit(
            posted, "posted", requester=request.spec.requester, channel=channel, group=key
        )
        deps.home_changed(posted)  # App Home tabs of those who may decide it (bot.service.home)
        return RequestOutcome.POSTED

    def _join(self, request: ApprovalRequest, key: str) -> Group:
        for part in range(MAX_GROUP_PARTS):
            try:
                return self._groups.join(
                    request.channel, key, part, request.approval_id, now=self._deps.clock()
                )
            except GroupFull:
                continue
        raise InvalidApprovalRequest(  # pragma: no cover - 5,000 requests in one group
            f"approval.group {key!r} holds too many requests"
        )

    def _ensure_posted(self, group: Group, channel: str) -> tuple[str, str]:
        """The group message's (channel, ts), posting it if nobody has: exactly once."""
        deps, store = self._deps, self._groups
        for _ in range(WAIT_FOR_POST_ROUNDS):
            if group.ts is not None and group.message_channel is not None:
                return group.message_channel, group.ts
            posting = store.begin_post(
                group.group_id, now=deps.clock(), lease_seconds=deps.policy.post_lease_seconds
            )
            if posting.outcome is GroupBegin.POSTED:
                group = posting.group
                continue
            if posting.outcome is GroupBegin.BUSY:
                self._sleep(WAIT_FOR_POST_SECONDS)
                group = store.get(group.group_id) or group
                continue
            owner = posting.lease_owner
            assert owner is not None
            if posting.outcome is GroupBegin.RESUME:
                found = self._find_earlier_post(group, channel, owner, posting.group)
                if found is not None:
                    store.mark_posted(group.group_id, lease_owner=owner, channel=channel, ts=found)
                    return channel, found
            current = store.get(group.group_id) or group
            message = group_message(current, store.approvals(current.members))
            try:
                posted_channel, ts = deps.slack.post(channel, message, approval_id=group.group_id)
            except SlackRejected:
                store.release_lease(group.group_id, lease_owner=owner)
                raise
            except SlackUnavailable as exc:
                if not exc.maybe_done:
                    store.release_lease(group.group_id, lease_owner=owner)
                raise RetryLater(f"posting the group message failed, will retry: {exc}") from None
            store.mark_posted(group.group_id, lease_owner=owner, channel=posted_channel, ts=ts)
            log.info("group message posted", extra={"group_id": group.group_id, "ts": ts})
            return posted_channel, ts
        raise RetryLater(f"group message {group.group_id} is being posted by another delivery")

    def _find_earlier_post(
        self, group: Group, channel: str, owner: str, before: Group
    ) -> str | None:
        since = before.post_started_at or group.created_at
        try:
            return self._deps.slack.find_post(channel, group.group_id, since=since)
        except SlackRejected:
            return None
        except SlackUnavailable as exc:
            self._groups.release_lease(group.group_id, lease_owner=owner)
            raise RetryLater(f"cannot check for an earlier group message: {exc}") from None
