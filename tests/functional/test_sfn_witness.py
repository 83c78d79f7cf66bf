"""The Step Functions witness (bot/local/sfn_witness.py): what moto's backend received.

A two-state machine (an SQS ``waitForTaskToken`` task, then a Pass state) runs on moto; the
tests complete its task with boto3 as any client would, in process and through a
``ThreadedMotoServer``, and read what the witness recorded.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.core.config import default_user_config

from bot.local.infra import MOTO_CONFIG
from bot.local.sfn_witness import FAILURE, HEARTBEAT, SUCCESS, SfnWitness
from bot.models import approval_id_for

ROLE = "arn:aws:iam::123456789012:role/witness"


def machine_definition(queue_url: str) -> str:
    return json.dumps(
        {
            "StartAt": "Wait",
            "States": {
                "Wait": {
                    "Type": "Task",
                    "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
                    "Parameters": {
                        "QueueUrl": queue_url,
                        "MessageBody": {
                            "TaskToken.$": "$$.Task.Token",
                            "Execution.$": "$$.Execution.Id",
                        },
                    },
                    "HeartbeatSeconds": 3600,
                    "Next": "Done",
                },
                "Done": {"Type": "Pass", "End": True},
            },
        }
    )


class Flow:
    """A queue + the machine on one set of clients; ``start()`` → (execution ARN, token)."""

    def __init__(self, sqs: Any, sfn: Any) -> None:
        self.sqs, self.sfn = sqs, sfn
        self.queue = sqs.create_queue(QueueName="witness")["QueueUrl"]
        self.machine = sfn.create_state_machine(
            name="witness", definition=machine_definition(self.queue), roleArn=ROLE
        )["stateMachineArn"]
        self._n = 0
        self._lock = threading.Lock()
        self._tokens: dict[str, str] = {}

    def start(self) -> tuple[str, str]:
        with self._lock:
            self._n += 1
            name = f"run-{self._n}"
        arn = self.sfn.start_execution(stateMachineArn=self.machine, name=name, input="{}")
        return arn["executionArn"], self.token_of(arn["executionArn"])

    def token_of(self, execution_arn: str) -> str:
        """The token of this execution's waiting task (read from the queue, bounded)."""
        for _ in range(100):
            for message in self.sqs.receive_message(
                QueueUrl=self.queue, MaxNumberOfMessages=10, WaitTimeSeconds=0
            ).get("Messages", []):
                body = json.loads(message["Body"])
                self.sqs.delete_message(QueueUrl=self.queue, ReceiptHandle=message["ReceiptHandle"])
                with self._lock:
                    self._tokens[body["Execution"]] = body["TaskToken"]
            with self._lock:
                if execution_arn in self._tokens:
                    return self._tokens[execution_arn]
            time.sleep(0.05)
        raise AssertionError(f"no task token for {execution_arn}")

    def status(self, execution_arn: str) -> dict[str, Any]:
        for _ in range(100):
            described: dict[str, Any] = self.sfn.describe_execution(executionArn=execution_arn)
            if described["status"] != "RUNNING":
                return described
            time.sleep(0.02)
        raise AssertionError(f"{execution_arn} still running")


@pytest.fixture
def flow() -> Iterator[Flow]:
    with mock_aws(config=MOTO_CONFIG):
        yield Flow(
            boto3.client("sqs", region_name="us-east-1"),
            boto3.client("stepfunctions", region_name="us-east-1"),
        )


@pytest.fixture
def witness() -> Iterator[SfnWitness]:
    with SfnWitness() as installed:
        yield installed


def test_success_is_recorded_with_the_approval_id_and_execution(
    flow: Flow, witness: SfnWitness
) -> None:
    execution, token = flow.start()
    flow.sfn.send_task_success(taskToken=token, output='{"decision": "approved"}')
    assert flow.status(execution)["status"] == "SUCCEEDED"

    [call] = witness.calls()
    assert call.action == SUCCESS
    assert call.approval_id == approval_id_for(token)
    assert call.execution_arn == execution
    assert call.output == '{"decision": "approved"}'
    assert (call.accepted, call.refused, call.error, call.cause) == (True, None, None, None)
    assert witness.accepted(approval_id_for(token)) == 1
    assert witness.last_decision(execution) == call
    assert token not in repr(call)
    assert token not in json.dumps(asdict(call))


def test_failure_keeps_the_cause_moto_drops(flow: Flow, witness: SfnWitness) -> None:
    execution, token = flow.start()
    cause = "approval.title is 5030 characters; Slack allows at most 150"
    flow.sfn.send_task_failure(taskToken=token, error="InvalidApprovalRequest", cause=cause)

    described = flow.status(execution)
    assert (described["status"], described["error"]) == ("FAILED", "InvalidApprovalRequest")
    assert "cause" not in described  # moto's gap: AWS would report the cause sent

    [call] = witness.calls(approval_id_for(token))
    assert (call.action, call.error, call.cause) == (FAILURE, "InvalidApprovalRequest", cause)
    assert call.accepted
    assert witness.last_decision(execution) == call


