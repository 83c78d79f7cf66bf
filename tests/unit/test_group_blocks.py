"""Group messages (bot.group_blocks): pure, snapshot-tested, within Slack's limits at 50 items."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from bot.blocks import MAX_BLOCKS
from bot.group_blocks import group_message, reject_all_modal
from bot.group_store import MAX_GROUP_ITEMS, Group, group_id_for
from bot.ids import GROUP_ALL_BLOCK_ID, Action
from bot.local.slack_standin.blockkit import message_block_errors, view_errors
from bot.models import Actor, Approval, ApprovalSpec, Decision, Status

CREATED = datetime(2026, 11, 25, 14, 0, tzinfo=UTC)
ARN = "arn:aws:states:eu-west-1:123456789012:execution:approval-flow:run-"
KEY = "run-7/batch A"
GROUP = Group(group_id_for("C0OPS", KEY), "C0OPS", KEY, 0, frozenset(), 3, CREATED, "C0OPS", "1.2")
ANA = Actor("U0ANA", "ana")


def item(n: int, **changes: object) -> Approval:
    base = Approval(
        approval_id=f"{n:02d}" + "k7q2m4x9c3v8b1n6z5a0s2d4",
        status=Status.PENDING,
        execution_arn=f"{ARN}{n}",
        payload={"n": n},
        spec=ApprovalSpec(title=f"Deploy shard {n}?", channel="C0OPS", group=KEY),
        channel="C0OPS",
        ts="1.2",
        created_at=CREATED + timedelta(seconds=n),
        updated_at=CREATED + timedelta(seconds=n),
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def decided(n: int, outcome: str, comment: str | None = None) -> Approval:
    decision = Decision(outcome, ANA, CREATED + timedelta(minutes=5), comment)  # type: ignore[arg-type]
    status = Status.APPROVED if outcome == "approved" else Status.REJECTED
    return item(n, status=status, decision=decision, votes=(decision,))


def mixed() -> list[Approval]:
    return [
        item(1),
        decided(2, "approved"),
        decided(3, "rejected", "not this one"),
        item(4, spec=ApprovalSpec(title="Drop table <users>?", risk="high", group=KEY)),
        item(5, status=Status.EXPIRED),
        item(6, spec=ApprovalSpec(title="Two of them", required_approvals=2, group=KEY)),
    ]


def test_group_message_snapshot(snapshot) -> None:
    message = group_message(GROUP, mixed())
    snapshot("group_mixed", {"text": message.text, "blocks": message.blocks})
    assert message_block_errors(message.blocks) == []


def test_per_item_buttons_reuse_the_single_request_actions() -> None:
    message = group_message(GROUP, mixed())
    elements = [
        (e["action_id"], e["value"], e["text"]["text"])
        for b in message.blocks
        if b["type"] == "actions"
        for e in b["elements"]
    ]
    ids = {n: item(n).approval_id for n in range(1, 7)}
    assert elements == [
        ("approval.approve:1", ids[1], "Approve 1"),
        ("approval.reject:1", ids[1], "Reject 1"),
        ("approval.approve_form:4", ids[4], "Approve… 4"),  # high risk: its own modal
        ("approval.reject:4", ids[4], "Reject 4"),
        ("approval.approve:6", ids[6], "Approve 6"),
        ("approval.reject:6", ids[6], "Reject 6"),
        (Action.APPROVE_ALL, GROUP.group_id, "Approve all 2"),
        (Action.REJECT_ALL, GROUP.group_id, "Reject all 3"),
    ]


def test_the_confirm_dialogs_name_the_count() -> None:
    message = group_message(GROUP, mixed())
    (all_block,) = [b for b in message.blocks if b.get("block_id") == GROUP_ALL_BLOCK_ID]
    approve, reject = all_block["elements"]
    assert approve["confirm"]["title"]["text"] == "Approve all 2?"
    assert "This approves 2 pending requests." in approve["confirm"]["text"]["text"]
    assert "1 need their own Approve… click." in approve["confirm"]["text"]["text"]
    assert reject["confirm"]["title"]["text"] == "Reject all 3?"


def test_nothing_pending_no_all_buttons() -> None:
    message = group_message(GROUP, [decided(1, "approved"), item(2, status=Status.EXPIRED)])
    assert [b for b in message.blocks if b["type"] == "actions"] == []


def test_fifty_items_with_long_titles_fit_one_message() -> None:
    items = [
        item(n, spec=ApprovalSpec(title=f"{n} " + "é<&>*_~`" * 40, group=KEY))
        for n in range(1, MAX_GROUP_ITEMS + 1)
    ]
    message = group_message(replace(GROUP, key="k" * 200), items)
    assert len(message.blocks) <= MAX_BLOCKS
    assert message_block_errors(message.blocks) == []
    buttons = [e for b in message.blocks if b["type"] == "actions" for e in b["elements"]]
    assert len(buttons) == 2 * MAX_GROUP_ITEMS + 2
    assert len(json.dumps(message.blocks)) < 100_000


def test_reject_all_modal(snapshot) -> None:
    modal = reject_all_modal(GROUP, 3, channel_id="C0OPS")
    snapshot("group_reject_all_modal", modal)
    assert view_errors(modal, allow_home=False) == []
    assert json.loads(modal["private_metadata"]) == {
        "group_id": GROUP.group_id,
        "channel_id": "C0OPS",
    }
