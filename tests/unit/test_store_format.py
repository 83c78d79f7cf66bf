"""The approval item's format: the payload is stored once, the spec is derived from it on read,
and items in the older format (payload and parsed spec both stored) still read as they were.

A recording DynamoDB client (put_item / get_item only): no moto, no network.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from bot.models import (
    ApprovalSpec,
    InvalidApprovalRequest,
    Status,
    format_time,
    parse_envelope,
    parse_request,
)
from bot.store import ApprovalStore, approval_from_item, item_size, stored_spec
from infra.lambdas.task_generator import handler as generate_task

NOW = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
ARN = "arn:aws:states:us-east-1:123456789012:execution:approval-flow:run-120000-ab12"
# moto's task tokens are UUIDs; a deployed token is longer (its length depends on the
# execution): the size below is for this one.
TOKEN = "0f7c6d1e-3b2a-4c5d-9e8f-7a6b5c4d3e2f"


class RecordingDynamoDB:
    """put_item and get_item on a dict, as DynamoDB's low-level client takes and returns them."""

    def __init__(self) -> None:
        self.items: dict[tuple[str, str], dict[str, Any]] = {}

    def put_item(self, *, Item: dict[str, Any], **_: Any) -> dict[str, Any]:
        self.items[(Item["pk"]["S"], Item["sk"]["S"])] = Item
        return {}

    def get_item(self, *, Key: dict[str, Any], **_: Any) -> dict[str, Any]:
        item = self.items.get((Key["pk"]["S"], Key["sk"]["S"]))
        return {"Item": item} if item is not None else {}


def typical_payload(**extra: Any) -> dict[str, Any]:
    """What the example flow's task generator sends for the cost benchmark's 2-of-3 request."""
    return generate_task(
        {
            "service": "svc-12",
            "version": "1.0",
            "requester": "U0BO",
            "channel": "C0COST02",
            "approvers": ["U0ANA", "U0CY", "U0EVE"],
            "required_approvals": 2,
            **extra,
        },
        None,
    )


def stored(payload: Any, token: str = TOKEN) -> tuple[ApprovalStore, RecordingDynamoDB, Any]:
    body = json.dumps({"TaskToken": token, "Execution": ARN, "Payload": payload})
    request = parse_request(parse_envelope(body), default_channel="C0DEFAULT")
    db = RecordingDynamoDB()
    store = ApprovalStore(db, "approvals")  # type: ignore[arg-type]
    store.begin_posting(request, now=NOW, lease_seconds=120)
    return store, db, request


def test_a_typical_request_is_stored_in_one_write_unit() -> None:
    """Under 1 KB: each write of it costs 1 WRU, not 2 (and 1, not 2, in the by-status index)."""
    payload = typical_payload()
    _, db, _ = stored(payload)
    (item,) = db.items.values()
    assert "spec" not in item
    assert item["payload"]["S"] == json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    assert item_size(item) < 1024, item_size(item)


@pytest.mark.parametrize(
    "payload",
    [
        typical_payload(),
        typical_payload(
            expires_at="2026-12-06T12:00:00+09:00",
            remind_every="PT2H",
            escalate_after="P1D",
            escalate_to=["S0ONCALL"],
            reject_policy="majority",
            risk="high",
            links={"Runbook": "https://example.com/runbook"},
            inputs=[{"name": "ticket", "label": "Ticket", "type": "text", "required": True}],
        ),
        {"task": "no approval object"},
        ["not", "an", "object"],
        {"approval": {"title": "Ünïcödé ✓", "text": "a < b & c"}},
    ],
)
def test_the_spec_read_back_is_the_one_that_was_parsed(payload: Any) -> None:
    store, db, request = stored(payload)
    approval = store.get(request.approval_id)
    assert approval.spec == request.spec
    assert approval.payload == request.payload
    (item,) = db.items.values()
    assert stored_spec(item) == request.spec


def old_item(payload: Any, spec: dict[str, Any]) -> dict[str, Any]:
    """An approval item as the store wrote it before the payload was stored alone."""
    created = format_time(NOW)
    return {
        "pk": {"S": "APPROVAL#" + "a" * 26},
        "sk": {"S": "APPROVAL"},
        "item_type": {"S": "approval"},
        "approval_id": {"S": "a" * 26},
        "status": {"S": Status.PENDING},
        "open_status": {"S": Status.PENDING},
        "task_token": {"S": TOKEN},
        "payload": {"S": json.dumps(payload)},
        "spec": {"S": json.dumps(spec)},
        "channel": {"S": "C0COST02"},
        "ts": {"S": "1764936000.000100"},
        "created_at": {"S": created},
        "updated_at": {"S": created},
        "votes": {"M": {}},
        "approve_count": {"N": "0"},
        "reject_count": {"N": "0"},
    }


def test_an_item_in_the_older_format_reads_as_it_was_stored() -> None:
    payload = typical_payload()
    spec = parse_request(
        parse_envelope(json.dumps({"TaskToken": TOKEN, "Payload": payload})), default_channel=None
    ).spec
    approval = approval_from_item(old_item(payload, spec.to_dict()))
    assert approval.spec == spec
    assert approval.payload == payload


def test_an_older_item_keeps_its_stored_spec_even_where_the_payload_would_not_parse_now() -> None:
    """Its spec was accepted when it was written: it is read, not validated again (and not
    derived from the payload: the stored one wins)."""
    payload = {"approval": {"approvers": ["U0ANA"], "required_approvals": 2}}
    with pytest.raises(InvalidApprovalRequest):  # today's parser refuses this payload
        parse_request(
            parse_envelope(json.dumps({"TaskToken": TOKEN, "Payload": payload})),
            default_channel="C0X",
        )
    spec = ApprovalSpec(approvers=("U0ANA",), required_approvals=2, title="Kept")
    approval = approval_from_item(old_item(payload, spec.to_dict()))
    assert approval.spec == spec
