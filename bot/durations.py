"""ISO 8601 durations (``PT4H``, ``P1DT12H``, ``PT30M``, ``P2W``) for reminders and escalation."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Final

_DURATION_RE: Final = re.compile(
    r"^P(?:(?P<weeks>\d+)W)?(?:(?P<days>\d+)D)?"
    r"(?:T(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+)S)?)?$"
)
MAX_DURATION: Final = timedelta(days=366)  # a waiting task waits at most a year


def parse_duration(text: str) -> timedelta:
    """Parse an ISO 8601 duration without years or months (their length varies).

    Raises ``ValueError`` with a message fit for a workflow author.
    """
    match = _DURATION_RE.match(text.strip().upper())
    if match is None or text.strip().upper() in ("P", "PT") or text.strip().upper().endswith("T"):
        raise ValueError(f"{text!r} is not an ISO 8601 duration like PT4H, PT30M or P1DT12H")
    parts = {k: int(v) for k, v in match.groupdict().items() if v}
    duration = timedelta(**parts)
    if duration <= timedelta(0):
        raise ValueError(f"{text!r} must be longer than zero")
    if duration > MAX_DURATION:
        raise ValueError(f"{text!r} is longer than a waiting task can wait (a year)")
    return duration


def format_duration(duration: timedelta) -> str:
    """The canonical ISO 8601 form (``PT1H30M``), for storage."""
    seconds = int(duration.total_seconds())
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    time = "".join(
        f"{value}{unit}" for value, unit in ((hours, "H"), (minutes, "M"), (seconds, "S")) if value
    )
    return "P" + (f"{days}D" if days else "") + (f"T{time}" if time else "")


def humanize(duration: timedelta) -> str:
    """``PT1H30M`` → "1 h 30 min", for messages."""
    seconds = int(duration.total_seconds())
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    parts = [
        f"{value} {unit}"
        for value, unit in ((days, "d"), (hours, "h"), (minutes, "min"), (seconds, "s"))
        if value
    ]
    return " ".join(parts) or "0 s"
