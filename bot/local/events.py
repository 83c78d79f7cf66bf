"""Lambda event shapes the sandbox and the tests build, exactly as AWS delivers them."""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass
class LocalContext:
    """The attributes of a Lambda context object that Powertools reads."""

    function_name: str = "sfn-approvals-local"
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:sfn-approvals-local"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    log_group_name: str = "/aws/lambda/sfn-approvals-local"
    log_stream_name: str = "local"
    timeout_seconds: float = 30.0
    _started: float = field(default_factory=time.monotonic)

    def get_remaining_time_in_millis(self) -> int:
        left = self.timeout_seconds - (time.monotonic() - self._started)
        return max(0, int(left * 1000))


def sqs_record(message: Mapping[str, Any], *, queue_arn: str) -> dict[str, Any]:
    """One record of an SQS event from a ``ReceiveMessage`` result message."""
    body = message["Body"]
    attributes = dict(message.get("Attributes") or {})
    attributes.setdefault("ApproximateReceiveCount", "1")
    attributes.setdefault("SentTimestamp", str(int(time.time() * 1000)))
    attributes.setdefault("SenderId", "AIDAIENQZJOLO23YVJ4VO")
    attributes.setdefault("ApproximateFirstReceiveTimestamp", attributes["SentTimestamp"])
    return {
        "messageId": message.get("MessageId", str(uuid.uuid4())),
        "receiptHandle": message.get("ReceiptHandle", uuid.uuid4().hex),
        "body": body,
        "attributes": attributes,
        "messageAttributes": message.get("MessageAttributes") or {},
        "md5OfBody": message.get("MD5OfBody") or hashlib.md5(body.encode()).hexdigest(),  # noqa: S324
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": queue_arn.split(":")[3],
    }


def sqs_event(messages: Iterable[Mapping[str, Any]], *, queue_arn: str) -> dict[str, Any]:
    """The event Lambda's SQS event source mapping passes to the notifier."""
    return {"Records": [sqs_record(m, queue_arn=queue_arn) for m in messages]}


def body_event(bodies: Iterable[str], *, queue_arn: str) -> dict[str, Any]:
    """An SQS event of raw bodies (for tests of malformed messages)."""
    return sqs_event(({"Body": b} for b in bodies), queue_arn=queue_arn)
