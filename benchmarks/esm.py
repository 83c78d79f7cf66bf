"""Lambda's SQS event source mapping, as deployed, for the burst benchmark.

:func:`deployed_settings` reads the notifier's mapping and function settings from
serverless.yml and the queue's from infra/resources/queues.yml, so a change there moves the
benchmark. :func:`run_slot` is one unit of ``maximumConcurrency``: one execution environment
(its own process, its own notifier import) that does what the mapping does for it, in real
time:

* gather a batch: receive until ``batchSize`` records or until ``maximumBatchingWindow``
  seconds have passed since the first record arrived;
* invoke the real notifier handler with a context that has the function's timeout;
* delete the records the handler did not report in ``batchItemFailures``; the others stay
  in flight until the queue's visibility timeout, then are received again, and go to the DLQ
  after ``maxReceiveCount`` receives (moto applies the redrive policy);
* an invocation that runs past the function's timeout is stopped as Lambda stops it: the slot's
  process exits at the timeout (nothing of the batch is deleted, what it did not post yet is not
  posted) and the benchmark starts a new one, a new cold start.

Each invocation is written as one JSON line to the slot's stats file.
"""

from __future__ import annotations

import json
import math
import os
import sys
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import yaml

from benchmarks.common import ROOT


@dataclass(frozen=True)
class EsmSettings:
    batch_size: int
    batching_window_s: float
    max_concurrency: int
    timeout_s: float
    memory_mb: int
    visibility_timeout_s: int
    max_receive_count: int


class _Loader(yaml.SafeLoader):
    """serverless.yml with its CloudFormation tags (``!Ref``, ``!GetAtt``) read as None."""


_Loader.add_multi_constructor("!", lambda loader, suffix, node: None)


def deployed_settings(root: Path = ROOT) -> EsmSettings:
    config = yaml.load((root / "serverless.yml").read_text(), Loader=_Loader)  # noqa: S506
    functions: dict[str, Any] = {}
    for group in config["functions"]:
        if isinstance(group, dict):
            functions.update(group)
    notifier = functions["notifier"]
    (sqs,) = [e["sqs"] for e in notifier["events"] if "sqs" in e]
    queue = yaml.safe_load((root / "infra/resources/queues.yml").read_text())["Resources"][
        "VerificationQueue"
    ]["Properties"]
    return EsmSettings(
        batch_size=int(sqs["batchSize"]),
        batching_window_s=float(sqs.get("maximumBatchingWindow", 0)),
        max_concurrency=int(sqs["maximumConcurrency"]),
        timeout_s=float(notifier.get("timeout", config["provider"]["timeout"])),
        memory_mb=int(notifier.get("memorySize", config["provider"]["memorySize"])),
        visibility_timeout_s=int(queue["VisibilityTimeout"]),
        max_receive_count=int(queue["RedrivePolicy"]["maxReceiveCount"]),
    )


@dataclass(frozen=True)
class Invocation:
    slot: int
    started: float  # time.time(): the slots are separate processes
    duration_s: float
    records: int
    failed: int
    redelivered: int  # records received before (ApproximateReceiveCount > 1)
    timed_out: bool

    @property
    def billed_ms(self) -> int:
        """Lambda bills duration rounded up to the millisecond."""
        return math.ceil(self.duration_s * 1000)


def gather(sqs: Any, queue_url: str, settings: EsmSettings) -> list[dict[str, Any]]:
    """One batch: up to ``batch_size`` records, waiting at most the batching window after
    the first one arrived (long polling 1 s while there is none)."""
    batch: list[dict[str, Any]] = []
    deadline: float | None = None
    while len(batch) < settings.batch_size:
        left = None if deadline is None else deadline - time.monotonic()
        if left is not None and left <= 0:
            break
        wait = 1 if left is None else max(0, min(1, math.floor(left)))
        got = sqs.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=min(10, settings.batch_size - len(batch)),
            WaitTimeSeconds=wait,
            AttributeNames=["All"],
        ).get("Messages", [])
        if not got and deadline is None:
            return []
        if got and deadline is None:
            deadline = time.monotonic() + settings.batching_window_s
        batch.extend(got)
        if not got and wait == 0:
            time.sleep(min(0.05, max(0.0, deadline - time.monotonic())))  # type: ignore[operator]
    return batch


def invoke(
    handler: Any,
    sqs: Any,
    queue_url: str,
    queue_arn: str,
    batch: list[dict[str, Any]],
    *,
    settings: EsmSettings,
    slot: int,
) -> Invocation:
    from bot.local.events import LocalContext, sqs_event

    context = LocalContext(
        function_name="notifier",
        memory_limit_in_mb=settings.memory_mb,
        timeout_seconds=settings.timeout_s,
    )
    started = time.time()
    begin = time.monotonic()
    response = dict(handler(sqs_event(batch, queue_arn=queue_arn), context) or {})
    duration = time.monotonic() - begin
    timed_out = duration > settings.timeout_s
    failed = {f["itemIdentifier"] for f in response.get("batchItemFailures", [])}
    done = [
        {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
        for i, m in enumerate(batch)
        if m["MessageId"] not in failed
    ]
    if done and not timed_out:
        sqs.delete_message_batch(QueueUrl=queue_url, Entries=done)
    redelivered = sum(int(m["Attributes"]["ApproximateReceiveCount"]) > 1 for m in batch)
    return Invocation(slot, started, duration, len(batch), len(failed), redelivered, timed_out)


def run_slot(slot: int, queue_url: str, queue_arn: str, stats: Path) -> None:
    """One execution environment, until stdin closes (the benchmark says it is over)."""
    import boto3

    from benchmarks.common import fresh_import, quiet_stdout

    settings = deployed_settings()
    stop = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
    sqs = boto3.client("sqs")
    with quiet_stdout():
        notifier = fresh_import("bot.handlers.notifier")  # the cold start, before the burst
    with stats.open("a", encoding="utf-8") as out:
        out.write(json.dumps({"ready": slot}) + "\n")
        out.flush()
        while not stop.is_set():
            batch = gather(sqs, queue_url, settings)
            if not batch:
                continue
            # Past its timeout Lambda stops the invocation and its environment: so does this
            # process (the benchmark starts a new one); nothing of the batch is deleted.
            received = sum(int(m["Attributes"]["ApproximateReceiveCount"]) > 1 for m in batch)
            timed_out = Invocation(
                slot, time.time(), settings.timeout_s, len(batch), 0, received, timed_out=True
            )
            watchdog = threading.Timer(settings.timeout_s, _stop_environment, (out, timed_out))
            watchdog.start()
            with quiet_stdout():
                result = invoke(
                    notifier.handler,
                    sqs,
                    queue_url,
                    queue_arn,
                    batch,
                    settings=settings,
                    slot=slot,
                )
            watchdog.cancel()
            out.write(json.dumps(asdict(result)) + "\n")
            out.flush()


TIMED_OUT_EXIT = 75


def _stop_environment(out: Any, record: Invocation) -> None:
    out.write(json.dumps(asdict(record)) + "\n")
    out.flush()
    os._exit(TIMED_OUT_EXIT)


if __name__ == "__main__":
    run_slot(int(sys.argv[1]), sys.argv[2], sys.argv[3], Path(sys.argv[4]))
