"""Slack Web API gateway: the few calls the service makes, with Slack's errors classified.

* :class:`SlackRejected` — Slack refused the request itself (unknown channel, bot not in the
  channel, blocks Slack won't take). Retrying cannot help; the request's author must fix it.
* :class:`SlackUnavailable` — anything else (5xx, timeouts, still rate limited after
  ``RateLimitErrorRetryHandler`` honoured ``Retry-After``, a revoked token): retry later.

The ``WebClient`` is built by the handlers (``bot.wiring``) and passed in.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime
from typing import Any, Final, cast

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from bot.blocks import Message, metadata_for
from bot.ids import METADATA_EVENT_TYPE
from bot.ports import Memberships, SlackRejected, SlackUnavailable, UserInfo

__all__ = ["Memberships", "SlackGateway", "SlackRejected", "SlackUnavailable", "UserInfo"]

# Errors that mean "this can never work as it is": retrying cannot help.
REJECTED_ERRORS: Final = frozenset(
    {
        "channel_not_found",
        "not_in_channel",
        "is_archived",
        "invalid_blocks",
        "invalid_blocks_format",
        "msg_too_long",
        "no_text",
        "invalid_metadata_format",
        "invalid_metadata_schema",
        "metadata_too_large",
        "restricted_action",
        "restricted_action_read_only_channel",
        "restricted_action_thread_only_channel",
        "restricted_action_non_threadable_channel",
        "team_access_not_granted",
        "ekm_access_denied",
        "user_not_found",
        "users_not_found",
        "user_not_visible",
        "no_such_subteam",
        "cannot_dm_bot",
        "user_disabled",
    }
)

HISTORY_PAGE_SIZE: Final = 100
HISTORY_MAX_PAGES: Final = 10
HISTORY_LOOKBACK_SECONDS: Final = 120
# users.conversations: Slack's largest page, and how many pages one read may take. A user in
# more channels than that gets an incomplete answer, and the bot does not guess beyond it.
MEMBERSHIP_PAGE_SIZE: Final = 999
MEMBERSHIP_MAX_PAGES: Final = 3
MAX_CACHE_ITEMS: Final = 10_000


def _error(exc: SlackApiError) -> str:
    data = exc.response.data if exc.response is not None else None
    return str(data.get("error", "unknown_error")) if isinstance(data, dict) else "unknown_error"


class _TtlCache:
    """A small time-bounded cache: directory lookups (users, groups, members) change rarely,
    and a warm Lambda answers repeated clicks without calling Slack again."""

    def __init__(self, ttl_seconds: float) -> None:
        self._ttl = ttl_seconds
        self._items: dict[tuple[str, str], tuple[float, Any]] = {}
        self._lock = threading.Lock()

    def get(self, key: tuple[str, str]) -> Any | None:
        with self._lock:
            hit = self._items.get(key)
            if hit is None or time.monotonic() - hit[0] > self._ttl:
                return None
            return hit[1]

    def put(self, key: tuple[str, str], value: Any) -> None:
        with self._lock:
            if len(self._items) > MAX_CACHE_ITEMS:
                self._items.clear()
            self._items[key] = (time.monotonic(), value)


class SlackGateway:
    def __init__(self, client: WebClient, *, directory_ttl_seconds: float = 60.0) -> None:
        self._client = client
        self._cache = _TtlCache(directory_ttl_seconds)

    def _call(self, method: str, *, get: bool = False, **kwargs: Any) -> dict[str, Any]:
        """One Web API call; reads use GET with query parameters, writes POST JSON."""
        try:
            if get:
                params = {k: v for k, v in kwargs.items() if v is not None}
                response = self._client.api_call(method, http_verb="GET", params=params)
            else:
                response = self._client.api_call(method, json=kwargs)
        except SlackApiError as exc:
            error = _error(exc)
            if error in REJECTED_ERRORS:
                raise SlackRejected(method, error) from None
            status = exc.response.status_code if exc.response is not None else "?"
            server_side = exc.response is None or exc.response.status_code >= 500
            raise SlackUnavailable(
                f"{method}: {error} (HTTP {status})", maybe_done=server_side
            ) from None
        except (SlackClientError, OSError) as exc:  # timeouts, refused connections
            raise SlackUnavailable(f"{method}: {type(exc).__name__}", maybe_done=True) from None
        return dict(response.data) if isinstance(response.data, dict) else {}

    # --- messages --------------------------------------------------------------------------------

    def post(self, channel: str, message: Message, *, approval_id: str) -> tuple[str, str]:
        """``chat.postMessage`` with metadata naming the approval; returns (channel id, ts)."""
        data = self._call(
            "chat.postMessage",
            channel=channel,
            text=message.text,
            blocks=message.blocks,
            metadata=metadata_for(approval_id),
            unfurl_links=False,
            unfurl_media=False,
        )
        return str(data["channel"]), str(data["ts"])

    def update(self, channel: str, ts: str, message: Message) -> None:
        self._call("chat.update", channel=channel, ts=ts, text=message.text, blocks=message.blocks)

    def find_post(self, channel: str, approval_id: str, *, since: datetime) -> str | None:
        """The ts of an earlier post of this approval in ``channel``, found by its metadata.

        Used after a crash between ``chat.postMessage`` and saving its ts. Bounded: at most
        ``HISTORY_MAX_PAGES`` pages of history since shortly before the first attempt.
        """
        oldest = f"{since.timestamp() - HISTORY_LOOKBACK_SECONDS:.6f}"
        cursor: str | None = None
        for _ in range(HISTORY_MAX_PAGES):
            data = self._call(
                "conversations.history",
                get=True,
                channel=channel,
                oldest=oldest,
                limit=HISTORY_PAGE_SIZE,
                include_all_metadata="true",
                cursor=cursor,
            )
            for message in data.get("messages", []):
                metadata = message.get("metadata") or {}
                payload = metadata.get("event_payload") or {}
                if (
                    metadata.get("event_type") == METADATA_EVENT_TYPE
                    and payload.get("approval_id") == approval_id
                ):
                    return str(message["ts"])
            cursor = (data.get("response_metadata") or {}).get("next_cursor") or None
            if not cursor:
                return None
        return None

    def open_dm(self, user_id: str) -> str:
        """The bot's IM channel (D…) with ``user_id`` (``conversations.open``, remembered)."""
        cached = self._remembered(("im", user_id), False, str)
        if cached is not None:
            return cast("str", cached)
        data = self._call("conversations.open", users=user_id)
        channel = str((data.get("channel") or {})["id"])
        self._cache.put(("im", user_id), channel)
        return channel

    def post_dm(self, user_id: str, message: Message, *, approval_id: str) -> tuple[str, str]:
        """A direct message to ``user_id``: ``chat.postMessage`` with the user id as the
        channel posts into the bot's IM with them (no ``conversations.open`` first)."""
        channel, ts = self.post(user_id, message, approval_id=approval_id)
        self._cache.put(("im", user_id), channel)
        return channel, ts

    def post_reply(self, channel: str, thread_ts: str, text: str) -> None:
        """A reply in the request's thread (reminders, escalations)."""
        self._call("chat.postMessage", channel=channel, thread_ts=thread_ts, text=text)

    def post_ephemeral(self, channel: str, user: str, text: str) -> None:
        self._call("chat.postEphemeral", channel=channel, user=user, text=text)

    # --- the App Home tab ------------------------------------------------------------------------

    def publish_home(self, user_id: str, view: dict[str, Any]) -> None:
        """``views.publish``: ``user_id``'s Home tab shows ``view`` (no scope needed)."""
        self._call("views.publish", user_id=user_id, view=view)

    # --- people ----------------------------------------------------------------------------------

    def _remembered(self, key: tuple[str, str], fresh: bool, kind: type) -> Any | None:
        """A recent answer for ``key`` (None when ``fresh`` is asked for, or none is known)."""
        if fresh:
            return None
        cached = self._cache.get(key)
        return cached if isinstance(cached, kind) else None

    def user_info(self, user_id: str, *, fresh: bool = False) -> UserInfo:
        cached = self._remembered(("user", user_id), fresh, UserInfo)
        if cached is not None:
            return cast("UserInfo", cached)
        user = self._call("users.info", get=True, user=user_id).get("user", {})
        profile = user.get("profile") or {}
        name = (
            profile.get("display_name")
            or profile.get("real_name")
            or user.get("real_name")
            or user.get("name")
            or user_id
        )
        info = UserInfo(
            id=user_id,
            name=str(name),
            email=profile.get("email"),
            is_bot=bool(user.get("is_bot")),
            deleted=bool(user.get("deleted")),
            has_2fa=user.get("has_2fa"),
        )
        self._cache.put(("user", user_id), info)
        return info

    def usergroup_members(self, group_id: str, *, fresh: bool = False) -> frozenset[str]:
        cached = self._remembered(("group", group_id), fresh, frozenset)
        if cached is not None:
            return cast("frozenset[str]", cached)
        data = self._call("usergroups.users.list", get=True, usergroup=group_id)
        members = frozenset(str(u) for u in data.get("users", []))
        self._cache.put(("group", group_id), members)
        return members

    def user_channels(self, user_id: str, *, fresh: bool = False) -> Memberships:
        """The channels ``user_id`` is in (``users.conversations``: O(the user's channels), at
        most ``MEMBERSHIP_MAX_PAGES`` calls), never the members of a channel (O(the channel))."""
        cached = self._remembered(("channels", user_id), fresh, Memberships)
        if cached is not None:
            return cast("Memberships", cached)
        channels: set[str] = set()
        cursor: str | None = None
        complete = False
        for _ in range(MEMBERSHIP_MAX_PAGES):
            data = self._call(
                "users.conversations",
                get=True,
                user=user_id,
                types="public_channel,private_channel",
                exclude_archived="true",
                limit=MEMBERSHIP_PAGE_SIZE,
                cursor=cursor,
            )
            for channel in data.get("channels") or []:
                if isinstance(channel, dict) and isinstance(channel.get("id"), str):
                    channels.add(channel["id"])
            cursor = (data.get("response_metadata") or {}).get("next_cursor") or None
            if not cursor:
                complete = True
                break
        result = Memberships(frozenset(channels), complete)
        self._cache.put(("channels", user_id), result)
        return result

    def lookup_email(self, email: str) -> str | None:
        """The user id of the workspace member with this e-mail (``users.lookupByEmail``),
        or None when there is none. Always asked anew."""
        try:
            data = self._call("users.lookupByEmail", get=True, email=email)
        except SlackRejected as exc:
            if exc.error == "users_not_found":
                return None
            raise
        user_id = (data.get("user") or {}).get("id")
        return str(user_id) if user_id else None
