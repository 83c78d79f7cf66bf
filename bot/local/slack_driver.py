"""Slack's side of an interaction: what Slack sends to the app when a person clicks.

:class:`SlackDriver` reads the stand-in's messages, modals and ephemerals as a Slack client
would show them, and turns a person's action (click a button, submit a modal, run
``/approvals``) into a **signed** request shaped like Slack's, handed to ``send`` — the
interactions Lambda through an API Gateway v2 event in tests, an HTTP POST in the sandbox.
"""

from __future__ import annotations

import json
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bot.ids import Command
from bot.local.slack_requests import (
    app_home_opened_body,
    block_actions_body,
    home_block_actions_body,
    signed_form_headers,
    signed_json_headers,
    slash_command_body,
    view_submission_body,
)
from bot.local.slack_standin import SlackStandIn

Send = Callable[[str, dict[str, str]], "Response"]


@dataclass(frozen=True)
class Response:
    status: int
    body: str
    headers: dict[str, str]

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


class ButtonNotFound(LookupError):
    pass


def find_button(
    blocks: list[dict[str, Any]], action_id: str, value: str | None = None
) -> dict[str, Any]:
    """The first button with ``action_id`` (and ``value``, if given), with its block id."""
    for block in blocks:
        if block.get("type") != "actions":
            continue
        for element in block.get("elements", []):
            if element.get("action_id") == action_id and value in (None, element.get("value")):
                return {**element, "block_id": block.get("block_id", "")}
    raise ButtonNotFound(f"no button {action_id!r} (value {value!r})")


