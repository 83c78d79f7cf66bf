"""What every use case shares: the ports, the bot's policy settings and the clock."""

from __future__ import annotations

from dataclasses import dataclass

from bot.ports import Clock, Slack, Store, Workflow


@dataclass(frozen=True)
class Policy:
    """The bot's settings that steer the use cases (from ``bot.config.Settings``)."""

    default_channel: str | None = None
    default_approvers: tuple[str, ...] = ()
    allow_self_approval: bool = False
    post_lease_seconds: int = 120


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
