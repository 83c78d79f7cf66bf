"""Who may decide a request, and who may see it: the one place that says it.

**May decide** (a click; the check before a modal opens):

* an active human: not a deactivated account, not a bot;
* not the requester, unless ``ALLOW_SELF_APPROVAL`` — compared by Slack user id: the
  requester's id is resolved when the request is posted (an e-mail through
  ``users.lookupByEmail``), so it holds when Slack hides the clicker's e-mail;
* for ``risk: high``, not someone whose Slack profile says two-factor authentication is off;
* one of the approvers: ``approval.approvers`` (user ids, members of user groups), else the
  bot's ``DEFAULT_APPROVERS``, plus ``escalate_to`` once escalated; with none of them, any
  member of the request's channel.

**May see** (``/approvals``, ``/approvals mine``, "Show more"): whoever may see the request's
channel, or may decide the request. *May see the channel* means: Slack lists the channel among
the reader's channels (``users.conversations`` for the reader: public and private channels
the bot shares, archived ones left out). That holds for private and public channels alike, so
a workspace member who never joined a public channel, or a guest not invited to it, is not
shown its requests (unless they may decide them).

**Fresh or remembered.** A decision, and the check before a modal opens, asks Slack anew
(``fresh``): a deactivation, or a removal from a group or channel, applies to the next click.
Listings, and counting who could approve when a request is posted (a note on the message,
never a permission), may use answers remembered for up to a minute.

**Fail closed.** What Slack does not answer is never assumed: a decision is refused with
"Slack did not tell…", a listing does not show what it cannot vouch for.

**Bounded.** Membership costs O(the reader's channels), never O(a channel's members): one
``users.conversations`` read per command or decision, at most ``MEMBERSHIP_MAX_PAGES`` pages.
A listing asks about at most :data:`LISTING_MAX_GROUPS` user groups.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from bot.blocks import mention
from bot.models import (
    EMAIL_RE,
    USER_ID_RE,
    USERGROUP_ID_RE,
    Approval,
    ApprovalRequest,
    InvalidApprovalRequest,
    people,
)
from bot.ports import Memberships, Slack, SlackRejected, SlackUnavailable, UserInfo
from bot.service.context import Deps

LISTING_MAX_GROUPS: Final = 5  # user groups one listing asks Slack about, at most

NOT_TOLD_REQUESTER: Final = (
    "Slack did not tell whether you requested this approval, so nothing changed. Try again."
)
NOT_TOLD_APPROVER: Final = (
    "Slack did not tell whether you are an approver, so nothing changed. Try again."
)


class Directory:
    """Slack's directory as one decision or one listing sees it.

    Each question is asked at most once. ``fresh``: asked anew (decisions); otherwise a recent
    answer may do (listings). ``max_groups``: how many user groups it asks about at most;
    beyond that a group's members are unknown. ``lookups``: whether it may resolve an e-mail.
    Failures are remembered as unknown (``None``) and noted in :attr:`unanswered`.
    """

    def __init__(
        self,
        slack: Slack,
        *,
        fresh: bool,
        max_groups: int | None = None,
        lookups: bool = True,
    ) -> None:
        self._slack = slack
        self._fresh = fresh
        self._max_groups = max_groups
        self._lookups = lookups
        self._groups: dict[str, frozenset[str] | None] = {}
        self._channels: dict[str, Memberships | None] = {}
        self._emails: dict[str, str | None] = {}
        self.unanswered = False  # Slack failed to answer something asked

    def user(self, user_id: str) -> UserInfo:
        """``users.info`` (raises :class:`SlackRejected` / :class:`SlackUnavailable`)."""
        return self._slack.user_info(user_id, fresh=self._fresh)

    def member_of(self, user_id: str, channel: str) -> bool | None:
        if user_id not in self._channels:
            try:
                self._channels[user_id] = self._slack.user_channels(user_id, fresh=self._fresh)
            except (SlackUnavailable, SlackRejected):
                self._channels[user_id] = None
                self.unanswered = True
        memberships = self._channels[user_id]
        return None if memberships is None else memberships.member_of(channel)

    def in_group(self, user_id: str, group: str) -> bool | None:
        if group not in self._groups:
            if self._max_groups is not None and len(self._groups) >= self._max_groups:
                return None
            try:
                self._groups[group] = self._slack.usergroup_members(group, fresh=self._fresh)
            except (SlackUnavailable, SlackRejected):
                self._groups[group] = None
                self.unanswered = True
        members = self._groups[group]
        return None if members is None else user_id in members

    def user_with_email(self, email: str) -> str | None:
        """The user id of ``email`` ("" when nobody has it; None when unknown)."""
        if not self._lookups:
            return None
        if email not in self._emails:
            try:
                self._emails[email] = self._slack.lookup_email(email) or ""
            except (SlackUnavailable, SlackRejected):
                self._emails[email] = None
                self.unanswered = True
        return self._emails[email]


@dataclass(frozen=True)
class Audience:
    """Who asked and who can answer, resolved when a request is posted."""

    requester_id: str | None  # the requester's user id (an e-mail resolved)
    eligible_approvers: int | None  # how many could approve, when fewer than it needs


class AccessPolicy:
    def __init__(self, deps: Deps) -> None:
        self._deps = deps

    # --- when a request is posted --------------------------------------------------------------

    def audience(self, request: ApprovalRequest) -> Audience:
        """Resolve the requester to a user id, and check that enough people could approve.

        Raises :class:`InvalidApprovalRequest` when the requester's e-mail belongs to nobody in
        the workspace, or when the approvers are people named by id (no user groups) and fewer
        of them than ``required_approvals`` may approve (the requester does not count). With
        user groups, too few members is not final (groups grow): it is returned, and the
        message says so. Raises :class:`SlackUnavailable` when Slack did not answer the
        e-mail lookup: try again later.
        """
        requester_id = self._requester_id(request)
        return Audience(requester_id, self._eligible(request, requester_id))

    def _requester_id(self, request: ApprovalRequest) -> str | None:
        requester = request.spec.requester
        if requester is None or USER_ID_RE.match(requester):
            return requester
        try:
            found = self._deps.slack.lookup_email(requester)
        except SlackRejected as exc:
            raise InvalidApprovalRequest(
                f"approval.requester {requester}: Slack refused to look it up ({exc.error})"
            ) from None
        if found is None:
            raise InvalidApprovalRequest(
                f"approval.requester {requester} is no user of this Slack workspace "
                "(users.lookupByEmail found nobody with that e-mail)"
            )
        return found

    def _eligible(self, request: ApprovalRequest, requester_id: str | None) -> int | None:
        """How many people could approve, when fewer than needed and groups may still grow."""
        spec, policy = request.spec, self._deps.policy
        base = spec.approvers or policy.default_approvers
        if not base:
            return None  # any member of the channel: not counted (the channel may grow)
        named = tuple(dict.fromkeys(base + spec.escalate_to))
        groups = [p for p in named if USERGROUP_ID_RE.match(p)]
        everyone = {p for p in named if not USERGROUP_ID_RE.match(p)}
        for group in groups:
            try:
                # Remembered answers do: this only counts (the message notes a shortfall); who
                # may decide is asked anew at each click. Asking anew for every request met
                # usergroups.users.list's Tier 2 limit (20 a minute) under load.
                everyone |= self._deps.slack.usergroup_members(group, fresh=False)
            except SlackRejected:
                continue  # no such group: nobody approves through it
            except SlackUnavailable:
                return None  # not known now; the request is posted without a note
        excluded = {requester_id} if requester_id and not policy.allow_self_approval else set()
        eligible = len(everyone - excluded)
        if eligible >= spec.required_approvals:
            return None
        if groups:
            return eligible
        if excluded & everyone:
            reason = (
                f"only {people(eligible)} other than the requester can approve it "
                "(approval.requester never approves their own request)"
            )
        else:
            source = "approval.approvers" if spec.approvers else "the bot's DEFAULT_APPROVERS"
            reason = f"only {people(eligible)} can approve it ({source})"
        raise InvalidApprovalRequest(
            f"approval.required_approvals is {spec.required_approvals}, but {reason}: "
            "it could never be approved"
        )

    def for_decision(self) -> Directory:
        """Fresh answers, every group the request names, e-mails resolved."""
        return Directory(self._deps.slack, fresh=True)

    def for_listing(self) -> Directory:
        """Remembered answers may do; a bounded number of groups; no e-mail lookups."""
        return Directory(
            self._deps.slack, fresh=False, max_groups=LISTING_MAX_GROUPS, lookups=False
        )

    # --- may decide ----------------------------------------------------------------------------

    def refusal(self, approval: Approval, user: UserInfo, directory: Directory) -> str | None:
        """Why ``user`` may not decide ``approval`` — or None if they may."""
        if user.deleted or user.is_bot:
            return "Only active human users can decide approvals."
        if not self._deps.policy.allow_self_approval:
            requested = self._is_requester(approval, user, directory)
            if requested is None:
                return NOT_TOLD_REQUESTER
            if requested:
                return "You requested this approval, so someone else has to decide it."
        if approval.spec.risk == "high" and user.has_2fa is False:
            return (
                "This is a high-risk request: only people with two-factor authentication "
                "turned on in Slack can decide it."
            )
        approver = self._is_approver(approval, user.id, directory)
        if approver is None:
            return NOT_TOLD_APPROVER
        if approver:
            return None
        approvers = approval.approvers(self._deps.policy.default_approvers)
        if not approvers:
            return f"Only members of <#{approval.channel}> can decide this request."
        return f"Only {', '.join(mention(a) for a in approvers)} can decide this request."

    def _is_requester(
        self, approval: Approval, user: UserInfo, directory: Directory
    ) -> bool | None:
        requester = approval.spec.requester
        if not requester:
            return False
        ids = {approval.requester_id} if approval.requester_id else set()
        if USER_ID_RE.match(requester):
            ids.add(requester)
        if user.id in ids:
            return True
        by_email = EMAIL_RE.match(requester) is not None
        if by_email and user.email is not None and user.email.lower() == requester.lower():
            return True
        if ids or not by_email:
            return False
        # An e-mail requester whose id was not resolved when it was posted (an older record).
        found = directory.user_with_email(requester)
        return None if found is None else found == user.id

    def _is_approver(self, approval: Approval, user_id: str, directory: Directory) -> bool | None:
        """True, False, or None when Slack did not say."""
        approvers = approval.approvers(self._deps.policy.default_approvers)
        if not approvers:
            return directory.member_of(user_id, approval.channel)
        if user_id in approvers:
            return True
        unknown = False
        for group in (a for a in approvers if USERGROUP_ID_RE.match(a)):
            member = directory.in_group(user_id, group)
            if member:
                return True
            unknown = unknown or member is None
        return None if unknown else False

    # --- may see -------------------------------------------------------------------------------

    def may_see(self, approval: Approval, reader_id: str, directory: Directory) -> bool:
        """Whether a listing may show ``approval`` to ``reader_id``: they may see its channel
        (they are a member) or may decide it. Unknown answers hide it."""
        if directory.member_of(reader_id, approval.channel):
            return True
        return self._is_approver(approval, reader_id, directory) is True
