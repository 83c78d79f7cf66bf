"""A vote racing the request's expiry, through the real handlers against moto: the store's
conditional writes, not the service's earlier read, decide who wins."""

from __future__ import annotations

import json
from types import ModuleType
from typing import Any

import pytest

from bot.ids import Action
from bot.local.events import LocalContext
from bot.local.infra import ExampleStack
from bot.local.slack_standin import SlackStandIn
from bot.models import Status
from bot.store import ApprovalStore
from tests.functional.conftest import (
    ANA,
    CHANNEL,
    CY,
    TABLE,
    Aws,
    Interactions,
    Posted,
    request_approval,
)


def stopped(execution_arn: str) -> dict[str, Any]:
    """EventBridge's "Execution Status Change" for an execution that stopped waiting."""
    return {
        "version": "0",
        "id": "race-0000",
        "detail-type": "Step Functions Execution Status Change",
        "source": "aws.states",
        "account": "123456789012",
        "time": "2026-11-25T12:00:00Z",
        "region": "us-east-1",
        "resources": [execution_arn],
        "detail": {"executionArn": execution_arn, "status": "TIMED_OUT"},
    }


def expire_just_before_the_vote(
    interactions: Interactions, expirations: ModuleType, posted: Posted
) -> list[str]:
    """Once the click's service has read the approval (PENDING) and is about to write its vote,
    the expirations function expires it (a botocore hook on the clicking function's client)."""
    fired: list[str] = []

    def race(params: dict[str, Any], **_: Any) -> None:
        if fired or "votes.#uid" not in params.get("UpdateExpression", ""):
            return
        fired.append(params["UpdateExpression"])
        result = expirations.handler(stopped(posted.execution_arn), LocalContext())
        assert result == {"expired": 1}

    db = interactions.module.service._store._db
    db.meta.events.register("before-parameter-build.dynamodb.UpdateItem", race)
    return fired


@pytest.mark.parametrize(
    "required", [1, 2], ids=["the claim (deciding vote)", "a vote of two needed"]
)
def test_a_vote_never_lands_on_a_request_that_expired_after_it_was_read(
    aws: Aws,
    stack: ExampleStack,
    notifier: ModuleType,
    slack: SlackStandIn,
    interactions: Interactions,
    expirations: ModuleType,
    required: int,
) -> None:
    posted = request_approval(
        aws,
        stack,
        notifier,
        slack,
        f"race-{required}",
        approvers=[ANA, CY],
        required_approvals=required,
    )
    fired = expire_just_before_the_vote(interactions, expirations, posted)
    interactions.slack.click(ANA, CHANNEL, posted.ts, Action.APPROVE)
    interactions.wait()
    assert fired, "the race did not run: no vote was attempted"

    approval = ApprovalStore(aws.dynamodb, TABLE).get(posted.approval_id)
    assert approval.status is Status.EXPIRED
    assert approval.votes == ()  # the vote did not land on the expired request
    history = aws.sfn.get_execution_history(executionArn=posted.execution_arn)["events"]
    approved = [
        e
        for e in history
        if e["type"] == "TaskSucceeded"
        and e["taskSucceededEventDetails"]["resource"] == "sendMessage.waitForTaskToken"
    ]
    assert approved == []
    assert aws.sfn.describe_execution(executionArn=posted.execution_arn)["status"] == "RUNNING"
    told = [e["text"] for e in slack.ephemerals(user=ANA)]
    assert len(told) == 1
    assert "This request has expired" in told[0]
    blocks = slack.message(CHANNEL, posted.ts)["blocks"]
    assert "*Expired*" in json.dumps(blocks)
    assert all(b["type"] != "actions" for b in blocks)  # no buttons