def test_a_second_completion_is_seen_and_counted(flow: Flow, witness: SfnWitness) -> None:
    execution, token = flow.start()
    approval = approval_id_for(token)
    flow.sfn.send_task_failure(taskToken=token, error="Rejected", cause="no")
    flow.status(execution)

    with pytest.raises(ClientError, match="InvalidToken"):  # AWS: TaskTimedOut
        flow.sfn.send_task_success(taskToken=token, output="{}")
    flow.sfn.send_task_failure(taskToken=token, error="Rejected", cause="again")  # moto takes it

    assert [(c.action, c.accepted, c.refused) for c in witness.calls(approval)] == [
        (FAILURE, True, None),
        (SUCCESS, False, "InvalidToken"),
        (FAILURE, True, None),
    ]
    assert witness.accepted(approval) == 2
    assert witness.double_decisions() == {approval: 2}
    assert witness.last_decision(execution).cause == "again"  # type: ignore[union-attr]


def test_heartbeats_and_unknown_tokens(flow: Flow, witness: SfnWitness) -> None:
    execution, token = flow.start()
    flow.sfn.send_task_heartbeat(taskToken=token)
    with pytest.raises(ClientError, match="InvalidToken"):
        flow.sfn.send_task_success(taskToken="not-a-token", output="{}")

    heartbeat, unknown = witness.calls()
    assert (heartbeat.action, heartbeat.accepted, heartbeat.decision) == (HEARTBEAT, True, False)
    assert heartbeat.execution_arn == execution
    assert (unknown.accepted, unknown.refused, unknown.execution_arn) == (
        False,
        "InvalidToken",
        None,
    )
    assert witness.accepted(approval_id_for(token)) == 0  # a heartbeat decides nothing
    assert witness.accepted(approval_id_for(token), actions=[HEARTBEAT]) == 1
    assert witness.double_decisions() == {}
    assert heartbeat.seq < unknown.seq


def test_install_and_uninstall_restore_moto(flow: Flow) -> None:
    from moto.stepfunctions.parser.models import StepFunctionsParserBackend
    from moto.stepfunctions.responses import StepFunctionResponse

    before = (
        StepFunctionsParserBackend.send_task_success,
        StepFunctionsParserBackend.send_task_failure,
        StepFunctionResponse.send_task_failure,
    )
    outer, inner = SfnWitness(), SfnWitness()
    outer.install()
    inner.install().install()  # idempotent
    _, token = flow.start()
    flow.sfn.send_task_heartbeat(taskToken=token)
    inner.uninstall()
    flow.sfn.send_task_success(taskToken=token, output="{}")
    outer.uninstall()
    outer.uninstall()  # idempotent
    assert (
        StepFunctionsParserBackend.send_task_success,
        StepFunctionsParserBackend.send_task_failure,
        StepFunctionResponse.send_task_failure,
    ) == before

    assert [c.action for c in inner.calls()] == [HEARTBEAT]
    assert [c.action for c in outer.calls()] == [HEARTBEAT, SUCCESS]
    assert not outer.installed
    outer.clear()
    assert outer.calls() == []


def test_concurrent_completions_are_each_recorded_once(flow: Flow, witness: SfnWitness) -> None:
    started = [flow.start() for _ in range(6)]
    barrier = threading.Barrier(len(started) * 2)
    errors: list[BaseException] = []

    def complete(token: str, output: str) -> None:
        client = boto3.client("stepfunctions", region_name="us-east-1")
        barrier.wait(timeout=10)
        try:
            client.send_task_success(taskToken=token, output=output)
        except ClientError as exc:
            errors.append(exc)

    threads = [
        threading.Thread(target=complete, args=(token, json.dumps({"by": who})))
        for _, token in started
        for who in ("first", "second")
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)

    calls = witness.calls()
    assert len(calls) == len(threads)
    assert len({c.seq for c in calls}) == len(calls)
    for execution, token in started:
        mine = witness.calls(approval_id_for(token))
        assert len(mine) == 2
        assert {c.execution_arn for c in mine} == {execution}
        # Whatever moto made of the race, the witness counts exactly what it accepted.
        assert witness.accepted(approval_id_for(token)) == sum(c.accepted for c in mine) >= 1
    assert len(errors) == sum(not c.accepted for c in calls)


def test_the_moto_server_is_witnessed_too(
    witness: SfnWitness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The sandbox's ThreadedMotoServer shares moto's backends with this process."""
    from moto.server import ThreadedMotoServer

    saved = {k: dict(v) for k, v in default_user_config.items() if isinstance(v, dict)}
    for service, settings in MOTO_CONFIG.items():
        default_user_config.setdefault(service, {}).update(settings)  # type: ignore[misc]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        monkeypatch.setenv("MOTO_PORT", str(port))  # moto's own calls (Step Functions → SQS)
        endpoint = f"http://{host}:{port}"
        clients = {
            name: boto3.client(name, region_name="us-east-1", endpoint_url=endpoint)
            for name in ("sqs", "stepfunctions")
        }
        flow = Flow(clients["sqs"], clients["stepfunctions"])
        execution, token = flow.start()
        flow.sfn.send_task_failure(taskToken=token, error="Rejected", cause='{"reason": "no"}')
        flow.status(execution)
    finally:
        server.stop()
        for service, settings in saved.items():
            default_user_config[service] = settings  # type: ignore[index]

    [call] = witness.calls(approval_id_for(token))
    assert (call.execution_arn, call.error, call.cause) == (
        execution,
        "Rejected",
        '{"reason": "no"}',
    )
