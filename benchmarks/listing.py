"""``/approvals`` with 10,000 pending approvals: the first page, its DynamoDB calls, its blocks.

    python -m benchmarks.listing            # 10,000 PENDING approvals
    python -m benchmarks.listing --items 50000

moto runs in this process (``mock_aws``). One approval request goes through the real notifier
(stored, posted to the Slack stand-in, marked PENDING); the table is then filled with copies of
that item (new approval id, task token, execution and ``created_at`` each), written with
``BatchWriteItem`` — the items are exactly what the store writes, only more of them.

The slash command is a signed request through ``bot.handlers.interactions.handler`` (API
Gateway v2 event → Bolt → ``ApprovalService.pending`` → ack with the first page). DynamoDB calls
are counted with a botocore event hook on the handler's own client, by operation: the listing
must be one GSI query per page, never a scan. Time spent inside those calls (moto, in process:
its GSI query looks at every item of the table, unlike DynamoDB) is shown apart.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

from benchmarks.common import (
    ANA,
    CHANNEL,
    SIGNING_SECRET,
    TABLE,
    base_env,
    fresh_import,
    lambda_context,
    machine,
    median,
    ms,
    new_token,
    quiet_stdout,
    request_body,
    set_env,
    start_standin,
)

MAX_BLOCKS = 50  # Slack's limit for a message


def template_item(dynamodb: Any, slack: Any) -> tuple[dict[str, Any], str]:
    """One approval stored by the real notifier; returns its raw item and task token."""
    from bot.local.events import sqs_event

    body = request_body()
    notifier = fresh_import("bot.handlers.notifier")
    event = sqs_event([{"Body": body}], queue_arn="arn:aws:sqs:us-east-1:123456789012:q")
    with quiet_stdout():
        result = notifier.handler(event, lambda_context("notifier"))
    if result != {"batchItemFailures": []}:
        raise RuntimeError(f"could not store the template approval: {result}")
    # Set-up only (the table holds one approval, and its audit trail): the approval's item.
    items = [
        i
        for i in dynamodb.scan(TableName=TABLE)["Items"]
        if i.get("item_type", {}).get("S") == "approval"
    ]
    if len(items) != 1 or items[0]["status"]["S"] != "PENDING":
        raise RuntimeError(f"unexpected template: {[i['pk'] for i in items]}")
    return items[0], json.loads(body)["TaskToken"]


def fill(dynamodb: Any, template: dict[str, Any], token: str, count: int) -> None:
    """``count - 1`` copies of the template, newest first, 25 per ``BatchWriteItem``."""
    from bot.models import approval_id_for, format_time

    old = {
        "id": template["approval_id"]["S"],
        "token": token,
        "created": template["created_at"]["S"],
        "updated": template["updated_at"]["S"],
        "execution": template.get("execution_arn", {}).get("S", "-"),
        "ts": template.get("ts", {}).get("S", "-"),
    }
    start = datetime.now(UTC) - timedelta(days=1)
    batch: list[dict[str, Any]] = []
    for i in range(1, count):
        new_tok = new_token()
        moment = format_time(start - timedelta(seconds=i))
        new = {
            "id": approval_id_for(new_tok),
            "token": new_tok,
            "created": moment,
            "updated": moment,
            "execution": f"{old['execution']}-{i}",
            "ts": f"{1764000000 + i}.000100",
        }
        item: dict[str, Any] = {}
        for name, value in template.items():
            if "S" in value:
                text = value["S"]
                for key, before in old.items():
                    if before != "-":
                        text = text.replace(before, new[key])
                item[name] = {"S": text}
            else:
                item[name] = value
        batch.append({"PutRequest": {"Item": item}})
        if len(batch) == 25 or i == count - 1:
            dynamodb.batch_write_item(RequestItems={TABLE: batch})
            batch = []


def pending_count(dynamodb: Any) -> int:
    from bot.store import BY_STATUS_INDEX

    total = 0
    kwargs: dict[str, Any] = {
        "TableName": TABLE,
        "IndexName": BY_STATUS_INDEX,
        "KeyConditionExpression": "open_status = :s",
        "ExpressionAttributeValues": {":s": {"S": "PENDING"}},
        "Select": "COUNT",
    }
    while True:
        page = dynamodb.query(**kwargs)
        total += page["Count"]
        if "LastEvaluatedKey" not in page:
            return total
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


class CallLog:
    """DynamoDB calls of one client (botocore ``before-call``/``after-call`` hooks)."""

    def __init__(self, client: Any) -> None:
        self.operations: Counter[str] = Counter()
        self.seconds = 0.0
        self._started: dict[int, float] = {}
        client.meta.events.register("before-call.dynamodb.*", self._before)
        client.meta.events.register("after-call.dynamodb.*", self._after)

    def _before(self, model: Any, context: dict[str, Any], **_: Any) -> None:
        self.operations[model.name] += 1
        context["listing_started"] = time.perf_counter()

    def _after(self, context: dict[str, Any], **_: Any) -> None:
        started = context.pop("listing_started", None)
        if started is not None:
            self.seconds += time.perf_counter() - started

    def reset(self) -> None:
        self.operations.clear()
        self.seconds = 0.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5, help="warm repetitions")
    args = parser.parse_args(argv)

    import boto3
    from moto import mock_aws

    from bot.ids import Action
    from bot.local.events import LocalContext
    from bot.local.infra import create_table
    from bot.local.slack_driver import Response, SlackDriver
    from bot.local.slack_requests import api_gateway_v2_event

    print(f"machine: {machine()}")
    slack = start_standin()
    set_env(base_env(slack.url))
    started = time.perf_counter()
    rows: list[tuple[str, float, float, Counter[str], int, int]] = []
    try:
        with mock_aws():
            dynamodb = boto3.client("dynamodb")
            create_table(dynamodb, TABLE)
            template, token = template_item(dynamodb, slack)
            fill(dynamodb, template, token, args.items)
            stored = pending_count(dynamodb)
            filled = time.perf_counter() - started

            with quiet_stdout():
                module = fresh_import("bot.handlers.interactions")
            calls = CallLog(module.service._store._db)
            responses: list[Response] = []

            def send(body: str, headers: dict[str, str]) -> Response:
                event = api_gateway_v2_event(body, headers)
                context = LocalContext(function_name="interactions")
                with quiet_stdout():
                    result = module.handler(event, context)
                response = Response(int(result["statusCode"]), result.get("body") or "", {})
                responses.append(response)
                return response

            driver = SlackDriver(slack, signing_secret=SIGNING_SECRET, send=send)
            for text in ("", "mine"):
                label = f"/approvals {text}".strip()
                for attempt in range(args.repeat + 1):
                    calls.reset()
                    begin = time.perf_counter()
                    response = driver.command(ANA, CHANNEL, text)
                    took = time.perf_counter() - begin
                    blocks = (response.json() or {}).get("blocks") or []
                    buttons = sum(
                        1
                        for b in blocks
                        for e in b.get("elements", [])
                        if e.get("action_id") == Action.APPROVE.value
                    )
                    name = f"{label} (first call)" if attempt == 0 else label
                    rows.append(
                        (name, took, calls.seconds, Counter(calls.operations), len(blocks), buttons)
                    )
    finally:
        slack.stop()

    print(f"\n{stored:,} PENDING approvals in the table (filled in {filled:.1f} s)")
    print(
        f"  {'command':<32} {'time':>9} {'in moto':>9} {'the rest':>9}  {'DynamoDB calls':<14} "
        f"{'blocks':>6} {'approvals':>9}"
    )
    summary: dict[str, list[tuple[float, float]]] = {}
    ok = stored == args.items
    for name, took, in_db, ops, blocks, buttons in rows:
        summary.setdefault(name, []).append((took, in_db))
        ok = ok and "Scan" not in ops and blocks <= MAX_BLOCKS and buttons > 0
    seen: set[str] = set()
    for name, _, _, ops, blocks, buttons in rows:
        if name in seen:
            continue
        seen.add(name)
        took = median([t for t, _ in summary[name]])
        in_db = median([d for _, d in summary[name]])
        ops_text = ", ".join(f"{op} x{n}" for op, n in sorted(ops.items())) or "none"
        runs = len(summary[name])
        label = name if runs == 1 else f"{name} (median of {runs})"
        print(
            f"  {label:<32} {ms(took):>9} {ms(in_db):>9} {ms(took - in_db):>9}  {ops_text:<14} "
            f"{blocks:>6} {buttons:>9}"
        )
    first = [r for r in rows if r[0] == "/approvals"]
    calls_per_page = sum(first[-1][3].values()) if first else -1
    print(f"dynamodb calls per first page: {calls_per_page} (scans: 0 expected)")
    print(f"blocks in the first page: {first[-1][4] if first else -1} (limit {MAX_BLOCKS})")
    print(f"took {time.perf_counter() - started:.0f} s")
    if not ok:
        print("WRONG ANSWER: a scan, too many blocks, no approvals listed, or a short table")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
