"""The sentences the bot says to people: private answers and thread replies (mrkdwn)."""

from __future__ import annotations

from datetime import datetime

from bot.blocks import mention, slack_date
from bot.durations import humanize
from bot.models import Approval, Decision, Status
from bot.mrkdwn import plain


def vote_recorded(approval: Approval, vote: Decision) -> str:
    verb = "approval" if vote.outcome == "approved" else "rejection"
    have = len(approval.votes_for(vote.outcome))
    return (
        f"Your {verb} is recorded: {have} of {approval.spec.required_approvals} so far. "
        "The request is decided when enough people agree."
    )


def already_voted(approval: Approval, vote: Decision) -> str:
    verb = "approved" if vote.outcome == "approved" else "rejected"
    have = len(approval.votes_for("approved"))
    return (
        f"You already {verb} this request ({have} of {approval.spec.required_approvals} "
        "approvals so far); each person counts once."
    )


def reminder_text(approval: Approval, defaults: tuple[str, ...], now: datetime) -> str:
    waiting = humanize(now - approval.created_at)
    who = ", ".join(mention(a) for a in approval.approvers(defaults)) or "approvers"
    return f":alarm_clock: Reminder: still waiting for a decision after {waiting} — {who}"


def escalation_text(approval: Approval, now: datetime) -> str:
    waiting = humanize(now - approval.created_at)
    who = ", ".join(mention(a) for a in approval.spec.escalate_to)
    return (
        f":rotating_light: Escalated to {who}: no decision after {waiting}. You can decide it now."
    )


def describe_decision(approval: Approval) -> str:
    """ "<@U…> approved it at …" for a refusal message."""
    decision = approval.decision
    if approval.status is Status.EXPIRED:
        reason = f" ({plain(approval.status_reason)})" if approval.status_reason else ""
        return f"This request has expired{reason}."
    if approval.status is Status.ERROR:
        reason = plain(approval.status_reason) if approval.status_reason else "unknown error"
        return f"This request could not be completed: {reason}."
    if approval.status is Status.INVALID:
        return "This request was invalid and has been failed."
    if decision is None:
        return f"This request is {approval.status.lower()}."
    verb = "approved" if decision.outcome == "approved" else "rejected"
    if approval.status is Status.CLAIMED:
        verb = "is approving" if decision.outcome == "approved" else "is rejecting"
        return f"<@{decision.actor.id}> {verb} it right now."
    return f"<@{decision.actor.id}> already {verb} it {slack_date(decision.decided_at)}."
