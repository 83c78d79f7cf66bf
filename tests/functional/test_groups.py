"""Grouped requests end to end: the seed's state machine on moto, the notifier Lambda fed SQS
batches, the interactions Lambda with signed clicks, and the Slack stand-in.

* a burst of 50 requests of one group posts ONE channel message, not 50;
* concurrent Approve all and single clicks by several people (some not allowed) complete each
  task exactly once, never by a click of someone not allowed — witnessed on the Step
  Functions side (:class:`bot.local.sfn_witness.SfnWitness`) — and the message ends showing
  every item's final state;
* Reject all asks one reason and skips what the clicker may not decide.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from types import ModuleType
from typing import Any

import pytest

from bot.group_store import group_id_for
from bot.ids import Action, Input, Modal, item_action
from bot.local.infra import ExampleStack
from bot.local.sfn_witness import SfnWitness
from bot.local.slack_standin import SlackStandIn
from bot.models import Status, approval_id_for
from bot.store import ApprovalStore
from tests.functional.conftest import (
    ANA,
    BO,
    CHANNEL,
    CY,
    EVE,
    ONCALL,
    POST_LEASE_SECONDS,
    TABLE,
    Aws,
    Interactions,
    invoke_notifier,
    receive,
    receive_for,
    start_execution,
)

BATCH_SIZE = 5  # as deployed (serverless.yml)
CONCURRENT_INVOCATIONS = 3


@pytest.fixture
def witness() -> Iterator[SfnWitness]:
    with SfnWitness() as installed:
        yield installed


def ok_posts(slack: SlackStandIn) -> list[dict[str, Any]]:
    return [
        c.params
        for c in slack.calls("chat.postMessage")
        if c.status == 200 and c.response.get("ok") and not c.params.get("thread_ts")
    ]


def request_group(
    aws: Aws,
    stack: ExampleStack,
    notifier: ModuleType,
    name: str,
    approvers: list[list[str]],
) -> list[str]:
    """Start one execution per entry (its approvers), all of group ``name``; let the notifier
    post them, in SQS batches of 5 handled by concurrent invocations (records a batch reports
    as failed are handed in again, as SQS redelivers them). The approval ids, in order."""
    executions = [
        start_execution(aws, stack, f"{name}-{i}", approvers=who, group=name, service=f"s{i}")
        for i, who in enumerate(approvers)
    ]
    messages = receive(aws, stack.queues.url, len(executions), timeout=60)
    by_execution = {json.loads(m["Body"])["Execution"]: m for m in messages}
    ids = [approval_id_for(json.loads(by_execution[e]["Body"])["TaskToken"]) for e in executions]
    waiting = messages
    for attempt in range(6):  # bounded redeliveries
        if attempt:  # SQS redelivers after the visibility timeout; the failed lease has run out
            time.sleep(POST_LEASE_SECONDS + 0.1)
        batches = [waiting[i : i + BATCH_SIZE] for i in range(0, len(waiting), BATCH_SIZE)]
        with ThreadPoolExecutor(CONCURRENT_INVOCATIONS) as pool:
            results = list(pool.map(lambda b: invoke_notifier(notifier, stack, b), batches))
        failed = {f["itemIdentifier"] for r in results for f in r["batchItemFailures"]}
        waiting = [m for m in waiting if m["MessageId"] in failed]
        if not waiting:
            break
    assert waiting == [], f"{len(waiting)} records never handled"
    return ids


def test_a_burst_of_fifty_requests_of_one_group_posts_one_message(
    aws: Aws, stack: ExampleStack, slack: SlackStandIn, notifier: ModuleType
) -> None:
    ids = request_group(aws, stack, notifier, "burst", [[ANA]] * 50)

    (post,) = ok_posts(slack)  # one chat.postMessage for the 50
    assert post["channel"] == CHANNEL
    store = ApprovalStore(aws.dynamodb, TABLE)
    for approval_id in ids:
        approval = store.get(approval_id)
        assert approval.status is Status.PENDING
        assert approval.ts is not None
    (ts,) = {store.get(i).ts for i in ids}
    # The group's own item is in none of the table's indexes: listings see the 50 requests only.
    listed = aws.dynamodb.query(
        TableName=TABLE,
        IndexName="by-status",
        KeyConditionExpression="open_status = :s",
        ExpressionAttributeValues={":s": {"S": "PENDING"}},
    )["Items"]
    assert sorted(i["approval_id"]["S"] for i in listed) == sorted(ids)
    scanned = aws.dynamodb.scan(TableName=TABLE)["Items"]
    (group_item,) = [i for i in scanned if i["pk"]["S"].startswith("GROUP#")]
    assert not {"open_status", "execution_arn", "audit_stream"} & set(group_item)
    message = slack.message(CHANNEL, ts)
    assert message["metadata"]["event_payload"]["approval_id"] == group_id_for(CHANNEL, "burst")
    blocks = message["blocks"]
    assert blocks[0]["text"]["text"] == "50 approval requests: burst"
    values = [
        e["value"]
        for b in blocks
        if b["type"] == "actions"
        for e in b["elements"]
        if e["action_id"].startswith(f"{Action.APPROVE.value}:")
    ]
    assert sorted(values) == sorted(ids)  # every member shown, each with its buttons
    assert any(
        e["text"]["text"] == "Approve all 50"
        for b in blocks
        if b["type"] == "actions"
        for e in b["elements"]
    )


def test_concurrent_approve_all_and_single_clicks_decide_each_item_once_and_only_if_allowed(
    aws: Aws,
    stack: ExampleStack,
    slack: SlackStandIn,
    notifier: ModuleType,
    interactions: Interactions,
    witness: SfnWitness,
) -> None:
    # By user id, and by user group: each item's own group decides (ANA is in S0ANAS only,
    # CY in @oncall only).
    slack.add_usergroup("S0ANAS", "anas", [ANA])
    both, ana_only, cy_only = [ANA, CY], ["S0ANAS"], [ONCALL]
    plan = [both] * 4 + [ana_only] * 2 + [cy_only] * 2
    who = {ANA: {ANA}, CY: {CY}, "S0ANAS": {ANA}, ONCALL: {CY}}
    ids = request_group(aws, stack, notifier, "fanout", plan)
    store = ApprovalStore(aws.dynamodb, TABLE)
    ts = store.get(ids[0]).ts
    assert ts is not None
    driver = interactions.slack

    clicks = [
        lambda: driver.click(ANA, CHANNEL, ts, Action.APPROVE_ALL),
        lambda: driver.click(CY, CHANNEL, ts, Action.APPROVE_ALL),
        lambda: driver.click(EVE, CHANNEL, ts, Action.APPROVE_ALL),  # approver of nothing
        lambda: driver.click(BO, CHANNEL, ts, Action.APPROVE_ALL),  # approver of nothing
        lambda: driver.click(CY, CHANNEL, ts, item_action(Action.APPROVE, 1)),
        lambda: driver.click(EVE, CHANNEL, ts, item_action(Action.APPROVE, 7)),
        lambda: driver.click(ANA, CHANNEL, ts, item_action(Action.APPROVE, 2)),
    ]
    start = threading.Barrier(len(clicks))

    def run(click: Any) -> int:
        start.wait(timeout=10)
        return int(click().status)

    with ThreadPoolExecutor(len(clicks)) as pool:
        statuses = list(pool.map(run, clicks))
    assert statuses == [200] * len(clicks)
    interactions.wait()

    # The Step Functions side: each task completed exactly once, by someone allowed.
    allowed = {i: set().union(*(who[p] for p in plan_)) for i, plan_ in zip(ids, plan, strict=True)}
    assert witness.double_decisions() == {}
    for approval_id in ids:
        assert witness.accepted(approval_id) == 1, approval_id
        (call,) = [c for c in witness.calls() if c.approval_id == approval_id and c.accepted]
        assert call.action == "SendTaskSuccess"
        approver = json.loads(call.output or "{}")["approval"]["decision"]["approver"]["id"]
        assert approver in allowed[approval_id], (approval_id, approver)
    for approval_id in ids[6:]:
        assert store.get(approval_id).decision.actor.id == CY  # type: ignore[union-attr]
    for approval_id in ids[4:6]:
        assert store.get(approval_id).decision.actor.id == ANA  # type: ignore[union-attr]

    # The channel message ends showing every item's final state, with no dead buttons.
    blocks = slack.message(CHANNEL, ts)["blocks"]
    text = json.dumps(blocks)
    assert text.count(":white_check_mark: *Approved*") == len(ids)
    assert blocks[1]["text"]["text"] == f"{len(ids)} approved"
    assert [b for b in blocks if b["type"] == "actions"] == []

    # The outsiders' clicks were refused item by item, and audited. (What they were told goes
    # through response URLs, which Slack limits to 1 a second per channel: seven clicks at once
    # in one channel may lose some answers, so they are not counted here.)
    refused = {e.actor_id for e in store.audit() if e.event == "refused"}
    assert {EVE, BO} <= refused


def test_reject_all_asks_one_reason_and_skips_what_the_clicker_may_not_decide(
    aws: Aws,
    stack: ExampleStack,
    slack: SlackStandIn,
    notifier: ModuleType,
    interactions: Interactions,
    witness: SfnWitness,
) -> None:
    ids = request_group(aws, stack, notifier, "rejects", [[ANA], [ANA], [CY]])
    ts = ApprovalStore(aws.dynamodb, TABLE).get(ids[0]).ts
    assert ts is not None
    driver = interactions.slack
    shown = slack.message(CHANNEL, ts)["blocks"]
    assert driver.click(ANA, CHANNEL, ts, Action.REJECT_ALL).status == 200
    (view,) = driver.open_views(Modal.REJECT_ALL.value, user_id=ANA)
    assert view["title"]["text"] == "Reject all 3"
    response = driver.submit(
        ANA, view, {Input.REASON_BLOCK.value: {Input.REASON_INPUT.value: "wrong batch"}}
    )
    assert response.status == 200
    interactions.wait()

    rejected = [c for c in witness.calls() if c.accepted and c.action == "SendTaskFailure"]
    assert sorted(c.approval_id for c in rejected) == sorted(ids[:2])
    assert all("wrong batch" in (c.cause or "") for c in rejected)
    assert witness.accepted(ids[2]) == 0
    told = " ".join(e["text"] for e in slack.ephemerals(user=ANA))
    numbers = {  # items are numbered in the order they were posted
        e["value"]: int(e["action_id"].rsplit(":", 1)[1])
        for b in shown
        if b["type"] == "actions"
        for e in b["elements"]
        if e["action_id"].startswith(f"{Action.REJECT.value}:")
    }
    mine = sorted(numbers[i] for i in ids[:2])
    assert f"Rejected 2 (#{mine[0]}, #{mine[1]})" in told
    assert f"Skipped 1 you may not decide (#{numbers[ids[2]]})" in told
    blocks = slack.message(CHANNEL, ts)["blocks"]
    assert blocks[1]["text"]["text"] == "*1 pending* · 2 rejected"


class LambdaCrashed(BaseException):
    """The function died (timeout, OOM): nothing after this point ran."""


def test_a_crash_after_posting_the_group_message_is_recovered_without_a_second_post(
    aws: Aws,
    stack: ExampleStack,
    slack: SlackStandIn,
    notifier: ModuleType,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    first = start_execution(aws, stack, "crashy-0", approvers=[ANA], group="crashy")
    (message,) = receive(aws, stack.queues.url, 1)
    group_store = notifier.service._groups._groups

    def crash(*_args: Any, **_kwargs: Any) -> None:
        raise LambdaCrashed("the function died after chat.postMessage")

    monkeypatch.setattr(group_store, "mark_posted", crash)
    with pytest.raises(LambdaCrashed):
        invoke_notifier(notifier, stack, [message])
    assert len(ok_posts(slack)) == 1
    monkeypatch.undo()

    # Redelivered once the crashed attempt's leases ran out, beside the group's next request.
    time.sleep(POST_LEASE_SECONDS + 0.1)
    second_execution = start_execution(aws, stack, "crashy-1", approvers=[ANA], group="crashy")
    second = receive_for(aws, stack.queues.url, second_execution)
    result = invoke_notifier(notifier, stack, [message, second])
    assert result == {"batchItemFailures": []}

    assert len(ok_posts(slack)) == 1  # found again by its metadata, not posted twice
    assert len(slack.calls("conversations.history")) >= 1
    (posted,) = slack.messages(CHANNEL)
    assert posted["metadata"]["event_payload"]["approval_id"] == group_id_for(CHANNEL, "crashy")
    store = ApprovalStore(aws.dynamodb, TABLE)
    first_id = approval_id_for(json.loads(message["Body"])["TaskToken"])
    second_id = approval_id_for(json.loads(second["Body"])["TaskToken"])
    for approval_id in (first_id, second_id):
        approval = store.get(approval_id)
        assert (approval.status, approval.ts) == (Status.PENDING, posted["ts"])
    assert posted["blocks"][0]["text"]["text"] == "2 approval requests: crashy"
    assert json.loads(message["Body"])["Execution"] == first


def test_a_per_item_reject_button_opens_that_items_reason_modal(
    aws: Aws,
    stack: ExampleStack,
    slack: SlackStandIn,
    notifier: ModuleType,
    interactions: Interactions,
    witness: SfnWitness,
) -> None:
    ids = request_group(aws, stack, notifier, "single", [[ANA], [ANA]])
    ts = ApprovalStore(aws.dynamodb, TABLE).get(ids[0]).ts
    assert ts is not None
    driver = interactions.slack
    button = item_action(Action.REJECT, 2)
    target = next(
        e["value"]
        for b in slack.message(CHANNEL, ts)["blocks"]
        if b["type"] == "actions"
        for e in b["elements"]
        if e["action_id"] == button
    )
    assert driver.click(ANA, CHANNEL, ts, button).status == 200
    (view,) = driver.open_views(Modal.REJECT.value, user_id=ANA)
    assert json.loads(view["private_metadata"])["approval_id"] == target
    response = driver.submit(
        ANA, view, {Input.REASON_BLOCK.value: {Input.REASON_INPUT.value: "not this one"}}
    )
    assert response.status == 200
    interactions.wait()
    (call,) = [c for c in witness.calls() if c.accepted]
    assert (call.approval_id, call.action) == (target, "SendTaskFailure")
    blocks = slack.message(CHANNEL, ts)["blocks"]
    assert blocks[0]["text"]["text"] == "2 approval requests: single"  # the group, redrawn
    assert blocks[1]["text"]["text"] == "*1 pending* · 1 rejected"


def test_the_group_store_keeps_a_part_to_fifty_and_joins_are_idempotent(aws: Aws) -> None:
    """GroupStore's conditional writes on DynamoDB (moto): the cap, the set, the leases."""
    from datetime import UTC, datetime

    from bot.group_store import MAX_GROUP_ITEMS, GroupBegin, GroupFull, GroupStore
    from bot.local.infra import create_table

    create_table(aws.dynamodb, TABLE)
    groups = GroupStore(aws.dynamodb, TABLE)
    now = datetime(2026, 12, 6, tzinfo=UTC)
    ids = [f"{n:026d}" for n in range(MAX_GROUP_ITEMS + 1)]
    for approval_id in ids[:MAX_GROUP_ITEMS]:
        group = groups.join(CHANNEL, "cap", 0, approval_id, now=now)
    assert len(group.members) == MAX_GROUP_ITEMS
    again = groups.join(CHANNEL, "cap", 0, ids[0], now=now)  # a redelivery: still a member
    assert (len(again.members), again.version) == (MAX_GROUP_ITEMS, MAX_GROUP_ITEMS + 1)
    with pytest.raises(GroupFull):
        groups.join(CHANNEL, "cap", 0, ids[-1], now=now)
    assert groups.join(CHANNEL, "cap", 1, ids[-1], now=now).members == {ids[-1]}

    first = groups.begin_post(group.group_id, now=now, lease_seconds=60)
    assert first.outcome is GroupBegin.NEW
    assert groups.begin_post(group.group_id, now=now, lease_seconds=60).outcome is GroupBegin.BUSY
    later = now.replace(minute=5)  # the lease ran out: the next attempt resumes (looks first)
    resumed = groups.begin_post(group.group_id, now=later, lease_seconds=60)
    assert resumed.outcome is GroupBegin.RESUME
    stale = groups.mark_posted(
        group.group_id, lease_owner=str(first.lease_owner), channel="C", ts="1"
    )
    assert stale is None  # its lease was taken over
    posted = groups.mark_posted(
        group.group_id, lease_owner=str(resumed.lease_owner), channel="C", ts="1.5"
    )
    assert posted is not None
    assert (posted.message_channel, posted.ts) == ("C", "1.5")
    assert groups.begin_post(group.group_id, now=later, lease_seconds=60).outcome is (
        GroupBegin.POSTED
    )
    assert groups.take_draw(group.group_id, "a", now=now, lease_seconds=60)
    assert not groups.take_draw(group.group_id, "b", now=now, lease_seconds=60)
    groups.release_draw(group.group_id, "a")
    assert groups.take_draw(group.group_id, "b", now=now, lease_seconds=60)
