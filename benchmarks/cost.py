"""What 1,000 approvals cost: a realistic mix through the real handlers, counted per approval.

    python -m benchmarks.cost            # 40 requests
    python -m benchmarks.cost --n 100

Runs the offline sandbox without its background loops (moto with the example state machine, the
Slack stand-in with its rate limits, the three real handlers; Bolt's lazy listeners re-invoke the
interactions handler as on Lambda). The mix: 35% approved by one approver, 25% rejected with a
reason (modal), 25% 2-of-3 (two votes), 15% left to expire (the execution times out; the
EventBridge rule invokes the expirations function); and one ``/approvals`` listing per request.

Counted, per approval:

* Lambda invocations per function (the HTTP API's synchronous ones, the lazy self-invocations,
  the notifier's SQS batches, the expirations' events) and their durations measured here,
  billed (rounded up to 1 ms) at each function's deployed memory size (serverless.yml), arm64.
  Measured on this machine, not on Graviton: the durations are indicative.
* DynamoDB read and write request units: moto does not return ``ConsumedCapacity``, so they are
  counted per operation with DynamoDB's documented rounding (on-demand: a write is 1 WRU per
  started KB of the item, a strongly consistent read 1 RRU per started 4 KB, eventually
  consistent half, transactions twice) from the item sizes read back from the table.
* DynamoDB index writes: a write that changes what a global secondary index holds for the item
  is billed again for that index (DynamoDB Developer Guide, "Provisioned throughput
  considerations for Global Secondary Indexes", writes): one write when the item enters the
  index, leaves it, or changes projected attributes without changing the index key; two when
  the index key changes (delete + put); none when the index's entry stays as it was (a
  KEYS_ONLY index whose keys did not change, a failed condition). Each 1 WRU per started KB
  of the index entry (the projected attributes; ALL: the whole item). Counted on their own
  line, so the table's writes compare with earlier runs.
* SQS requests (the state machine's SendMessage, the mapping's receives and deletes), SSM calls,
  HTTP API requests, Slack calls by method.

The scheduled sweep (every 5 minutes: 8,640 invocations a month whatever the volume) is not
per approval and is left out; so are CloudWatch Logs ingestion, X-Ray and the state machine's
own transitions.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

# us-east-1 list prices, arm64, read from the AWS pricing pages (Lambda, DynamoDB on-demand
# after the 2024-11-01 reduction, SQS standard, API Gateway HTTP APIs); dated 2024-12-01.
PRICES_DATE = "2024-12-01"
LAMBDA_GB_SECOND_ARM = 0.0000133334  # first 7.5 billion GB-s per month
LAMBDA_REQUEST = 0.20 / 1e6
DYNAMODB_WRU = 0.625 / 1e6
DYNAMODB_RRU = 0.125 / 1e6
SQS_REQUEST = 0.40 / 1e6  # standard queue, each 64 KB chunk a request
HTTP_API_REQUEST = 1.00 / 1e6  # first 300 million a month
SSM_STANDARD_CALL = 0.0  # standard parameters, standard throughput: no charge

MIX = (("approve", 0.35), ("reject", 0.25), ("approve2", 0.25), ("expire", 0.15))
ANA, CY, EVE, BO = "U0ANA", "U0CY", "U0EVE", "U0BO"
CHANNELS = 10


@dataclass
class Meter:
    """Everything counted while the mix runs."""

    invocations: Counter[str] = field(default_factory=Counter)
    billed_ms: Counter[str] = field(default_factory=Counter)
    aws_calls: Counter[str] = field(default_factory=Counter)  # "dynamodb.PutItem", …
    dynamodb_rru: float = 0.0
    dynamodb_wru: float = 0.0  # the table's writes
    dynamodb_index_wru: float = 0.0  # the writes of the global secondary indexes
    lock: threading.Lock = field(default_factory=threading.Lock)

    def timed(self, name: str, handler: Callable[..., Any]) -> Callable[..., Any]:
        def run(event: Any, context: Any) -> Any:
            begin = time.perf_counter()
            try:
                return handler(event, context)
            finally:
                took = math.ceil((time.perf_counter() - begin) * 1000)
                with self.lock:
                    self.invocations[name] += 1
                    self.billed_ms[name] += took

        return run


def deployed_memory() -> dict[str, int]:
    import yaml

    from benchmarks.common import ROOT
    from benchmarks.esm import _Loader

    config = yaml.load((ROOT / "serverless.yml").read_text(), Loader=_Loader)  # noqa: S506
    default = int(config["provider"]["memorySize"])
    functions: dict[str, Any] = {}
    for group in config["functions"]:
        if isinstance(group, dict):
            functions.update(group)
    return {
        name: int(functions[name].get("memorySize", default))
        for name in ("notifier", "interactions", "expirations")
    }


def _item_size(item: dict[str, Any]) -> int:
    """DynamoDB's item size, as the store computes it to refuse oversized requests."""
    from bot.store import item_size

    return item_size(item)


