"""Bursts at Slack's ceiling: 300 requests into one channel, 300 over 30 channels.

    python -m benchmarks.burst                      # both scenarios, 300 requests each
    python -m benchmarks.burst --requests 30 --channels 1,3

Delivered as the deployed event source mapping delivers them (``benchmarks.esm``: batch size,
batching window, ``maximumConcurrency`` execution environments, the function's timeout, the
queue's visibility timeout and ``maxReceiveCount``, all read from serverless.yml and
infra/resources/queues.yml), in real time: the real notifier handler in one process per
concurrent execution environment, moto (SQS with the redrive policy, DynamoDB) and the Slack
stand-in with its real rate limits (``chat.postMessage`` one per second per channel, bursts of
3; the workspace tier), and the bot's own Slack client (``bot.slack_retry.DeadlineRetryHandler``:
``Retry-After`` honoured while it fits in the invocation's remaining time).

The floor is what Slack allows: each channel's requests at one per second, channels in
parallel, i.e. ``max(requests per channel) / 1 s``. The time is from the first request sent to
the last message posted. Billed milliseconds are the invocations' durations rounded up to the
millisecond, as Lambda bills them.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

from benchmarks.common import ROOT, local_stack, machine, request_body
from benchmarks.esm import (
    TIMED_OUT_EXIT,
    EsmSettings,
    Invocation,
    deployed_settings,
)
from bot.local.slack_standin.ratelimits import PER_CHANNEL

GOAL_RATIO = 1.2


@dataclass(frozen=True)
class BurstResult:
    requests: int
    channels: int
    seconds: float  # first request sent → last message posted
    floor_s: float
    posted: int  # chat.postMessage calls that posted (one message each)
    duplicates: int  # posts beyond one per request
    rate_limited: int  # 429s the stand-in answered
    redeliveries: int
    dlq: int
    invocations: list[Invocation]
    timeout_s: float

    @property
    def ratio(self) -> float:
        return self.seconds / self.floor_s

    @property
    def billed_ms(self) -> int:
        return sum(i.billed_ms for i in self.invocations)

    @property
    def max_duration_s(self) -> float:
        return max((i.duration_s for i in self.invocations), default=0.0)

    @property
    def timed_out(self) -> int:
        return sum(i.timed_out for i in self.invocations)


def floor_seconds(per_channel: Counter[str]) -> float:
    """Slack's physical floor: every channel's requests at its rate, channels in parallel."""
    return max(per_channel.values()) * 60.0 / PER_CHANNEL.per_minute


def _send(sqs: Any, queue_url: str, channels: list[str]) -> None:
    for start in range(0, len(channels), 10):
        entries = [
            {"Id": str(i), "MessageBody": request_body(channel=c)}
            for i, c in enumerate(channels[start : start + 10])
        ]
        sqs.send_message_batch(QueueUrl=queue_url, Entries=entries)


def _queue_empty(sqs: Any, url: str) -> bool:
    attributes = sqs.get_queue_attributes(
        QueueUrl=url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return all(int(v) == 0 for v in attributes.values())


def _read(stats: Path) -> list[dict[str, Any]]:
    if not stats.exists():
        return []
    return [json.loads(line) for line in stats.read_text().splitlines() if line.strip()]


def run_burst(
    requests: int,
    channels: int,
    *,
    settings: EsmSettings | None = None,
    max_seconds: float = 1800.0,
    log: Any = None,
) -> BurstResult:
    """One burst on a fresh local stack; returns what happened."""
    import boto3

    from bot.local.infra import create_queues

    settings = settings or deployed_settings()
    names = [f"C0BURST{i:03d}" for i in range(channels)]
    targets = [names[i % channels] for i in range(requests)]
    with local_stack(channels=names) as stack, TemporaryDirectory() as tmp:
        sqs = boto3.client("sqs")
        queues = create_queues(
            sqs,
            visibility_timeout=settings.visibility_timeout_s,
            max_receive_count=settings.max_receive_count,
        )
        posts: list[float] = []
        stack.slack.subscribe(
            lambda method, _params: (
                posts.append(time.time()) if method == "chat.postMessage" else None
            )
        )
        stats = [Path(tmp) / f"slot{n}.jsonl" for n in range(settings.max_concurrency)]

        def environment(n: int) -> subprocess.Popen[bytes]:
            return subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "benchmarks.esm",
                    str(n),
                    queues.url,
                    queues.arn,
                    str(stats[n]),
                ],
                cwd=ROOT,
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
            )

        slots: list[subprocess.Popen[bytes]] = []
        try:
            for n in range(len(stats)):
                slots.append(environment(n))
            for _ in range(600):  # the cold starts happen before the burst
                if all(_read(p) for p in stats):
                    break
                time.sleep(0.1)
            else:
                raise RuntimeError("the execution environments did not start")
            sent = time.time()
            _send(sqs, queues.url, targets)
            polls = 0
            while time.time() - sent < max_seconds and not _queue_empty(sqs, queues.url):
                time.sleep(0.2)
                polls += 1
                for n, slot in enumerate(slots):  # stopped at its timeout: a new environment
                    if slot.poll() == TIMED_OUT_EXIT:
                        assert slot.stdin is not None
                        slot.stdin.close()
                        slots[n] = environment(n)
                if log and polls % 50 == 0:
                    log(f"  {len(posts)}/{requests} posted after {time.time() - sent:.0f} s\n")
        finally:
            for slot in slots:
                assert slot.stdin is not None
                slot.stdin.close()
            for slot in slots:
                try:
                    slot.wait(timeout=settings.timeout_s + 30)
                except subprocess.TimeoutExpired:
                    slot.kill()
        invocations = [
            Invocation(**line) for path in stats for line in _read(path) if "ready" not in line
        ]
        texts = [m for c in names for m in stack.slack.messages(c)]
        dlq = int(
            sqs.get_queue_attributes(
                QueueUrl=queues.dlq_url, AttributeNames=["ApproximateNumberOfMessages"]
            )["Attributes"]["ApproximateNumberOfMessages"]
        )
        posted_calls = [
            c for c in stack.slack.calls("chat.postMessage") if c.response.get("ok") is True
        ]
        return BurstResult(
            requests=requests,
            channels=channels,
            seconds=(max(posts) - sent) if posts else float("inf"),
            floor_s=floor_seconds(Counter(targets)),
            posted=len(texts),
            duplicates=max(0, len(posted_calls) - requests),
            rate_limited=len(stack.slack.rate_limit_hits()),
            redeliveries=sum(i.redelivered for i in invocations),
            dlq=dlq,
            invocations=invocations,
            timeout_s=settings.timeout_s,
        )


def report(result: BurstResult) -> str:
    n = len(result.invocations)
    return "\n".join(
        [
            f"{result.requests} requests into {result.channels} channel(s):",
            f"  all posted after {result.seconds:.1f} s; floor {result.floor_s:.1f} s; "
            f"ratio {result.ratio:.2f} (goal <= {GOAL_RATIO})",
            f"  posted {result.posted}/{result.requests}, duplicates {result.duplicates}, "
            f"429s seen {result.rate_limited}, redeliveries {result.redeliveries}, "
            f"DLQ {result.dlq}",
            f"  invocations {n}, billed {result.billed_ms} ms = "
            f"{result.billed_ms / result.requests:.0f} ms per request; max invocation "
            f"{result.max_duration_s:.1f} s vs timeout {result.timeout_s:.0f} s, "
            f"{result.timed_out} past it",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--channels", default="1,30", help="comma-separated scenarios")
    args = parser.parse_args(argv)
    settings = deployed_settings()
    print(f"machine: {machine()}")
    print(f"deployed mapping: {settings}")
    ok = True
    for channels in (int(c) for c in args.channels.split(",")):
        result = run_burst(args.requests, channels, settings=settings, log=sys.stderr.write)
        print(report(result), flush=True)
        ok &= (
            result.ratio <= GOAL_RATIO
            and result.dlq == 0
            and result.timed_out == 0
            and result.posted == result.requests
        )
    print("goal met" if ok else "GOAL NOT MET")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
