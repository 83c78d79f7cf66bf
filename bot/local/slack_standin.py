"""A local stand-in for the Slack Web API.

`SlackStandIn` is a small HTTP server on 127.0.0.1 that answers the Web API methods this bot uses
with the response shapes and error codes of the real Slack API, so that an unmodified
``slack_sdk.WebClient(base_url=standin.url, token=...)`` can talk to it::

    with SlackStandIn(bot_token="xoxb-test") as slack:
        slack.add_channel("C0APPROVALS", "approvals")
        client = WebClient(base_url=slack.url, token="xoxb-test")
        client.chat_postMessage(channel="C0APPROVALS", text="hello")
        assert slack.messages("C0APPROVALS")[0]["text"] == "hello"

Requests may carry JSON bodies, form-encoded bodies or query strings (``slack_sdk`` uses all
three); the token is taken from ``Authorization: Bearer ...`` or, as Slack also allows, from a
``token`` argument.
Every call is recorded (`SlackStandIn.calls`), faults can be injected (`Fault`: HTTP 429 with
``Retry-After``, 5xx, Slack error codes, slow answers, "done but the answer was lost"), and the
workspace state (messages, ephemeral messages, modal views) can be observed and subscribed to.

Answered methods: ``auth.test``, ``chat.postMessage``, ``chat.update``, ``chat.postEphemeral``,
``conversations.history``, ``conversations.members``, ``views.open``, ``views.push``,
``views.update``, ``users.info``, ``users.lookupByEmail``, ``users.conversations``,
``usergroups.users.list``. Any other method answers
``{"ok": false, "error": "unknown_method"}``.

Validation follows Slack's documented limits where they matter to an app: at most 50 blocks in a
message (100 in a modal), section text up to 3000 characters, section fields up to 10 x 2000,
header text up to 150, button text up to 75 and button value up to 2000 characters, block_id and
action_id up to 255, message text up to 40000 characters, modal title/submit/close up to 24,
private_metadata up to 3000. Block errors are reported like Slack does, e.g.
``{"ok": false, "error": "invalid_blocks", "errors": ["must be less than 3001 characters
[json-pointer:/blocks/0/text/text]"], "response_metadata": {"messages": ["[ERROR] ..."]}}``.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import copy
import json
import logging
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Final
from urllib.parse import parse_qsl, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = ["Fault", "RecordedCall", "SlackStandIn"]

logger = logging.getLogger(__name__)

JsonDict = dict[str, Any]
Subscriber = Callable[[str, JsonDict], None]

MAX_MESSAGE_BLOCKS: Final = 50
MAX_VIEW_BLOCKS: Final = 100
MAX_MESSAGE_TEXT: Final = 40_000
MAX_VIEW_BYTES: Final = 250_000
DEFAULT_PAGE_LIMIT: Final = 100
MAX_PAGE_LIMIT: Final = 999

RESPONSE_PATH: Final = "/response/"
RESPONSE_URL_MAX_USES: Final = 5  # Slack: up to 5 times within 30 minutes

_MUTATING_METHODS: Final = frozenset(
    {
        "chat.postMessage",
        "chat.update",
        "chat.postEphemeral",
        "views.open",
        "views.push",
        "views.update",
    }
)
_BLOCK_TYPES: Final = frozenset(
    {
        "actions",
        "context",
        "context_actions",
        "divider",
        "file",
        "header",
        "image",
        "input",
        "markdown",
        "rich_text",
        "section",
        "table",
        "video",
    }
)
_TRUE_STRINGS: Final = frozenset({"1", "true", "yes", "on"})


# --------------------------------------------------------------------------------------------
# Public value types
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RecordedCall:
    """One Web API call as the stand-in saw and answered it.

    Attributes:
        method: the Web API method, e.g. ``"chat.postMessage"``.
        params: the arguments as sent (query string, form or JSON body merged; ``token`` removed).
            Form-encoded JSON arguments such as ``blocks`` stay strings, exactly as on the wire.
        status: the HTTP status of the answer.
        response: the JSON body of the answer.
        at: ``time.monotonic()`` when the request arrived.
    """

    method: str
    params: dict[str, Any]
    status: int
    response: dict[str, Any]
    at: float


@dataclass(frozen=True)
class Fault:
    """What to do to the next matching call(s); see `SlackStandIn.inject`.

    Attributes:
        status: HTTP status of the answer. ``429`` answers ``{"ok": false, "error": "ratelimited"}``
            with a ``Retry-After`` header; any other 4xx/5xx answers ``{"ok": false, "error": ...}``
            (``internal_error`` for 5xx unless `error` says otherwise).
        retry_after: seconds sent in ``Retry-After`` with a 429.
        error: a Slack error code (e.g. ``"channel_not_found"``) answered with HTTP 200 and
            ``ok: false`` (or used as the error of a 4xx/5xx answer).
        delay: seconds to wait before answering, e.g. to make a client time out. A fault with
            only a delay (status 200, no error) slows the call down and then handles it normally.
        after: perform the call first (store the message, open the view, ...) and only then answer
            with the fault: models "the call took effect but its answer was lost".
    """

    status: int = 200
    retry_after: int = 1
    error: str | None = None
    delay: float = 0.0
    after: bool = False

    def __post_init__(self) -> None:
        if self.status != 200 and not 400 <= self.status <= 599:
            raise ValueError(f"Fault.status must be 200 or 4xx/5xx, not {self.status}")
        if self.retry_after < 0:
            raise ValueError("Fault.retry_after must not be negative")
        if self.delay < 0:
            raise ValueError("Fault.delay must not be negative")
        if self.error is not None and not self.error:
            raise ValueError("Fault.error must be a non-empty error code or None")

    @property
    def replaces_answer(self) -> bool:
        """True when the fault answers instead of the normal handling (not a mere delay)."""
        return self.status != 200 or self.error is not None

    def answer(self) -> tuple[int, dict[str, str], JsonDict]:
        """The HTTP status, extra headers and JSON body this fault answers with."""
        headers: dict[str, str] = {}
        if self.status == 429:
            headers["Retry-After"] = str(self.retry_after)
            error = self.error or "ratelimited"
        elif self.status >= 500:
            error = self.error or "internal_error"
        elif self.status >= 400:
            error = self.error or "invalid_request"
        else:
            error = self.error or "fatal_error"
        return self.status, headers, {"ok": False, "error": error}


# --------------------------------------------------------------------------------------------
# Errors, argument parsing
# --------------------------------------------------------------------------------------------


class _SlackError(Exception):
    """A Slack ``{"ok": false, "error": ...}`` answer raised from a method handler."""

    def __init__(self, error: str, *, messages: Iterable[str] = (), errors: bool = False) -> None:
        super().__init__(error)
        self.error = error
        self.messages = list(messages)
        self.with_errors = errors

    def body(self) -> JsonDict:
        body: JsonDict = {"ok": False, "error": self.error}
        if self.with_errors:
            body["errors"] = list(self.messages)
        if self.messages:
            body["response_metadata"] = {"messages": [f"[ERROR] {m}" for m in self.messages]}
        return body


def _invalid_arguments(*messages: str) -> _SlackError:
    return _SlackError("invalid_arguments", messages=messages)


def _str_arg(params: Mapping[str, Any], name: str) -> str | None:
    """A scalar argument as a string; None when absent or empty."""
    value = params.get(name)
    if value is None or isinstance(value, dict | list):
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value)
    return text or None


def _flag(params: Mapping[str, Any], name: str) -> bool:
    """A boolean argument: JSON true, or "true"/"1" from a query string or form."""
    value = params.get(name)
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return value != 0
    return isinstance(value, str) and value.strip().lower() in _TRUE_STRINGS


def _json_arg(params: Mapping[str, Any], name: str) -> Any:
    """An argument that is JSON in a JSON body or a JSON-encoded string in a form.

    Raises ValueError when a string does not parse.
    """
    value = params.get(name)
    if isinstance(value, str):
        return json.loads(value) if value.strip() else None
    return value


def _limit_arg(params: Mapping[str, Any]) -> int:
    raw = params.get("limit")
    if raw is None or raw == "":
        return DEFAULT_PAGE_LIMIT
    try:
        limit = int(raw)
    except (TypeError, ValueError):
        raise _SlackError("invalid_limit") from None
    if limit < 0:
        raise _SlackError("invalid_limit")
    return DEFAULT_PAGE_LIMIT if limit == 0 else min(limit, MAX_PAGE_LIMIT)


def _ts_arg(params: Mapping[str, Any], name: str) -> Decimal | None:
    raw = _str_arg(params, name)
    if raw is None:
        return None
    try:
        value = Decimal(raw)
    except InvalidOperation:
        raise _SlackError(f"invalid_ts_{name}") from None
    if not value.is_finite() or value < 0:
        raise _SlackError(f"invalid_ts_{name}")
    return value


def _encode_cursor(kind: str, value: str) -> str:
    return base64.b64encode(f"{kind}:{value}".encode()).decode("ascii")


def _decode_cursor(cursor: str, kind: str) -> str:
    try:
        decoded = base64.b64decode(cursor.encode("ascii"), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeError, ValueError):
        raise _SlackError("invalid_cursor") from None
    prefix = f"{kind}:"
    if not decoded.startswith(prefix) or len(decoded) == len(prefix):
        raise _SlackError("invalid_cursor")
    return decoded[len(prefix) :]


# --------------------------------------------------------------------------------------------
# Block Kit validation (the limits an app runs into; not a full schema)
# --------------------------------------------------------------------------------------------


class _BlockChecker:
    """Collects Slack-style error strings ("<what> [json-pointer:/path]") for blocks and views."""

    def __init__(self) -> None:
        self.errors: list[str] = []

    def fail(self, pointer: str, message: str) -> None:
        self.errors.append(f"{message} [json-pointer:{pointer}]")

    # text objects and strings ------------------------------------------------------------

    def string(self, value: Any, pointer: str, *, max_len: int, required: bool = True) -> None:
        if value is None and not required:
            return
        if not isinstance(value, str):
            self.fail(pointer, "must be a string")
        elif len(value) > max_len:
            self.fail(pointer, f"must be less than {max_len + 1} characters")

    def text(
        self,
        obj: Any,
        pointer: str,
        *,
        max_len: int,
        plain_only: bool = False,
        required: bool = True,
    ) -> None:
        if obj is None and not required:
            return
        if not isinstance(obj, dict):
            self.fail(pointer, "must be a text object")
            return
        allowed = ("plain_text",) if plain_only else ("plain_text", "mrkdwn")
        if obj.get("type") not in allowed:
            self.fail(f"{pointer}/type", f"must be one of {', '.join(allowed)}")
        text = obj.get("text")
        if not isinstance(text, str):
            self.fail(f"{pointer}/text", "must be a string")
        elif not text:
            self.fail(f"{pointer}/text", "must be more than 0 characters")
        elif len(text) > max_len:
            self.fail(f"{pointer}/text", f"must be less than {max_len + 1} characters")

    # elements ----------------------------------------------------------------------------

    def element(self, element: Any, pointer: str, action_ids: set[str]) -> None:
        if not isinstance(element, dict) or not isinstance(element.get("type"), str):
            self.fail(pointer, "must be an object with a string 'type'")
            return
        action_id = element.get("action_id")
        if action_id is not None:
            if not isinstance(action_id, str) or not action_id or len(action_id) > 255:
                self.fail(f"{pointer}/action_id", "must be a string of 1 to 255 characters")
            elif action_id in action_ids:
                self.fail(f"{pointer}/action_id", f"duplicate action_id '{action_id}'")
            else:
                action_ids.add(action_id)
        if element["type"] == "button":
            self.text(element.get("text"), f"{pointer}/text", max_len=75, plain_only=True)
            self.string(element.get("value"), f"{pointer}/value", max_len=2000, required=False)
            self.string(element.get("url"), f"{pointer}/url", max_len=3000, required=False)
            style = element.get("style")
            if style is not None and style not in ("primary", "danger"):
                self.fail(f"{pointer}/style", "must be one of primary, danger")

    def elements(self, elements: Any, pointer: str, *, max_items: int) -> None:
        if not isinstance(elements, list) or not elements:
            self.fail(pointer, "must be a non-empty array")
            return
        if len(elements) > max_items:
            self.fail(pointer, f"no more than {max_items} items allowed")
        action_ids: set[str] = set()
        for index, element in enumerate(elements):
            self.element(element, f"{pointer}/{index}", action_ids)

    # blocks ------------------------------------------------------------------------------

    def blocks(self, blocks: Any, pointer: str, *, max_blocks: int) -> None:
        if not isinstance(blocks, list):
            self.fail(pointer, "must be an array")
            return
        if len(blocks) > max_blocks:
            self.fail(pointer, f"no more than {max_blocks} items allowed")
        block_ids: set[str] = set()
        for index, block in enumerate(blocks):
            self.block(block, f"{pointer}/{index}", block_ids)

    def block(self, block: Any, pointer: str, block_ids: set[str]) -> None:
        if not isinstance(block, dict) or not isinstance(block.get("type"), str):
            self.fail(pointer, "must be an object with a string 'type'")
            return
        block_type = block["type"]
        if block_type not in _BLOCK_TYPES:
            self.fail(f"{pointer}/type", f"unsupported type '{block_type}'")
            return
        block_id = block.get("block_id")
        if block_id is not None:
            if not isinstance(block_id, str) or not block_id or len(block_id) > 255:
                self.fail(f"{pointer}/block_id", "must be a string of 1 to 255 characters")
            elif block_id in block_ids:
                self.fail(f"{pointer}/block_id", f"duplicate block_id '{block_id}'")
            else:
                block_ids.add(block_id)
        checks: dict[str, Callable[[JsonDict, str], None]] = {
            "section": self._section,
            "header": self._header,
            "actions": self._actions,
            "context": self._context,
            "input": self._input,
            "image": self._image,
        }
        check = checks.get(block_type)
        if check is not None:
            check(block, pointer)

    def _section(self, block: JsonDict, pointer: str) -> None:
        text, fields = block.get("text"), block.get("fields")
        if text is None and fields is None:
            self.fail(pointer, "must provide either text or fields")
        self.text(text, f"{pointer}/text", max_len=3000, required=False)
        if fields is not None:
            if not isinstance(fields, list) or not fields:
                self.fail(f"{pointer}/fields", "must be a non-empty array")
            else:
                if len(fields) > 10:
                    self.fail(f"{pointer}/fields", "no more than 10 items allowed")
                for index, item in enumerate(fields):
                    self.text(item, f"{pointer}/fields/{index}", max_len=2000)
        if block.get("accessory") is not None:
            self.element(block["accessory"], f"{pointer}/accessory", set())

    def _header(self, block: JsonDict, pointer: str) -> None:
        self.text(block.get("text"), f"{pointer}/text", max_len=150, plain_only=True)

    def _actions(self, block: JsonDict, pointer: str) -> None:
        self.elements(block.get("elements"), f"{pointer}/elements", max_items=25)

    def _context(self, block: JsonDict, pointer: str) -> None:
        elements = block.get("elements")
        if not isinstance(elements, list) or not elements:
            self.fail(f"{pointer}/elements", "must be a non-empty array")
            return
        if len(elements) > 10:
            self.fail(f"{pointer}/elements", "no more than 10 items allowed")
        for index, element in enumerate(elements):
            item = f"{pointer}/elements/{index}"
            if isinstance(element, dict) and element.get("type") in ("plain_text", "mrkdwn"):
                self.text(element, item, max_len=3000)
            elif not isinstance(element, dict) or element.get("type") != "image":
                self.fail(item, "must be a text object or an image element")

    def _input(self, block: JsonDict, pointer: str) -> None:
        self.text(block.get("label"), f"{pointer}/label", max_len=2000, plain_only=True)
        self.text(block.get("hint"), f"{pointer}/hint", max_len=2000, required=False)
        if block.get("element") is None:
            self.fail(f"{pointer}/element", "missing required field: element")
        else:
            self.element(block["element"], f"{pointer}/element", set())

    def _image(self, block: JsonDict, pointer: str) -> None:
        self.string(block.get("alt_text"), f"{pointer}/alt_text", max_len=2000)
        if block.get("image_url") is None and block.get("slack_file") is None:
            self.fail(pointer, "must provide either image_url or slack_file")
        self.string(block.get("image_url"), f"{pointer}/image_url", max_len=3000, required=False)
        self.text(block.get("title"), f"{pointer}/title", max_len=2000, required=False)

    # views -------------------------------------------------------------------------------

    def view(self, view: JsonDict, pointer: str, *, allow_home: bool) -> None:
        view_type = view.get("type")
        allowed = ("modal", "home") if allow_home else ("modal",)
        if view_type not in allowed:
            self.fail(f"{pointer}/type", f"must be one of {', '.join(allowed)}")
        if view_type == "modal":
            self.text(view.get("title"), f"{pointer}/title", max_len=24, plain_only=True)
            for key in ("submit", "close"):
                self.text(
                    view.get(key), f"{pointer}/{key}", max_len=24, plain_only=True, required=False
                )
        blocks = view.get("blocks")
        self.blocks(blocks, f"{pointer}/blocks", max_blocks=MAX_VIEW_BLOCKS)
        has_input = isinstance(blocks, list) and any(
            isinstance(b, dict) and b.get("type") == "input" for b in blocks
        )
        if view_type == "modal" and has_input and view.get("submit") is None:
            self.fail(pointer, "must provide a submit property when using input blocks")
        self.string(
            view.get("private_metadata"),
            f"{pointer}/private_metadata",
            max_len=3000,
            required=False,
        )
        for key in ("callback_id", "external_id"):
            self.string(view.get(key), f"{pointer}/{key}", max_len=255, required=False)


def _parsed_blocks(params: Mapping[str, Any]) -> list[JsonDict] | None:
    """The ``blocks`` argument, validated as message blocks; None when not given."""
    if params.get("blocks") is None:
        return None
    try:
        blocks = _json_arg(params, "blocks")
    except ValueError:
        raise _SlackError("invalid_blocks_format") from None
    if blocks is None:
        return None
    if not isinstance(blocks, list):
        raise _SlackError("invalid_blocks_format")
    checker = _BlockChecker()
    checker.blocks(blocks, "/blocks", max_blocks=MAX_MESSAGE_BLOCKS)
    if checker.errors:
        raise _SlackError("invalid_blocks", messages=checker.errors, errors=True)
    return blocks


def _parsed_metadata(params: Mapping[str, Any]) -> JsonDict | None:
    """The ``metadata`` argument ({event_type, event_payload}); None when not given.

    An empty object is returned as ``{}`` (chat.update: "remove the metadata").
    """
    if params.get("metadata") is None:
        return None
    try:
        metadata = _json_arg(params, "metadata")
    except ValueError:
        raise _SlackError("invalid_metadata_format") from None
    if metadata is None:
        return None
    if not isinstance(metadata, dict):
        raise _SlackError("invalid_metadata_format")
    if not metadata:
        return {}
    event_type, payload = metadata.get("event_type"), metadata.get("event_payload")
    if not isinstance(event_type, str) or not event_type or not isinstance(payload, dict):
        raise _SlackError("invalid_metadata_schema")
    return {"event_type": event_type, "event_payload": payload}


def _parsed_view(params: Mapping[str, Any], *, allow_home: bool = False) -> JsonDict:
    if params.get("view") is None:
        raise _invalid_arguments("missing required field: view")
    try:
        view = _json_arg(params, "view")
    except ValueError:
        raise _invalid_arguments("failed to parse view as JSON [json-pointer:/view]") from None
    if not isinstance(view, dict):
        raise _invalid_arguments("must be an object [json-pointer:/view]")
    if len(json.dumps(view)) > MAX_VIEW_BYTES:
        raise _SlackError("view_too_large")
    checker = _BlockChecker()
    checker.view(view, "/view", allow_home=allow_home)
    if checker.errors:
        raise _invalid_arguments(*checker.errors)
    return view


# --------------------------------------------------------------------------------------------
# Workspace state
# --------------------------------------------------------------------------------------------


@dataclass
class _PendingFault:
    method: str  # or "*"
    fault: Fault
    remaining: int


@dataclass
class _Channel:
    id: str
    name: str
    members: list[str]
    is_private: bool = False
    bot_member: bool = True  # private channels are visible to the bot only when it is a member


@dataclass
class _User:
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
class _Message:
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


def _tz_fields(tz: str) -> tuple[str, int]:
    """(tz_label, tz_offset in seconds) for an IANA time zone; ("UTC", 0) if unknown here."""
    try:
        zone = ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return "UTC", 0
    local = datetime.now(zone)
    offset = local.utcoffset()
    return local.tzname() or tz, int(offset.total_seconds()) if offset else 0


# --------------------------------------------------------------------------------------------
# HTTP plumbing
# --------------------------------------------------------------------------------------------


def _parse_body(raw: bytes, content_type: str) -> JsonDict:
    """Arguments from a JSON or form-encoded request body; raises _SlackError when unreadable."""
    if not raw.strip():
        return {}
    media_type = content_type.partition(";")[0].strip().lower()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise _SlackError("invalid_charset") from None
    if media_type == "application/json":
        try:
            body = json.loads(text)
        except ValueError:
            raise _SlackError("invalid_json") from None
        if not isinstance(body, dict):
            raise _SlackError("invalid_json")
        return body
    if media_type in ("application/x-www-form-urlencoded", "text/plain"):
        return dict(parse_qsl(text, keep_blank_values=True))
    raise _SlackError("invalid_post_type" if media_type else "missing_post_type")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # a delayed answer must not hold up stop()
    request_queue_size = 128  # the default backlog of 5 stalls bursts of clients for ~1 s

    def __init__(self, address: tuple[str, int], standin: SlackStandIn) -> None:
        super().__init__(address, _RequestHandler)
        self.standin = standin


class _RequestHandler(BaseHTTPRequestHandler):
    server: _Server
    server_version = "SlackStandIn/1.0"

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("%s - %s", self.address_string(), format % args)

    def _serve(self) -> None:
        try:
            split = urlsplit(self.path)
            if split.path.startswith(RESPONSE_PATH) and self.command == "POST":
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length > 0 else b""
                status, text = self.server.standin._respond(split.path[len(RESPONSE_PATH) :], raw)
                self._write_text(status, text)
                return
            if not split.path.startswith("/api/") or len(split.path) <= len("/api/"):
                self._write(404, {}, {"ok": False, "error": "not_found"})
                return
            method = split.path[len("/api/") :]
            params, parse_error = self._params(split.query)
            status, headers, body = self.server.standin._dispatch(
                method, params, self._bearer_token(), parse_error
            )
            self._write(status, headers, body)
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            logger.debug("client went away before the answer to %s", self.path)
        except Exception:  # never let a request kill the server thread
            logger.exception("Slack stand-in failed to serve %s", self.path)
            with contextlib.suppress(OSError):
                self._write(500, {}, {"ok": False, "error": "internal_error"})

    def _bearer_token(self) -> str | None:
        header = self.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return token.strip()
        return None

    def _params(self, query: str) -> tuple[JsonDict, str | None]:
        """Query string and body arguments merged, and the Slack error if the body is unreadable."""
        params: JsonDict = dict(parse_qsl(query, keep_blank_values=True))
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length > 0 else b""
        content_type = self.headers.get("Content-Type") or ""
        try:
            params.update(_parse_body(raw, content_type))
        except _SlackError as error:
            return params, error.error
        return params, None

    def _write_text(self, status: int, text: str) -> None:
        payload = text.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def _write(self, status: int, headers: Mapping[str, str], body: JsonDict) -> None:
        payload = json.dumps(body).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(payload)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)


# --------------------------------------------------------------------------------------------
# The stand-in
# --------------------------------------------------------------------------------------------


class SlackStandIn:
    """A local Slack Web API server for tests and the offline sandbox.

    All public methods are thread-safe; observations return deep copies.
    """

    def __init__(
        self,
        *,
        bot_token: str = "xoxb-standin",  # noqa: S107 (a fake token for a local fake)
        host: str = "127.0.0.1",
        port: int = 0,
        latency: float = 0.0,
        bot_user_id: str = "UBOT",
        team_id: str = "T0STANDIN",
        bot_id: str = "B0STANDIN",
        app_id: str = "A0STANDIN",
        bot_name: str = "approvals",
        team_name: str = "Stand-in Workspace",
        team_domain: str = "standin",
    ) -> None:
        """Configure the stand-in (nothing listens until `start`).

        Args:
            bot_token: the only token accepted (``invalid_auth`` otherwise).
            host, port: where to listen; port 0 picks a free ephemeral port.
            latency: extra seconds added to every call.
            bot_user_id, bot_id, app_id, bot_name: the bot's identity (auth.test, message authors).
                The bot user is registered so that ``users.info`` knows it.
            team_id, team_name, team_domain: the workspace's identity.
        """
        if latency < 0:
            raise ValueError("latency must not be negative")
        self.bot_token = bot_token
        self.host = host
        self.bot_user_id = bot_user_id
        self.bot_id = bot_id
        self.app_id = app_id
        self.bot_name = bot_name
        self.team_id = team_id
        self.team_name = team_name
        self.team_domain = team_domain
        self._requested_port = port
        self._latency = latency

        self._cond = threading.Condition()  # the one lock guarding all state below
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

        self._channels: dict[str, _Channel] = {}
        self._users: dict[str, _User] = {}
        self._usergroups: dict[str, tuple[str, list[str]]] = {}
        self._messages: dict[str, list[_Message]] = {}
        self._ephemerals: list[JsonDict] = []
        self._views: dict[str, JsonDict] = {}
        self._view_log: list[JsonDict] = []
        self._used_triggers: set[str] = set()
        self._response_urls: dict[str, dict[str, Any]] = {}
        self._faults: list[_PendingFault] = []
        self._calls: list[RecordedCall] = []
        self._subscribers: list[Subscriber] = []
        self._last_ts_micros = 0
        self._counter = 0

        self._handlers: dict[str, Callable[[JsonDict], JsonDict]] = {
            "auth.test": self._auth_test,
            "chat.postMessage": self._chat_post_message,
            "chat.update": self._chat_update,
            "chat.postEphemeral": self._chat_post_ephemeral,
            "conversations.history": self._conversations_history,
            "conversations.members": self._conversations_members,
            "views.open": self._views_open,
            "views.push": self._views_push,
            "views.update": self._views_update,
            "users.info": self._users_info,
            "users.lookupByEmail": self._users_lookup_by_email,
            "users.conversations": self._users_conversations,
            "usergroups.users.list": self._usergroups_users_list,
        }
        self.add_user(bot_user_id, bot_name, real_name=bot_name, is_bot=True, has_2fa=False)

    # lifecycle ---------------------------------------------------------------------------

    def start(self) -> SlackStandIn:
        """Start listening (in a daemon thread) and return self."""
        with self._cond:
            if self._server is not None:
                raise RuntimeError("the Slack stand-in is already running")
            self._stopping.clear()
            server = _Server((self.host, self._requested_port), self)
            thread = threading.Thread(
                target=server.serve_forever,
                kwargs={"poll_interval": 0.05},
                name=f"slack-standin:{server.server_address[1]}",
                daemon=True,
            )
            self._server, self._thread = server, thread
        thread.start()
        return self

    def stop(self) -> None:
        """Stop listening. Pending delays are cut short. Idempotent; state is kept."""
        with self._cond:
            server, thread = self._server, self._thread
            self._server = self._thread = None
        if server is None:
            return
        self._stopping.set()
        server.shutdown()
        server.server_close()
        if thread is not None:
            thread.join(timeout=5)

    def __enter__(self) -> SlackStandIn:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        """The port actually listened on."""
        with self._cond:
            if self._server is None:
                raise RuntimeError("the Slack stand-in is not running")
            return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """The Web API base URL for ``WebClient(base_url=...)``, e.g. ``http://127.0.0.1:5432/api/``."""
        return f"http://{self.host}:{self.port}/api/"

    @property
    def latency(self) -> float:
        """Extra seconds added to every call."""
        return self._latency

    @latency.setter
    def latency(self, value: float) -> None:
        if value < 0:
            raise ValueError("latency must not be negative")
        self._latency = value

    # workspace fixtures ------------------------------------------------------------------

    def add_channel(
        self,
        channel_id: str,
        name: str,
        *,
        members: Iterable[str] = (),
        private: bool | None = None,
        bot_member: bool = True,
    ) -> None:
        """Create (or replace the name and members of) a channel.

        ``members`` are listed by conversations.members and users.conversations. When a
        channel has members, chat.postEphemeral to a user outside them answers
        ``user_not_in_channel``. ``private`` defaults to True for ``G…`` ids; a private channel
        appears in users.conversations only if the bot is a member (``bot_member``), as Slack
        shows a bot token only the private channels it shares.
        """
        is_private = channel_id.startswith("G") if private is None else private
        with self._cond:
            self._channels[channel_id] = _Channel(
                channel_id, name.lstrip("#"), list(members), is_private, bot_member
            )
            self._messages.setdefault(channel_id, [])

    def add_user(
        self,
        user_id: str,
        name: str,
        *,
        real_name: str | None = None,
        email: str | None = None,
        is_bot: bool = False,
        has_2fa: bool = True,
        tz: str = "UTC",
        deleted: bool = False,
        email_visible: bool = True,
    ) -> None:
        """Create or replace a user (for users.info, chat.postEphemeral, usergroups).

        ``email_visible=False``: users.info leaves the e-mail out, as Slack does without the
        ``users:read.email`` scope or where workspace settings hide it; users.lookupByEmail
        still finds the user.
        """
        with self._cond:
            self._users[user_id] = _User(
                user_id,
                name,
                real_name or name,
                email,
                is_bot,
                has_2fa,
                tz,
                deleted,
                email_visible,
            )

    def user_name(self, user_id: str) -> str:
        """The handle of a workspace user (``KeyError`` if unknown)."""
        with self._cond:
            return self._users[user_id].name

    def add_usergroup(self, group_id: str, handle: str, users: Iterable[str]) -> None:
        """Create or replace a user group (``S...`` id) for usergroups.users.list."""
        with self._cond:
            self._usergroups[group_id] = (handle, list(users))

    # faults ------------------------------------------------------------------------------

    def inject(self, method: str, fault: Fault, times: int = 1) -> None:
        """Apply ``fault`` to the next ``times`` calls of ``method`` (``"*"`` matches any method).

        Faults are consumed in the order they were injected.
        """
        if times < 1:
            raise ValueError("times must be at least 1")
        with self._cond:
            self._faults.append(_PendingFault(method, fault, times))

    def clear_faults(self) -> None:
        """Drop all pending faults."""
        with self._cond:
            self._faults.clear()

    # observations ------------------------------------------------------------------------

    def calls(self, method: str | None = None) -> list[RecordedCall]:
        """Answered calls in arrival order, optionally only those of one method."""
        with self._cond:
            calls = sorted(self._calls, key=lambda call: call.at)
        return [c for c in calls if method is None or c.method == method]

    def wait_for_calls(
        self, method: str | None = None, count: int = 1, timeout: float = 5.0
    ) -> list[RecordedCall]:
        """Wait until at least ``count`` calls (of ``method``) were answered; return them.

        Raises TimeoutError after ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                matching = [c for c in self._calls if method is None or c.method == method]
                if len(matching) >= count:
                    return sorted(matching, key=lambda call: call.at)
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(
                        f"{len(matching)} of {count} {method or 'any'} call(s) after {timeout}s"
                    )
                self._cond.wait(remaining)

    def reset_calls(self) -> None:
        """Forget the recorded calls (workspace state is kept)."""
        with self._cond:
            self._calls.clear()

    def messages(self, channel: str) -> list[dict[str, Any]]:
        """The channel's messages as they are now (after updates), oldest first, thread replies
        included. Each has channel, ts, text, blocks, metadata, thread_ts, reply_broadcast,
        user, edited (None or {user, ts}). Raises KeyError for an unknown channel."""
        with self._cond:
            if channel not in self._channels:
                raise KeyError(f"no channel {channel!r} in the stand-in")
            return [m.observed() for m in self._messages[channel]]

    def message(self, channel: str, ts: str) -> dict[str, Any]:
        """One message (see `messages`). Raises KeyError when there is none."""
        with self._cond:
            found = self._find_message(channel, ts)
            if found is None:
                raise KeyError(f"no message {ts!r} in channel {channel!r}")
            return found.observed()

    def ephemerals(self, *, user: str | None = None) -> list[dict[str, Any]]:
        """Ephemeral messages posted (channel, user, message_ts, text, blocks, thread_ts)."""
        with self._cond:
            return [copy.deepcopy(e) for e in self._ephemerals if user is None or e["user"] == user]

    def response_url(self, *, channel: str, user: str) -> str:
        """Mint a ``response_url`` (as Slack puts in interaction payloads and slash commands).

        What the app POSTs to it (``respond()``) is recorded as a call of method
        ``"response_url"`` and shown as an ephemeral message to ``user`` in ``channel``;
        ``replace_original`` replaces the ephemeral this URL answered before.
        """
        with self._cond:
            key = secrets.token_urlsafe(12)
            self._response_urls[key] = {"channel": channel, "user": user, "uses": 0}
        return f"http://{self.host}:{self.port}{RESPONSE_PATH}{key}"

    def _respond(self, key: str, raw: bytes) -> tuple[int, str]:
        arrived = time.monotonic()
        with self._cond:
            target = self._response_urls.get(key)
        if target is None:
            return 404, "no_such_response_url"
        try:
            params = json.loads(raw or b"{}")
        except ValueError:
            return 400, "invalid_payload"
        if not isinstance(params, dict):
            return 400, "invalid_payload"
        if not (params.get("text") or params.get("blocks") or params.get("delete_original")):
            return 400, "no_text"
        with self._cond:
            if target["uses"] >= RESPONSE_URL_MAX_USES:
                return 404, "used_url"
            target["uses"] += 1
            entry = {
                "channel": target["channel"],
                "user": target["user"],
                "message_ts": self._next_ts(),
                "text": params.get("text") or "",
                "blocks": params.get("blocks") or [],
                "thread_ts": None,
                "response_url": key,
                "response_type": params.get("response_type", "ephemeral"),
            }
            if params.get("replace_original") or params.get("delete_original"):
                self._ephemerals = [e for e in self._ephemerals if e.get("response_url") != key]
            if not params.get("delete_original"):
                self._ephemerals.append(entry)
        self._record("response_url", dict(params), (200, {}, {"ok": True}), arrived)
        self._notify("response_url", dict(params))
        return 200, "ok"

    def show_ephemeral(
        self, *, channel: str, user: str, text: str, blocks: list[dict[str, Any]] | None = None
    ) -> dict[str, Any]:
        """Show an ephemeral message that did not come through the Web API: what Slack does with
        the body of a slash command's acknowledgement (``response_type: ephemeral``)."""
        with self._cond:
            entry = {
                "channel": channel,
                "user": user,
                "message_ts": self._next_ts(),
                "text": text,
                "blocks": blocks or [],
                "thread_ts": None,
            }
            self._ephemerals.append(entry)
        self._notify("ack_response", dict(entry))
        return copy.deepcopy(entry)

    def views(self) -> list[dict[str, Any]]:
        """Every views.open / views.push / views.update in order, each as
        ``{"method", "trigger_id", "view_id", "view"}`` where ``view`` is the full view object
        as answered (id, hash, state, ... included)."""
        with self._cond:
            return copy.deepcopy(self._view_log)

    def subscribe(self, callback: Callable[[str, dict[str, Any]], None]) -> None:
        """Call ``callback(method, params)`` after every mutating call that took effect
        (chat.postMessage, chat.update, chat.postEphemeral, views.open/push/update).

        Callbacks run on the server's request thread, outside the lock; exceptions are logged.
        """
        with self._cond:
            self._subscribers.append(callback)

    def unsubscribe(self, callback: Callable[[str, dict[str, Any]], None]) -> None:
        """Remove a callback added with `subscribe` (no error if absent)."""
        with self._cond:
            if callback in self._subscribers:
                self._subscribers.remove(callback)

    # request dispatch (called by the HTTP handler threads) --------------------------------

    def _dispatch(
        self, method: str, params: JsonDict, token: str | None, parse_error: str | None
    ) -> tuple[int, dict[str, str], JsonDict]:
        arrived = time.monotonic()
        if self._latency > 0:
            self._stopping.wait(self._latency)
        fault = self._take_fault(method)
        recorded_params = {k: v for k, v in params.items() if k != "token"}

        if fault is not None and not fault.after:
            if fault.delay > 0:
                self._stopping.wait(fault.delay)
            if fault.replaces_answer:
                answer = fault.answer()
                self._record(method, recorded_params, answer, arrived)
                return answer

        answer, took_effect = self._handle(method, params, token, parse_error)

        if fault is not None and fault.after:
            if fault.delay > 0:
                self._stopping.wait(fault.delay)
            if fault.replaces_answer:
                answer = fault.answer()
        self._record(method, recorded_params, answer, arrived)
        if took_effect:
            self._notify(method, recorded_params)
        return answer

    def _handle(
        self, method: str, params: JsonDict, token: str | None, parse_error: str | None
    ) -> tuple[tuple[int, dict[str, str], JsonDict], bool]:
        """Answer one call normally; the bool says whether a mutating call took effect."""
        try:
            if parse_error is not None:
                raise _SlackError(parse_error)
            self._authenticate(token or _str_arg(params, "token"))
            handler = self._handlers.get(method)
            if handler is None:
                raise _SlackError("unknown_method")
            with self._cond:
                body = handler(params)
        except _SlackError as error:
            return (200, {}, error.body()), False
        except Exception:
            logger.exception("Slack stand-in failed on %s", method)
            return (500, {}, {"ok": False, "error": "internal_error"}), False
        return (200, {}, body), method in _MUTATING_METHODS

    def _authenticate(self, token: str | None) -> None:
        if token is None:
            raise _SlackError("not_authed")
        if token != self.bot_token:
            raise _SlackError("invalid_auth")

    def _take_fault(self, method: str) -> Fault | None:
        with self._cond:
            for pending in self._faults:
                if pending.method in ("*", method):
                    pending.remaining -= 1
                    if pending.remaining <= 0:
                        self._faults.remove(pending)
                    return pending.fault
        return None

    def _record(
        self,
        method: str,
        params: JsonDict,
        answer: tuple[int, dict[str, str], JsonDict],
        arrived: float,
    ) -> None:
        call = RecordedCall(
            method=method,
            params=copy.deepcopy(params),
            status=answer[0],
            response=copy.deepcopy(answer[2]),
            at=arrived,
        )
        with self._cond:
            self._calls.append(call)
            self._cond.notify_all()

    def _notify(self, method: str, params: JsonDict) -> None:
        with self._cond:
            subscribers = list(self._subscribers)
        for callback in subscribers:
            try:
                callback(method, copy.deepcopy(params))
            except Exception:
                logger.exception("Slack stand-in subscriber failed on %s", method)

    # helpers (called with the lock held) ---------------------------------------------------

    def _next_ts(self) -> str:
        micros = max(int(time.time() * 1_000_000), self._last_ts_micros + 1)
        self._last_ts_micros = micros
        return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"

    def _next_id(self, prefix: str) -> str:
        self._counter += 1
        return f"{prefix}{self._counter:08d}"

    def _channel(self, params: Mapping[str, Any]) -> _Channel:
        """The channel named by ``channel``: an id, or a name with or without '#'."""
        value = _str_arg(params, "channel")
        if value is None:
            raise _SlackError("channel_not_found")
        if value in self._channels:
            return self._channels[value]
        name = value.lstrip("#")
        for channel in self._channels.values():
            if channel.name == name:
                return channel
        raise _SlackError("channel_not_found")

    def _find_message(self, channel: str, ts: str) -> _Message | None:
        for message in self._messages.get(channel, ()):
            if message.ts == ts:
                return message
        return None

    def _message_json(self, message: _Message, *, include_metadata: bool) -> JsonDict:
        body: JsonDict = {
            "type": "message",
            "user": message.user,
            "bot_id": self.bot_id,
            "app_id": self.app_id,
            "text": message.text,
            "ts": message.ts,
            "team": self.team_id,
            "bot_profile": {
                "id": self.bot_id,
                "app_id": self.app_id,
                "name": self.bot_name,
                "team_id": self.team_id,
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

    @staticmethod
    def _message_text(params: Mapping[str, Any]) -> str | None:
        text = _str_arg(params, "text")
        if text is not None and len(text) > MAX_MESSAGE_TEXT:
            raise _SlackError("msg_too_long")
        return text

    # method handlers (called with the lock held) --------------------------------------------

    def _auth_test(self, params: JsonDict) -> JsonDict:
        return {
            "ok": True,
            "url": f"https://{self.team_domain}.slack.com/",
            "team": self.team_name,
            "user": self.bot_name,
            "team_id": self.team_id,
            "user_id": self.bot_user_id,
            "bot_id": self.bot_id,
            "is_enterprise_install": False,
        }

    def _chat_post_message(self, params: JsonDict) -> JsonDict:
        channel = self._channel(params)
        text = self._message_text(params)
        blocks = _parsed_blocks(params)
        if text is None and not blocks and params.get("attachments") is None:
            raise _SlackError("no_text")
        metadata = _parsed_metadata(params)
        thread_ts = _str_arg(params, "thread_ts")
        message = _Message(
            channel=channel.id,
            ts=self._next_ts(),
            text=text or "",
            blocks=blocks or [],
            metadata=metadata or None,
            thread_ts=thread_ts,
            reply_broadcast=thread_ts is not None and _flag(params, "reply_broadcast"),
            user=self.bot_user_id,
        )
        if thread_ts is not None:
            parent = self._find_message(channel.id, thread_ts)
            if parent is not None:
                parent.replies.append((message.ts, message.user))
        self._messages[channel.id].append(message)
        return {
            "ok": True,
            "channel": channel.id,
            "ts": message.ts,
            "message": self._message_json(message, include_metadata=True),
        }

    def _chat_update(self, params: JsonDict) -> JsonDict:
        channel = self._channel(params)
        ts = _str_arg(params, "ts")
        message = self._find_message(channel.id, ts) if ts is not None else None
        if message is None:
            raise _SlackError("message_not_found")
        text = self._message_text(params)
        blocks = _parsed_blocks(params)
        if text is None and blocks is None and params.get("attachments") is None:
            raise _SlackError("no_text")
        metadata = _parsed_metadata(params)
        if text is not None:
            message.text = text
        if blocks is not None:  # an empty array removes the blocks, as in Slack
            message.blocks = blocks
        if metadata is not None:  # an empty object removes the metadata
            message.metadata = metadata or None
        message.edited = {"user": self.bot_user_id, "ts": self._next_ts()}
        return {
            "ok": True,
            "channel": channel.id,
            "ts": message.ts,
            "text": message.text,
            "message": self._message_json(message, include_metadata=True),
        }

    def _chat_post_ephemeral(self, params: JsonDict) -> JsonDict:
        channel = self._channel(params)
        user = _str_arg(params, "user")
        if user is None:
            raise _invalid_arguments("missing required field: user")
        if user not in self._users:
            raise _SlackError("user_not_found")
        if channel.members and user not in channel.members:
            raise _SlackError("user_not_in_channel")
        text = self._message_text(params)
        blocks = _parsed_blocks(params)
        if text is None and not blocks and params.get("attachments") is None:
            raise _SlackError("no_text")
        message_ts = self._next_ts()
        self._ephemerals.append(
            {
                "channel": channel.id,
                "user": user,
                "message_ts": message_ts,
                "text": text or "",
                "blocks": blocks or [],
                "thread_ts": _str_arg(params, "thread_ts"),
            }
        )
        return {"ok": True, "message_ts": message_ts}

    def _conversations_history(self, params: JsonDict) -> JsonDict:
        channel = self._channel(params)
        oldest, latest = _ts_arg(params, "oldest"), _ts_arg(params, "latest")
        inclusive = _flag(params, "inclusive")
        limit = _limit_arg(params)
        cursor = _str_arg(params, "cursor")
        include_metadata = _flag(params, "include_all_metadata")

        def in_window(ts: Decimal) -> bool:
            if oldest is not None and (ts < oldest or (ts == oldest and not inclusive)):
                return False
            return latest is None or ts < latest or (ts == latest and inclusive)

        selected = [
            m
            for m in reversed(self._messages[channel.id])
            if m.in_history and in_window(Decimal(m.ts))
        ]
        if cursor is not None:
            start = Decimal(_decode_cursor(cursor, "next_ts"))
            selected = [m for m in selected if Decimal(m.ts) <= start]
        page, rest = selected[:limit], selected[limit:]
        body: JsonDict = {
            "ok": True,
            "messages": [self._message_json(m, include_metadata=include_metadata) for m in page],
            "has_more": bool(rest),
            "pin_count": 0,
            "channel_actions_ts": None,
            "channel_actions_count": 0,
        }
        for name in ("oldest", "latest"):
            if _str_arg(params, name) is not None:
                body[name] = _str_arg(params, name)
        body["response_metadata"] = {
            "next_cursor": _encode_cursor("next_ts", rest[0].ts) if rest else ""
        }
        return body

    def _conversations_members(self, params: JsonDict) -> JsonDict:
        channel = self._channel(params)
        limit = _limit_arg(params)
        members = channel.members
        cursor = _str_arg(params, "cursor")
        if cursor is not None:
            start = _decode_cursor(cursor, "user")
            if start not in members:
                raise _SlackError("invalid_cursor")
            members = members[members.index(start) :]
        page, rest = members[:limit], members[limit:]
        return {
            "ok": True,
            "members": list(page),
            "response_metadata": {"next_cursor": _encode_cursor("user", rest[0]) if rest else ""},
        }

    def _exchange_trigger(self, params: JsonDict) -> str:
        trigger_id = _str_arg(params, "trigger_id") or _str_arg(params, "interactivity_pointer")
        if trigger_id is None:
            raise _invalid_arguments("missing required field: trigger_id")
        if trigger_id in self._used_triggers:
            raise _SlackError("exchanged_trigger_id")
        return trigger_id

    def _store_view(
        self, method: str, view: JsonDict, *, trigger_id: str | None, previous: JsonDict | None
    ) -> JsonDict:
        view_id = previous["id"] if previous is not None else self._next_id("V")
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
            team_id=self.team_id,
            state={"values": {}},
            hash=f"{int(time.time())}.{self._next_id('')}",
            previous_view_id=None,
            root_view_id=previous["root_view_id"] if previous is not None else view_id,
            app_id=self.app_id,
            app_installed_team_id=self.team_id,
            bot_id=self.bot_id,
        )
        self._views[view_id] = stored
        self._view_log.append(
            {
                "method": method,
                "trigger_id": trigger_id,
                "view_id": view_id,
                "view": copy.deepcopy(stored),
            }
        )
        return {"ok": True, "view": copy.deepcopy(stored)}

    def _check_external_id(self, view: JsonDict, *, allowed_view_id: str | None = None) -> None:
        external_id = view.get("external_id")
        if not external_id:
            return
        for stored in self._views.values():
            if stored["external_id"] == external_id and stored["id"] != allowed_view_id:
                raise _SlackError("duplicate_external_id")

    def _open_or_push(self, method: str, params: JsonDict) -> JsonDict:
        trigger_id = self._exchange_trigger(params)
        view = _parsed_view(params)
        self._check_external_id(view)
        self._used_triggers.add(trigger_id)
        return self._store_view(method, view, trigger_id=trigger_id, previous=None)

    def _views_open(self, params: JsonDict) -> JsonDict:
        return self._open_or_push("views.open", params)

    def _views_push(self, params: JsonDict) -> JsonDict:
        return self._open_or_push("views.push", params)

    def _views_update(self, params: JsonDict) -> JsonDict:
        view_id = _str_arg(params, "view_id")
        external_id = _str_arg(params, "external_id")
        if view_id is None and external_id is None:
            raise _invalid_arguments("either view_id or external_id is required")
        view = _parsed_view(params, allow_home=True)
        current = self._views.get(view_id) if view_id is not None else None
        if view_id is None:
            current = next(
                (v for v in self._views.values() if v["external_id"] == external_id), None
            )
        if current is None:
            raise _SlackError("not_found")
        view_hash = _str_arg(params, "hash")
        if view_hash is not None and view_hash != current["hash"]:
            raise _SlackError("hash_conflict")
        self._check_external_id(view, allowed_view_id=current["id"])
        return self._store_view("views.update", view, trigger_id=None, previous=current)

    def _users_info(self, params: JsonDict) -> JsonDict:
        user_id = _str_arg(params, "user")
        user = self._users.get(user_id) if user_id is not None else None
        if user is None:
            raise _SlackError("user_not_found")
        return {"ok": True, "user": self._user_json(user, with_email=user.email_visible)}

    def _users_lookup_by_email(self, params: JsonDict) -> JsonDict:
        email = _str_arg(params, "email")
        if email is None:
            raise _invalid_arguments("missing required field: email")
        wanted = email.strip().lower()
        for user in self._users.values():
            if user.email is not None and user.email.lower() == wanted:
                return {"ok": True, "user": self._user_json(user, with_email=True)}
        raise _SlackError("users_not_found")

    def _users_conversations(self, params: JsonDict) -> JsonDict:
        """The conversations a user is a member of (public channels by default; private ones
        only where the bot is a member too), paginated by channel id."""
        user_id = _str_arg(params, "user") or self.bot_user_id
        if user_id not in self._users:
            raise _SlackError("user_not_found")
        types = {t.strip() for t in (_str_arg(params, "types") or "public_channel").split(",")}
        known = {"public_channel", "private_channel", "mpim", "im"}
        if not types <= known:
            raise _SlackError("invalid_types")
        found = [
            c
            for c in sorted(self._channels.values(), key=lambda c: c.id)
            if ("private_channel" if c.is_private else "public_channel") in types
            and (user_id == self.bot_user_id or user_id in c.members)
            and (c.bot_member or not c.is_private)
        ]
        cursor = _str_arg(params, "cursor")
        if cursor is not None:
            start = _decode_cursor(cursor, "channel")
            found = [c for c in found if c.id >= start]
        limit = _limit_arg(params)
        page, rest = found[:limit], found[limit:]
        return {
            "ok": True,
            "channels": [
                {
                    "id": c.id,
                    "name": c.name,
                    "is_channel": not c.is_private,
                    "is_group": c.is_private,
                    "is_im": False,
                    "is_mpim": False,
                    "is_private": c.is_private,
                    "is_archived": False,
                    "is_general": False,
                }
                for c in page
            ],
            "response_metadata": {
                "next_cursor": _encode_cursor("channel", rest[0].id) if rest else ""
            },
        }

    def _user_json(self, user: _User, *, with_email: bool) -> JsonDict:
        tz_label, tz_offset = _tz_fields(user.tz)
        profile: JsonDict = {
            "real_name": user.real_name,
            "real_name_normalized": user.real_name,
            "display_name": user.name,
            "display_name_normalized": user.name,
            "team": self.team_id,
        }
        if user.email is not None and with_email:
            profile["email"] = user.email
        if user.is_bot and user.id == self.bot_user_id:
            profile["bot_id"] = self.bot_id
        return {
            "id": user.id,
            "team_id": self.team_id,
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

    def _usergroups_users_list(self, params: JsonDict) -> JsonDict:
        group_id = _str_arg(params, "usergroup")
        group = self._usergroups.get(group_id) if group_id is not None else None
        if group is None:
            raise _SlackError("no_such_subteam")
        return {"ok": True, "users": list(group[1])}
