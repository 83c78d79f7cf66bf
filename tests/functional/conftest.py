"""Functional fixtures: moto (Step Functions executing the seed's state machine), the Slack
stand-in on 127.0.0.1, and the real Lambda handlers imported with the environment set."""

from __future__ import annotations

import contextlib
import importlib
import json
import logging
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import boto3
import pytest
from moto import mock_aws

from bot.local.events import LocalContext, sqs_event
from bot.local.infra import (
    MOTO_CONFIG,
    ExampleStack,
    create_table,
    deploy_example,
    prepare_moto,
)
from bot.local.lambda_client import LocalLambdaClient, attach
from bot.local.slack_driver import Response, SlackDriver
from bot.local.slack_requests import api_gateway_v2_event, signed_form_headers
from bot.local.slack_standin import SlackStandIn

BOT_TOKEN = "xoxb-functional-test"
SIGNING_SECRET = "functional-signing-secret"
CHANNEL = "C0APPROVALS"
TABLE = "approvals"

ANA, BO, CY, EVE = "U0ANA", "U0BO", "U0CY", "U0EVE"
ONCALL = "S0ONCALL"
# The stand-in answers on 127.0.0.1, but a loaded machine (parallel workers, other jobs) can
# take over a second: 1 s timed a post out now and then. The lease must outlast the timeout.
SLACK_TIMEOUT_SECONDS = 2
POST_LEASE_SECONDS = 3


@dataclass
class Aws:
    dynamodb: Any
    sqs: Any
    sfn: Any
    iam: Any
    lambda_: Any
    events: Any
    ssm: Any


@pytest.fixture
def aws() -> Iterator[Aws]:
    prepare_moto()
    with mock_aws(config=MOTO_CONFIG):

        def client(name: str) -> Any:
            return boto3.client(name, region_name="us-east-1")

        yield Aws(
            dynamodb=client("dynamodb"),
            sqs=client("sqs"),
            sfn=client("stepfunctions"),
            iam=client("iam"),
            lambda_=client("lambda"),
            events=client("events"),
            ssm=client("ssm"),
        )


@pytest.fixture
def approval_timeout() -> int | None:
    """Override in a test module to shorten the waiting task's TimeoutSeconds."""
    return None


@pytest.fixture
def stack(aws: Aws, approval_timeout: int | None) -> ExampleStack:
    create_table(aws.dynamodb, TABLE)
    return deploy_example(
        iam=aws.iam,
        lambda_=aws.lambda_,
        sqs=aws.sqs,
        sfn=aws.sfn,
        approval_timeout_seconds=approval_timeout,
        visibility_timeout=1,
        max_receive_count=2,
    )


@pytest.fixture
def rate_limits() -> bool:
    """Slack's rate limits in the stand-in: on. A test that sends faster than Slack allows on
    purpose overrides this fixture (False), saying why."""
    return True


@pytest.fixture
def slack(rate_limits: bool) -> Iterator[SlackStandIn]:
    with SlackStandIn(bot_token=BOT_TOKEN, rate_limits=rate_limits) as standin:
        standin.add_channel(CHANNEL, "approvals", members=[ANA, BO, CY, EVE])
        standin.add_user(ANA, "ana", real_name="Ana Approver", email="ana@example.com")
        standin.add_user(BO, "bo", real_name="Bo Requester", email="bo@example.com")
        standin.add_user(CY, "cy", real_name="Cy Oncall", email="cy@example.com")
        standin.add_user(EVE, "eve", real_name="Eve Outsider", email="eve@example.com")
        standin.add_usergroup(ONCALL, "oncall", [CY])
        yield standin


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, stack: ExampleStack, slack: SlackStandIn) -> None:
    monkeypatch.setenv("APPROVALS_TABLE", TABLE)
    monkeypatch.setenv("SLACK_BOT_TOKEN", BOT_TOKEN)
    monkeypatch.setenv("SLACK_SIGNING_SECRET", SIGNING_SECRET)
    monkeypatch.setenv("SLACK_API_URL", slack.url)
    monkeypatch.setenv("DEFAULT_CHANNEL", CHANNEL)
    monkeypatch.setenv("DEFAULT_APPROVERS", f"{ANA},{ONCALL}")
    monkeypatch.setenv("POST_LEASE_SECONDS", str(POST_LEASE_SECONDS))
    monkeypatch.setenv("SLACK_TIMEOUT_SECONDS", str(SLACK_TIMEOUT_SECONDS))


def fresh_import(name: str) -> ModuleType:
    """Import a handler module anew, as a cold Lambda start would (clients built at import)."""
    sys.modules.pop(name, None)
    return importlib.import_module(name)


