"""The notifier Lambda against moto (a real execution of the seed's state machine) and the
Slack stand-in: exactly one post per request, nothing lost, clear failures."""

from __future__ import annotations

import json
import time
from types import ModuleType

import pytest

from bot.local.events import LocalContext, body_event
from bot.local.infra import ExampleStack
from bot.local.slack_standin import Fault, SlackStandIn
from bot.local.sqs_poller import deliver_once
from bot.models import Status, approval_id_for
from bot.store import ApprovalStore
from tests.functional.conftest import (
    CHANNEL,
    POST_LEASE_SECONDS,
    TABLE,
    Aws,
    LogCapture,
    invoke_notifier,
    receive,
    start_execution,
    wait_for_status,
)


class LambdaCrashed(BaseException):
    """The function died (timeout, OOM): nothing after this point ran."""


def deliver(aws: Aws, stack: ExampleStack, notifier: ModuleType):
    return deliver_once(
        aws.sqs, queue_url=stack.queues.url, queue_arn=stack.queues.arn, handler=notifier.handler
    )


def store(aws: Aws) -> ApprovalStore:
    return ApprovalStore(aws.dynamodb, TABLE)


def posts(slack: SlackStandIn) -> list[dict]:
    return [
        c.params
        for c in slack.calls("chat.postMessage")
        if c.status == 200 and c.response.get("ok")
    ]


def test_execution_request_is_posted_once_and_stored_pending(
    aws: Aws, stack: ExampleStack, slack: SlackStandIn, notifier: ModuleType, logs: LogCapture
) -> None:
    execution = start_execution(
        aws, stack, "deploy-1", service="checkout", version="2.4.1", requester="U0BO"
    )
    (message,) = receive(aws, stack.queues.url, 1)
    body = json.loads(message["Body"])
    assert body["Execution"] == execution

    started = time.perf_counter()
    response = invoke_notifier(notifier, stack, [message])
    elapsed = time.perf_counter() - started
    assert response == {"batchItemFailures": []}
    assert elapsed < 30  # a sanity bound only; timings are measured in benchmarks/

    (post,) = posts(slack)
    assert post["channel"] == CHANNEL
    blocks = json.loads(post["blocks"]) if isinstance(post["blocks"], str) else post["blocks"]
    assert blocks[0] == {
        "type": "header",
        "text": {
            "type": "plain_text",
            "text": "Deploy checkout 2.4.1 to production?",
            "emoji": True,
        },
    }
    kinds = [b["type"] for b in blocks]
    assert kinds == ["header", "section", "section", "context", "actions"]
    assert "Requested by <@U0BO>" in json.dumps(blocks)
    approval_id = approval_id_for(body["TaskToken"])
    assert [e["value"] for e in blocks[-1]["elements"]] == [approval_id] * 3

    stored = store(aws).get(approval_id)
    assert stored.status is Status.PENDING
    (posted,) = slack.messages(CHANNEL)
    assert (stored.channel, stored.ts) == (CHANNEL, posted["ts"])
    assert posted["metadata"]["event_payload"] == {"approval_id": approval_id}
    assert stored.execution_arn == execution
    assert aws.sfn.describe_execution(executionArn=execution)["status"] == "RUNNING"

    token = body["TaskToken"]
    assert token not in logs.text
    assert approval_id in logs.text  # correlation id is logged
    assert token not in json.dumps([c.params for c in slack.calls()])


def test_duplicate_deliveries_post_once(
    aws: Aws, stack: ExampleStack, slack: SlackStandIn, notifier: ModuleType
) -> None:
    start_execution(aws, stack, "dup-1")
    (message,) = receive(aws, stack.queues.url, 1)
    copy = {**message, "MessageId": "copy-of-" + message["MessageId"]}
    assert invoke_notifier(notifier, stack, [message, copy]) == {"batchItemFailures": []}
    assert invoke_notifier(notifier, stack, [message]) == {"batchItemFailures": []}
    assert len(posts(slack)) == 1
    assert len(slack.messages(CHANNEL)) == 1


