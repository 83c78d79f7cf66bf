"""`lambda-for-processing` of the seed: continues the work once a human approved it.

Receives ``{"Payload": <output of the approval task>}``; the bot's output is the original
payload, its ``approval`` object kept as sent plus ``id`` and ``decision`` =
``{"outcome", "approver", "approvers", "decided_at", "comment", "inputs"}``.
"""

from __future__ import annotations

from typing import Any


def handler(event: dict[str, Any] | None, context: Any) -> dict[str, Any]:
    payload = (event or {}).get("Payload") or {}
    decision = (payload.get("approval") or {}).get("decision") or {}
    approver = decision.get("approver") or {}
    return {
        "task_id": payload.get("task_id"),
        "status": "processed",
        "decision": decision.get("outcome"),
        "approved_by": approver.get("name") or approver.get("id"),
        "decided_at": decision.get("decided_at"),
    }
