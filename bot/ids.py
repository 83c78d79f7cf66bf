"""Every identifier Slack echoes back to the bot, in one place.

Renderers (``bot.blocks``) put these into messages and modals; listeners (``bot.slack_app``)
match on them. Changing a value here changes both sides at once.
"""

from __future__ import annotations

from enum import StrEnum


class Action(StrEnum):
    """``action_id`` of interactive elements."""

    APPROVE = "approval.approve"
    APPROVE_FORM = "approval.approve_form"  # opens the approve modal (inputs, comment, code)
    REJECT = "approval.reject"
    MORE_PENDING = "approvals.more"


class Modal(StrEnum):
    """``callback_id`` of modals."""

    REJECT = "approval.reject_modal"
    APPROVE = "approval.approve_modal"


class Input(StrEnum):
    """``block_id`` / ``action_id`` of modal inputs."""

    REASON_BLOCK = "reason"
    REASON_INPUT = "reason_input"
    VALUE = "value"  # action id of every approve-modal input
    FIELD_PREFIX = "input:"  # block id of approval.inputs fields: "input:<name>"
    COMMENT_BLOCK = "comment"
    CODE_BLOCK = "code"


class Event(StrEnum):
    """Events API event types the app subscribes to (the manifest's ``bot_events``)."""

    APP_HOME_OPENED = "app_home_opened"


class Command(StrEnum):
    """Slash commands."""

    APPROVALS = "/approvals"


METADATA_EVENT_TYPE = "sfn_approval_request"
"""``metadata.event_type`` of every request message (used to find a message again after a crash)."""

ACTIONS_BLOCK_PREFIX = "approval_actions:"
"""``block_id`` prefix of the Approve/Reject actions block; the approval id follows."""
