"""Notifier batches with a slow Slack: 10 requests for 10 channels vs one request.

    python -m benchmarks.batch               # 5 rounds, 100 ms per Slack call
    python -m benchmarks.batch --rounds 9 --latency 0.2

The Slack stand-in adds ``--latency`` to every Web API call. moto (``ThreadedMotoServer``) and
the stand-in run on 127.0.0.1 in processes of their own, so that serving the requests does not
compete with the notifier for this interpreter (DynamoDB and Slack are elsewhere on Lambda too);
the notifier handler runs in this process, warm (one discarded batch first). Every request is
new (a new task token), so each one is really stored, posted and marked posted. Per round,
interleaved:

* ``one`` — a batch of one record;
* ``10 channels`` — 10 records for 10 different channels: posted in parallel;
* ``1 channel`` — 10 records for the same channel: posted one after the other, by design
  (Slack rate-limits posting per channel, about one message a second).

Medians over the rounds; ``ratio batch10/one`` compares ``10 channels`` with ``one``.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from benchmarks.common import (
    channel_messages,
    fresh_import,
    lambda_context,
    machine,
    median,
    ms,
    quiet_stdout,
    request_body,
    separate_stack,
)

CHANNELS = tuple(f"C0BATCH{i:02d}" for i in range(10))


def run_batch(notifier: Any, queue_arn: str, channels: list[str]) -> tuple[float, dict[str, Any]]:
    from bot.local.events import sqs_event

    event = sqs_event([{"Body": request_body(channel=c)} for c in channels], queue_arn=queue_arn)
    context = lambda_context("notifier")
    begin = time.perf_counter()
    result = notifier.handler(event, context)
    return time.perf_counter() - begin, dict(result)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--latency", type=float, default=0.1, help="seconds per Slack call")
    args = parser.parse_args(argv)

    print(f"machine: {machine()}")
    started = time.perf_counter()
    scenarios = {
        "one": [CHANNELS[0]],
        "10 channels": list(CHANNELS),
        "1 channel": [CHANNELS[0]] * 10,
    }
    times: dict[str, list[float]] = {name: [] for name in scenarios}
    failures = 0
    with separate_stack(latency=args.latency, channels=CHANNELS) as (_, slack_url):
        import boto3

        from bot.local.infra import create_queues

        queue_arn = create_queues(boto3.client("sqs"), name="VerificationQueue").arn
        with quiet_stdout():
            notifier = fresh_import("bot.handlers.notifier")
            run_batch(notifier, queue_arn, list(CHANNELS))  # warm: clients, connections
            for _ in range(args.rounds):
                for name, channels in scenarios.items():
                    took, result = run_batch(notifier, queue_arn, channels)
                    times[name].append(took)
                    failures += len(result.get("batchItemFailures", []))
        posted = sum(len(channel_messages(slack_url, c)) for c in CHANNELS)

    expected = 10 + args.rounds * sum(len(c) for c in scenarios.values())
    print(
        f"\nnotifier batches, Slack answering each call after {ms(args.latency)}, "
        f"{args.rounds} rounds (median, best)"
    )
    for name, values in times.items():
        print(f"  {name:<12} {ms(median(values)):>10} {ms(min(values)):>10}")
    print(f"  messages posted: {posted} for {expected} requests")
    one = median(times["one"])
    print(f"ratio batch10/one {median(times['10 channels']) / one:.2f}   (target < 3)")
    print(
        f"ratio same-channel10/one {median(times['1 channel']) / one:.2f}   (sequential by design)"
    )
    print(f"took {time.perf_counter() - started:.0f} s")
    ok = failures == 0 and posted == expected
    if not ok:
        print(f"WRONG ANSWER: {failures} failed records, {posted} posts for {expected} requests")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
