"""`lambda-for-task-generator` of the seed: produces the work item that needs a human's approval.

The state machine passes its input; this returns the task, including an optional ``approval``
object that tells the Slack bot how to present it (see the README's message contract).
Example input::

    {"service": "checkout", "version": "2.4.1", "environment": "production",
     "requester": "U0123ABCD", "channel": "C0123ABCD"}
"""

from __future__ import annotations

import uuid
from typing import Any


def handler(event: dict[str, Any] | None, context: Any) -> dict[str, Any]:
    event = event or {}
    service = str(event.get("service", "checkout"))
    version = str(event.get("version", "1.0.0"))
    environment = str(event.get("environment", "production"))
    task_id = str(event.get("task_id") or uuid.uuid4())
    approval: dict[str, Any] = {
        "title": f"Deploy {service} {version} to {environment}?",
        "text": f"A deployment of *{service}* `{version}` is waiting for approval.",
        "fields": {
            "Service": service,
            "Version": version,
            "Environment": environment,
            "Task": task_id,
        },
    }
    passthrough = (
        "channel",
        "requester",
        "approvers",
        "links",
        "expires_at",
        "required_approvals",
        "reject_policy",
        "remind_every",
        "escalate_after",
        "escalate_to",
        "inputs",
        "risk",
    )
    for key in passthrough:
        if key in event:
            approval[key] = event[key]
    return {
        "task_id": task_id,
        "service": service,
        "version": version,
        "environment": environment,
        "approval": approval,
    }
