"""What every use case shares: the ports, the bot's policy settings and the clock."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from bot.models import Approval
from bot.ports import Clock, Slack, Store, Workflow


@dataclass(frozen=True)
class Policy:
    """The bot's settings that steer the use cases (from ``bot.config.Settings``)."""

    default_channel: str | None = None
    default_approvers: tuple[str, ...] = ()
    allow_self_approval: bool = False
    post_lease_seconds: int = 120


def _no_home(approval: Approval) -> None:
    """No App Home refresh (a service built without :class:`bot.ports.HomeVisits`)."""


@dataclass
class Deps:
    """The ports one :class:`~bot.service.ApprovalService` and its use cases share.

    Mutable only so that a test can move the clock of a running service.
    """

    store: Store
    workflow: Workflow
    slack: Slack
    policy: Policy
    clock: Clock
    # The App Home tab's refresh (bot.service.home.HomeTab.changed), told of every change.
    home_changed: Callable[[Approval], None] = _no_home
