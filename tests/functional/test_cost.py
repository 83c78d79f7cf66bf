"""benchmarks.cost: DynamoDB's unit rounding, the price arithmetic, and a small mix's accounting.

Small sizes; no assertion on wall-clock time.
"""

from __future__ import annotations

import os
import sys
from collections import Counter
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from benchmarks import cost
from benchmarks.cost import DynamoUnits, Meter, cost_table, deployed_memory, run_mix
from bot import wiring
from bot.store import item_size


def _item(size: int) -> dict[str, dict[str, str]]:
    """An item of exactly ``size`` bytes as DynamoDB counts them (name "d" + value); none for 0."""
    return {"d": {"S": "x" * (size - 1)}} if size else {}


class _Units(DynamoUnits):
    """The item after a write given directly (no table)."""

    def __init__(self, after: dict[str, Any]) -> None:
        super().__init__(Meter())
        self.after = after

    def item_after(self, params: dict[str, Any]) -> dict[str, Any]:
        return self.after


@pytest.mark.parametrize(
    ("before", "after", "wru"),
    [(0, 1024, 1), (0, 1025, 2), (1500, 100, 2), (0, 0, 1), (3000, 3100, 4)],
)
def test_a_write_bills_a_unit_per_started_kb_of_the_larger_item(
    before: int, after: int, wru: int
) -> None:
    units = _Units(_item(after))
    units.count("UpdateItem", {"TableName": "t", "Key": {}}, {}, _item(before))
    assert units.meter.dynamodb_wru == wru
    assert units.meter.dynamodb_index_wru == 0  # in no index


def _approval(size: int = 0, **attrs: str) -> dict[str, Any]:
    """An approval item (the table's keys, the indexes' keys as given) padded to ``size``."""
    item: dict[str, Any] = {"pk": {"S": "APPROVAL#a"}, "sk": {"S": "APPROVAL"}}
    item.update({name: {"S": value} for name, value in attrs.items()})
    if size:
        item["pad"] = {"S": ""}
        item["pad"] = {"S": "x" * (size - item_size(item))}
        assert item_size(item) == size
    return item


OPEN = {"created_at": "2026-12-05T12:00:00.000Z", "execution_arn": "arn:x"}


def _index_writes(before: dict[str, Any], after: dict[str, Any]) -> dict[str, float]:
    units = _Units(after)
    units.count("UpdateItem", {"TableName": "t", "Key": {}}, {}, before)
    assert units.meter.dynamodb_index_wru == sum(units.index_writes.values())
    return {name: wru for name, wru in units.index_writes.items() if wru}


def test_index_writes_follow_the_projected_attributes() -> None:
    """by-status projects ALL (sparse on open_status), by-execution KEYS_ONLY, audit-by-time ALL
    (infra/resources/approvals-table.yml); an index entry bills 1 WRU per started KB."""
    posting = _approval(900, open_status="POSTING", **OPEN)
    # A new approval enters both of its indexes: the whole item in by-status, keys only in
    # by-execution.
    assert _index_writes({}, posting) == {"by-status": 1, "by-execution": 1}
    # Only a projected attribute changes: by-status rewrites the entry; by-execution's keys
    # are unchanged and it projects nothing else.
    touched = {**posting, "updated_at": {"S": "later"}}
    assert _index_writes(posting, touched) == {"by-status": 1}
    # An item over 1 KB costs 2 per entry written where ALL is projected.
    big = _approval(1500, open_status="POSTING", **OPEN)
    assert _index_writes(big, {**big, "updated_at": {"S": "later"}}) == {"by-status": 2}
    # The index key changes (POSTING → PENDING): delete the old entry, put the new one.
    pending = {**posting, "open_status": {"S": "PENDING"}}
    assert _index_writes(posting, pending) == {"by-status": 2}
    # Finished: open_status removed, the item leaves the sparse index (one delete).
    finished = {k: v for k, v in pending.items() if k != "open_status"}
    assert _index_writes(pending, finished) == {"by-status": 1}
    # A failed condition changes nothing: no index write (the table's write still bills).
    assert _index_writes(pending, pending) == {}
    # An audit item enters audit-by-time only.
    audit = _approval(300, audit_stream="AUDIT", audit_at="2026-12-05T12:00:00.000Z#ab")
    assert _index_writes({}, audit) == {"audit-by-time": 1}


