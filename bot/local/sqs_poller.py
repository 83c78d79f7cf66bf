"""What Lambda's SQS event source mapping does, for the sandbox and the tests.

Receive a batch, hand it to the handler as an SQS event, delete the records that succeeded,
leave the ones in ``batchItemFailures`` to reappear after the visibility timeout (and reach
the DLQ after ``maxReceiveCount`` receives, by the queue's redrive policy).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bot.local.events import LocalContext, sqs_event

Handler = Callable[[dict[str, Any], Any], Any]


@dataclass(frozen=True)
class Delivery:
    received: int
    failed_ids: tuple[str, ...]
    response: dict[str, Any]


def deliver_once(
    sqs: Any,
    *,
    queue_url: str,
    queue_arn: str,
    handler: Handler,
    max_messages: int = 10,
    wait_seconds: int = 1,
    function_name: str = "notifier",
) -> Delivery:
    messages = sqs.receive_message(
        QueueUrl=queue_url,
        MaxNumberOfMessages=max_messages,
        WaitTimeSeconds=wait_seconds,
        AttributeNames=["All"],
        MessageAttributeNames=["All"],
    ).get("Messages", [])
    if not messages:
        return Delivery(0, (), {})
    response = handler(
        sqs_event(messages, queue_arn=queue_arn), LocalContext(function_name=function_name)
    )
    response = dict(response or {})
    failed = tuple(f["itemIdentifier"] for f in response.get("batchItemFailures", []))
    done = [
        {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
        for i, m in enumerate(messages)
        if m["MessageId"] not in failed
    ]
    if done:
        sqs.delete_message_batch(QueueUrl=queue_url, Entries=done)
    return Delivery(len(messages), failed, response)
