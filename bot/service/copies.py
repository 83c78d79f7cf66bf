"""Direct-message copies of a request (``approval.notify``: ``dm`` or ``both``).

**Who gets one.** The request's approvers (user ids, and the members of user groups), else
the bot's ``DEFAULT_APPROVERS``; escalation targets once it is escalated. Left out: the
requester (unless ``ALLOW_SELF_APPROVAL``), bots and deactivated users (as remembered
``users.info`` answers say). At most :data:`MAX_DM_COPIES`, in the order the request names
them. Nobody left is an :class:`InvalidApprovalRequest`.

**Exactly once per copy.** Copies are posted while the delivery holds the POSTING lease, and
each is recorded (``Store.record_copy``, conditional on the lease owner) right after Slack
answered. A delivery that resumes a crashed attempt skips the recorded copies and, for the
others, first looks in the bot's IM with that person for a message with this approval's
metadata (``conversations.history``) before posting again.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from bot.blocks import message_for
from bot.models import (
    MAX_DM_COPIES,
    USERGROUP_ID_RE,
    Approval,
    ApprovalSpec,
    InvalidApprovalRequest,
    MessageCopy,
    Status,
)
from bot.ports import SlackRejected, SlackUnavailable
from bot.service.context import Deps
from bot.store import StateConflict

log = logging.getLogger(__name__)


class CopiesAbandoned(RuntimeError):
    """Posting the copies stopped; retry later. ``release``: nothing may be in flight, so the
    lease can be given up at once."""

    def __init__(self, message: str, *, release: bool) -> None:
        super().__init__(message)
        self.release = release


@dataclass(frozen=True)
class Recipients:
    users: tuple[str, ...]
    capped: bool  # more people qualified than MAX_DM_COPIES


class CopyPoster:
    def __init__(self, deps: Deps) -> None:
        self._deps = deps

    # --- who --------------------------------------------------------------------------------------

    def recipients(self, spec: ApprovalSpec, requester_id: str | None) -> Recipients:
        """Who gets a direct message. Raises :class:`InvalidApprovalRequest` when nobody does,
        :class:`SlackUnavailable` when a user group's members could not be read."""
        policy = self._deps.policy
        named = spec.approvers or policy.default_approvers
        if not named:
            raise InvalidApprovalRequest(
                f"approval.notify is {spec.notify!r}, but the request names no approvers "
                "(approval.approvers) and the bot has no DEFAULT_APPROVERS: nobody to send "
                "a direct message to"
            )
        excluded: set[str] = set()
        if not policy.allow_self_approval:
            excluded = {who for who in (requester_id, spec.requester) if who}
        users, capped = self._people(named, excluded)
        if not users:
            raise InvalidApprovalRequest(
                f"approval.notify is {spec.notify!r}, but none of the approvers can get a "
                "direct message (the requester, bots and deactivated users are left out)"
            )
        return Recipients(users, capped)

    def escalation_targets(self, approval: Approval) -> tuple[str, ...]:
        """Who gets a copy once ``approval`` is escalated: ``escalate_to`` (groups expanded),
        without those who have one, within :data:`MAX_DM_COPIES` in all (best effort)."""
        excluded = {c.user for c in approval.copies}
        if approval.requester and not self._deps.policy.allow_self_approval:
            excluded.add(approval.requester)
        try:
            users, _ = self._people(approval.spec.escalate_to, excluded)
        except SlackUnavailable as exc:
            log.warning("escalation targets unknown", extra={"error": str(exc)})
            return ()
        return users[: max(0, MAX_DM_COPIES - len(approval.copies))]

    def _people(self, named: tuple[str, ...], excluded: set[str]) -> tuple[tuple[str, ...], bool]:
        slack = self._deps.slack
        candidates: list[str] = []
        for who in named:
            if USERGROUP_ID_RE.match(who):
                try:
                    candidates.extend(sorted(slack.usergroup_members(who, fresh=False)))
                except SlackRejected:
                    continue  # no such group: nobody approves through it
            else:
                candidates.append(who)
        users: list[str] = []
        for user in dict.fromkeys(candidates):
            if user in excluded or not self._active_human(user):
                continue
            if len(users) == MAX_DM_COPIES:
                return tuple(users), True
            users.append(user)
        return tuple(users), False

    def _active_human(self, user: str) -> bool:
        try:
            info = self._deps.slack.user_info(user, fresh=False)
        except SlackRejected:
            return False  # no such user
        except SlackUnavailable:
            return True  # not known now: the click is checked anyway
        return not (info.is_bot or info.deleted)

    # --- posting ----------------------------------------------------------------------------------

    def post_all(
        self,
        approval: Approval,
        users: tuple[str, ...],
        *,
        lease_owner: str,
        resumed_since: datetime | None,
    ) -> Approval:
        """Post a copy to each of ``users`` who has none recorded; returns the approval with
        every copy recorded. ``resumed_since``: an earlier attempt may have posted some copies
        without recording them (look for them first)."""
        current = approval
        for user in users:
            if current.copy_for(user) is not None:
                continue
            found = self._find(current, user, resumed_since, lease_owner)
            if found is None:
                found = self._post(current, user)
                if found is None:
                    continue
            current = self._record(current, found, lease_owner)
            if current.status is not Status.POSTING:
                break  # it expired meanwhile: no more copies of it
        return current

    def post_later(self, approval: Approval, users: tuple[str, ...]) -> Approval:
        """Copies for people who join after it was posted (escalation targets): best effort,
        recorded without a lease."""
        current = approval
        for user in users:
            if current.copy_for(user) is not None:
                continue
            try:
                channel, ts = self._deps.slack.post_dm(
                    user, message_for(current), approval_id=current.approval_id
                )
                current = self._deps.store.record_copy(
                    current.approval_id, MessageCopy(user, channel, ts), lease_owner=None
                )
            except (SlackRejected, SlackUnavailable, StateConflict) as exc:
                log.warning("direct-message copy failed", extra={"error": str(exc)})
        return current

    def _find(
        self, approval: Approval, user: str, since: datetime | None, lease_owner: str
    ) -> MessageCopy | None:
        if since is None:
            return None
        slack = self._deps.slack
        try:
            channel = slack.open_dm(user)
            ts = slack.find_post(channel, approval.approval_id, since=since)
        except SlackRejected:
            return None  # no IM with that person can exist: nothing was posted
        except SlackUnavailable as exc:
            raise CopiesAbandoned(
                f"cannot check for an earlier copy: {exc}", release=True
            ) from None
        return None if ts is None else MessageCopy(user, channel, ts)

    def _post(self, approval: Approval, user: str) -> MessageCopy | None:
        try:
            channel, ts = self._deps.slack.post_dm(
                user, message_for(approval), approval_id=approval.approval_id
            )
        except SlackRejected as exc:
            log.warning("direct-message copy refused", extra={"error": exc.error})
            return None  # this person cannot get it (e.g. no such user): the others still do
        except SlackUnavailable as exc:
            raise CopiesAbandoned(
                f"posting a copy failed, will retry: {exc}", release=not exc.maybe_done
            ) from None
        return MessageCopy(user, channel, ts)

    def _record(self, approval: Approval, copy: MessageCopy, lease_owner: str) -> Approval:
        store = self._deps.store
        try:
            return store.record_copy(approval.approval_id, copy, lease_owner=lease_owner)
        except StateConflict as conflict:
            if conflict.current.status is Status.POSTING:
                # Another delivery took the lease over: it looks for this copy before posting.
                raise CopiesAbandoned("the posting lease was taken over", release=False) from None
            # It left POSTING meanwhile (it expired): keep the copy and show the state in it.
            recorded = store.record_copy(approval.approval_id, copy, lease_owner=None)
            try:
                self._deps.slack.update(copy.channel, copy.ts, message_for(recorded))
            except (SlackRejected, SlackUnavailable) as exc:
                log.warning("chat.update failed", extra={"error": str(exc)})
            return recorded
