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
    APPROVE_ALL = "group.approve_all"  # value: the group id (bot.group_store.group_id_for)
    REJECT_ALL = "group.reject_all"  # opens the reject-all modal (one reason for all)


class Modal(StrEnum):
    """``callback_id`` of modals."""

    REJECT = "approval.reject_modal"
    APPROVE = "approval.approve_modal"
    REJECT_ALL = "group.reject_all_modal"


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

GROUP_ITEMS_BLOCK_PREFIX = "group_items:"
"""``block_id`` prefix of a group message's per-item buttons; the first item's number follows."""

GROUP_ALL_BLOCK_ID = "group_all"
"""``block_id`` of a group message's Approve all / Reject all buttons."""

GROUP_ITEM_SEPARATOR = ":"
"""A group message's per-item buttons: ``action_id`` is ``<Action>:<item number>`` (Slack wants
action ids unique within a block; five items share one actions block)."""


def item_action(action: Action, number: int) -> str:
    """The ``action_id`` of item ``number``'s ``action`` button in a group message."""
    return f"{action.value}{GROUP_ITEM_SEPARATOR}{number}"
