"""Grouped requests (bot.service.groups) with in-memory fakes: one message per group, Approve
all / Reject all through the Decider, the redraw that re-checks, posting exactly once."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest

from bot.blocks import Message
from bot.group_store import MAX_GROUP_ITEMS, group_id_for
from bot.ids import Action
from bot.models import Status, TaskToken, parse_envelope
from bot.service import ApprovalService, Policy, RequestOutcome, RetryLater
from bot.slack_gateway import SlackUnavailable, UserInfo
from tests.fakes import FakeClock, FakeGroupStore, FakeSlack, FakeStore, FakeWorkflow

ARN = "arn:aws:states:us-east-1:123456789012:execution:approval-flow:run-1"
ANA, BO, CY, EVE = "U0ANA", "U0BO", "U0CY", "U0EVE"
CHANNEL = "C0DEFAULT"
BATCH = "run-1/batch A"


def user(uid: str, name: str) -> UserInfo:
    return UserInfo(
        id=uid, name=name, email=f"{name}@example.com", is_bot=False, deleted=False, has_2fa=True
    )


class World:
    def __init__(self, slack: FakeSlack | None = None) -> None:
        self.clock = FakeClock()
        self.store, self.workflow = FakeStore(), FakeWorkflow()
        self.slack = slack or FakeSlack()
        self.slack.users = {u: user(u, u[2:].lower()) for u in (ANA, BO, CY, EVE)}
        self.slack.groups = {"S0ONE": frozenset({ANA}), "S0TWO": frozenset({CY})}
        self.slack.members = {CHANNEL: frozenset({ANA, BO, CY})}
        self.groups = FakeGroupStore(self.store)
        self.service = ApprovalService(
            store=self.store,
            workflow=self.workflow,
            slack=self.slack,
            policy=Policy(default_channel=CHANNEL),
            clock=self.clock,
            groups=self.groups,
        )

    def submit(self, token: str, **approval: Any) -> str:
        approval.setdefault("group", BATCH)
        self.clock.advance(1)  # items are listed in the order they came
        body = {"TaskToken": token, "Execution": ARN, "Payload": {"t": token, "approval": approval}}
        assert self.service.submit(parse_envelope(json.dumps(body))) is RequestOutcome.POSTED
        return TaskToken(token).approval_id()

    @property
    def group_id(self) -> str:
        return group_id_for(CHANNEL, BATCH)

    def last_message(self) -> Message:
        return (
            self.slack.updates[-1]["message"]
            if self.slack.updates
            else self.slack.posts[-1]["message"]
        )


def buttons(message: Message) -> list[dict[str, Any]]:
    return [e for b in message.blocks if b["type"] == "actions" for e in b["elements"]]


@pytest.fixture
def world() -> World:
    return World()


def test_requests_of_one_group_share_one_message(world: World) -> None:
    ids = [world.submit(f"tok-{i}", approvers=[ANA]) for i in range(3)]
    assert len(world.slack.posts) == 1
    post = world.slack.posts[0]
    assert post["approval_id"] == world.group_id  # the metadata names the group message
    for approval_id in ids:
        approval = world.store.get(approval_id)
        assert (approval.status, approval.ts) == (Status.PENDING, post["ts"])
    final = world.last_message()
    assert final.blocks[0]["text"]["text"] == f"3 approval requests: {BATCH}"
    approve = [b["value"] for b in buttons(final) if b["action_id"].startswith("approval.approve:")]
    assert approve == ids  # in the order they came
    (approve_all,) = [b for b in buttons(final) if b["action_id"] == Action.APPROVE_ALL]
    assert approve_all["text"]["text"] == "Approve all 3"
    assert approve_all["confirm"]["title"]["text"] == "Approve all 3?"


def test_another_group_or_channel_gets_its_own_message_and_no_group_posts_alone(
    world: World,
) -> None:
    world.submit("tok-1")
    world.submit("tok-2", group="other batch")
    world.submit("tok-3", channel="C0ELSE")
    body = {"TaskToken": "tok-4", "Execution": ARN, "Payload": {"approval": {}}}
    world.service.submit(parse_envelope(json.dumps(body)))
    assert len(world.slack.posts) == 4


def test_notify_dm_only_does_not_group(world: World) -> None:
    world.submit("tok-1", notify="dm", approvers=[ANA])  # dm needs someone to DM
    assert world.groups.groups == {}


def test_a_decision_redraws_the_group_message_not_a_message_of_its_own(world: World) -> None:
    first = world.submit("tok-1", approvers=[ANA])
    world.submit("tok-2", approvers=[ANA])
    assert world.service.decide(first, ANA, "approved").verdict.value == "decided"
    final = world.last_message()
    assert final.blocks[0]["text"]["text"] == f"2 approval requests: {BATCH}"
    assert "*Approved* by <@U0ANA>" in json.dumps(final.blocks)
    assert first not in [b.get("value") for b in buttons(final)]


def test_approve_all_decides_what_the_clicker_may_and_says_what_it_skipped(world: World) -> None:
    mine = [world.submit(f"tok-a{i}", approvers=[ANA]) for i in range(2)]
    not_mine = world.submit("tok-b", approvers=[CY])
    form = world.submit("tok-c", approvers=[ANA], risk="high")
    taken = world.submit("tok-d", approvers=[ANA, CY])
    world.service.decide(taken, CY, "rejected", "no")

    before = len(world.slack.updates)
    result = world.service.decide_all(world.group_id, ANA, "approved")

    assert len(world.slack.updates) == before + 1
    assert (result.decided, result.refused, result.forms, result.taken) == ([1, 2], [3], [4], [5])
    assert "Approved 2 (#1, #2)" in result.text
    assert "Skipped 1 you may not decide (#3)" in result.text
    assert "1 need their own Approve… click" in result.text
    succeeded = {c.token.approval_id() for c in world.workflow.calls if c.action == "succeed"}
    assert succeeded == set(mine)
    assert world.store.get(not_mine).status is Status.PENDING
    assert world.store.get(form).status is Status.PENDING
    # One redraw at the end of the click (not one per item), showing every item's state.
    final = world.last_message()
    assert final.blocks[1]["text"]["text"] == "*2 pending* · 2 approved · 1 rejected"
    (approve_all,) = [b for b in buttons(final) if b["action_id"] == Action.APPROVE_ALL]
    assert approve_all["text"]["text"] == "Approve all 1"  # only tok-b is left without a form


def test_approve_all_asks_about_each_items_own_approver_group(world: World) -> None:
    """ANA is in S0ONE only: the S0TWO item is not hers, whichever group Slack was asked first."""
    one = world.submit("tok-1", approvers=["S0ONE"])
    two = world.submit("tok-2", approvers=["S0TWO"])
    result = world.service.decide_all(world.group_id, ANA, "approved")
    assert (result.decided, result.refused) == ([1], [2])
    assert world.store.get(one).status is Status.APPROVED
    assert world.store.get(two).status is Status.PENDING
    # Fresh answers, once per click: one users.info for two items.
    asked = [a for a in world.slack.asked if a[0] == "users.info" and a[1] == ANA]
    assert asked[-1][2] is True
    assert len([a for a in world.slack.asked if a[:2] == ("usergroups.users.list", "S0ONE")]) >= 1


def test_reject_all_rejects_with_one_reason(world: World) -> None:
    ids = [world.submit(f"tok-{i}", approvers=[ANA], risk="high") for i in range(2)]
    result = world.service.decide_all(world.group_id, ANA, "rejected", "wrong batch")
    assert result.decided == [1, 2]
    fails = [c for c in world.workflow.calls if c.action == "fail"]
    assert {c.token.approval_id() for c in fails} == set(ids)
    assert all("wrong batch" in (c.cause or "") for c in fails)


def test_an_outsiders_approve_all_decides_nothing(world: World) -> None:
    world.submit("tok-1", approvers=[ANA])
    result = world.service.decide_all(world.group_id, EVE, "approved")
    assert (result.decided, result.refused) == ([], [1])
    assert world.workflow.calls == []


def test_unknown_group(world: World) -> None:
    result = world.service.decide_all("g" + "a" * 26, ANA, "approved")
    assert result.missing
    assert result.text == "This group of requests no longer exists."


class RacingSlack(FakeSlack):
    """Another member changes (and bumps the version) while the first chat.update is in flight."""

    race: Any = None

    def update(self, channel: str, ts: str, message: Message) -> None:
        super().update(channel, ts, message)
        race, self.race = self.race, None
        if race is not None:
            race()


def test_a_redraw_draws_again_when_the_group_changed_meanwhile() -> None:
    world = World(RacingSlack())
    first = world.submit("tok-1", approvers=[ANA])
    second = world.submit("tok-2", approvers=[ANA])
    slack = world.slack
    assert isinstance(slack, RacingSlack)

    def other_writer() -> None:  # decided elsewhere; its own redraw is lost (Slack throttled it)
        row = world.store.rows[second]
        row.approval = world.store.get(second).__class__(
            **{**row.approval.__dict__, "status": Status.EXPIRED}
        )
        world.groups.bump(world.group_id)

    slack.race = other_writer
    world.service.decide(first, ANA, "approved")
    final = world.last_message()
    text = json.dumps(final.blocks)
    assert "*Approved* by <@U0ANA>" in text
    assert "*Expired*" in text  # drawn again after the version moved


class KeepRacingSlack(FakeSlack):
    """Every chat.update of the group message is followed by another writer's change (whose
    own redraw found the draw lease taken), ``races`` times in a row."""

    races: list[Any] = []

    def update(self, channel: str, ts: str, message: Message) -> None:
        super().update(channel, ts, message)
        if self.races:
            self.races.pop(0)()


def test_a_redraw_keeps_drawing_while_the_group_keeps_changing() -> None:
    """A burst: the group changes again during each of the drawer's updates. The others left
    the drawing to it, so it must draw until the version stops moving, however many times."""
    world = World(KeepRacingSlack())
    first = world.submit("tok-0", approvers=[ANA])
    others = [world.submit(f"tok-{i}", approvers=[ANA]) for i in range(1, 9)]
    slack = world.slack
    assert isinstance(slack, KeepRacingSlack)

    def expire(approval_id: str) -> Any:
        def other_writer() -> None:
            row = world.store.rows[approval_id]
            row.approval = replace(row.approval, status=Status.EXPIRED)
            world.groups.bump(world.group_id)

        return other_writer

    slack.races = [expire(a) for a in others]
    world.service.decide(first, ANA, "approved")
    text = json.dumps(world.last_message().blocks)
    assert "*Approved* by <@U0ANA>" in text
    assert text.count("*Expired*") == len(others)  # every change drawn, the last one included


def test_a_group_message_slack_would_not_take_is_drawn_by_the_next_sweep(world: World) -> None:
    """Approve all decided both items, but Slack refused the one drawing at the end of the
    click (rate limited past its retries): the message still offers their buttons. The
    decided members go on the sweep's list, and the sweep draws the group message."""
    first = world.submit("tok-1", approvers=[ANA])
    second = world.submit("tok-2", approvers=[ANA])
    world.slack.fail_update.append(
        SlackUnavailable("chat.update: ratelimited (HTTP 429)", maybe_done=False)
    )
    result = world.service.decide_all(world.group_id, ANA, "approved")
    assert sorted(result.decided) == [1, 2]
    assert buttons(world.last_message())  # the message Slack shows: not drawn since
    assert world.store.redraw == {first, second}
    assert world.service.sweep()["redrawn"] == 2
    text = json.dumps(world.last_message().blocks)
    assert text.count("*Approved* by <@U0ANA>") == 2
    assert not buttons(world.last_message())
    assert world.store.redraw == set()


