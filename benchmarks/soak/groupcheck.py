"""The soak's checks of grouped requests, from witnesses outside the bot.

* who decided each request: the decision Step Functions accepted for its token (the
  :class:`~bot.local.sfn_witness.SfnWitness` records the output / cause the bot sent, which
  names the approver and, for N-of-M, every approving vote) — never the bot's store;
* what each group message ends showing: the stand-in's final message, item by item, against
  that decision (its state, who it names, no live button on a finished item, no Approve all /
  Reject all once nothing is open);
* what Approve all / Reject all told the clicker they skipped: what Slack showed them.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

from bot.local.sfn_witness import SUCCESS, TaskCall

if TYPE_CHECKING:
    from benchmarks.soak.core import Plan, Soak

_SKIPPED = {
    "decide_all_skipped_not_allowed": re.compile(r"Skipped (\d+) you may not decide"),
    "decide_all_skipped_decided": re.compile(r"Skipped (\d+) already decided or expired"),
    "decide_all_skipped_form": re.compile(r"(\d+) need their own Approve… click"),
}
_STATE = {"approved": ":white_check_mark: *Approved*", "rejected": ":x: *Rejected*"}
_EXPIRED = ":hourglass: *Expired*"
_OPEN = ("pending", "being decided")


def decision(soak: Soak, plan: Plan) -> TaskCall | None:
    """The completion Step Functions accepted for ``plan``'s token (the first, if several)."""
    accepted = [c for c in soak.witness.calls(plan.approval_id) if c.decision and c.accepted]
    return accepted[0] if accepted else None


def deciders_seen(call: TaskCall) -> set[str]:
    """Every person the accepted completion names as deciding (approver, approving votes,
    rejecters), as sent to Step Functions."""
    try:
        if call.action == SUCCESS:
            record = json.loads(call.output or "{}")["approval"]["decision"]
            people = [record["approver"], *record.get("approvers", [])]
        else:
            cause = json.loads(call.cause or "{}")
            people = [cause["approver"], *cause.get("rejecters", [])]
        return {str(p["id"]) for p in people}
    except (ValueError, KeyError, TypeError):
        return {"<unreadable decision>"}


def not_allowed(soak: Soak) -> list[str]:
    """Requests Step Functions saw decided (alone or among votes) by someone who may not decide
    them (not an approver, or the requester): by a single click or by Approve all."""
    found = []
    for plan in soak.plans:
        call = decision(soak, plan) if plan.approval_id else None
        if call is not None and not deciders_seen(call) <= plan.allowed:
            found.append(f"{plan.service}: {sorted(deciders_seen(call) - plan.allowed)}")
    return found


def forms_bypassed(soak: Soak) -> int:
    """Form items approved without their form: the output Step Functions got lacks the
    required input (Approve all must skip them)."""
    from benchmarks.soak.core import FORM_INPUT

    bypassed = 0
    for plan in soak.plans:
        call = decision(soak, plan) if plan.form else None
        if call is None or call.action != SUCCESS:
            continue
        inputs = json.loads(call.output or "{}")["approval"]["decision"].get("inputs") or {}
        bypassed += inputs.get(FORM_INPUT) != f"T-{plan.index}"
    return bypassed


def _item_lines(message: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    for block in message.get("blocks") or []:
        if block.get("type") == "section":
            lines += str((block.get("text") or {}).get("text", "")).split("\n")
    return lines


def stale_group_items(
    soak: Soak, *, final: bool = True, listed: frozenset[str] = frozenset()
) -> tuple[int, int, list[str]]:
    """(group messages checked, items checked, what is stale): each member's line in its
    group message (the stand-in's final message) shows the state Step Functions ended in —
    approved or rejected naming the decider it accepted, or expired — and carries no button;
    a message whose items are all final shows no pending count and no Approve all /
    Reject all. ``final=False`` (right after the clicks, every lazy listener done, before
    the drive's later redraws draw over what the clicks left): only the items Step Functions
    saw decided by then are checked, and an item the bot has listed for the sweep's redraw
    (``listed``: Slack refused the group message's update, rate limited past its retries) is
    counted apart (``stale_after_clicks_listed``), not as stale: the bot knows, and the final
    check, after the sweep, holds it to its final state."""
    messages = items = 0
    stale: list[str] = []
    for group_id, plans in soak.groups().items():
        message = soak.sandbox.standin.message(plans[0].channel, plans[0].ts)
        messages += 1
        lines = _item_lines(message)
        buttons = [
            e
            for b in message.get("blocks") or []
            if b.get("type") == "actions"
            for e in b.get("elements") or []
        ]
        all_final = True
        for plan in plans:
            items += 1
            call = decision(soak, plan)
            if call is None and not final:
                continue
            status = soak.sandbox.sfn.describe_execution(executionArn=plan.execution_arn)
            if call is None and status["status"] == "RUNNING":
                all_final = False
                continue
            # The title line holds the service name; the state is the next line.
            where = [k for k, line in enumerate(lines) if plan.service in line]
            state = lines[where[0] + 1] if len(where) == 1 and where[0] + 1 < len(lines) else ""
            if call is None:
                ok = state.startswith(_EXPIRED)
            else:
                outcome = "approved" if call.action == SUCCESS else "rejected"
                names = deciders_seen(call)
                ok = state.startswith(_STATE[outcome]) and all(f"<@{u}>" in state for u in names)
            if not ok or any(e.get("value") == plan.approval_id for e in buttons):
                if not final and plan.approval_id in listed:
                    soak.stale_after_clicks_listed.append(plan.service)
                    continue
                stale.append(f"{plan.service} in {group_id}: {state!r}")
        summary = lines[0] if lines else ""
        if final and all_final and (buttons or any(word in summary for word in _OPEN)):
            stale.append(f"{group_id}: all final, yet {summary!r} and {len(buttons)} buttons")
    return messages, items, stale


def count_skips(soak: Soak) -> None:
    """What Approve all / Reject all told the clickers they skipped (as Slack showed them)."""
    for entry in soak.sandbox.standin.ephemerals():
        text = str(entry.get("text") or "")
        for kind, pattern in _SKIPPED.items():
            match = pattern.search(text)
            if match:
                soak.events.add(kind, int(match.group(1)))
