"""benchmarks.burst and its model of the deployed SQS event source mapping (benchmarks.esm).

Small sizes; every assertion is on accounting, none on wall-clock time.
"""

from __future__ import annotations

import math
import os
import shutil
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from benchmarks.burst import floor_seconds, run_burst
from benchmarks.common import ROOT
from benchmarks.esm import EsmSettings, deployed_settings, gather, invoke
from bot.config import load_settings
from bot.local.infra import create_queues
from bot.local.slack_standin.ratelimits import PER_CHANNEL
from bot.wiring import FINISH_SECONDS


@pytest.fixture
def clean_env() -> Iterator[None]:
    """run_burst sets the environment the handlers read: put it back for the next test."""
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)


def test_settings_are_read_from_the_deploy_files(tmp_path: Path) -> None:
    settings = deployed_settings()
    assert settings == EsmSettings(
        batch_size=5,
        batching_window_s=1.0,
        max_concurrency=2,
        timeout_s=30.0,
        memory_mb=512,
        visibility_timeout_s=180,
        max_receive_count=5,
    )
    # A change in serverless.yml moves the benchmark.
    (tmp_path / "infra/resources").mkdir(parents=True)
    shutil.copy(ROOT / "infra/resources/queues.yml", tmp_path / "infra/resources/queues.yml")
    text = (ROOT / "serverless.yml").read_text()
    (tmp_path / "serverless.yml").write_text(
        text.replace("maximumConcurrency: 2", "maximumConcurrency: 3")
    )
    assert deployed_settings(tmp_path).max_concurrency == 3


def test_a_deployed_batch_into_one_busy_channel_fits_the_time_records_may_start() -> None:
    """All ``maximumConcurrency`` pollers posting into one channel share Slack's 1 post/s, so
    a batch posts at 1/concurrency per second. An invocation starts no record (and retries no
    429) later than its timeout minus the notifier's safety margin (the Slack timeout + 1 s,
    bot.wiring.notifier_retry_handler): a batch that takes longer leaves records behind, and
    they wait out the queue's visibility timeout (the one-channel burst's tail)."""
    settings = deployed_settings()
    deployed = load_settings({"APPROVALS_TABLE": "t"})  # serverless.yml sets no SLACK_TIMEOUT
    margin = deployed.slack_timeout_seconds + FINISH_SECONDS
    seconds_per_post = settings.max_concurrency * 60.0 / PER_CHANNEL.per_minute
    assert settings.batch_size * seconds_per_post <= settings.timeout_s - margin


def test_floor_is_the_busiest_channel_at_one_post_a_second() -> None:
    assert floor_seconds(Counter({"C1": 300})) == 300
    assert floor_seconds(Counter({f"C{i}": 10 for i in range(30)})) == 10
    assert floor_seconds(Counter({"C1": 4, "C2": 9})) == 9


SETTINGS = EsmSettings(
    batch_size=10,
    batching_window_s=0.5,  # shorter than the queue's visibility timeout, as deployed
    max_concurrency=1,
    timeout_s=30.0,
    memory_mb=512,
    visibility_timeout_s=2,
    max_receive_count=2,
)


@pytest.fixture
def queue(aws: Any) -> Any:
    return create_queues(
        boto3.client("sqs"), name="burst", visibility_timeout=2, max_receive_count=2
    )


def _send(n: int, url: str) -> None:
    sqs = boto3.client("sqs")
    for i in range(n):
        sqs.send_message(QueueUrl=url, MessageBody=f"m{i}")


def test_a_batch_holds_at_most_batch_size_records(queue: Any) -> None:
    _send(13, queue.url)
    sqs = boto3.client("sqs")
    first = gather(sqs, queue.url, SETTINGS)
    second = gather(sqs, queue.url, SETTINGS)
    assert [len(first), len(second)] == [10, 3]


def test_reported_failures_are_redelivered_then_dead_lettered(queue: Any) -> None:
    _send(2, queue.url)
    sqs = boto3.client("sqs")

    def fail_m0(event: dict[str, Any], _context: Any) -> dict[str, Any]:
        ids = [r["messageId"] for r in event["Records"] if r["body"] == "m0"]
        return {"batchItemFailures": [{"itemIdentifier": i} for i in ids]}

    seen: list[Any] = []
    for _ in range(8):  # bounded: two receives of m0, one visibility timeout (2 s) apart
        batch = gather(sqs, queue.url, SETTINGS)
        if batch:
            seen.append(
                invoke(fail_m0, sqs, queue.url, queue.arn, batch, settings=SETTINGS, slot=0)
            )
        if sum(i.records for i in seen) == 3:
            break
    assert [(i.records, i.failed, i.redelivered) for i in seen] == [(2, 1, 0), (1, 1, 1)]
    # maxReceiveCount 2: the third receive moves m0 to the DLQ instead.
    assert gather(sqs, queue.url, SETTINGS) == []
    time.sleep(1.5)  # m0 visible again: this receive dead-letters it
    assert gather(sqs, queue.url, SETTINGS) == []
    dlq = sqs.receive_message(QueueUrl=queue.dlq_url, MaxNumberOfMessages=10)["Messages"]
    assert [m["Body"] for m in dlq] == ["m0"]


def test_an_invocation_past_its_timeout_deletes_nothing(queue: Any) -> None:
    _send(1, queue.url)
    sqs = boto3.client("sqs")
    short = EsmSettings(**{**SETTINGS.__dict__, "timeout_s": 0.0})
    batch = gather(sqs, queue.url, short)
    result = invoke(lambda _e, _c: {}, sqs, queue.url, queue.arn, batch, settings=short, slot=0)
    assert result.timed_out
    assert result.failed == 0
    attributes = sqs.get_queue_attributes(
        QueueUrl=queue.url, AttributeNames=["ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    assert attributes["ApproximateNumberOfMessagesNotVisible"] == "1"  # still there


def test_a_small_burst_posts_each_request_once_and_accounts_for_it(clean_env: None) -> None:
    """6 requests into one channel (Slack's burst of 3 then one a second) and 8 over 4."""
    for requests, channels in ((6, 1), (8, 4)):
        result = run_burst(requests, channels, max_seconds=60)
        assert (result.posted, result.duplicates, result.dlq, result.timed_out) == (
            requests,
            0,
            0,
            0,
        )
        assert sum(i.records for i in result.invocations) == requests + result.redeliveries
        assert result.billed_ms == sum(math.ceil(i.duration_s * 1000) for i in result.invocations)
        assert result.floor_s == math.ceil(requests / channels)
        if channels == 1:  # 6 posts into one channel cannot all pass Slack's burst of 3
            assert result.rate_limited >= 1
