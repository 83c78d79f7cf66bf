"""The workspace a stand-in serves: channels, users, user groups, messages, ephemeral messages,
views and response URLs, and the JSON shapes Slack answers them in.

Not thread-safe on its own: the stand-in holds its lock around every use.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.local.slack_standin.args import JsonDict, SlackError, str_arg


@dataclass(frozen=True)
class Identity:
    """Who the app and its workspace are (auth.test, message authors, view owners)."""

    bot_user_id: str
    bot_id: str
    app_id: str
    bot_name: str
    team_id: str
    team_name: str
    team_domain: str


@dataclass
class Channel:
    id: str
    name: str
    members: list[str]
    is_private: bool = False
    bot_member: bool = True  # private channels are visible to the bot only when it is a member
    im_user: str | None = None  # a direct message (D…): the bot's IM with this user

    @property
    def is_im(self) -> bool:
        return self.im_user is not None


@dataclass
class User:
    id: str
    name: str
    real_name: str
    email: str | None
    is_bot: bool
    has_2fa: bool
    tz: str
    deleted: bool
    email_visible: bool = True  # False: users.info leaves the e-mail out (scope, settings)


@dataclass
class Message:
    channel: str
    ts: str
    text: str
    blocks: list[JsonDict]
    metadata: JsonDict | None
    thread_ts: str | None
    reply_broadcast: bool
    user: str
    edited: JsonDict | None = None
    replies: list[tuple[str, str]] = field(default_factory=list)  # (ts, user) of thread replies

    @property
    def in_history(self) -> bool:
        """Parents and broadcast replies are channel history; plain thread replies are not."""
        return self.thread_ts is None or self.thread_ts == self.ts or self.reply_broadcast

    def observed(self) -> JsonDict:
        return copy.deepcopy(
            {
                "channel": self.channel,
                "ts": self.ts,
                "text": self.text,
                "blocks": self.blocks,
                "metadata": self.metadata,
                "thread_ts": self.thread_ts,
                "reply_broadcast": self.reply_broadcast,
                "user": self.user,
                "edited": self.edited,
            }
        )


def tz_fields(tz: str) -> tuple[str, int]:
    """(tz_label, tz_offset in seconds) for an IANA time zone; ("UTC", 0) if unknown here."""
    try:
        zone = ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return "UTC", 0
    local = datetime.now(zone)
    offset = local.utcoffset()
    return local.tzname() or tz, int(offset.total_seconds()) if offset else 0


class Workspace:
    """The state behind the Web API methods."""

    def __init__(self, identity: Identity) -> None:
        self.identity = identity
        self.channels: dict[str, Channel] = {}
        self.users: dict[str, User] = {}
        self.usergroups: dict[str, tuple[str, list[str]]] = {}
        self.messages: dict[str, list[Message]] = {}
        self.ephemerals: list[JsonDict] = []
        self.views: dict[str, JsonDict] = {}
        self.ims: dict[str, str] = {}  # user id → the D… id of the bot's IM with them
        self.homes: dict[str, JsonDict] = {}  # user id → their published Home view
        self.view_log: list[JsonDict] = []
        self.used_triggers: set[str] = set()
        self.response_urls: dict[str, dict[str, Any]] = {}
        self._last_ts_micros = 0
        self._counter = 0

    def next_ts(self) -> str:
        micros = max(int(time.time() * 1_000_000), self._last_ts_micros + 1)
        self._last_ts_micros = micros
        return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"

    def next_id(self, prefix: str) -> str:
        self._counter += 1
        return f"{prefix}{self._counter:08d}"

    def channel(self, params: Mapping[str, Any]) -> Channel:
        """The channel named by ``channel``: an id, or a name with or without '#'."""
        value = str_arg(params, "channel")
        if value is None:
            raise SlackError("channel_not_found")
        if value in self.channels:
            return self.channels[value]
        name = value.lstrip("#")
        for channel in self.channels.values():
            if channel.name == name:
                return channel
        raise SlackError("channel_not_found")

    def open_im(self, user_id: str) -> Channel:
        """The bot's direct message with a user, opened on first use (same id after)."""
        user = self.users.get(user_id)
        if user is None:
            raise SlackError("user_not_found")
        if user.deleted:
            raise SlackError("user_disabled")
        channel_id = self.ims.get(user_id)
        if channel_id is None:
            channel_id = self.next_id("D")
            self.ims[user_id] = channel_id
            self.channels[channel_id] = Channel(
                channel_id,
                channel_id,
                [user_id, self.identity.bot_user_id],
                is_private=True,
                im_user=user_id,
            )
            self.messages[channel_id] = []
        return self.channels[channel_id]

    def post_target(self, params: Mapping[str, Any]) -> Channel:
        """chat.postMessage's ``channel``: a conversation, or a user id, which Slack takes as
        the bot's direct message with that user (the app's Messages tab)."""
        value = str_arg(params, "channel")
        if value is not None and value not in self.channels and value in self.users:
            return self.open_im(value)
        return self.channel(params)

    def find_message(self, channel: str, ts: str) -> Message | None:
        for message in self.messages.get(channel, ()):
            if message.ts == ts:
                return message
        return None

    def message_json(self, message: Message, *, include_metadata: bool) -> JsonDict:
        body: JsonDict = {
            "type": "message",
            "user": message.user,
            "bot_id": self.identity.bot_id,
            "app_id": self.identity.app_id,
            "text": message.text,
            "ts": message.ts,
            "team": self.identity.team_id,
            "bot_profile": {
                "id": self.identity.bot_id,
                "app_id": self.identity.app_id,
                "name": self.identity.bot_name,
                "team_id": self.identity.team_id,
                "deleted": False,
            },
        }
        if message.blocks:
            body["blocks"] = message.blocks
        if message.thread_ts is not None:
            body["thread_ts"] = message.thread_ts
            if message.reply_broadcast:
                body["subtype"] = "thread_broadcast"
        if message.replies:
            users = list(dict.fromkeys(user for _, user in message.replies))
            body.update(
                thread_ts=message.ts,
                reply_count=len(message.replies),
                reply_users_count=len(users),
                reply_users=users,
                latest_reply=message.replies[-1][0],
                is_locked=False,
                subscribed=False,
            )
        if message.edited is not None:
            body["edited"] = message.edited
        if include_metadata and message.metadata:
            body["metadata"] = message.metadata
        return copy.deepcopy(body)

    def user_json(self, user: User, *, with_email: bool) -> JsonDict:
        tz_label, tz_offset = tz_fields(user.tz)
        profile: JsonDict = {
            "real_name": user.real_name,
            "real_name_normalized": user.real_name,
            "display_name": user.name,
            "display_name_normalized": user.name,
            "team": self.identity.team_id,
        }
        if user.email is not None and with_email:
            profile["email"] = user.email
        if user.is_bot and user.id == self.identity.bot_user_id:
            profile["bot_id"] = self.identity.bot_id
        return {
            "id": user.id,
            "team_id": self.identity.team_id,
            "name": user.name,
            "deleted": user.deleted,
            "real_name": user.real_name,
            "tz": user.tz,
            "tz_label": tz_label,
            "tz_offset": tz_offset,
            "profile": profile,
            "is_admin": False,
            "is_owner": False,
            "is_primary_owner": False,
            "is_restricted": False,
            "is_ultra_restricted": False,
            "is_bot": user.is_bot,
            "is_app_user": False,
            "has_2fa": user.has_2fa,
            "updated": int(time.time()),
        }