class LogCapture(logging.Handler):
    """Every formatted log line our code emits (Powertools JSON included)."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.lines: list[str] = []
        self.others: LogCapture | None = None

    def use_formatter(self, formatter: logging.Formatter) -> None:
        """Format as the handler does in Lambda (Powertools JSON with correlation keys)."""
        self.setFormatter(formatter)
        if self.others is not None:
            self.others.setFormatter(formatter)

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


@pytest.fixture
def logs() -> Iterator[LogCapture]:
    """Captures the service's loggers ("sfn-approvals", "bot.*") and INFO+ of everything else.

    botocore's DEBUG wire logs are excluded on purpose: they print request bodies (and so a
    task token) and are never enabled in production.
    """
    capture = LogCapture()
    root = logging.getLogger()
    info = LogCapture()
    info.setLevel(logging.INFO)
    info.lines = capture.lines
    capture.others = info
    root.addHandler(info)
    ours = [logging.getLogger("sfn-approvals"), logging.getLogger("bot")]
    for logger in ours:
        logger.addHandler(capture)
    yield capture
    root.removeHandler(info)
    for logger in ours:
        logger.removeHandler(capture)


def load_handler(name: str, logs: LogCapture) -> ModuleType:
    """Import a handler cold, and capture everything its loggers write (Powertools copies its
    handlers onto the ``bot.*`` loggers at import, replacing ours, so re-attach)."""
    module = fresh_import(name)
    logs.use_formatter(module.logger.registered_formatter)
    for logger_name in list(logging.root.manager.loggerDict):
        if logger_name == "bot" or logger_name.startswith(("bot.", "slack_bolt")):
            logger = logging.getLogger(logger_name)
            if logs not in logger.handlers:
                logger.addHandler(logs)
    module.logger.addHandler(logs)
    return module


@pytest.fixture
def notifier(env: None, logs: LogCapture) -> ModuleType:
    return load_handler("bot.handlers.notifier", logs)


@dataclass
class Interactions:
    module: ModuleType
    lazy: LocalLambdaClient
    slack: SlackDriver

    def wait(self) -> None:
        self.lazy.wait()
        assert self.lazy.errors == []


@pytest.fixture
def interactions(env: None, logs: LogCapture, slack: SlackStandIn) -> Interactions:
    module = load_handler("bot.handlers.interactions", logs)
    lazy = LocalLambdaClient(module.handler)
    attach(module.slack_handler, lazy)
    # Lambda runs one invocation per process at a time; the local lazy client runs several at
    # once in this process. Powertools adds its Lambda-context keys to the logger's shared
    # format on a process's first invocation, so a first invocation alone (Slack's SSL check,
    # answered 200) comes first: concurrent ones then only update those keys. A first-time add
    # while another thread formats a record raised "dictionary changed size during iteration"
    # in a lazy listener (seen once in CI's run of the concurrent Approve all test).
    check = "ssl_check=1&token=local"
    warm = module.handler(
        api_gateway_v2_event(check, signed_form_headers(SIGNING_SECRET, check)),
        LocalContext(function_name="interactions"),
    )
    assert warm["statusCode"] == 200

    def send(body: str, headers: dict[str, str]) -> Response:
        event = api_gateway_v2_event(body, headers)
        result = module.handler(event, LocalContext(function_name="interactions"))
        return Response(int(result["statusCode"]), result.get("body") or "", result["headers"])

    return Interactions(module, lazy, SlackDriver(slack, signing_secret=SIGNING_SECRET, send=send))


@pytest.fixture
def expirations(env: None, logs: LogCapture) -> ModuleType:
    return load_handler("bot.handlers.expirations", logs)


def start_execution(aws: Aws, stack: ExampleStack, name: str, **input_: Any) -> str:
    return str(
        aws.sfn.start_execution(
            stateMachineArn=stack.state_machine_arn, name=name, input=json.dumps(input_)
        )["executionArn"]
    )


def receive(aws: Aws, queue_url: str, count: int, *, timeout: float = 10.0) -> list[dict[str, Any]]:
    """Receive exactly ``count`` messages (bounded wait)."""
    messages: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while len(messages) < count and time.monotonic() < deadline:
        batch = aws.sqs.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=min(10, count - len(messages)),
            WaitTimeSeconds=1,
            AttributeNames=["All"],
        ).get("Messages", [])
        messages.extend(batch)
    assert len(messages) == count, f"expected {count} messages, got {len(messages)}"
    return messages


def receive_for(
    aws: Aws, queue_url: str, execution_arn: str, *, timeout: float = 10.0
) -> dict[str, Any]:
    """The message of this execution (bounded wait). Messages of others are left in the queue:
    one a test received and did not delete is visible again after the queue's 1 s visibility
    timeout, and a slow (loaded) machine would otherwise hand it out in place of this one."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        batch = aws.sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1, AttributeNames=["All"]
        ).get("Messages", [])
        for message in batch:
            with contextlib.suppress(ValueError, AttributeError):
                if json.loads(message["Body"]).get("Execution") == execution_arn:
                    return dict(message)
    raise AssertionError(f"no message of {execution_arn} within {timeout} s")


def invoke_notifier(
    notifier: ModuleType, stack: ExampleStack, messages: list[dict[str, Any]]
) -> dict[str, Any]:
    event = sqs_event(messages, queue_arn=stack.queues.arn)
    return dict(notifier.handler(event, LocalContext(function_name="notifier")))


def wait_for_status(aws: Aws, execution_arn: str, *, timeout: float = 10.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        described = aws.sfn.describe_execution(executionArn=execution_arn)
        if described["status"] != "RUNNING" or time.monotonic() > deadline:
            return dict(described)
        time.sleep(0.05)


@dataclass(frozen=True)
class Posted:
    execution_arn: str
    approval_id: str
    ts: str
    token: str


def request_approval(
    aws: Aws,
    stack: ExampleStack,
    notifier: ModuleType,
    slack: SlackStandIn,
    name: str,
    **input_: Any,
) -> Posted:
    """Run the seed's state machine until it waits, and let the notifier post the request."""
    from bot.models import approval_id_for

    execution = start_execution(aws, stack, name, **input_)
    message = receive_for(aws, stack.queues.url, execution)
    assert invoke_notifier(notifier, stack, [message]) == {"batchItemFailures": []}
    body = json.loads(message["Body"])
    approval_id = approval_id_for(body["TaskToken"])
    ts = next(
        m["ts"]
        for m in slack.messages(CHANNEL)
        if (m.get("metadata") or {}).get("event_payload", {}).get("approval_id") == approval_id
    )
    return Posted(execution, approval_id, ts, body["TaskToken"])
