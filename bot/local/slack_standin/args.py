"""Reading Web API arguments as Slack does, and Slack's ``{"ok": false, "error": ...}`` answers.

Arguments arrive as JSON values (JSON bodies) or strings (query strings, forms): the readers
here accept both.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any, Final

JsonDict = dict[str, Any]

DEFAULT_PAGE_LIMIT: Final = 100
MAX_PAGE_LIMIT: Final = 999
_TRUE_STRINGS: Final = frozenset({"1", "true", "yes", "on"})


class SlackError(Exception):
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


def invalid_arguments(*messages: str) -> SlackError:
    return SlackError("invalid_arguments", messages=messages)


def str_arg(params: Mapping[str, Any], name: str) -> str | None:
    """A scalar argument as a string; None when absent or empty."""
    value = params.get(name)
    if value is None or isinstance(value, dict | list):
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value)
    return text or None


def flag(params: Mapping[str, Any], name: str) -> bool:
    """A boolean argument: JSON true, or "true"/"1" from a query string or form."""
    value = params.get(name)
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return value != 0
    return isinstance(value, str) and value.strip().lower() in _TRUE_STRINGS


def json_arg(params: Mapping[str, Any], name: str) -> Any:
    """An argument that is JSON in a JSON body or a JSON-encoded string in a form.

    Raises ValueError when a string does not parse.
    """
    value = params.get(name)
    if isinstance(value, str):
        return json.loads(value) if value.strip() else None
    return value


def limit_arg(params: Mapping[str, Any]) -> int:
    raw = params.get("limit")
    if raw is None or raw == "":
        return DEFAULT_PAGE_LIMIT
    try:
        limit = int(raw)
    except (TypeError, ValueError):
        raise SlackError("invalid_limit") from None
    if limit < 0:
        raise SlackError("invalid_limit")
    return DEFAULT_PAGE_LIMIT if limit == 0 else min(limit, MAX_PAGE_LIMIT)


def ts_arg(params: Mapping[str, Any], name: str) -> Decimal | None:
    raw = str_arg(params, name)
    if raw is None:
        return None
    try:
        value = Decimal(raw)
    except InvalidOperation:
        raise SlackError(f"invalid_ts_{name}") from None
    if not value.is_finite() or value < 0:
        raise SlackError(f"invalid_ts_{name}")
    return value


def encode_cursor(kind: str, value: str) -> str:
    return base64.b64encode(f"{kind}:{value}".encode()).decode("ascii")


def decode_cursor(cursor: str, kind: str) -> str:
    try:
        decoded = base64.b64decode(cursor.encode("ascii"), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeError, ValueError):
        raise SlackError("invalid_cursor") from None
    prefix = f"{kind}:"
    if not decoded.startswith(prefix) or len(decoded) == len(prefix):
        raise SlackError("invalid_cursor")
    return decoded[len(prefix) :]
