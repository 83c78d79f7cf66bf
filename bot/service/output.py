"""What the workflow receives: the task's output on approve, the failure cause on reject."""

from __future__ import annotations

import json
from typing import Any

from bot.models import Approval, Decision, format_time


def approval_output(approval: Approval, decision: Decision) -> Any:
    """SendTaskSuccess output: the original payload plus ``approval`` (the decision)."""
    approvers = approval.votes_for("approved") or (decision,)
    record = {
        "id": approval.approval_id,
        "decision": decision.outcome,
        "approver": decision.actor.to_dict(),
        "approvers": [vote.to_dict() for vote in approvers],
        "decided_at": format_time(decision.decided_at),
        "comment": decision.comment,
        "inputs": dict(decision.inputs),
    }
    if isinstance(approval.payload, dict):
        return {**approval.payload, "approval": record}
    return {"Payload": approval.payload, "approval": record}


def rejection_cause(approval: Approval, decision: Decision) -> str:
    """SendTaskFailure cause: JSON the workflow can parse in a Catch."""
    cause: dict[str, Any] = {
        "approval_id": approval.approval_id,
        "approver": decision.actor.to_dict(),
        "reason": decision.comment or "",
        "decided_at": format_time(decision.decided_at),
    }
    rejecters = approval.votes_for("rejected")
    if len(rejecters) > 1:
        cause["rejecters"] = [vote.to_dict() for vote in rejecters]
    return json.dumps(cause, ensure_ascii=False)
