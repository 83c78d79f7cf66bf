"""The README's message contract for workflow authors, held against moto and the bot.

* The waiting task, in JSONPath and in JSONata, exactly as the README shows it: each snippet is
  read from the README, checked for the fields its query language allows, embedded in a state
  machine and run on moto (JSONata through jsonata-python, ``bot.local.infra.enable_jsonata``).
  The SQS message it sends must be one the bot accepts, approving must continue the workflow
  with what the bot sent, and rejecting must reach the snippet's Catch.
* The table of errors a workflow can Catch names every error the bot sends.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

import boto3
import pytest
from moto import mock_aws

from bot.local.infra import MOTO_CONFIG, prepare_moto
from bot.models import parse_envelope, parse_request

ROOT: Final = Path(__file__).resolve().parents[2]
README: Final = ROOT / "README.md"
ROLE: Final = "arn:aws:iam::123456789012:role/readme"
QUEUE_PLACEHOLDER: Final = "<VerificationQueue URL>"

# Fields of a state in each query language (AWS Step Functions developer guide, "Transforming
# data with JSONata"): JSONata states take Arguments/Output, JSONPath ones the *Path fields.
JSONPATH_ONLY: Final = {"InputPath", "Parameters", "ResultSelector", "ResultPath", "OutputPath"}
JSONATA_ONLY: Final = {"Arguments", "Output"}


def readme_section(heading: str) -> str:
    text = README.read_text()
    start = text.index(heading)
    end = text.find("\n## ", start + len(heading))
    return text[start : end if end >= 0 else len(text)]


def waiting_tasks() -> dict[str, dict[str, Any]]:
    """The README's ``"Request approval"`` snippets by query language (each must parse)."""
    section = readme_section("## For workflow authors")
    found: dict[str, dict[str, Any]] = {}
    for block in re.findall(r"```json\n(.*?)```", section, flags=re.DOTALL):
        if not block.lstrip().startswith('"Request approval"'):
            continue
        state = json.loads("{" + block + "}")["Request approval"]
        found[state.get("QueryLanguage", "JSONPath")] = state
    return found


def test_the_readme_shows_the_task_in_both_query_languages() -> None:
    tasks = waiting_tasks()
    assert set(tasks) == {"JSONPath", "JSONata"}

    jsonpath, jsonata = tasks["JSONPath"], tasks["JSONata"]
    assert not JSONATA_ONLY & set(jsonpath)
    assert not JSONPATH_ONLY & set(jsonata), "JSONata states take Arguments / Output"
    for catcher in jsonata.get("Catch", []):
        assert "ResultPath" not in catcher, "a JSONata Catch keeps data with Output / Assign"
    for state in (jsonpath, jsonata):
        assert state["Resource"] == "arn:aws:states:::sqs:sendMessage.waitForTaskToken"
        assert state["Catch"][0]["ErrorEquals"] == ["Rejected"]
    # JSONata: expressions are strings in {% … %}; no JSONPath ".$" keys, no "$$" context.
    text = json.dumps(jsonata["Arguments"])
    assert ".$" not in text
    assert "$$" not in text
    for value in jsonata["Arguments"]["MessageBody"].values():
        assert value.startswith("{%")
        assert value.endswith("%}")


