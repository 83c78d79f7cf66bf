"""The notifier's Slack retries follow the invocation's remaining time (issue 14 item 3).

Against moto and the Slack stand-in with its rate limits on: 429s are retried past slack_sdk's
fixed budget while the invocation has time; with little time left a record is not started (or
not retried) but reported in ``batchItemFailures``, and nothing is lost; no Slack call is made
after the invocation's deadline. The safety margin is ``SLACK_TIMEOUT_SECONDS`` (2 s here) + 1 s.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

from bot.local.events import LocalContext, sqs_event
from bot.local.infra import ExampleStack
from bot.local.slack_standin import Fault, SlackStandIn
from bot.wiring import FINISH_SECONDS, SLACK_RATE_LIMIT_RETRIES
from tests.functional.conftest import (
    CHANNEL,
    SLACK_TIMEOUT_SECONDS,
    Aws,
    receive,
    start_execution,
)

MARGIN = SLACK_TIMEOUT_SECONDS + FINISH_SECONDS  # 3 s


def requests(aws: Aws, stack: ExampleStack, prefix: str, n: int) -> list[dict[str, Any]]:
    for i in range(n):
        start_execution(aws, stack, f"{prefix}-{i}")
    return receive(aws, stack.queues.url, n)


def invoke(
    notifier: ModuleType, stack: ExampleStack, messages: list[dict[str, Any]], *, timeout: float
) -> tuple[list[str], float]:
    """Invoke with a context of ``timeout`` seconds: (failed message ids, the deadline as
    ``time.monotonic()``, the clock of the stand-in's ``RecordedCall.at``)."""
    context = LocalContext(function_name="notifier", timeout_seconds=timeout)
    deadline = context._started + timeout
    response = notifier.handler(sqs_event(messages, queue_arn=stack.queues.arn), context)
    return [f["itemIdentifier"] for f in response["batchItemFailures"]], deadline


def ids(messages: list[dict[str, Any]]) -> list[str]:
    return [m["MessageId"] for m in messages]


def successful_posts(slack: SlackStandIn) -> int:
    return sum(1 for c in slack.calls("chat.postMessage") if c.response.get("ok"))


def test_429s_past_the_fixed_budget_are_retried_while_time_allows(
    aws: Aws, stack: ExampleStack, slack: SlackStandIn, notifier: ModuleType
) -> None:
    messages = requests(aws, stack, "busy", 3)
    # The first post meets more 429s in a row than slack_sdk's fixed budget retries.
    slack.inject("chat.postMessage", Fault(status=429, retry_after=1), SLACK_RATE_LIMIT_RETRIES + 2)

    failed, deadline = invoke(notifier, stack, messages, timeout=30.0)

    assert failed == []
    assert len(slack.messages(CHANNEL)) == 3
    assert successful_posts(slack) == 3
    assert len(slack.fired_faults()) == SLACK_RATE_LIMIT_RETRIES + 2
    assert all(c.at <= deadline for c in slack.calls())


def test_with_less_than_the_margin_left_no_record_is_started(
    aws: Aws, stack: ExampleStack, slack: SlackStandIn, notifier: ModuleType
) -> None:
    messages = requests(aws, stack, "late", 3)

    failed, _ = invoke(notifier, stack, messages, timeout=MARGIN - 1.0)

    assert sorted(failed) == sorted(ids(messages))  # all redelivered, none half-done
    assert slack.calls("chat.postMessage") == []
    # Redelivered with time to spare: each posted once.
    assert invoke(notifier, stack, messages, timeout=30.0)[0] == []
    assert len(slack.messages(CHANNEL)) == 3
    assert successful_posts(slack) == 3


def test_records_left_when_time_runs_short_come_back_and_nothing_is_lost(
    aws: Aws, stack: ExampleStack, slack: SlackStandIn, notifier: ModuleType
) -> None:
    messages = requests(aws, stack, "short", 4)
    # The first post is slow (1.5 s, within the client's 2 s timeout): after it less than the
    # margin is left of a MARGIN + 1.2 s invocation, so the other three are not started.
    slack.inject("chat.postMessage", Fault(delay=1.5))

    failed, deadline = invoke(notifier, stack, messages, timeout=MARGIN + 1.2)

    assert sorted(failed) == sorted(ids(messages[1:]))
    assert len(slack.messages(CHANNEL)) == 1
    assert all(c.at <= deadline for c in slack.calls())

    assert invoke(notifier, stack, messages[1:], timeout=30.0)[0] == []
    assert len(slack.messages(CHANNEL)) == 4
    assert successful_posts(slack) == 4


def test_a_retry_after_that_would_outlast_the_invocation_is_not_waited_for(
    aws: Aws, stack: ExampleStack, slack: SlackStandIn, notifier: ModuleType
) -> None:
    messages = requests(aws, stack, "wait", 3)
    # 8 s + jitter + the 3 s margin do not fit in a 10 s invocation: the first record is
    # reported at once (slack_sdk's handler would sleep and post ~9 s later); the others post.
    slack.inject("chat.postMessage", Fault(status=429, retry_after=8))

    failed, deadline = invoke(notifier, stack, messages, timeout=10.0)

    assert failed == [messages[0]["MessageId"]]
    assert len(slack.messages(CHANNEL)) == 2
    assert all(c.at <= deadline for c in slack.calls())

    assert invoke(notifier, stack, messages[:1], timeout=30.0)[0] == []
    assert len(slack.messages(CHANNEL)) == 3
    assert successful_posts(slack) == 3
