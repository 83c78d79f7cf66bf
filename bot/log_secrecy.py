"""The task token never reaches a log line: at any level, from any logger in the process.

With Lambda's application log level at DEBUG the root logger is at DEBUG, and botocore then
prints wire bodies: ``botocore.endpoint`` every request (SendTaskSuccess / SendTaskFailure carry
``taskToken``, DynamoDB PutItem ``task_token``) and ``botocore.parsers`` every response (a
failed condition's ``ALL_OLD`` item, GetExecutionHistory's task parameters, a received SQS
body). Two lines of defence, installed once by each handler module (and so by the sandbox,
which imports them) with :func:`install`:

1. **A floor**: the loggers that dump wire bodies (:data:`WIRE_LOGGERS`) log at INFO at most,
   whatever the root or ``botocore`` logger is set to.
2. **Redaction of every record** (a log record factory, so it applies to every logger and every
   handler, including handlers attached later, like Lambda's runtime handler or pytest's):
   the message is formatted once and scrubbed, and so is the exception text.
   Scrubbed are the values of token keys (``taskToken``, ``TaskToken``, ``task_token``, also
   JSON-escaped, in DynamoDB's ``{"S": …}`` form or URL-encoded) and every task token this
   process has handled (:func:`remember`; :class:`bot.models.TaskToken` registers itself).

Extra keys (``logger.info(..., extra={...})``) are set after the factory runs and are not
scrubbed: code never passes a token there (a :class:`~bot.models.TaskToken` prints as
``TaskToken(***)``).
"""

from __future__ import annotations

import logging
import re
import threading
import traceback
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, Final
from urllib.parse import quote

REDACTED: Final = "***"
WIRE_LOGGERS: Final = ("botocore.endpoint", "botocore.parsers")
WIRE_FLOOR: Final = logging.INFO
MAX_REMEMBERED: Final = 512  # the most recent tokens; older ones are still caught by key
_MIN_SECRET_CHARS: Final = 8

# A token key, an optional DynamoDB type wrapper, then the value, in any of the spellings the
# wire logs use: JSON (``"taskToken": "…"``), JSON inside a JSON string (``\"TaskToken\":\"…\"``,
# also doubly escaped inside a bytes repr), Python reprs (``'taskToken': '…'``) and forms.
_KEYED: Final = re.compile(
    r"""(?P<key>(?:task_?token)\\*["']?\s*[:=]\s*"""
    r"""(?:\{\s*\\*["']S\\*["']\s*:\s*)?\\*["']?)"""
    r"""(?P<value>[^"'\\&\s,}]+)""",
    re.IGNORECASE,
)


class RedactedException(Exception):
    """Stands in for a logged exception whose text held a secret (the text, scrubbed)."""


class _Remembered:
    """The task tokens this process has handled, most recent last (bounded, thread-safe)."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._items: OrderedDict[str, str] = OrderedDict()  # secret → its URL-encoded form
        self._lock = threading.Lock()

    def add(self, secret: str) -> None:
        if len(secret) < _MIN_SECRET_CHARS:
            return
        with self._lock:
            self._items[secret] = quote(secret, safe="")
            self._items.move_to_end(secret)
            while len(self._items) > self._limit:
                self._items.popitem(last=False)

    def snapshot(self) -> list[tuple[str, str]]:
        with self._lock:
            return list(self._items.items())


_remembered = _Remembered(MAX_REMEMBERED)


def remember(secret: str) -> None:
    """Register a secret (a task token) to be scrubbed from every later log record."""
    _remembered.add(secret)


def redact(text: str) -> str:
    """``text`` without token values and without any remembered secret."""
    text = _KEYED.sub(lambda m: m.group("key") + REDACTED, text)
    for secret, encoded in _remembered.snapshot():
        if secret in text:
            text = text.replace(secret, REDACTED)
        if encoded in text:
            text = text.replace(encoded, REDACTED)
    return text


def _scrub(record: logging.LogRecord) -> None:
    """Format the record's message once, scrubbed; scrub its exception text. (A stack holds
    source lines, not values.)"""
    if isinstance(record.msg, str) or record.args:
        try:
            message = record.getMessage()
        except Exception as exc:  # a broken format string: say so without the arguments
            message = f"unformattable log message ({type(exc).__name__}): {record.msg!s}"
        record.msg, record.args = redact(message), None
    else:  # a non-string message without arguments (Powertools logs dicts): kept if clean
        text = str(record.msg)
        if redact(text) != text:
            record.msg = redact(text)
    if record.exc_info and record.exc_info[0] is not None:
        text = "".join(traceback.format_exception(*record.exc_info)).rstrip("\n")
        clean = redact(text)
        if clean != text:
            record.exc_info = (RedactedException, RedactedException(clean), None)
            record.exc_text = None


class _RedactingFactory:
    """A log record factory: the previous one's record, scrubbed."""

    def __init__(self, previous: Callable[..., logging.LogRecord]) -> None:
        self._previous = previous

    def __call__(self, *args: Any, **kwargs: Any) -> logging.LogRecord:
        record = self._previous(*args, **kwargs)
        _scrub(record)
        return record


_install_lock = threading.Lock()


def install() -> None:
    """Put the floor on the wire loggers and the redacting record factory in place (once)."""
    with _install_lock:
        for name in WIRE_LOGGERS:
            logger = logging.getLogger(name)
            if logger.level == logging.NOTSET or logger.level < WIRE_FLOOR:
                logger.setLevel(WIRE_FLOOR)
        current = logging.getLogRecordFactory()
        if not isinstance(current, _RedactingFactory):
            logging.setLogRecordFactory(_RedactingFactory(current))