class Run:
    """One README snippet embedded in a state machine on moto."""

    def __init__(self, sqs: Any, sfn: Any, state: dict[str, Any], name: str) -> None:
        self.sqs, self.sfn = sqs, sfn
        self.queue = sqs.create_queue(QueueName=f"readme-{name}")["QueueUrl"]
        task = json.loads(json.dumps(state).replace(QUEUE_PLACEHOLDER, self.queue))
        definition = {
            "StartAt": "Request approval",
            "States": {
                "Request approval": task,
                "Continue": {"Type": "Pass", "End": True},
                "Rejected": {"Type": "Fail", "Error": "Rejected", "CausePath": "$.failure.Cause"},
            },
        }
        self.machine = sfn.create_state_machine(
            name=f"readme-{name}", definition=json.dumps(definition), roleArn=ROLE
        )["stateMachineArn"]

    def start(self, name: str, payload: dict[str, Any]) -> tuple[str, str]:
        """Start; the SQS body the task sent, once it arrived (bounded wait)."""
        arn = self.sfn.start_execution(
            stateMachineArn=self.machine, name=name, input=json.dumps(payload)
        )["executionArn"]
        for _ in range(100):
            messages = self.sqs.receive_message(QueueUrl=self.queue, WaitTimeSeconds=0).get(
                "Messages", []
            )
            if messages:
                self.sqs.delete_message(
                    QueueUrl=self.queue, ReceiptHandle=messages[0]["ReceiptHandle"]
                )
                return arn, messages[0]["Body"]
            status = self.sfn.describe_execution(executionArn=arn)
            assert status["status"] == "RUNNING", status
            time.sleep(0.05)
        raise AssertionError("the task sent no message")

    def finished(self, arn: str) -> dict[str, Any]:
        for _ in range(200):
            described: dict[str, Any] = self.sfn.describe_execution(executionArn=arn)
            if described["status"] != "RUNNING":
                return described
            time.sleep(0.02)
        raise AssertionError(f"{arn} still running")

    def states_entered(self, arn: str) -> list[str]:
        events = self.sfn.get_execution_history(executionArn=arn)["events"]
        return [
            e["stateEnteredEventDetails"]["name"] for e in events if "stateEnteredEventDetails" in e
        ]


@pytest.fixture
def clients() -> Iterator[tuple[Any, Any]]:
    prepare_moto()
    with mock_aws(config=MOTO_CONFIG):
        yield (
            boto3.client("sqs", region_name="us-east-1"),
            boto3.client("stepfunctions", region_name="us-east-1"),
        )


@pytest.mark.parametrize("language", ["JSONPath", "JSONata"])
def test_the_readme_task_runs_and_the_bot_accepts_its_message(
    clients: tuple[Any, Any], language: str
) -> None:
    sqs, sfn = clients
    run = Run(sqs, sfn, waiting_tasks()[language], language.lower())
    payload = {"approval": {"title": "Deploy 배포 2.4.1?", "approvers": ["U0ANA"]}, "n": 1}

    # Approve: the message is the contract's, the token works, the workflow gets the output.
    arn, body = run.start("approve", payload)
    envelope = parse_envelope(body)
    request = parse_request(envelope, default_channel="C0APPROVALS")
    assert request.payload == payload
    assert request.execution_arn == arn
    assert request.spec.title == "Deploy 배포 2.4.1?"
    output = {**payload, "approval": {**payload["approval"], "decision": "approved"}}
    sfn.send_task_success(taskToken=envelope.task_token.reveal(), output=json.dumps(output))
    done = run.finished(arn)
    assert done["status"] == "SUCCEEDED"
    assert json.loads(done["output"]) == output
    assert run.states_entered(arn) == ["Request approval", "Continue"]

    # Reject: the snippet's Catch routes the error, with the state's input kept.
    arn, body = run.start("reject", payload)
    token = parse_envelope(body).task_token.reveal()
    sfn.send_task_failure(taskToken=token, error="Rejected", cause='{"reason": "not today"}')
    done = run.finished(arn)
    assert (done["status"], done["error"]) == ("FAILED", "Rejected")
    assert run.states_entered(arn) == ["Request approval", "Rejected"]


# --- the errors a workflow can Catch ---------------------------------------------------------

# How the bot names the errors it sends with SendTaskFailure, in its source.
ERROR_PATTERNS: Final = (
    re.compile(r'\berror="([A-Z]\w+)"'),
    re.compile(r'\bfail_quietly\(\s*[^,]+,\s*"([A-Z]\w+)"'),
    re.compile(r'\berror_code\b[^=\n]*=\s*"([A-Z]\w+)"'),
)
KNOWN: Final = {"Rejected", "ApprovalExpired", "InvalidApprovalRequest", "ApprovalOutputInvalid"}


def test_every_error_the_bot_sends_is_in_the_readme_table() -> None:
    sent = {
        name
        for path in (ROOT / "bot").rglob("*.py")
        if "local" not in path.relative_to(ROOT / "bot").parts
        for pattern in ERROR_PATTERNS
        for name in pattern.findall(path.read_text())
    }
    assert sent >= KNOWN, f"the scan lost track of the bot's errors: found {sorted(sent)}"
    table = readme_section("**Errors your workflow can `Catch`:**")
    documented = set(re.findall(r"^\| `([\w.]+)` \|", table, flags=re.MULTILINE))
    assert sent <= documented, f"not in the README's error table: {sorted(sent - documented)}"
