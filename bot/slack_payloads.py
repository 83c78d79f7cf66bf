"""What Slack sends the app, parsed once at the boundary into small typed values: the
``/approvals`` command, button clicks (a request's, a group item's, Approve all), and the modals'
state. Nothing here talks to Slack or the service."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Final, Literal

from bot.blocks import MAX_HISTORY
from bot.ids import GROUP_ITEM_SEPARATOR, Action, Input
from bot.service import FORM_CODE, FORM_COMMENT

HISTORY_DEFAULT: Final = 10
APPROVAL_ID_RE: Final = re.compile(r"^[a-z2-7]{26}$")

MAX_COMMAND_CHARS: Final = 100  # longer than any command the usage lists
_COUNT_RE: Final = re.compile(r"^[0-9]+$")  # ASCII digits only: "²" and "١٢" are not counts


@dataclass(frozen=True)
class ApprovalsCommand:
    """``/approvals [mine|all|list|history [n]|help]``, parsed once: every input is bounded and
    gets an answer (``problem`` says what was not understood)."""

    view: Literal["pending", "mine", "history", "help", "not_understood"]
    count: int = HISTORY_DEFAULT
    problem: str | None = None

    @classmethod
    def parse(cls, text: object) -> ApprovalsCommand:
        raw = text if isinstance(text, str) else ""
        if len(raw) > MAX_COMMAND_CHARS:
            return cls(
                "not_understood", problem=f"it is longer than {MAX_COMMAND_CHARS} characters"
            )
        words = raw.lower().split()
        sub, rest = (words[0], words[1:]) if words else ("", [])
        if sub == "help":
            return cls("help")
        if sub in ("", "all", "list", "mine") and not rest:
            return cls("mine" if sub == "mine" else "pending")
        if sub == "history" and len(rest) <= 1:
            if not rest:
                return cls("history")
            count = int(rest[0]) if _COUNT_RE.match(rest[0]) else 0
            if 1 <= count <= MAX_HISTORY:
                return cls("history", count=count)
            return cls(
                "not_understood", problem=f"n must be a whole number from 1 to {MAX_HISTORY}"
            )
        if sub in ("", "all", "list", "mine", "history"):
            return cls("not_understood", problem=f"`{sub}` takes no more words here")
        return cls("not_understood", problem="unknown subcommand")


class MalformedPayload(ValueError):
    """A signed request whose payload is not shaped like Slack's: answered 400, nothing done."""


def as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def user_id_of(body: dict[str, Any]) -> str:
    user = as_dict(body.get("user")).get("id") or body.get("user_id")
    if not isinstance(user, str) or not user:
        raise MalformedPayload("the payload names no user")
    return user


@dataclass(frozen=True)
class Click:
    """A button click, parsed once at the boundary."""

    approval_id: str | None  # None when the button's value is not an approval id
    user_id: str
    channel_id: str | None

    @classmethod
    def from_body(cls, body: dict[str, Any]) -> Click:
        actions = body.get("actions")
        action = as_dict(actions[0]) if isinstance(actions, list) and actions else {}
        value = action.get("value")
        approval_id = value if isinstance(value, str) and APPROVAL_ID_RE.match(value) else None
        channel = as_dict(body.get("channel")).get("id") or as_dict(body.get("container")).get(
            "channel_id"
        )
        return cls(approval_id, user_id_of(body), channel if isinstance(channel, str) else None)


def item_action(action: Action) -> re.Pattern[str]:
    """The ``action_id`` of ``action`` on any item of a group message (bot.ids.item_action)."""
    return re.compile(rf"^{re.escape(action.value)}{GROUP_ITEM_SEPARATOR}[0-9]{{1,3}}$")


GROUP_ID_RE: Final = re.compile(r"^g[a-z2-7]{26}$")  # bot.group_store.group_id_for


@dataclass(frozen=True)
class GroupClick:
    """A click on Approve all / Reject all of a group message."""

    group_id: str | None  # None when the button's value is not a group id
    user_id: str
    channel_id: str | None

    @classmethod
    def from_body(cls, body: dict[str, Any]) -> GroupClick:
        click = Click.from_body(body)
        actions = body.get("actions")
        value = (as_dict(actions[0]) if isinstance(actions, list) and actions else {}).get("value")
        group_id = value if isinstance(value, str) and GROUP_ID_RE.match(value) else None
        return cls(group_id, click.user_id, click.channel_id)


def view_state(view: dict[str, Any]) -> dict[str, Any]:
    return as_dict(as_dict(view.get("state")).get("values"))


def reason_of(view: dict[str, Any]) -> str:
    raw = as_dict(as_dict(view_state(view).get(Input.REASON_BLOCK)).get(Input.REASON_INPUT)).get(
        "value"
    )
    return raw.strip() if isinstance(raw, str) else ""


def metadata_of(view: dict[str, Any]) -> dict[str, Any]:
    raw = view.get("private_metadata")
    if not isinstance(raw, str):
        return {}
    try:
        data = json.loads(raw or "{}")
    except ValueError:
        return {}
    return as_dict(data)


def form_values(view: dict[str, Any]) -> dict[str, str | None]:
    """The approve modal's state as {input name | "comment" | "code": typed or picked text}."""
    values: dict[str, str | None] = {}
    for block_id, actions in view_state(view).items():
        element = as_dict(as_dict(actions).get(Input.VALUE))
        raw = element.get("value")
        value = raw if raw is not None else as_dict(element.get("selected_option")).get("value")
        name = str(block_id).removeprefix(Input.FIELD_PREFIX)
        values[name] = value if isinstance(value, str) else None
    return values


def form_errors(errors: dict[str, str]) -> dict[str, str]:
    """Field errors by name → Slack's ``response_action: errors`` keyed by block id."""
    special = {FORM_COMMENT: Input.COMMENT_BLOCK.value, FORM_CODE: Input.CODE_BLOCK.value}
    return {special.get(name, f"{Input.FIELD_PREFIX.value}{name}"): e for name, e in errors.items()}


def from_home(body: dict[str, Any]) -> bool:
    """A click on the App Home tab: its container is the Home view, there is no channel and
    Slack sends no ``response_url`` (so no ``respond``): answered on the Home view itself."""
    return as_dict(body.get("view")).get("type") == "home"