Item = dict[str, Any]


def _wru(size: int) -> float:
    return float(max(1, math.ceil(size / 1024)))


@dataclass(frozen=True)
class Index:
    """A global secondary index of the table, as ``infra/resources/approvals-table.yml`` has it."""

    name: str
    keys: tuple[str, ...]  # its partition (and sort) key
    projection: str  # ALL, KEYS_ONLY or INCLUDE
    table_keys: tuple[str, ...]
    include: tuple[str, ...] = ()

    @classmethod
    def from_resource(cls, spec: dict[str, Any], table_keys: tuple[str, ...]) -> Index:
        projection = spec["Projection"]
        return cls(
            name=spec["IndexName"],
            keys=tuple(k["AttributeName"] for k in spec["KeySchema"]),
            projection=projection["ProjectionType"],
            table_keys=table_keys,
            include=tuple(projection.get("NonKeyAttributes", ())),
        )

    def entry(self, item: Item) -> Item | None:
        """What the index holds for ``item``; None when the item is not in it (sparse)."""
        if not item or not all(k in item for k in self.keys):
            return None
        if self.projection == "ALL":
            return dict(item)
        kept = {*self.table_keys, *self.keys, *self.include}
        return {k: v for k, v in item.items() if k in kept}

    def writes(self, before: Item, after: Item) -> float:
        """The WRU this index bills for a write that turned ``before`` into ``after``."""
        old, new = self.entry(before), self.entry(after)
        if old is None and new is None:
            return 0.0
        if old is None or new is None:  # enters or leaves the index: one put or one delete
            return _wru(_item_size(new if old is None else old))
        if any(before[k] != after[k] for k in self.keys):  # moved: delete + put
            return _wru(_item_size(old)) + _wru(_item_size(new))
        if old != new:  # projected attributes changed in place
            return _wru(max(_item_size(old), _item_size(new)))
        return 0.0


