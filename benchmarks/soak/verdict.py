"""The invariants, each read from outside the bot where one can be.

Decisions are counted by the Step Functions witness (what moto's backend accepted), posts by the
Slack stand-in (the channels' messages), what outsiders saw by the stand-in's record of what it
showed them, token leaks in every log record of the process at DEBUG and every Slack call.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from benchmarks.soak import groupcheck
from benchmarks.soak.core import BO
from benchmarks.soak.scenarios import private_shown_to_outsiders
from bot.models import Status
from bot.store import ApprovalNotFound

if TYPE_CHECKING:
    from benchmarks.soak.core import Plan, Soak

Row = tuple[str, int, int]  # (name, count, allowed; -1: informative)


def invariants(soak: Soak) -> list[Row]:
    posted = soak._all_posted()
    expected_status = {
        "approve": ("SUCCEEDED", None, Status.APPROVED),
        "approve2": ("SUCCEEDED", None, Status.APPROVED),
        "reject": ("FAILED", "Rejected", Status.REJECTED),
        "timeout": ("FAILED", "ApprovalExpired", Status.EXPIRED),
    }
    witness = soak.witness
    plans = soak.plans
    started = len(plans)
    dms = soak.dm_copies()
    posted_once = sum(1 for p in plans if _posted_once(p, posted, dms))
    duplicates = sum(max(0, len(v) - 1) for v in posted.values())
    deciding = [p for p in plans if p.outcome != "timeout"]
    decided_once = sum(1 for p in deciding if witness.accepted(p.approval_id) == 1)
    late = [p for p in plans if p.outcome == "timeout" and witness.accepted(p.approval_id)]
    timed_out_decided = len(late)
    for plan in late:  # when, against the execution's end
        stopped = soak.sandbox.sfn.describe_execution(executionArn=plan.execution_arn).get(
            "stopDate"
        )
        times = [c.at for c in witness.calls(plan.approval_id) if c.decision and c.accepted]
        after = f"{times[0] - stopped.timestamp():+.1f} s" if stopped and times else "?"
        soak.late_decisions.append(f"{plan.service} ({after} after its execution stopped)")
    ours = {p.approval_id for p in plans}
    double = sum(1 for a in witness.double_decisions() if a in ours)
    as_expected = stuck = lost = unauthorized = wrong_n = self_approvals = 0
    for plan in plans:
        described = soak.sandbox.sfn.describe_execution(executionArn=plan.execution_arn)
        outcome = plan.outcome
        if outcome == "group":  # approved or rejected, whichever click won (the witness says)
            call = groupcheck.decision(soak, plan)
            approved = call is not None and call.action == "SendTaskSuccess"
            outcome = "approve" if approved else "reject"
        want_status, want_error, want_final = expected_status[outcome]
        try:
            approval = soak.store.get(plan.approval_id)
        except ApprovalNotFound:
            lost += 1
            continue
        if approval.status.is_open:
            stuck += 1
            soak.stuck_kinds[f"{plan.outcome}:{approval.status}"] += 1
        ok = described["status"] == want_status and described.get("error") == want_error
        if ok and approval.status is want_final:
            as_expected += 1
        allowed = plan.deciders
        voters = [v.actor.id for v in approval.votes]
        if any(v not in allowed or v == BO for v in voters):
            unauthorized += 1
        self_approvals += sum(1 for v in voters if v == plan.requester_id)
        if plan.outcome == "approve2" and approval.status is Status.APPROVED:
            approvers = [v.actor.id for v in approval.votes_for("approved")]
            wrong_n += len(approvers) != 2 or len(set(approvers)) != 2
    dlq = _drain_dlq(soak)
    poison_kept = sum(1 for body in soak.poison if body in dlq)
    lost += len(soak.poison) - poison_kept
    shown = private_shown_to_outsiders(soak)
    soak.shown = shown
    copies, stale = _copy_consistency(soak)
    dm_duplicates = sum(max(0, len(m) - 1) for by_user in dms.values() for m in by_user.values())
    not_allowed = groupcheck.not_allowed(soak)
    soak.not_allowed = not_allowed
    group_messages, group_items, stale_items = groupcheck.stale_group_items(soak)
    soak.stale_group_items = stale_items
    grouped = [p for p in plans if p.group]
    return [
        ("requests started", started, -1),
        ("posted exactly once", posted_once, -1),
        ("duplicate posts", duplicates, 0),
        ("decided exactly once (approve/reject plans)", decided_once, -1),
        ("double decisions (Step Functions witness)", double, 0),
        ("executions ended as expected", as_expected, -1),
        ("executions not as expected", started - as_expected, 0),
        ("requests not posted exactly once", started - posted_once, 0),
        ("approve/reject plans not decided exactly once", len(deciding) - decided_once, 0),
        ("timed-out requests decided anyway", timed_out_decided, 0),
        ("stuck PENDING / CLAIMED / POSTING", stuck, 0),
        ("poison messages kept by the DLQ", poison_kept, -1),
        ("lost (no final state, not in the DLQ)", lost, 0),
        ("unauthorized votes or decisions accepted", unauthorized, 0),
        ("self-approvals (requester's own vote)", self_approvals, 0),
        ("decisions by unverifiable users", len(soak.unverified_decisions), 0),
        ("private requests shown to outsiders", sum(len(v) for v in shown.values()), 0),
        ("N-of-M approvals without exactly N distinct", wrong_n, 0),
        ("stale signatures accepted", soak.events.counts["stale_accepted_VIOLATION"], 0),
        ("log records scanned (root at DEBUG)", soak.logs.count(), -1),
        ("token leaks", _token_leaks(soak), 0),
        ("requests with DM copies (notify dm/both)", sum(p.notify != "channel" for p in plans), -1),
        ("copies checked (channel messages and DMs)", copies, -1),
        ("duplicate DM copies", dm_duplicates, 0),
        ("stale copies (copy consistency)", stale, 0),
        ("grouped requests (approval.group)", len(grouped), -1),
        ("group messages checked", group_messages, -1),
        ("group items checked", group_items, -1),
        ("decided by someone not allowed (witness)", len(not_allowed), 0),
        ("form items approved without the form", groupcheck.forms_bypassed(soak), 0),
        ("stale group items (group message vs witness)", len(stale_items), 0),
        ("stale group items after the clicks, unlisted", len(soak.stale_after_clicks), 0),
        (
            "stale right after the clicks, listed for the sweep",
            len(soak.stale_after_clicks_listed),
            -1,
        ),
    ]


def _posted_once(plan: Plan, posted: dict[str, list[str]], dms: dict) -> bool:
    """One channel message (unless notify dm), and one DM copy for each approver who is not
    the requester (notify dm/both); no DM to anyone else."""
    channel_ok = len(posted.get(plan.approval_id, [])) == (0 if plan.notify == "dm" else 1)
    if plan.group:  # an item of its group's message, posted once (its service names it)
        channel_ok = len(posted.get(plan.group_id, [])) == 1 and plan.ts in posted[plan.group_id]
    by_user = dms.get(plan.approval_id, {})
    want = plan.dm_recipients
    dms_ok = set(by_user) == want and all(len(by_user[u]) == 1 for u in want)
    return channel_ok and dms_ok


def _copy_consistency(soak: Soak) -> tuple[int, int]:
    """Every copy of a request (read from the stand-in, not the store) shows one truth: the
    same blocks in the channel message and every DM, and no button once it is final. Returns
    (copies checked, stale copies)."""
    checked = stale = 0
    for plan in soak.plans:
        if not plan.approval_id:
            continue
        try:
            final = not soak.store.get(plan.approval_id).status.is_open
        except ApprovalNotFound:
            continue
        copies = soak.every_copy(plan)
        checked += len(copies)
        if not copies:
            continue
        reference = json.dumps(copies[0].get("blocks"), sort_keys=True)
        for copy in copies:
            buttons = any(b.get("type") == "actions" for b in copy.get("blocks") or [])
            differs = json.dumps(copy.get("blocks"), sort_keys=True) != reference
            if (final and buttons) or differs:
                stale += 1
                kind = f"group {plan.group}" if plan.group else plan.outcome
                soak.stale_copies.append(f"{plan.service} ({kind}, notify {plan.notify})")
    return checked, stale


def _drain_dlq(soak: Soak) -> set[str]:
    bodies: set[str] = set()
    empty = 0
    for _ in range(20 + len(soak.poison)):  # bounded; ends after two empty receives
        batch = soak.sandbox.sqs.receive_message(
            QueueUrl=soak.sandbox.stack.queues.dlq_url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=1,
            VisibilityTimeout=600,
        ).get("Messages", [])
        empty = 0 if batch else empty + 1
        if empty >= 2:
            break
        bodies |= {m["Body"] for m in batch}
    return bodies


def _token_leaks(soak: Soak) -> int:
    """Tokens found in any captured log record or any Slack call's arguments."""
    tokens = [p.token for p in soak.plans if p.token]
    calls = json.dumps([c.params for c in soak.sandbox.standin.calls()], default=str)
    logs = soak.logs.text()
    return sum(1 for t in tokens if t in calls or t in logs)
