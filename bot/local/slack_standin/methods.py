"""The Web API methods the stand-in serves, over a `Workspace`.

Each handler takes the call's arguments and answers Slack's JSON body, or raises `SlackError`.
They run with the stand-in's lock held.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any, Final, cast

from bot.local.slack_standin.args import (
    JsonDict,
    SlackError,
    decode_cursor,
    encode_cursor,
    flag,
    invalid_arguments,
    limit_arg,
    str_arg,
    ts_arg,
)
from bot.local.slack_standin.blockkit import parsed_blocks, parsed_metadata, parsed_view
from bot.local.slack_standin.state import Channel, Message, Workspace

MAX_MESSAGE_TEXT: Final = 40_000
RESPONSE_URL_MAX_USES: Final = 5  # Slack: up to 5 times within 30 minutes

# Methods whose successful calls change the workspace (subscribers hear about them).
MUTATING_METHODS: Final = frozenset(
    {
        "chat.postMessage",
        "chat.update",
        "chat.postEphemeral",
        "views.open",
        "views.push",
        "views.update",
        "views.publish",
        "conversations.open",
    }
)


def _kind(channel: Channel) -> str:
    """The ``types`` value of users.conversations a conversation falls under."""
    if channel.is_im:
        return "im"
    return "private_channel" if channel.is_private else "public_channel"


# Web API method → handler (a method of `Methods`).
_HANDLERS: Final = {
    "auth.test": "auth_test",
    "chat.postMessage": "chat_post_message",
    "chat.update": "chat_update",
    "chat.postEphemeral": "chat_post_ephemeral",
    "conversations.history": "conversations_history",
    "conversations.members": "conversations_members",
    "conversations.open": "conversations_open",
    "views.open": "views_open",
    "views.push": "views_push",
    "views.update": "views_update",
    "views.publish": "views_publish",
    "users.info": "users_info",
    "users.lookupByEmail": "users_lookup_by_email",
    "users.conversations": "users_conversations",
    "usergroups.users.list": "usergroups_users_list",
}
SERVED_METHODS: Final = frozenset(_HANDLERS)


class Methods:
    """The handlers, by Web API method name (`handler`)."""

    def __init__(self, workspace: Workspace) -> None:
        self.ws = workspace

    def handler(self, method: str) -> Callable[[JsonDict], JsonDict] | None:
        name = _HANDLERS.get(method)
        return None if name is None else cast("Callable[[JsonDict], JsonDict]", getattr(self, name))

    @staticmethod
    def message_text(params: Mapping[str, Any]) -> str | None:
        text = str_arg(params, "text")
        if text is not None and len(text) > MAX_MESSAGE_TEXT:
            raise SlackError("msg_too_long")
        return text

    def auth_test(self, params: JsonDict) -> JsonDict:
        return {
            "ok": True,
            "url": f"https://{self.ws.identity.team_domain}.slack.com/",
            "team": self.ws.identity.team_name,
            "user": self.ws.identity.bot_name,
            "team_id": self.ws.identity.team_id,
            "user_id": self.ws.identity.bot_user_id,
            "bot_id": self.ws.identity.bot_id,
            "is_enterprise_install": False,
        }

    def chat_post_message(self, params: JsonDict) -> JsonDict:
        channel = self.ws.post_target(params)
        text = self.message_text(params)
        blocks = parsed_blocks(params)
        if text is None and not blocks and params.get("attachments") is None:
            raise SlackError("no_text")
        metadata = parsed_metadata(params)
        thread_ts = str_arg(params, "thread_ts")
        message = Message(
            channel=channel.id,
            ts=self.ws.next_ts(),
            text=text or "",
            blocks=blocks or [],
            metadata=metadata or None,
            thread_ts=thread_ts,
            reply_broadcast=thread_ts is not None and flag(params, "reply_broadcast"),
            user=self.ws.identity.bot_user_id,
        )
        if thread_ts is not None:
            parent = self.ws.find_message(channel.id, thread_ts)
            if parent is not None:
                parent.replies.append((message.ts, message.user))
        self.ws.messages[channel.id].append(message)
        return {
            "ok": True,
            "channel": channel.id,
            "ts": message.ts,
            "message": self.ws.message_json(message, include_metadata=True),
        }

    def chat_update(self, params: JsonDict) -> JsonDict:
        channel = self.ws.channel(params)
        ts = str_arg(params, "ts")
        message = self.ws.find_message(channel.id, ts) if ts is not None else None
        if message is None:
            raise SlackError("message_not_found")
        text = self.message_text(params)
        blocks = parsed_blocks(params)
        if text is None and blocks is None and params.get("attachments") is None:
            raise SlackError("no_text")
        metadata = parsed_metadata(params)
        if text is not None:
            message.text = text
        if blocks is not None:  # an empty array removes the blocks, as in Slack
            message.blocks = blocks
        if metadata is not None:  # an empty object removes the metadata
            message.metadata = metadata or None
        message.edited = {"user": self.ws.identity.bot_user_id, "ts": self.ws.next_ts()}
        return {
            "ok": True,
            "channel": channel.id,
            "ts": message.ts,
            "text": message.text,
            "message": self.ws.message_json(message, include_metadata=True),
        }

    def chat_post_ephemeral(self, params: JsonDict) -> JsonDict:
        channel = self.ws.channel(params)
        user = str_arg(params, "user")
        if user is None or user not in self.ws.users:
            raise SlackError("user_not_found")
        if channel.members and user not in channel.members:
            raise SlackError("user_not_in_channel")
        text = self.message_text(params)
        blocks = parsed_blocks(params)
        if text is None and not blocks and params.get("attachments") is None:
            raise SlackError("no_text")
        message_ts = self.ws.next_ts()
        self.ws.ephemerals.append(
            {
                "channel": channel.id,
                "user": user,
                "message_ts": message_ts,
                "text": text or "",
                "blocks": blocks or [],
                "thread_ts": str_arg(params, "thread_ts"),
            }
        )
        return {"ok": True, "message_ts": message_ts}

    def conversations_history(self, params: JsonDict) -> JsonDict:
        channel = self.ws.channel(params)
        oldest, latest = ts_arg(params, "oldest"), ts_arg(params, "latest")
        inclusive = flag(params, "inclusive")
        limit = limit_arg(params)
        cursor = str_arg(params, "cursor")
        include_metadata = flag(params, "include_all_metadata")

        def in_window(ts: Decimal) -> bool:
            if oldest is not None and (ts < oldest or (ts == oldest and not inclusive)):
                return False
            return latest is None or ts < latest or (ts == latest and inclusive)

        selected = [
            m
            for m in reversed(self.ws.messages[channel.id])
            if m.in_history and in_window(Decimal(m.ts))
        ]
        if cursor is not None:
            start = Decimal(decode_cursor(cursor, "next_ts"))
            selected = [m for m in selected if Decimal(m.ts) <= start]
        page, rest = selected[:limit], selected[limit:]
        body: JsonDict = {
            "ok": True,
            "messages": [self.ws.message_json(m, include_metadata=include_metadata) for m in page],
            "has_more": bool(rest),
            "pin_count": 0,
            "channel_actions_ts": None,
            "channel_actions_count": 0,
        }
        for name in ("oldest", "latest"):
            if str_arg(params, name) is not None:
                body[name] = str_arg(params, name)
        body["response_metadata"] = {
            "next_cursor": encode_cursor("next_ts", rest[0].ts) if rest else ""
        }
        return body

    def conversations_members(self, params: JsonDict) -> JsonDict:
        channel = self.ws.channel(params)
        limit = limit_arg(params)
        members = channel.members
        cursor = str_arg(params, "cursor")
        if cursor is not None:
            start = decode_cursor(cursor, "user")
            if start not in members:
                raise SlackError("invalid_cursor")
            members = members[members.index(start) :]
        page, rest = members[:limit], members[limit:]
        return {
            "ok": True,
            "members": list(page),
            "response_metadata": {"next_cursor": encode_cursor("user", rest[0]) if rest else ""},
        }

    def conversations_open(self, params: JsonDict) -> JsonDict:
        """Open (or find) the bot's direct message with one user. Slack also resumes a
        conversation by ``channel`` and opens group DMs for several users; the stand-in serves
        the first two and answers ``not_enough_users``/``too_many_users`` like Slack otherwise."""
        users_arg = params.get("users")
        channel_id = str_arg(params, "channel")
        if users_arg is None:
            if channel_id is None:
                raise SlackError("users_list_not_supplied")
            channel = self.ws.channel(params)
            if not channel.is_im:
                raise SlackError("method_not_supported_for_channel_type")
        else:
            if isinstance(users_arg, list | tuple):
                users = [str(u).strip() for u in users_arg]
            else:
                users = [u.strip() for u in str(users_arg).split(",")]
            users = [u for u in users if u]
            if not users:
                raise SlackError("users_list_not_supplied")
            if len(users) > 1:
                # A group DM (mpim): not served by the stand-in.
                raise SlackError("method_not_supported_for_channel_type")
            already = users[0] in self.ws.ims
            channel = self.ws.open_im(users[0])
            if not flag(params, "return_im"):
                return {
                    "ok": True,
                    "no_op": already,
                    "already_open": already,
                    "channel": {"id": channel.id},
                }
        return {"ok": True, "no_op": True, "already_open": True, "channel": self.im_json(channel)}

    def im_json(self, channel: Channel) -> JsonDict:
        return {
            "id": channel.id,
            "created": int(time.time()),
            "is_im": True,
            "is_org_shared": False,
            "user": channel.im_user,
            "is_user_deleted": False,
            "priority": 0,
        }

    def views_publish(self, params: JsonDict) -> JsonDict:
        """Publish a user's Home tab. The view keeps its id across publishes; ``hash`` (the
        one Slack last answered) guards against publishing over a newer view."""
        user_id = str_arg(params, "user_id")
        if user_id is None or user_id not in self.ws.users:
            raise SlackError("not_found")
        view = parsed_view(params, allow_home=True)
        if view.get("type") != "home":
            raise invalid_arguments("must be home [json-pointer:/view/type]")
        current = self.ws.homes.get(user_id)
        view_hash = str_arg(params, "hash")
        if view_hash is not None and current is not None and view_hash != current["hash"]:
            raise SlackError("hash_conflict")
        stored: JsonDict = {"private_metadata": "", "callback_id": "", "external_id": ""}
        stored.update(copy.deepcopy(view))
        stored.update(
            id=current["id"] if current is not None else self.ws.next_id("V"),
            team_id=self.ws.identity.team_id,
            state={"values": {}},
            hash=f"{int(time.time())}.{self.ws.next_id('')}",
            previous_view_id=None,
            root_view_id=None,
            app_id=self.ws.identity.app_id,
            app_installed_team_id=self.ws.identity.team_id,
            bot_id=self.ws.identity.bot_id,
        )
        self.ws.homes[user_id] = stored
        return {"ok": True, "view": copy.deepcopy(stored)}

    def exchange_trigger(self, params: JsonDict) -> str:
        name = "trigger_id" if params.get("trigger_id") is not None else "interactivity_pointer"
        trigger_id = str_arg(params, name)
        if trigger_id is None:  # present (the contract saw to it) but empty
            raise invalid_arguments(f"invalid `{name}` [json-pointer:/{name}]")
        if trigger_id in self.ws.used_triggers:
            raise SlackError("exchanged_trigger_id")
        return trigger_id

    def store_view(
        self, method: str, view: JsonDict, *, trigger_id: str | None, previous: JsonDict | None
    ) -> JsonDict:
        view_id = previous["id"] if previous is not None else self.ws.next_id("V")
        stored: JsonDict = {
            "type": "modal",
            "private_metadata": "",
            "callback_id": "",
            "external_id": previous["external_id"] if previous is not None else "",
            "clear_on_close": False,
            "notify_on_close": False,
            "close": None,
            "submit": None,
        }
        # what the app sent, then the fields Slack owns (ignored if the app echoes them back)
        stored.update(copy.deepcopy(view))
        if not stored["external_id"]:
            stored["external_id"] = previous["external_id"] if previous is not None else ""
        stored.update(
            id=view_id,
            team_id=self.ws.identity.team_id,
            state={"values": {}},
            hash=f"{int(time.time())}.{self.ws.next_id('')}",
            previous_view_id=None,
            root_view_id=previous["root_view_id"] if previous is not None else view_id,
            app_id=self.ws.identity.app_id,
            app_installed_team_id=self.ws.identity.team_id,
            bot_id=self.ws.identity.bot_id,
        )
        self.ws.views[view_id] = stored
        self.ws.view_log.append(
            {
                "method": method,
                "trigger_id": trigger_id,
                "view_id": view_id,
                "view": copy.deepcopy(stored),
            }
        )
        return {"ok": True, "view": copy.deepcopy(stored)}

    def check_external_id(self, view: JsonDict, *, allowed_view_id: str | None = None) -> None:
        external_id = view.get("external_id")
        if not external_id:
            return
        for stored in self.ws.views.values():
            if stored["external_id"] == external_id and stored["id"] != allowed_view_id:
                raise SlackError("duplicate_external_id")

    def open_or_push(self, method: str, params: JsonDict) -> JsonDict:
        trigger_id = self.exchange_trigger(params)
        view = parsed_view(params)
        self.check_external_id(view)
        self.ws.used_triggers.add(trigger_id)
        return self.store_view(method, view, trigger_id=trigger_id, previous=None)

    def views_open(self, params: JsonDict) -> JsonDict:
        return self.open_or_push("views.open", params)

    def views_push(self, params: JsonDict) -> JsonDict:
        return self.open_or_push("views.push", params)

    def views_update(self, params: JsonDict) -> JsonDict:
        view_id = str_arg(params, "view_id")
        external_id = str_arg(params, "external_id")
        view = parsed_view(params, allow_home=True)
        current = self.ws.views.get(view_id) if view_id is not None else None
        if view_id is None:
            current = next(
                (v for v in self.ws.views.values() if v["external_id"] == external_id), None
            )
        if current is None:
            raise SlackError("not_found")
        view_hash = str_arg(params, "hash")
        if view_hash is not None and view_hash != current["hash"]:
            raise SlackError("hash_conflict")
        self.check_external_id(view, allowed_view_id=current["id"])
        return self.store_view("views.update", view, trigger_id=None, previous=current)

    def users_info(self, params: JsonDict) -> JsonDict:
        user_id = str_arg(params, "user")
        user = self.ws.users.get(user_id) if user_id is not None else None
        if user is None:
            raise SlackError("user_not_found")
        return {"ok": True, "user": self.ws.user_json(user, with_email=user.email_visible)}

    def users_lookup_by_email(self, params: JsonDict) -> JsonDict:
        wanted = (str_arg(params, "email") or "").strip().lower()
        for user in self.ws.users.values():
            if wanted and user.email is not None and user.email.lower() == wanted:
                return {"ok": True, "user": self.ws.user_json(user, with_email=True)}
        raise SlackError("users_not_found")

    def users_conversations(self, params: JsonDict) -> JsonDict:
        """The conversations a user is a member of (public channels by default; private ones
        only where the bot is a member too), paginated by channel id."""
        user_id = str_arg(params, "user") or self.ws.identity.bot_user_id
        if user_id not in self.ws.users:
            raise SlackError("user_not_found")
        types = {t.strip() for t in (str_arg(params, "types") or "public_channel").split(",")}
        known = {"public_channel", "private_channel", "mpim", "im"}
        if not types <= known:
            raise SlackError("invalid_types")
        found = [
            c
            for c in sorted(self.ws.channels.values(), key=lambda c: c.id)
            if _kind(c) in types
            and (user_id == self.ws.identity.bot_user_id or user_id in c.members)
            and (c.bot_member or not c.is_private)
        ]
        cursor = str_arg(params, "cursor")
        if cursor is not None:
            start = decode_cursor(cursor, "channel")
            found = [c for c in found if c.id >= start]
        limit = limit_arg(params)
        page, rest = found[:limit], found[limit:]
        return {
            "ok": True,
            "channels": [
                {
                    "id": c.id,
                    "name": c.name,
                    "is_channel": not c.is_private,
                    "is_group": c.is_private and not c.is_im,
                    "is_im": c.is_im,
                    "is_mpim": False,
                    "is_private": c.is_private,
                    "is_archived": False,
                    "is_general": False,
                }
                for c in page
            ],
            "response_metadata": {
                "next_cursor": encode_cursor("channel", rest[0].id) if rest else ""
            },
        }

    def usergroups_users_list(self, params: JsonDict) -> JsonDict:
        group_id = str_arg(params, "usergroup")
        group = self.ws.usergroups.get(group_id) if group_id is not None else None
        if group is None:
            raise SlackError("no_such_subteam")
        return {"ok": True, "users": list(group[1])}

    # response URLs ---------------------------------------------------------------------------

    def respond(self, key: str, params: JsonDict) -> tuple[int, str]:
        """What a POST to a response URL does: show (or replace, or delete) an ephemeral
        message to the user the URL was minted for. Answers (HTTP status, plain-text body)."""
        target = self.ws.response_urls.get(key)
        if target is None:
            return 404, "no_such_response_url"
        if not (params.get("text") or params.get("blocks") or params.get("delete_original")):
            return 400, "no_text"
        if target["uses"] >= RESPONSE_URL_MAX_USES:
            return 404, "used_url"
        target["uses"] += 1
        entry = {
            "channel": target["channel"],
            "user": target["user"],
            "message_ts": self.ws.next_ts(),
            "text": params.get("text") or "",
            "blocks": params.get("blocks") or [],
            "thread_ts": None,
            "response_url": key,
            "response_type": params.get("response_type", "ephemeral"),
        }
        if params.get("replace_original") or params.get("delete_original"):
            self.ws.ephemerals = [e for e in self.ws.ephemerals if e.get("response_url") != key]
        if not params.get("delete_original"):
            self.ws.ephemerals.append(entry)
        return 200, "ok"
