"""Every log record of the process, at DEBUG, captured for the token-leak scan.

The soak runs with the ROOT logger at DEBUG (what Lambda's application log level DEBUG does)
and Powertools at DEBUG too. :class:`LogScan` is attached to the root logger and to every logger
that does not propagate (Powertools' ``sfn-approvals`` logger, for one), so every record of
every logger in the process reaches it, whichever handler the bot gives it. It keeps each record
formatted (message, arguments folded in, exception text and stack) plus the record's extra
keys, which the stock formatter leaves out. Levels a logger sets for itself (the bot's floor on
botocore's wire loggers) are left as they are: that floor is one of the defences under test.
"""

from __future__ import annotations

import io
import logging
import threading
from typing import Any

_STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message",
    "asctime",
}


class Discard(io.TextIOBase):
    """A stream that drops what is written (the handlers' JSON logs while the soak runs)."""

    def write(self, text: str) -> int:
        return len(text)


class LogScan(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
        self.records: list[str] = []
        self.lines_lock = threading.Lock()  # not ``lock``: logging.Handler holds that in emit()
        self._attached: list[logging.Logger] = []
        self._root_level = logging.NOTSET

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record)  # message % args, exc_text and stack_info
        except Exception:
            line = f"{record.msg!r} {record.args!r}"
        extras = {k: v for k, v in record.__dict__.items() if k not in _STANDARD}
        if extras:
            line += f" {extras!r}"
        with self.lines_lock:
            self.records.append(line)

    def text(self) -> str:
        with self.lines_lock:
            return "\n".join(self.records)

    def count(self) -> int:
        with self.lines_lock:
            return len(self.records)

    # --- attach to everything -------------------------------------------------------------------

    def attach(self) -> None:
        """Root at DEBUG with this handler; and on every logger that does not propagate."""
        root = logging.getLogger()
        self._root_level = root.level
        root.setLevel(logging.DEBUG)
        root.addHandler(self)
        self._attached = [root]
        self.attach_new()

    def attach_new(self) -> None:
        """Also capture loggers created since (the handlers' modules are imported late)."""
        for logger in _all_loggers():
            if not logger.propagate and logger not in self._attached:
                logger.addHandler(self)
                self._attached.append(logger)

    def detach(self) -> None:
        for logger in self._attached:
            logger.removeHandler(self)
        logging.getLogger().setLevel(self._root_level)
        self._attached = []


def _all_loggers() -> list[logging.Logger]:
    found: list[Any] = list(logging.Logger.manager.loggerDict.values())
    return [logger for logger in found if isinstance(logger, logging.Logger)]