class DynamoUnits:
    """Request units per operation, from the sizes of the items involved (see the docstring)."""

    def __init__(self, meter: Meter) -> None:
        import botocore.session

        from bot.local.infra import load_resources

        self.meter = meter
        self.largest = 0
        self.writes: Counter[str] = Counter()  # the table's WRU by operation
        self.index_writes: Counter[str] = Counter()  # WRU by index
        table = load_resources()["ApprovalsTable"]["Properties"]
        self.key_names = [k["AttributeName"] for k in table["KeySchema"]]
        self.indexes = [
            Index.from_resource(spec, tuple(self.key_names))
            for spec in table.get("GlobalSecondaryIndexes", ())
        ]
        self._probe: Any = None
        self._session = botocore.session.Session()

    @property
    def probe(self) -> Any:
        """A client of its own session (its calls are not counted), built once moto is up."""
        if self._probe is None:
            self._probe = self._session.create_client("dynamodb")
        return self._probe

    def item_before(self, operation: str, params: dict[str, Any]) -> Item:
        """The item a write replaces (writes bill the larger of before and after; the indexes
        bill what changes between them)."""
        if operation not in ("PutItem", "UpdateItem", "DeleteItem"):
            return {}
        return self._read(params)

    def item_after(self, params: dict[str, Any]) -> Item:
        return self._read(params)

    def _read(self, params: dict[str, Any]) -> Item:
        key = params.get("Key")
        if key is None:  # PutItem: the key attributes are in the item
            key = {k: params["Item"][k] for k in self.key_names if k in params["Item"]}
        found = self.probe.get_item(TableName=params["TableName"], Key=key, ConsistentRead=True)
        return dict(found.get("Item") or {})

    def count(
        self, operation: str, params: dict[str, Any], parsed: dict[str, Any], before: Item
    ) -> None:
        def wru(size: int) -> float:
            self.largest = max(self.largest, size)
            return _wru(size)

        def rru(size: int, consistent: bool) -> float:
            self.largest = max(self.largest, size)
            units = float(max(1, math.ceil(size / 4096)))
            return units if consistent else units / 2

        consistent = bool(params.get("ConsistentRead"))
        r = w = indexed = 0.0
        if operation in ("PutItem", "UpdateItem", "DeleteItem"):
            # The larger of the item before and after; a failed condition still bills (the
            # indexes do not: nothing changed).
            after = self.item_after(params)
            w = wru(max(_item_size(before), _item_size(after)))
            self.writes[operation] += w
            for index in self.indexes:
                units = index.writes(before, after)
                self.index_writes[index.name] += units
                indexed += units
        elif operation == "GetItem":
            r = rru(_item_size(parsed.get("Item") or {}), consistent)
        elif operation in ("Query", "Scan"):
            total = sum(_item_size(i) for i in parsed.get("Items", []))
            r = rru(total, consistent)
        elif operation == "TransactWriteItems":
            for entry in params["TransactItems"]:
                ((kind, body),) = entry.items()
                size = _item_size(body.get("Item", {})) if kind == "Put" else 1024
                w += 2 * wru(size)
        elif operation == "BatchGetItem":
            for items in (parsed.get("Responses") or {}).values():
                r += sum(rru(_item_size(i), consistent) for i in items)
        elif operation == "BatchWriteItem":
            for entries in params.get("RequestItems", {}).values():
                w += sum(wru(_item_size(e.get("PutRequest", {}).get("Item", {}))) for e in entries)
        with self.meter.lock:
            self.meter.dynamodb_rru += r
            self.meter.dynamodb_wru += w
            self.meter.dynamodb_index_wru += indexed


def install_aws_meter(meter: Meter, units: DynamoUnits) -> None:
    """Count every AWS call of every client built from now on (boto3's default session)."""
    import boto3

    from bot import wiring

    boto3.setup_default_session()  # a new one: the caller may drop it afterwards
    assert boto3.DEFAULT_SESSION is not None
    # The handlers' clients come from the bot's own session (bot.aws_session), the harness's from
    # boto3's default one: both are counted (a client copies its session's hooks when built).
    sessions = (boto3.DEFAULT_SESSION, wiring.aws_session())
    pending: dict[int, tuple[dict[str, Any], Item]] = {}

    def before(
        params: dict[str, Any], context: dict[str, Any], model: Any, event_name: str, **_: Any
    ) -> None:
        item = units.item_before(model.name, params) if ".dynamodb." in event_name else {}
        pending[id(context)] = (dict(params), item)

    def after(
        model: Any, parsed: dict[str, Any], context: dict[str, Any], event_name: str, **_: Any
    ) -> None:
        service = event_name.split(".")[1]
        params, item = pending.pop(id(context), ({}, {}))
        with meter.lock:
            meter.aws_calls[f"{service}.{model.name}"] += 1
        if service == "dynamodb":
            units.count(model.name, params, parsed, item)

    for session in sessions:
        session.events.register("provide-client-params.*.*", before)
        session.events.register("after-call.*.*", after)


