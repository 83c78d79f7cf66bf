"""What bot/local/infra.py does to moto for local runs: its log keeps real errors only."""

from __future__ import annotations

import json
import logging
import time
from typing import Any

import boto3
import pytest
from moto import mock_aws

from bot.local.infra import MOTO_ASL_LOGGER, MOTO_CONFIG, prepare_moto

ROLE = "arn:aws:iam::123456789012:role/logs"


def fail_state(error: str) -> dict[str, Any]:
    """A Fail state raising ``error`` (as the example flow's Catch targets do)."""
    return {"Type": "Fail", "Error": error}


def timing_out_task(queue_url: str) -> dict[str, Any]:
    """The waiting task whose TimeoutSeconds passes: States.Timeout."""
    return {
        "Type": "Task",
        "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
        "Parameters": {"QueueUrl": queue_url, "MessageBody": {"TaskToken.$": "$$.Task.Token"}},
        "TimeoutSeconds": 1,
        "End": True,
    }


def broken_path() -> dict[str, Any]:
    """A state machine bug: a path that does not exist (States.Runtime)."""
    return {"Type": "Pass", "InputPath": "$.missing.field", "End": True}


def run(state: dict[str, Any]) -> str:
    sfn = boto3.client("stepfunctions", region_name="us-east-1")
    definition = {"StartAt": "Only", "States": {"Only": state}}
    arn = sfn.create_state_machine(name="m", definition=json.dumps(definition), roleArn=ROLE)
    execution = sfn.start_execution(stateMachineArn=arn["stateMachineArn"], name="run")
    for _ in range(300):
        described = sfn.describe_execution(executionArn=execution["executionArn"])
        if described["status"] != "RUNNING":
            return str(described["error"])
        time.sleep(0.01)
    raise AssertionError("still running")


@pytest.mark.parametrize(
    ("state", "error", "logged"),
    [
        ("Rejected", "Rejected", False),
        ("ApprovalExpired", "ApprovalExpired", False),
        ("InvalidApprovalRequest", "InvalidApprovalRequest", False),
        ("ApprovalOutputInvalid", "ApprovalOutputInvalid", False),
        ("timeout", "States.Timeout", False),
        ("broken", "States.Runtime", True),  # a broken state machine is still an ERROR line
        ("Lambda.Unknown", "Lambda.Unknown", True),
        ("RejectedLater", "RejectedLater", True),  # only exact names are expected
    ],
)
def test_moto_logs_only_unexpected_failures(
    caplog: pytest.LogCaptureFixture, state: str, error: str, logged: bool
) -> None:
    prepare_moto()
    with mock_aws(config=MOTO_CONFIG), caplog.at_level(logging.ERROR, logger=MOTO_ASL_LOGGER):
        if state == "timeout":
            queue = boto3.client("sqs", region_name="us-east-1").create_queue(QueueName="q")
            definition = timing_out_task(queue["QueueUrl"])
        else:
            definition = broken_path() if state == "broken" else fail_state(state)
        assert run(definition) == error
    lines = [r.getMessage() for r in caplog.records if r.name == MOTO_ASL_LOGGER]
    assert any(f"Error={error}," in line for line in lines) is logged, lines
