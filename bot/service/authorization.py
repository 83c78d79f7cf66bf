"""Who may decide a request.

Who may decide: ``approval.approvers`` (users and user groups); otherwise the bot's
``DEFAULT_APPROVERS``; with neither, any member of the request's channel. The requester
never decides their own request unless ``ALLOW_SELF_APPROVAL`` is on.
"""

from __future__ import annotations

from bot.blocks import mention
from bot.models import USERGROUP_ID_RE, Approval
from bot.ports import SlackRejected, SlackUnavailable, UserInfo
from bot.service.context import Deps


class AccessPolicy:
    def __init__(self, deps: Deps) -> None:
        self._deps = deps

    def refusal(self, approval: Approval, user: UserInfo) -> str | None:
        """Why ``user`` may not decide ``approval`` — or None if they may."""
        if user.deleted or user.is_bot:
            return "Only active human users can decide approvals."
        requester = approval.spec.requester
        if requester and not self._deps.policy.allow_self_approval:
            mine = requester == user.id or (
                user.email is not None and requester.lower() == user.email.lower()
            )
            if mine:
                return "You requested this approval, so someone else has to decide it."
        if approval.spec.risk == "high" and user.has_2fa is False:
            return (
                "This is a high-risk request: only people with two-factor authentication "
                "turned on in Slack can decide it."
            )
        try:
            return self._not_an_approver(approval, user)
        except (SlackUnavailable, SlackRejected):
            return "Slack did not tell whether you are an approver, so nothing changed. Try again."

    def _not_an_approver(self, approval: Approval, user: UserInfo) -> str | None:
        slack = self._deps.slack
        approvers = approval.approvers(self._deps.policy.default_approvers)
        if not approvers:
            if user.id in slack.channel_members(approval.channel):
                return None
            return f"Only members of <#{approval.channel}> can decide this request."
        if user.id in approvers:
            return None
        for group in (a for a in approvers if USERGROUP_ID_RE.match(a)):
            if user.id in slack.usergroup_members(group):
                return None
        return f"Only {', '.join(mention(a) for a in approvers)} can decide this request."