def test_more_than_fit_one_message_continue_in_a_second(world: World) -> None:
    for i in range(MAX_GROUP_ITEMS + 1):
        world.submit(f"tok-{i}", approvers=[ANA])
    assert len(world.slack.posts) == 2
    second = world.slack.posts[1]
    assert second["approval_id"] == group_id_for(CHANNEL, BATCH, 1)
    assert len(world.groups.groups[group_id_for(CHANNEL, BATCH)].members) == MAX_GROUP_ITEMS


def test_a_crash_after_posting_the_group_message_does_not_post_it_twice(world: World) -> None:
    world.slack.crash_after_post = True
    body = {"TaskToken": "tok-1", "Execution": ARN, "Payload": {"approval": {"group": BATCH}}}
    with pytest.raises(SystemExit):
        world.service.submit(parse_envelope(json.dumps(body)))
    world.clock.advance(300)  # both leases ran out: the redelivery resumes
    assert world.service.submit(parse_envelope(json.dumps(body))) is RequestOutcome.POSTED
    assert len(world.slack.posts) == 1
    approval = world.store.get(TaskToken("tok-1").approval_id())
    assert (approval.status, approval.ts) == (Status.PENDING, world.slack.posts[0]["ts"])


def test_a_second_delivery_waits_for_the_group_message_being_posted(world: World) -> None:
    world.submit("tok-1")
    group = world.groups.groups[world.group_id]
    world.groups.groups[world.group_id] = group.__class__(
        **{**group.__dict__, "ts": None, "message_channel": None}
    )
    world.groups.leases[world.group_id] = (
        "someone",
        world.clock() + __import__("datetime").timedelta(seconds=60),
    )
    body = {"TaskToken": "tok-2", "Execution": ARN, "Payload": {"approval": {"group": BATCH}}}
    world.service._groups._poster._sleep = lambda _s: None  # type: ignore[union-attr]
    with pytest.raises(RetryLater):
        world.service.submit(parse_envelope(json.dumps(body)))
    assert len(world.slack.posts) == 1


class ThrottledUpdates(FakeSlack):
    """chat.update answers 429 (Slack's Tier 3 limit) while ``throttled`` > 0."""

    throttled = 0

    def update(self, channel: str, ts: str, message: Message) -> None:
        if self.throttled:
            self.throttled -= 1
            raise SlackUnavailable("chat.update: ratelimited (HTTP 429)", maybe_done=False)
        super().update(channel, ts, message)


def test_a_join_whose_redraw_slack_refused_is_retried_and_drawn() -> None:
    world = World(ThrottledUpdates())
    slack = world.slack
    assert isinstance(slack, ThrottledUpdates)
    world.submit("tok-1")
    slack.throttled = 1
    body = {"TaskToken": "tok-2", "Execution": ARN, "Payload": {"approval": {"group": BATCH}}}
    with pytest.raises(RetryLater):
        world.service.submit(parse_envelope(json.dumps(body)))
    assert world.store.get(TaskToken("tok-2").approval_id()).status is Status.POSTING
    assert world.service.submit(parse_envelope(json.dumps(body))) is RequestOutcome.POSTED  # SQS
    assert world.last_message().blocks[0]["text"]["text"] == f"2 approval requests: {BATCH}"
    assert len(slack.posts) == 1
