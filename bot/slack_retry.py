"""Slack 429 retries that follow the Lambda invocation's remaining time.

slack_sdk's ``RateLimitErrorRetryHandler`` retries a rate-limited call a fixed number of
times, sleeping ``Retry-After`` plus up to 1 s of jitter each time. In a busy channel a fixed
budget is either too small (the record fails and waits out the queue's visibility timeout) or
too large (the invocation sleeps past its own timeout, and Lambda stops it mid-batch).

:class:`DeadlineRetryHandler` keeps slack_sdk's behaviour (same 429 test, same wait) but, once
a deadline is set, decides each retry by time instead of by count: it retries as long as the
wait plus a safety margin (one more call at its timeout, then finishing the record and
returning) still ends before the deadline. With no deadline it is the fixed budget again.

One handler serves one execution environment, which runs one invocation at a time: the
invocation sets the deadline on entry and clears it on exit; worker threads of that
invocation only read it.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable

from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState

_WAIT = "deadline_retry_wait"  # RetryState.custom_values key: the wait can_retry decided on


def retry_after_seconds(response: HttpResponse) -> float:
    """``Retry-After`` in whole seconds, as slack_sdk reads it; 1 s when it is missing."""
    for name, values in response.headers.items():
        if name.lower() == "retry-after":
            value = values[0] if isinstance(values, list) else values
            try:
                return float(int(value))
            except ValueError:
                return 1.0
    return 1.0


class DeadlineRetryHandler(RateLimitErrorRetryHandler):
    """Retries HTTP 429 while ``Retry-After`` + jitter + ``safety_margin_s`` fits before the
    deadline; without a deadline, at most ``max_retry_count`` times (slack_sdk's behaviour)."""

    def __init__(
        self,
        max_retry_count: int,
        *,
        safety_margin_s: float,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        super().__init__(max_retry_count=max_retry_count)
        if safety_margin_s < 0:
            raise ValueError("safety_margin_s must not be negative")
        self.safety_margin_s = safety_margin_s
        self._clock = clock
        self._sleep = sleep
        self._jitter = jitter
        self._deadline: float | None = None

    # -- the deadline (one invocation at a time) -------------------------------------------

    def set_deadline_in(self, seconds: float) -> None:
        """The invocation ends ``seconds`` from now (``get_remaining_time_in_millis() / 1000``)."""
        self._deadline = self._clock() + seconds

    def clear_deadline(self) -> None:
        self._deadline = None

    def time_left(self) -> float | None:
        """Seconds until the deadline (negative past it), or None without one."""
        return None if self._deadline is None else self._deadline - self._clock()

    def fits(self, seconds: float) -> bool:
        """Whether ``seconds`` of work plus the safety margin end before the deadline
        (always, without a deadline)."""
        left = self.time_left()
        return left is None or seconds + self.safety_margin_s <= left

    # -- slack_sdk's RetryHandler interface -------------------------------------------------

    def can_retry(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        if not self._can_retry(state=state, request=request, response=response, error=error):
            return False
        assert response is not None  # a 429 has an answer
        if self._deadline is None:
            return state.current_attempt < self.max_retry_count
        wait = retry_after_seconds(response) + self._jitter()
        if not self.fits(wait):
            return False
        state.custom_values = {**(state.custom_values or {}), _WAIT: wait}
        return True

    def prepare_for_next_attempt(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> None:
        if response is None:
            raise error  # type: ignore[misc]  # slack_sdk's own behaviour
        values = state.custom_values or {}
        wait = values.pop(_WAIT, None)
        if wait is None:
            wait = retry_after_seconds(response) + self._jitter()
        state.next_attempt_requested = True
        self._sleep(wait)
        state.increment_current_attempt()
