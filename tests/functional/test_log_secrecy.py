"""The task token never reaches a log line, at any level, from any logger in the process.

Lambda's application log level DEBUG sets the ROOT logger to DEBUG, with the runtime's plain
handler on the root. botocore then prints request bodies (SendTaskSuccess / SendTaskFailure
``taskToken``, DynamoDB ``task_token``) and responses (``ReturnValuesOnConditionCheckFailure``
items). This test sets up exactly that before the handlers are imported, drives every path
that touches a token, and looks for the token in every formatted record: message, arguments,
exception text, stack and extra keys.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from types import ModuleType

import pytest

from bot import log_secrecy
from bot.ids import Action, Input, Modal
from bot.local.events import LocalContext, body_event
from bot.local.infra import ExampleStack
from bot.local.sandbox import scheduled_event
from bot.local.slack_standin import SlackStandIn
from bot.models import Status, approval_id_for
from bot.store import ApprovalStore
from tests.functional.conftest import (
    ANA,
    CHANNEL,
    CY,
    TABLE,
    Aws,
    Interactions,
    LogCapture,
    Posted,
    invoke_notifier,
    receive,
    request_approval,
    start_execution,
    wait_for_status,
)

ARN = "arn:aws:states:us-east-1:123456789012:execution:approval-flow:{}"


class RootCapture(logging.Handler):
    """A plain handler on the root logger, as Lambda's Python runtime installs one."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
        self.records: list[str] = []
        self.names: set[str] = set()
        self._guard = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        parts = [self.format(record), repr(record.args), record.getMessage()]
        parts.append(json.dumps(vars(record), default=repr))  # extra keys, exc_info, stack
        with self._guard:
            self.records.append("\n".join(parts))
            self.names.add(record.name)

    def leaks(self, secret: str) -> list[str]:
        with self._guard:
            return [r[:300] for r in self.records if secret in r]


@pytest.fixture(autouse=True)
def root_debug() -> Iterator[RootCapture]:
    """Root at DEBUG with a capturing handler, before any handler module is imported."""
    root = logging.getLogger()
    level = root.level
    capture = RootCapture()
    root.addHandler(capture)
    root.setLevel(logging.DEBUG)
    wire = {name: logging.getLogger(name).level for name in log_secrecy.WIRE_LOGGERS}
    yield capture
    root.removeHandler(capture)
    root.setLevel(level)
    for name, wire_level in wire.items():
        logging.getLogger(name).setLevel(wire_level)


def _stored(aws: Aws, approval_id: str):
    return ApprovalStore(aws.dynamodb, TABLE).get(approval_id)


def _synthetic(notifier: ModuleType, stack: ExampleStack, payload: dict) -> tuple[str, str]:
    """A request whose token moto does not know: Step Functions refuses it (an SFN error)."""
    token = f"synthetic-{uuid.uuid4()}"
    execution = ARN.format(uuid.uuid4())
    body = json.dumps({"TaskToken": token, "Execution": execution, "Payload": payload})
    response = notifier.handler(body_event([body], queue_arn=stack.queues.arn), LocalContext())
    assert response == {"batchItemFailures": []}
    return token, approval_id_for(token)


def test_no_token_in_any_log_record_with_the_root_logger_at_debug(
    root_debug: RootCapture,
    aws: Aws,
    stack: ExampleStack,
    notifier: ModuleType,
    slack: SlackStandIn,
    interactions: Interactions,
    expirations: ModuleType,
    logs: LogCapture,
) -> None:
    # Importing a handler put the floor on the wire loggers; lift it again, as a careless
    # ``logging.getLogger("botocore.endpoint").setLevel(DEBUG)`` would: redaction must hold
    # alone (tests/unit/test_log_secrecy.py covers the floor by itself).
    floored = {
        name: logging.getLogger(name).getEffectiveLevel() >= logging.INFO
        for name in log_secrecy.WIRE_LOGGERS
    }
    for name in log_secrecy.WIRE_LOGGERS:
        logging.getLogger(name).setLevel(logging.DEBUG)
    tokens: list[str] = []

    # The request path, and a redelivery (the PutItem condition fails: ALL_OLD holds the token).
    start_execution(aws, stack, "secret-approve", service="checkout", approvers=[ANA, CY])
    (message,) = receive(aws, stack.queues.url, 1)
    assert invoke_notifier(notifier, stack, [message]) == {"batchItemFailures": []}
    assert invoke_notifier(notifier, stack, [message]) == {"batchItemFailures": []}
    token = json.loads(message["Body"])["TaskToken"]
    tokens.append(token)
    approved = Posted(
        execution_arn="",
        approval_id=approval_id_for(token),
        ts=next(m["ts"] for m in slack.messages(CHANNEL)),
        token=token,
    )

    # Approve, with two people clicking at once (the losing claim's condition fails).
    barrier = threading.Barrier(2)

    def click(user: str) -> None:
        barrier.wait()
        interactions.slack.click(user, CHANNEL, approved.ts, Action.APPROVE)

    threads = [threading.Thread(target=click, args=(u,)) for u in (ANA, CY)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    interactions.wait()
    assert _stored(aws, approved.approval_id).status is Status.APPROVED

    # Reject through the modal.
    rejected = request_approval(aws, stack, notifier, slack, "secret-reject", approvers=[ANA])
    tokens.append(rejected.token)
    interactions.slack.click(ANA, CHANNEL, rejected.ts, Action.REJECT)
    (modal,) = interactions.slack.open_views(Modal.REJECT)
    reason = {Input.REASON_BLOCK: {Input.REASON_INPUT: "not today"}}
    assert interactions.slack.submit(ANA, modal, reason).status == 200
    interactions.wait()
    assert wait_for_status(aws, rejected.execution_arn)["status"] == "FAILED"

    # Expiry: approval.expires_at passes (the sweep's clock is moved on, no waiting), and the
    # sweep fails the task with ApprovalExpired.
    later = datetime.now(UTC) + timedelta(hours=1)
    expiring = request_approval(
        aws, stack, notifier, slack, "secret-expire", expires_at=later.isoformat()
    )
    tokens.append(expiring.token)
    expirations.service._clock = lambda: later + timedelta(minutes=1)
    report = expirations.handler(scheduled_event(), LocalContext(function_name="sweep"))
    assert report["expired"] == 1
    assert _stored(aws, expiring.approval_id).status is Status.EXPIRED

    # Step Functions errors: an invalid request's SendTaskFailure and an approve's
    # SendTaskSuccess, both refused (moto does not know the token).
    invalid, _ = _synthetic(notifier, stack, {"approval": {"channel": "nope"}})
    gone, gone_id = _synthetic(notifier, stack, {"approval": {"title": "Gone"}})
    tokens += [invalid, gone]
    ts = next(
        m["ts"]
        for m in slack.messages(CHANNEL)
        if (m.get("metadata") or {}).get("event_payload", {}).get("approval_id") == gone_id
    )
    interactions.slack.click(ANA, CHANNEL, ts, Action.APPROVE)
    interactions.wait()
    assert _stored(aws, gone_id).status is not Status.PENDING

    assert {"botocore.endpoint", "botocore.parsers"} <= root_debug.names  # they really logged
    for secret in tokens:
        assert root_debug.leaks(secret) == []
        assert secret not in logs.text
    assert floored == dict.fromkeys(log_secrecy.WIRE_LOGGERS, True)  # installed by the import