class SlackDriver:
    def __init__(
        self,
        standin: SlackStandIn,
        *,
        signing_secret: str,
        send: Send,
        clock: Callable[[], int] | None = None,
    ) -> None:
        self.standin = standin
        self.signing_secret = signing_secret
        self._send = send
        self._clock = clock
        self._trigger_users: dict[str, str] = {}
        self._closed_views: set[str] = set()
        self._lock = threading.Lock()

    def _trigger(self, user_id: str) -> str:
        """A fresh trigger id, remembered so the modal it opens is shown to its user."""
        trigger_id = (
            f"{secrets.randbelow(10**13)}.{secrets.randbelow(10**12)}.{secrets.token_hex(16)}"
        )
        with self._lock:
            self._trigger_users[trigger_id] = user_id
        return trigger_id

    def _post(
        self, body: str, *, timestamp: int | None = None, secret: str | None = None
    ) -> Response:
        ts = timestamp if timestamp is not None else (self._clock() if self._clock else None)
        headers = signed_form_headers(secret or self.signing_secret, body, ts)
        return self._send(body, headers)

    def _name(self, user_id: str) -> str:
        try:
            return self.standin.user_name(user_id)
        except KeyError:
            return user_id.lower()

    # --- clicks ----------------------------------------------------------------------------------

    def click(
        self,
        user_id: str,
        channel: str,
        ts: str,
        action_id: str,
        *,
        value: str | None = None,
        timestamp: int | None = None,
        secret: str | None = None,
    ) -> Response:
        """Click a button of the channel message ``ts`` (its value read from the message)."""
        message = self.standin.message(channel, ts)
        button = find_button(message.get("blocks") or [], action_id, value)
        body = block_actions_body(
            user_id=user_id,
            user_name=self._name(user_id),
            team_id=self.standin.team_id,
            channel_id=channel,
            message_ts=ts,
            action_id=action_id,
            value=button.get("value", ""),
            block_id=button["block_id"],
            trigger_id=self._trigger(user_id),
            response_url=self.standin.response_url(channel=channel, user=user_id),
            message=message,
        )
        return self._post(body, timestamp=timestamp, secret=secret)

    def click_ephemeral(
        self,
        user_id: str,
        ephemeral: dict[str, Any],
        action_id: str,
        *,
        value: str | None = None,
        response_url: str | None = None,
    ) -> Response:
        """Click a button of an ephemeral message (e.g. the ``/approvals`` list); the payload
        carries ``response_url`` if given, else a fresh one of the stand-in."""
        button = find_button(ephemeral.get("blocks") or [], action_id, value)
        body = block_actions_body(
            user_id=user_id,
            user_name=self._name(user_id),
            team_id=self.standin.team_id,
            channel_id=ephemeral["channel"],
            message_ts=ephemeral["message_ts"],
            action_id=action_id,
            value=button.get("value", ""),
            block_id=button["block_id"],
            trigger_id=self._trigger(user_id),
            is_ephemeral=True,
            response_url=response_url
            or self.standin.response_url(channel=ephemeral["channel"], user=user_id),
        )
        return self._post(body)

    def raw_click(
        self, user_id: str, channel: str, action_id: str, value: str, block_id: str = "b"
    ) -> Response:
        """A click on any button, real or forged (for refusal tests)."""
        body = block_actions_body(
            user_id=user_id,
            user_name=self._name(user_id),
            team_id=self.standin.team_id,
            channel_id=channel,
            message_ts="1700000000.000100",
            action_id=action_id,
            value=value,
            block_id=block_id,
            response_url=self.standin.response_url(channel=channel, user=user_id),
            trigger_id=self._trigger(user_id),
        )
        return self._post(body)

    # --- modals ----------------------------------------------------------------------------------

    def open_views(
        self, callback_id: str | None = None, *, user_id: str | None = None
    ) -> list[dict[str, Any]]:
        """Modals opened so far and not yet submitted or closed (optionally: one user's)."""
        with self._lock:
            owners = dict(self._trigger_users)
            closed = set(self._closed_views)
        return [
            v["view"]
            for v in self.standin.views()
            if (callback_id is None or v["view"].get("callback_id") == callback_id)
            and (user_id is None or owners.get(v.get("trigger_id") or "") == user_id)
            and v["view"].get("id") not in closed
        ]

    def close(self, view_id: str) -> None:
        with self._lock:
            self._closed_views.add(view_id)

    def submit(
        self,
        user_id: str,
        view: dict[str, Any],
        values: dict[str, dict[str, str | dict[str, Any]]],
    ) -> Response:
        """Submit a modal; ``values`` maps block id → action id → the typed text, or the
        element's whole state as Slack sends it (``{"type": "static_select",
        "selected_option": {...}}``, ``{"type": "number_input", "value": "25"}``)."""
        state = {
            block: {
                action: value
                if isinstance(value, dict)
                else {"type": "plain_text_input", "value": value}
                for action, value in actions.items()
            }
            for block, actions in values.items()
        }
        body = view_submission_body(
            user_id=user_id,
            user_name=self._name(user_id),
            team_id=self.standin.team_id,
            view=view,
            values=state,
        )
        response = self._post(body)
        errors = response.status == 200 and "response_action" in (response.body or "")
        if response.status == 200 and not errors:
            self.close(str(view.get("id")))
        return response

    # --- slash command ---------------------------------------------------------------------------

    def command(self, user_id: str, channel: str, text: str = "") -> Response:
        body = slash_command_body(
            command=Command.APPROVALS.value,
            text=text,
            user_id=user_id,
            user_name=self._name(user_id),
            channel_id=channel,
            team_id=self.standin.team_id,
            response_url=self.standin.response_url(channel=channel, user=user_id),
        )
        return self._post(body)

    # --- the App Home tab ------------------------------------------------------------------------

    def open_home(
        self,
        user_id: str,
        *,
        tab: str = "home",
        event_id: str | None = None,
        retry_num: int | None = None,
    ) -> Response:
        """The person opens the app's Home tab: Slack's signed Events API ``app_home_opened``
        (JSON). ``retry_num``: send it as Slack's retry of ``event_id`` (``x-slack-retry-num``,
        reason ``http_timeout``). The bot answers by publishing the view
        (``SlackStandIn.home_view(user_id)``)."""
        channel = self.standin.im_channel(user_id) or f"D{user_id.removeprefix('U')}"
        body = app_home_opened_body(
            user_id=user_id,
            team_id=self.standin.team_id,
            channel_id=channel,
            tab=tab,
            view=self.standin.home_view(user_id),
            event_id=event_id,
            bot_user_id=self.standin.bot_user_id,
        )
        ts = self._clock() if self._clock else None
        headers = signed_json_headers(self.signing_secret, body, ts)
        if retry_num is not None:
            headers["x-slack-retry-num"] = str(retry_num)
            headers["x-slack-retry-reason"] = "http_timeout"
        return self._send(body, headers)

    def click_home(
        self,
        user_id: str,
        action_id: str,
        *,
        value: str | None = None,
        view: dict[str, Any] | None = None,
    ) -> Response:
        """Click a button of ``user_id``'s Home tab — as last published, or ``view`` (what an
        out-of-date screen still shows) — as Slack sends it: the container is the Home view;
        no channel, no ``response_url``."""
        view = view or self.standin.home_view(user_id)
        if view is None:
            raise ButtonNotFound(f"{user_id} has no Home view")
        button = find_button(view.get("blocks") or [], action_id, value)
        body = home_block_actions_body(
            user_id=user_id,
            user_name=self._name(user_id),
            team_id=self.standin.team_id,
            view=view,
            action_id=action_id,
            value=button.get("value", ""),
            block_id=button["block_id"],
            trigger_id=self._trigger(user_id),
        )
        return self._post(body)
