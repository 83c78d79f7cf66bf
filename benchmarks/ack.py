"""Warm ack latency: a signed Approve click through the interactions handler vs a bare Bolt app.

    python -m benchmarks.ack             # 2000 measured clicks each, after 100 warm-up clicks
    python -m benchmarks.ack --n 300

Both sides get the same kind of event (an API Gateway HTTP API v2 event with a freshly signed
``block_actions`` body for the Approve button of a real pending request) and go through Bolt's
``SlackRequestHandler`` with ``process_before_response=True``:

* ``handler`` — ``bot.handlers.interactions.handler``: Powertools' ``inject_lambda_context``
  (and Tracer, when tracing is on), Bolt's signature check, authorization, the ack, and the
  start of the lazy listener (``lambda:Invoke`` of the decision).
* ``bare`` — ``App(process_before_response=True)`` with one listener for the same action that
  only acks.

The lazy listener's ``lambda:Invoke`` goes to a **no-op Lambda client** (it takes the
serialized event and answers 202, as Lambda's API does for ``InvocationType=Event``). On
Lambda that invoke is an HTTP call that returns once the event is queued; the decision runs in
another invocation, never in the process answering Slack. ``bot.local.lambda_client.
LocalLambdaClient`` would run the decision on a thread of this process, so its DynamoDB, Step
Functions and Slack calls (moto, the stand-in) would compete with the next measured ack for the
interpreter and the two cores, and the numbers would measure moto instead of the ack. What the
no-op client leaves out is the network round trip to the Lambda API (the bare app makes none).

The handlers' JSON logs go to /dev/null while measuring (on Lambda they go to a pipe).
Clicks alternate between the two sides so drift affects both alike.
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import time
from typing import Any

from benchmarks.common import (
    ANA,
    BOT_TOKEN,
    CHANNEL,
    SIGNING_SECRET,
    TABLE,
    base_env,
    fresh_import,
    lambda_context,
    machine,
    percentile,
    quiet_stdout,
    request_body,
    set_env,
    start_standin,
)


class NoOpLambdaClient:
    """Takes Bolt's ``lambda:Invoke`` of the lazy listener and answers like Lambda's API."""

    def __init__(self) -> None:
        self.invocations = 0
        self.payload_bytes = 0

    def invoke(
        self,
        FunctionName: str,
        InvocationType: str = "Event",
        Payload: str = "{}",  # boto3's keyword names
    ) -> dict[str, Any]:
        self.invocations += 1
        self.payload_bytes += len(Payload)
        return {"StatusCode": 202, "Payload": b""}


def bare_handler(slack_url: str) -> Any:
    """The reference: Bolt on Lambda that only acks the Approve action."""
    from slack_bolt import Ack, App
    from slack_bolt.adapter.aws_lambda import SlackRequestHandler
    from slack_sdk import WebClient

    from bot.ids import Action

    app = App(
        client=WebClient(token=BOT_TOKEN, base_url=slack_url),
        signing_secret=SIGNING_SECRET,
        process_before_response=True,
    )

    @app.action(Action.APPROVE.value)
    def approve(ack: Ack) -> None:
        ack()

    return SlackRequestHandler(app)


def pending_message(slack: Any) -> str:
    """Post one approval request through the real notifier; return its message ts."""
    import boto3

    from bot.local.events import sqs_event
    from bot.local.infra import create_table

    create_table(boto3.client("dynamodb"), TABLE)
    notifier = fresh_import("bot.handlers.notifier")
    event = sqs_event([{"Body": request_body()}], queue_arn="arn:aws:sqs:us-east-1:1:q")
    with quiet_stdout():
        result = notifier.handler(event, lambda_context("notifier"))
    if result != {"batchItemFailures": []}:
        raise RuntimeError(f"could not post the approval request: {result}")
    return str(slack.messages(CHANNEL)[-1]["ts"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000, help="measured clicks per side (>= 300)")
    parser.add_argument("--warmup", type=int, default=100)
    args = parser.parse_args(argv)
    n = max(300, args.n)

    from moto import mock_aws

    from bot.ids import Action
    from bot.local.events import LocalContext
    from bot.local.lambda_client import attach
    from bot.local.slack_driver import Response, SlackDriver
    from bot.local.slack_requests import api_gateway_v2_event

    print(f"machine: {machine()}")
    slack = start_standin()
    set_env(base_env(slack.url))
    started = time.perf_counter()
    try:
        with mock_aws():
            ts = pending_message(slack)
            with quiet_stdout():
                module = fresh_import("bot.handlers.interactions")
                bare = bare_handler(slack.url)
            lazy = NoOpLambdaClient()
            attach(module.slack_handler, lazy)

            sent: list[dict[str, Any]] = []

            def capture(body: str, headers: dict[str, str]) -> Response:
                sent.append(api_gateway_v2_event(body, headers))
                return Response(200, "", {})

            driver = SlackDriver(slack, signing_secret=SIGNING_SECRET, send=capture)

            def click() -> dict[str, Any]:
                sent.clear()
                driver.click(ANA, CHANNEL, ts, Action.APPROVE.value)
                return sent[0]

            sides = {
                "handler": module.handler,
                "bare": bare.handle,
            }
            samples: dict[str, list[float]] = {name: [] for name in sides}
            statuses: dict[str, set[int]] = {name: set() for name in sides}
            gc.collect()
            gc.freeze()  # the harness's heap (moto, the stand-in) is not the handler's to scan
            with quiet_stdout():
                for i in range(args.warmup + n):
                    order = list(sides) if i % 2 == 0 else list(reversed(sides))
                    for name in order:
                        event = click()
                        context = LocalContext(function_name="interactions")
                        begin = time.perf_counter()
                        response = sides[name](event, context)
                        took = time.perf_counter() - begin
                        statuses[name].add(int(response["statusCode"]))
                        if i >= args.warmup:
                            samples[name].append(took)
    finally:
        slack.stop()

    print(f"\nwarm ack of a signed Approve click, {n} clicks each after {args.warmup} warm-up")
    print(f"  {'':<8} {'p50':>9} {'p90':>9} {'p99':>9} {'max':>9}  statuses")
    for name, values in samples.items():
        cells = [percentile(values, p) * 1e3 for p in (50, 90, 99, 100)]
        print(
            f"  {name:<8} " + " ".join(f"{v:7.2f}ms" for v in cells) + f"  {sorted(statuses[name])}"
        )
    lazy_runs = lazy.invocations
    print(
        f"  lazy listener starts (no-op lambda:Invoke): {lazy_runs}, "
        f"{lazy.payload_bytes // max(1, lazy_runs)} bytes of event each"
    )
    p50 = percentile(samples["handler"], 50) / percentile(samples["bare"], 50)
    p99 = percentile(samples["handler"], 99) / percentile(samples["bare"], 99)
    print(f"ratio p50 {p50:.2f}")
    print(f"ratio p99 {p99:.2f}   (target <= 1.5)")
    print(f"took {time.perf_counter() - started:.0f} s")
    ok = statuses == {"handler": {200}, "bare": {200}} and lazy_runs == args.warmup + n
    if not ok:
        print("WRONG ANSWER: every click must be acked with 200 and start one lazy listener")
    print(json.dumps({"p50_ratio": round(p50, 3), "p99_ratio": round(p99, 3)}))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
