"""What the workflow receives: the task's output on approve, the failure cause on reject.

**On approve** the next state receives the author's payload untouched, plus the decision::

    {...payload,
     "approval": {...every field the author sent in approval, exactly as sent...,
                  "id": "<approval id>",
                  "decision": {"outcome": "approved", "approver": {"id", "name"},
                               "approvers": [...], "decided_at": "…", "comment": …,
                               "inputs": {…}}}}

``id`` and ``decision`` are not ``approval`` spec keys (unknown spec keys are refused when the
request arrives), so they never overwrite anything the author sent. A payload without an
``approval`` object gets ``approval: {"id", "decision"}``; a payload that is not a JSON object
is wrapped as ``{"Payload": …, "approval": {"id", "decision"}}``.
"""

from __future__ import annotations

import json
from typing import Any

from bot.models import Approval, Decision, format_time


def decision_record(approval: Approval, decision: Decision) -> dict[str, Any]:
    """The decision as the workflow reads it (``approval.decision`` of the output)."""
    approvers = approval.votes_for("approved") or (decision,)
    return {
        "outcome": decision.outcome,
        "approver": decision.actor.to_dict(),
        "approvers": [vote.to_dict() for vote in approvers],
        "decided_at": format_time(decision.decided_at),
        "comment": decision.comment,
        "inputs": dict(decision.inputs),
    }


def approval_output(approval: Approval, decision: Decision) -> Any:
    """SendTaskSuccess output: the payload as sent, ``approval`` kept and the decision added."""
    added = {"id": approval.approval_id, "decision": decision_record(approval, decision)}
    payload = approval.payload
    if not isinstance(payload, dict):
        return {"Payload": payload, "approval": added}
    sent = payload.get("approval")
    return {**payload, "approval": {**(sent if isinstance(sent, dict) else {}), **added}}


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