def test_reads_bill_per_started_4_kb_half_when_eventually_consistent() -> None:
    units = _Units({})
    units.count("GetItem", {"ConsistentRead": True}, {"Item": _item(4097)}, {})
    assert units.meter.dynamodb_rru == 2
    units.count("GetItem", {}, {"Item": _item(100)}, {})
    units.count("Query", {}, {"Items": [_item(3000), _item(3000)]}, {})  # 6,000 B together
    assert units.meter.dynamodb_rru == 2 + 0.5 + 1


def test_the_table_prices_each_line_from_the_counts() -> None:
    meter = Meter()
    meter.invocations.update({"notifier": 10})
    meter.billed_ms.update({"notifier": 2000})
    meter.dynamodb_wru, meter.dynamodb_rru, meter.dynamodb_index_wru = 40.0, 8.0, 20.0
    meter.aws_calls.update({"sqs.SendMessage": 10, "sqs.ReceiveMessage": 10, "ssm.GetParameter": 2})
    lines = {
        line.what: line
        for line in cost_table(meter, 20, 10, {"notifier": 512}, harness_calls=Counter())
    }
    # 2 s at 0.5 GB = 1 GB-s for 10 approvals → 100 GB-s per 1,000.
    assert lines["Lambda notifier duration (512 MB)"].usd_per_1000 == pytest.approx(
        100 * cost.LAMBDA_GB_SECOND_ARM
    )
    assert lines["Lambda notifier invocations"].usd_per_1000 == pytest.approx(1000 * 0.2e-6)
    assert lines["DynamoDB writes"].usd_per_1000 == pytest.approx(4000 * cost.DYNAMODB_WRU)
    assert lines["DynamoDB index writes (GSI)"].usd_per_1000 == pytest.approx(
        2000 * cost.DYNAMODB_WRU
    )
    assert lines["DynamoDB reads"].usd_per_1000 == pytest.approx(800 * cost.DYNAMODB_RRU)
    assert lines["SQS requests"].per_approval == 2
    assert lines["HTTP API requests"].per_approval == 2
    assert lines["SSM calls"].per_approval == pytest.approx(0.2)


def test_memory_sizes_are_the_deployed_ones() -> None:
    assert deployed_memory() == {"notifier": 512, "interactions": 1024, "expirations": 256}


@pytest.fixture
def clean_process() -> Iterator[None]:
    """The mix sets the environment and boto3's default session and imports the handlers
    (configured by that environment): start from fresh handler modules, put all back after."""

    def drop_handlers() -> None:
        for name in [n for n in sys.modules if n.startswith("bot.handlers.")]:
            del sys.modules[name]

    saved = dict(os.environ)
    drop_handlers()
    wiring._session = None  # the mix meters the bot's session: a new one, dropped afterwards
    yield
    drop_handlers()
    os.environ.clear()
    os.environ.update(saved)
    boto3.DEFAULT_SESSION = None
    wiring._session = None  # it was made (and metered) for the sandbox's endpoint


def test_a_small_mix_is_counted_per_request(clean_process: None) -> None:
    """approve, reject, 2-of-3, expire: one request each."""
    meter, slack, outcomes, http, units = run_mix(4)
    assert outcomes == Counter(approve=1, reject=1, approve2=1, expire=1)
    assert meter.invocations["notifier"] == 4  # each request delivered alone
    assert slack["chat.postMessage"] == 4
    assert slack["429 answered"] == 0
    # approve 1 click, 2-of-3 2 clicks, reject click + modal submission; a listing each.
    assert http == 1 + 2 + 2 + 3
    assert meter.invocations["interactions"] == http
    assert meter.invocations["interactions (lazy)"] >= 4  # a decision is made lazily
    assert meter.invocations["expirations"] >= 1  # the expired execution's event
    assert meter.aws_calls["sfn.SendTaskSuccess"] == 2
    # The rejection; the expired execution has already stopped: nothing to send.
    assert meter.aws_calls["sfn.SendTaskFailure"] == 1
    writes = meter.aws_calls["dynamodb.PutItem"] + meter.aws_calls["dynamodb.UpdateItem"]
    assert meter.dynamodb_wru >= writes  # at least one unit per write
    assert sum(units.writes.values()) == meter.dynamodb_wru
    # Each request's approval entered by-status and by-execution; every audit event entered
    # audit-by-time.
    assert units.index_writes["by-execution"] >= 4
    assert units.index_writes["by-status"] >= 4
    assert units.index_writes["audit-by-time"] >= 4
    assert sum(units.index_writes.values()) == meter.dynamodb_index_wru
