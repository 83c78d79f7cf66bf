"""benchmarks.cost: DynamoDB's unit rounding, the price arithmetic, and a small mix's accounting.

Small sizes; no assertion on wall-clock time.
"""

from __future__ import annotations

import os
import sys
from collections import Counter
from collections.abc import Iterator

import boto3
import pytest

from benchmarks import cost
from benchmarks.cost import DynamoUnits, Meter, cost_table, deployed_memory, run_mix
from bot import wiring


def _item(size: int) -> dict[str, dict[str, str]]:
    """An item of exactly ``size`` bytes as DynamoDB counts them (name "d" + value)."""
    return {"d": {"S": "x" * (size - 1)}}


class _Units(DynamoUnits):
    """Sizes before/after given directly (no table)."""

    def __init__(self, after: int) -> None:
        super().__init__(Meter())
        self.after = after

    def size_after(self, params: dict[str, object]) -> int:
        return self.after


@pytest.mark.parametrize(
    ("before", "after", "wru"),
    [(0, 1024, 1), (0, 1025, 2), (1500, 100, 2), (0, 0, 1), (3000, 3100, 4)],
)
def test_a_write_bills_a_unit_per_started_kb_of_the_larger_item(
    before: int, after: int, wru: int
) -> None:
    units = _Units(after)
    units.count("UpdateItem", {"TableName": "t", "Key": {}}, {}, before)
    assert units.meter.dynamodb_wru == wru


def test_reads_bill_per_started_4_kb_half_when_eventually_consistent() -> None:
    units = _Units(0)
    units.count("GetItem", {"ConsistentRead": True}, {"Item": _item(4097)}, 0)
    assert units.meter.dynamodb_rru == 2
    units.count("GetItem", {}, {"Item": _item(100)}, 0)
    units.count("Query", {}, {"Items": [_item(3000), _item(3000)]}, 0)  # 6,000 B together
    assert units.meter.dynamodb_rru == 2 + 0.5 + 1


def test_the_table_prices_each_line_from_the_counts() -> None:
    meter = Meter()
    meter.invocations.update({"notifier": 10})
    meter.billed_ms.update({"notifier": 2000})
    meter.dynamodb_wru, meter.dynamodb_rru = 40.0, 8.0
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