def run_mix(  # noqa: PLR0912 - one scenario, step by step
    n: int, seed: int = 14
) -> tuple[Meter, Counter[str], Counter[str], int, DynamoUnits]:
    """The mix on a fresh sandbox. Returns the meter, the Slack calls by method, the outcomes,
    the HTTP API requests and the DynamoDB unit counter."""
    import logging

    from bot.ids import Action, Input, Modal
    from bot.local.sandbox import PEOPLE, Sandbox
    from bot.models import approval_id_for

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    meter = Meter()
    units = DynamoUnits(meter)
    install_aws_meter(meter, units)
    rng = random.Random(seed)
    outcomes: Counter[str] = Counter()
    http = 0
    with Sandbox(port=0, background=False, short_wait_seconds=2) as sandbox:
        sandbox.notifier.handler = meter.timed("notifier", sandbox.notifier.handler)
        sandbox.expirations.handler = meter.timed("expirations", sandbox.expirations.handler)
        sync = meter.timed("interactions", sandbox.interactions.handler)
        sandbox.interactions.handler = sync
        sandbox.lazy._handler = meter.timed("interactions (lazy)", sandbox.lazy._handler)
        meter.aws_calls.clear()
        meter.dynamodb_rru = meter.dynamodb_wru = meter.dynamodb_index_wru = 0.0
        units.writes.clear()
        units.index_writes.clear()
        # Requests spread over channels, as a workspace's are: Slack's one post per second per
        # channel is not what this measures (benchmarks.burst does).
        channels = [f"C0COST{i:02d}" for i in range(CHANNELS)]
        for channel in channels:
            sandbox.standin.add_channel(channel, channel.lower(), members=[p.id for p in PEOPLE])
        executions: list[tuple[str, str, str]] = []
        for i in range(n):
            kind = rng.choices([k for k, _ in MIX], [w for _, w in MIX])[0] if i >= 4 else MIX[i][0]
            outcomes[kind] += 1
            channel = channels[i % CHANNELS]
            request: dict[str, Any] = {
                "service": f"svc-{i}",
                "version": "1.0",
                "requester": BO,
                "channel": channel,
            }
            if kind == "approve2":
                request.update(approvers=[ANA, CY, EVE], required_approvals=2)
            arn = sandbox.start_execution(request, short_wait=kind == "expire")
            executions.append((kind, channel, arn))
            # Requests arrive one at a time (not a burst): the mapping delivers each alone.
            for _ in range(20):
                sandbox.poll_queue()
                if not _queue_depth(sandbox):
                    break
        posted = {
            ((m.get("metadata") or {}).get("event_payload") or {}).get("approval_id"): m["ts"]
            for c in channels
            for m in sandbox.standin.messages(c)
        }
        driver = sandbox.driver
        for kind, channel, arn in executions:
            token = _task_token(sandbox, arn)
            ts = posted.get(approval_id_for(token)) if token else None
            if ts is None or kind == "expire":
                continue
            if kind == "approve":
                driver.click(ANA, channel, ts, Action.APPROVE)
                http += 1
            elif kind == "approve2":
                driver.click(ANA, channel, ts, Action.APPROVE)
                driver.click(CY, channel, ts, Action.APPROVE)
                http += 2
            else:
                driver.click(ANA, channel, ts, Action.REJECT)
                http += 1
                for view in driver.open_views(Modal.REJECT, user_id=ANA):
                    driver.submit(ANA, view, {Input.REASON_BLOCK: {Input.REASON_INPUT: "no"}})
                    http += 1
            sandbox.lazy.wait(timeout=60)
            sandbox.command(ANA, "")  # the /approvals listing
            http += 1
        sandbox.lazy.wait(timeout=60)
        deadline = time.monotonic() + 30
        expiring = [arn for kind, _, arn in executions if kind == "expire"]
        while expiring and time.monotonic() < deadline:  # let the short waits time out
            sandbox.watch_executions()
            statuses = {sandbox.sfn.describe_execution(executionArn=a)["status"] for a in expiring}
            if "RUNNING" not in statuses:
                sandbox.watch_executions()
                break
            time.sleep(0.5)
        slack = Counter(c.method for c in sandbox.standin.calls())
        slack["429 answered"] = len(sandbox.standin.rate_limit_hits())
    return meter, slack, outcomes, http, units


