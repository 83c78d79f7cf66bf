"""`lambda-for-task-generator` of the seed: produces the work item that needs a human's approval.

The state machine passes its input; this returns the task, including an optional ``approval``
object that tells the Slack bot how to present it (see the README's message contract).
Example input::

    {"service": "checkout", "version": "2.4.1", "environment": "production",
     "requester": "U0123ABCD", "channel": "C0123ABCD"}
"""

from __future__ import annotations

import re
import uuid
from typing import Any

# Deployed alone (it cannot import ``bot``): the same escaping as ``bot.mrkdwn.plain_bold``,
# for execution input placed inside approval.text (mrkdwn). tests/unit/test_task_generator.py
# keeps the two in step.
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_TYPED_BROADCAST = re.compile(r"(?<![\w.+\-@])@(channel|here|everyone|group)\b", re.I)
_BOLD_BREAKERS = str.maketrans({"*": "\u2217", "`": "\u02cb"})


def mrkdwn_plain(text: str) -> str:
    """``text`` shown as typed inside bold or code in mrkdwn: it can neither notify
    (``<!channel>``, ``@here``), nor link, nor end the bold or code around it."""
    text = "".join(c for c in text if c not in _BIDI_CONTROLS)
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    text = _TYPED_BROADCAST.sub(lambda m: "\uff20" + m.group(1), text)
    return text.translate(_BOLD_BREAKERS)


def handler(event: dict[str, Any] | None, context: Any) -> dict[str, Any]:
    event = event or {}
    service = str(event.get("service", "checkout"))
    version = str(event.get("version", "1.0.0"))
    environment = str(event.get("environment", "production"))
    task_id = str(event.get("task_id") or uuid.uuid4())
    approval: dict[str, Any] = {
        "title": f"Deploy {service} {version} to {environment}?",
        "text": (
            f"A deployment of *{mrkdwn_plain(service)}* `{mrkdwn_plain(version)}` "
            "is waiting for approval."
        ),
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
        "notify",
        "group",
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
