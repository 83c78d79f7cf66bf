"""`lambda-for-processing` of the seed: continues the work once a human approved it.

Receives ``{"Payload": <output of the approval task>}``; the bot's output is the original
payload plus ``approval`` = ``{"decision", "approver", "decided_at", "comment"}``.
"""

from __future__ import annotations

from typing import Any


def handler(event: dict[str, Any] | None, context: Any) -> dict[str, Any]:
    payload = (event or {}).get("Payload") or {}
    approval = payload.get("approval") or {}
    approver = approval.get("approver") or {}
    return {
        "task_id": payload.get("task_id"),
        "status": "processed",
        "decision": approval.get("decision"),
        "approved_by": approver.get("name") or approver.get("id"),
        "decided_at": approval.get("decided_at"),
    }