def _queue_depth(sandbox: Any) -> int:
    attrs = sandbox.sqs.get_queue_attributes(
        QueueUrl=sandbox.stack.queues.url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return sum(int(v) for v in attrs.values())


def _task_token(sandbox: Any, arn: str) -> str | None:
    for event in sandbox.sfn.get_execution_history(executionArn=arn)["events"]:
        details = event.get("taskScheduledEventDetails") or {}
        if details.get("resource") == "sendMessage.waitForTaskToken":
            return str(json.loads(details["parameters"])["MessageBody"]["TaskToken"])
    return None


@dataclass(frozen=True)
class Line:
    what: str
    per_approval: float
    unit: str
    usd_per_1000: float


def cost_table(
    meter: Meter, http: int, n: int, memory: dict[str, int], *, harness_calls: Counter[str]
) -> list[Line]:
    lines: list[Line] = []
    for name in sorted(meter.invocations):
        function = name.split(" ")[0]
        gb_s = meter.billed_ms[name] / 1000 * memory[function] / 1024
        lines.append(
            Line(
                f"Lambda {name} invocations",
                meter.invocations[name] / n,
                "invocations",
                meter.invocations[name] * LAMBDA_REQUEST / n * 1000,
            )
        )
        lines.append(
            Line(
                f"Lambda {name} duration ({memory[function]} MB)",
                meter.billed_ms[name] / n,
                "billed ms",
                gb_s * LAMBDA_GB_SECOND_ARM / n * 1000,
            )
        )
    lines.append(
        Line("HTTP API requests", http / n, "requests", http * HTTP_API_REQUEST / n * 1000)
    )
    lines.append(
        Line(
            "DynamoDB writes",
            meter.dynamodb_wru / n,
            "WRU",
            meter.dynamodb_wru * DYNAMODB_WRU / n * 1000,
        )
    )
    lines.append(
        Line(
            "DynamoDB index writes (GSI)",
            meter.dynamodb_index_wru / n,
            "WRU",
            meter.dynamodb_index_wru * DYNAMODB_WRU / n * 1000,
        )
    )
    lines.append(
        Line(
            "DynamoDB reads",
            meter.dynamodb_rru / n,
            "RRU",
            meter.dynamodb_rru * DYNAMODB_RRU / n * 1000,
        )
    )
    sqs = sum(v for k, v in meter.aws_calls.items() if k.startswith("sqs.")) - harness_calls["sqs"]
    lines.append(Line("SQS requests", sqs / n, "requests", sqs * SQS_REQUEST / n * 1000))
    ssm = sum(v for k, v in meter.aws_calls.items() if k.startswith("ssm."))
    lines.append(Line("SSM calls", ssm / n, "calls", ssm * SSM_STANDARD_CALL / n * 1000))
    return lines


def main(argv: list[str] | None = None) -> int:
    from benchmarks.common import machine, quiet_stdout

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=40)
    args = parser.parse_args(argv)
    print(f"machine: {machine()}")
    memory = deployed_memory()
    with quiet_stdout():
        meter, slack, outcomes, http, units = run_mix(args.n)
    n = args.n
    # The harness's own SQS calls (the mapping's receives/deletes ARE counted: Lambda makes
    # them; the benchmark's depth checks are not).
    harness = Counter({"sqs": meter.aws_calls["sqs.GetQueueAttributes"]})
    lines = cost_table(meter, http, n, memory, harness_calls=harness)
    total = sum(line.usd_per_1000 for line in lines)
    print(f"mix of {n}: {dict(outcomes)}; prices us-east-1 arm64, list, {PRICES_DATE}")
    print(f"{'line':<48} {'per approval':>14} {'unit':<12} {'$ / 1,000':>10} {'share':>6}")
    for line in sorted(lines, key=lambda x: -x.usd_per_1000):
        share = line.usd_per_1000 / total if total else 0.0
        print(
            f"{line.what:<48} {line.per_approval:>14.2f} {line.unit:<12} "
            f"{line.usd_per_1000:>10.5f} {share:>6.1%}"
        )
    print(f"{'total':<48} {'':>14} {'':<12} {total:>10.5f}")
    indexed = sum(line.usd_per_1000 for line in lines if line.what.endswith("(GSI)"))
    print(f"{'total without the index writes':<48} {'':>14} {'':<12} {total - indexed:>10.5f}")
    top = max(lines, key=lambda x: x.usd_per_1000)
    print(f"dominant: {top.what} ({top.usd_per_1000 / total:.0%})")
    print("AWS calls by operation:", dict(sorted(meter.aws_calls.items())))
    print(
        "Slack calls by method (per approval):",
        {k: round(v / n, 2) for k, v in sorted(slack.items())},
    )
    print(
        "DynamoDB WRU by operation (per approval):",
        {k: round(v / n, 2) for k, v in sorted(units.writes.items())},
    )
    print(
        "DynamoDB index WRU by index (per approval):",
        {k: round(v / n, 2) for k, v in sorted(units.index_writes.items())},
    )
    print(
        "Lambda billed ms by function (per invocation):",
        {k: round(meter.billed_ms[k] / v, 1) for k, v in sorted(meter.invocations.items())},
    )
    print(f"largest DynamoDB item/result seen: {units.largest} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
