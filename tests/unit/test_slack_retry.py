"""DeadlineRetryHandler's decisions, on a fake clock (its sleep moves the clock).

``call`` drives the handler as slack_sdk's WebClient does (``can_retry`` then
``prepare_for_next_attempt`` on each answer, one ``RetryState`` per call).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler
from slack_sdk.http_retry.handler import RetryHandler
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState

from bot.slack_retry import DeadlineRetryHandler, retry_after_seconds

REQUEST = HttpRequest(method="POST", url="https://slack.test/api/chat.postMessage", headers={})
MARGIN = 11.0


class Clock:
    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@pytest.fixture
def clock() -> Clock:
    return Clock()


def handler(clock: Clock, *, jitter: float = 0.5, budget: int = 2) -> DeadlineRetryHandler:
    return DeadlineRetryHandler(
        budget, safety_margin_s=MARGIN, clock=clock, sleep=clock.sleep, jitter=lambda: jitter
    )


def limited(retry_after: int | None = 1, *, name: str = "Retry-After") -> HttpResponse:
    headers = {} if retry_after is None else {name: str(retry_after)}
    return HttpResponse(status_code=429, headers=headers, data=b'{"ok":false}')


def call(retry: RetryHandler, answers: Iterator[HttpResponse], clock: Clock) -> list[float]:
    """One Web API call: the times its attempts were made (the last one is not retried)."""
    state = RetryState()
    attempts: list[float] = []
    for _, answer in zip(range(100), answers, strict=False):  # slack_sdk stops at 100 too
        attempts.append(clock())
        if not retry.can_retry(state=state, request=REQUEST, response=answer):
            return attempts
        retry.prepare_for_next_attempt(state=state, request=REQUEST, response=answer)
    return attempts


def always(answer: HttpResponse) -> Iterator[HttpResponse]:
    while True:
        yield answer


def test_retries_a_429_as_long_as_the_wait_and_the_margin_fit_before_the_deadline(
    clock: Clock,
) -> None:
    retry = handler(clock, jitter=0.5)
    retry.set_deadline_in(30.0)
    deadline = clock() + 30.0
    attempts = call(retry, always(limited(1)), clock)
    # Each wait is Retry-After 1 + jitter 0.5; a retry at t is allowed while t + 1.5 + 11 <= 30.
    assert [a - 100.0 for a in attempts] == [1.5 * i for i in range(13)]
    assert len(attempts) - 1 == 12  # far past the fixed budget of 2
    assert clock.slept == [1.5] * 12
    assert all(a + MARGIN <= deadline for a in attempts)
    # the next wait would not have fitted
    assert attempts[-1] + 1.5 + MARGIN > deadline


def test_a_429_answered_after_the_budget_succeeds_with_time_left(clock: Clock) -> None:
    retry = handler(clock, jitter=0.0)
    retry.set_deadline_in(30.0)
    ok = HttpResponse(status_code=200, headers={}, body={"ok": True})
    answers = iter([limited(1)] * 5 + [ok])
    assert len(call(retry, answers, clock)) == 6  # 5 retries; slack_sdk's default gives up at 2


def test_does_not_retry_when_the_wait_would_not_fit(clock: Clock) -> None:
    retry = handler(clock, jitter=0.6)
    retry.set_deadline_in(12.5)  # 1 + 0.6 + 11 = 12.6 > 12.5
    assert call(retry, always(limited(1)), clock) == [100.0]
    assert clock.slept == []  # no sleep past the point of no return either


def test_a_long_retry_after_is_not_waited_for_when_it_would_not_fit(clock: Clock) -> None:
    retry = handler(clock, jitter=0.0)
    retry.set_deadline_in(30.0)
    assert len(call(retry, always(limited(20)), clock)) == 1  # 20 + 11 > 30
    assert len(call(retry, always(limited(19)), clock)) == 2  # 19 + 11 = 30 fits once
    assert clock.slept == [19.0]


def test_without_a_deadline_it_keeps_slack_sdks_fixed_budget(clock: Clock) -> None:
    retry = handler(clock, jitter=0.25, budget=2)
    assert retry.time_left() is None
    assert len(call(retry, always(limited(1)), clock)) == 3  # the first try and 2 retries
    assert clock.slept == [1.25, 1.25]
    # the same count as slack_sdk's own handler with that budget
    sdk = RateLimitErrorRetryHandler(max_retry_count=2)
    state = RetryState()
    decisions = []
    for attempt in range(4):
        state.current_attempt = attempt
        decisions.append(sdk.can_retry(state=state, request=REQUEST, response=limited(1)))
    assert decisions == [True, True, False, False]


def test_clearing_the_deadline_restores_the_budget(clock: Clock) -> None:
    retry = handler(clock, jitter=0.0, budget=2)
    retry.set_deadline_in(5.0)
    assert len(call(retry, always(limited(1)), clock)) == 1  # 1 + 11 > 5
    retry.clear_deadline()
    assert len(call(retry, always(limited(1)), clock)) == 3


def test_honours_retry_after_whatever_the_header_case_and_without_one(clock: Clock) -> None:
    retry = handler(clock, jitter=0.75)
    retry.set_deadline_in(60.0)
    ok = HttpResponse(status_code=200, headers={}, body={"ok": True})
    call(retry, iter([limited(7), ok]), clock)
    call(retry, iter([limited(3, name="retry-after"), ok]), clock)
    call(retry, iter([limited(None), ok]), clock)  # no header: 1 s, as slack_sdk does
    assert clock.slept == [7.75, 3.75, 1.75]
    assert retry_after_seconds(limited(4)) == 4.0


def test_only_429_is_retried(clock: Clock) -> None:
    retry = handler(clock)
    retry.set_deadline_in(60.0)
    for status in (500, 503, 400, 200):
        answer = HttpResponse(status_code=status, headers={"Retry-After": "1"})
        assert not retry.can_retry(state=RetryState(), request=REQUEST, response=answer)
    assert not retry.can_retry(state=RetryState(), request=REQUEST, error=TimeoutError())
    assert clock.slept == []


def test_fits_measures_work_plus_the_margin_against_the_time_left(clock: Clock) -> None:
    retry = handler(clock)
    assert retry.fits(1000.0)  # no deadline: anything fits
    retry.set_deadline_in(12.0)
    assert retry.fits(0.0)
    assert retry.fits(1.0)
    assert not retry.fits(1.5)
    clock.now += 2.0
    assert retry.time_left() == 10.0
    assert not retry.fits(0.0)  # less than the margin is left: start nothing new


def test_a_negative_margin_is_refused() -> None:
    with pytest.raises(ValueError, match="safety_margin_s"):
        DeadlineRetryHandler(2, safety_margin_s=-1.0)