def test_crash_between_post_and_saving_ts_is_recovered_without_a_second_post(
    aws: Aws,
    stack: ExampleStack,
    slack: SlackStandIn,
    notifier: ModuleType,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    start_execution(aws, stack, "crash-1")
    store_ = notifier.service._store
    original = store_.mark_posted

    def crash(*args, **kwargs):
        raise LambdaCrashed("the function died after chat.postMessage")

    monkeypatch.setattr(store_, "mark_posted", crash)
    with pytest.raises(LambdaCrashed):
        deliver(aws, stack, notifier)
    assert len(posts(slack)) == 1
    monkeypatch.setattr(store_, "mark_posted", original)

    # SQS redelivers after the visibility timeout; the crashed attempt's lease has expired.
    time.sleep(POST_LEASE_SECONDS + 0.1)
    delivery = deliver(aws, stack, notifier)
    for _ in range(20):
        if delivery.received:
            break
        delivery = deliver(aws, stack, notifier)
    assert delivery.received == 1
    assert delivery.failed_ids == ()

    assert len(posts(slack)) == 1, "the redelivery must not post again"
    assert len(slack.calls("conversations.history")) == 1
    (posted,) = slack.messages(CHANNEL)
    stored = store(aws).get(posted["metadata"]["event_payload"]["approval_id"])
    assert stored.status is Status.PENDING
    assert stored.ts == posted["ts"]


def test_rate_limited_post_honours_retry_after_then_succeeds(
    aws: Aws, stack: ExampleStack, slack: SlackStandIn, notifier: ModuleType
) -> None:
    start_execution(aws, stack, "ratelimited-1")
    (message,) = receive(aws, stack.queues.url, 1)
    slack.inject("chat.postMessage", Fault(status=429, retry_after=1))
    started = time.monotonic()
    assert invoke_notifier(notifier, stack, [message]) == {"batchItemFailures": []}
    assert time.monotonic() - started >= 1.0  # Retry-After was honoured
    statuses = [c.status for c in slack.calls("chat.postMessage")]
    assert statuses == [429, 200]
    assert len(slack.messages(CHANNEL)) == 1


def test_server_error_fails_only_that_record_and_the_retry_posts_once(
    aws: Aws, stack: ExampleStack, slack: SlackStandIn, notifier: ModuleType
) -> None:
    start_execution(aws, stack, "err-1")
    start_execution(aws, stack, "err-2")
    messages = receive(aws, stack.queues.url, 2)
    slack.inject("chat.postMessage", Fault(status=500))
    response = invoke_notifier(notifier, stack, messages)
    assert response == {"batchItemFailures": [{"itemIdentifier": messages[0]["MessageId"]}]}
    assert len(slack.messages(CHANNEL)) == 1

    # A 5xx may hide a post Slack made: a redelivery within the lease waits …
    busy = invoke_notifier(notifier, stack, [messages[0]])
    assert busy == {"batchItemFailures": [{"itemIdentifier": messages[0]["MessageId"]}]}
    time.sleep(POST_LEASE_SECONDS + 0.1)  # … and after the lease, checks the channel, then posts.
    assert invoke_notifier(notifier, stack, [messages[0]]) == {"batchItemFailures": []}
    assert len(slack.messages(CHANNEL)) == 2
    assert invoke_notifier(notifier, stack, messages) == {"batchItemFailures": []}
    assert len(slack.messages(CHANNEL)) == 2


def test_timed_out_post_that_went_through_is_found_not_reposted(
    aws: Aws, stack: ExampleStack, slack: SlackStandIn, notifier: ModuleType
) -> None:
    start_execution(aws, stack, "lost-response-1")
    (message,) = receive(aws, stack.queues.url, 1)
    # Slack posted it, but the answer never arrived (a 503 here; a timeout behaves the same).
    slack.inject("chat.postMessage", Fault(status=503, after=True))
    response = invoke_notifier(notifier, stack, [message])
    assert response["batchItemFailures"] == [{"itemIdentifier": message["MessageId"]}]
    assert len(slack.messages(CHANNEL)) == 1
    time.sleep(POST_LEASE_SECONDS + 0.1)  # the lease of the attempt that may still post runs out
    assert invoke_notifier(notifier, stack, [message]) == {"batchItemFailures": []}
    assert len(slack.messages(CHANNEL)) == 1
    assert len(slack.calls("conversations.history")) == 1  # found, not posted again


def test_poison_message_fails_then_lands_in_the_dlq_with_its_body(
    aws: Aws, stack: ExampleStack, slack: SlackStandIn, notifier: ModuleType, logs: LogCapture
) -> None:
    aws.sqs.send_message(QueueUrl=stack.queues.url, MessageBody="this is not JSON")
    aws.sqs.send_message(QueueUrl=stack.queues.url, MessageBody=json.dumps({"Payload": {}}))
    failures = 0
    deadline = time.monotonic() + 15
    dlq: list[dict] = []
    while time.monotonic() < deadline and len(dlq) < 2:
        delivery = deliver(aws, stack, notifier)
        failures += len(delivery.failed_ids)
        dlq += aws.sqs.receive_message(
            QueueUrl=stack.queues.dlq_url, MaxNumberOfMessages=10, WaitTimeSeconds=0
        ).get("Messages", [])
    assert sorted(m["Body"] for m in dlq) == sorted(['{"Payload": {}}', "this is not JSON"])
    assert failures == 2 * stack.queues.max_receive_count
    assert slack.calls("chat.postMessage") == []
    assert "message body is not JSON" in logs.text
    assert "message has no TaskToken" in logs.text


def test_unprocessable_and_valid_records_in_one_batch(
    aws: Aws, stack: ExampleStack, slack: SlackStandIn, notifier: ModuleType
) -> None:
    start_execution(aws, stack, "mixed-1")
    (message,) = receive(aws, stack.queues.url, 1)
    event = body_event(["{broken", message["Body"]], queue_arn=stack.queues.arn)
    response = notifier.handler(event, LocalContext())
    assert [f["itemIdentifier"] for f in response["batchItemFailures"]] == [
        event["Records"][0]["messageId"]
    ]
    assert len(slack.messages(CHANNEL)) == 1


@pytest.mark.parametrize(
    ("execution_input", "reason"),
    [
        ({"channel": "#ops"}, "approval.channel must be a Slack channel id"),
        ({"channel": "C0NOSUCH"}, "channel_not_found"),
        ({"requester": "not a user"}, "approval.requester"),
        (  # an impossible request: it would wait forever at "0 of 5"
            {"approvers": ["U0ANA", "U0BO"], "required_approvals": 5},
            "approval.required_approvals is 5, but approval.approvers names only 2 people",
        ),
        (  # the requester never approves their own request: one approver left
            {"approvers": ["U0ANA", "U0BO"], "requester": "U0BO", "required_approvals": 2},
            "only 1 person other than the requester",
        ),
        (  # an e-mail nobody in the workspace has
            {"requester": "nobody@example.com"},
            "approval.requester nobody@example.com is no user of this Slack workspace",
        ),
    ],
)
def test_invalid_request_fails_the_execution_with_invalid_approval_request(
    aws: Aws,
    stack: ExampleStack,
    slack: SlackStandIn,
    notifier: ModuleType,
    logs: LogCapture,
    execution_input: dict,
    reason: str,
) -> None:
    execution = start_execution(aws, stack, "invalid-1", **execution_input)
    (message,) = receive(aws, stack.queues.url, 1)
    assert invoke_notifier(notifier, stack, [message]) == {"batchItemFailures": []}
    described = wait_for_status(aws, execution)
    assert described["status"] == "FAILED"
    assert described["error"] == "InvalidApprovalRequest"
    assert reason in logs.text  # moto drops the failure cause; the log says it
    assert slack.messages(CHANNEL) == []
    assert json.loads(message["Body"])["TaskToken"] not in logs.text
    # Redelivered after the task failed: consumed quietly, never posted.
    assert invoke_notifier(notifier, stack, [message]) == {"batchItemFailures": []}
    assert slack.messages(CHANNEL) == []


# --- who asked, and who can answer ----------------------------------------------------------------


def test_an_email_requester_is_resolved_to_a_user_and_named_in_the_message(
    aws: Aws, stack: ExampleStack, slack: SlackStandIn, notifier: ModuleType
) -> None:
    start_execution(aws, stack, "by-email", requester="BO@example.com")
    (message,) = receive(aws, stack.queues.url, 1)
    assert invoke_notifier(notifier, stack, [message]) == {"batchItemFailures": []}
    (posted,) = slack.messages(CHANNEL)
    assert "Requested by <@U0BO>" in json.dumps(posted["blocks"])
    approval = store(aws).get(approval_id_for(json.loads(message["Body"])["TaskToken"]))
    assert approval.requester_id == "U0BO"
    assert approval.spec.requester == "BO@example.com"  # as sent


def test_a_failing_email_lookup_is_retried_and_nothing_is_posted_meanwhile(
    aws: Aws, stack: ExampleStack, slack: SlackStandIn, notifier: ModuleType
) -> None:
    execution = start_execution(aws, stack, "lookup-down", requester="bo@example.com")
    (message,) = receive(aws, stack.queues.url, 1)
    slack.inject("users.lookupByEmail", Fault(status=503))
    failed = invoke_notifier(notifier, stack, [message])
    assert failed == {"batchItemFailures": [{"itemIdentifier": message["MessageId"]}]}
    assert slack.messages(CHANNEL) == []
    assert aws.sfn.describe_execution(executionArn=execution)["status"] == "RUNNING"
    # Nothing was posted, so the redelivery need not wait for the lease.
    assert invoke_notifier(notifier, stack, [message]) == {"batchItemFailures": []}
    (posted,) = slack.messages(CHANNEL)
    assert "Requested by <@U0BO>" in json.dumps(posted["blocks"])


def test_approver_groups_too_small_for_required_approvals_are_named_in_the_message(
    aws: Aws, stack: ExampleStack, slack: SlackStandIn, notifier: ModuleType
) -> None:
    """Groups can grow, so the request is posted, and says why it cannot complete yet."""
    start_execution(aws, stack, "small-group", approvers=["S0ONCALL"], required_approvals=3)
    (message,) = receive(aws, stack.queues.url, 1)
    assert invoke_notifier(notifier, stack, [message]) == {"batchItemFailures": []}
    (posted,) = slack.messages(CHANNEL)
    text = json.dumps(posted["blocks"])
    assert "needs 3 approvals, but only 1 person could approve it when it was posted" in text
