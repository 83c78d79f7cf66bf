"""Fault injection: what to do to the next matching calls, and a record of the faults that fired.

A fault is queued with `SlackStandIn.inject` and *fires* when a call reaches it: only then is it
recorded (`FiredFault`), so a fault queued for a method nobody calls never counts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final, Literal

JsonDict = dict[str, Any]

FaultKind = Literal["429", "5xx", "4xx", "slack_error", "delay_timeout", "answer_lost"]
FAULT_KINDS: Final[tuple[FaultKind, ...]] = (
    "429",
    "5xx",
    "4xx",
    "slack_error",
    "delay_timeout",
    "answer_lost",
)


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

    @property
    def kind(self) -> FaultKind:
        """What the caller meets: ``answer_lost`` (the call took effect, then a faulty answer),
        ``429``, ``5xx``, ``4xx``, ``slack_error`` (HTTP 200, ``ok: false``) or
        ``delay_timeout`` (a bare delay, meant to outlast the client's timeout)."""
        if self.after and self.replaces_answer:
            return "answer_lost"
        if self.status == 429:
            return "429"
        if self.status >= 500:
            return "5xx"
        if self.status >= 400:
            return "4xx"
        if self.error is not None:
            return "slack_error"
        return "delay_timeout"

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


@dataclass(frozen=True)
class FiredFault:
    """An injected fault that reached a caller.

    Attributes:
        method: the Web API method called (``"response_url"`` for a POST to a response URL).
        kind: see `Fault.kind`.
        fault: the fault as injected.
        at: ``time.monotonic()`` when the call that met it arrived.
    """

    method: str
    kind: FaultKind
    fault: Fault
    at: float


@dataclass
class _Pending:
    method: str  # or "*"
    fault: Fault
    remaining: int


class FaultQueue:
    """Faults waiting for their calls, in injection order. Not thread-safe: the stand-in holds
    its lock around every use."""

    def __init__(self) -> None:
        self._pending: list[_Pending] = []
        self._fired: list[FiredFault] = []

    def add(self, method: str, fault: Fault, times: int) -> None:
        if times < 1:
            raise ValueError("times must be at least 1")
        self._pending.append(_Pending(method, fault, times))

    def clear(self) -> None:
        self._pending.clear()

    def take(self, method: str, at: float) -> Fault | None:
        """The next fault for ``method`` (or ``"*"``), consumed and recorded as fired."""
        for pending in self._pending:
            if pending.method in ("*", method):
                pending.remaining -= 1
                if pending.remaining <= 0:
                    self._pending.remove(pending)
                self._fired.append(FiredFault(method, pending.fault.kind, pending.fault, at))
                return pending.fault
        return None

    def pending(self) -> list[tuple[str, Fault, int]]:
        return [(p.method, p.fault, p.remaining) for p in self._pending]

    def fired(self) -> list[FiredFault]:
        return list(self._fired)
