"""approval.notify dm/both with in-memory fakes: one copy per approver, exactly once, and every
copy redrawn by every change."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from bot.models import MAX_DM_COPIES, Status, TaskToken, parse_envelope
from bot.service import ApprovalService, Policy, RequestOutcome, RetryLater, Verdict, record
from bot.service.record import Recorder
from bot.slack_gateway import SlackRejected, SlackUnavailable, UserInfo
from tests.fakes import FakeClock, FakeSlack, FakeStore, FakeWorkflow

ARN = "arn:aws:states:us-east-1:123456789012:execution:approval-flow:run-1"
ANA, BO, CY, EVE, GONE = "U0ANA", "U0BO", "U0CY", "U0EVE", "U0GONE"
LEASE = 120
TOKEN = "tok-dm-1"


def user(uid: str, **kw: object) -> UserInfo:
    base = {"email": f"{uid.lower()}@example.com", "is_bot": False, "deleted": False}
    base.update(kw)
    return UserInfo(id=uid, name=uid.lower(), has_2fa=True, **base)  # type: ignore[arg-type]


@pytest.fixture
def world():
    clock = FakeClock()
    store, workflow, slack = FakeStore(), FakeWorkflow(), FakeSlack()
    slack.users = {u: user(u) for u in (ANA, BO, CY, EVE)}
    slack.users["UBOT"] = user("UBOT", is_bot=True)
    slack.users[GONE] = user(GONE, deleted=True)
    slack.groups = {"S0ONCALL": frozenset({CY, "UBOT", GONE})}
    slack.members = {"C0DEFAULT": frozenset({ANA, BO, CY, EVE})}
    service = ApprovalService(
        store=store,
        workflow=workflow,
        slack=slack,
        policy=Policy(default_channel="C0DEFAULT", post_lease_seconds=LEASE),
        clock=clock,
    )
    return service, store, workflow, slack, clock


def submit(service: ApprovalService, approval: dict, token: str = TOKEN) -> RequestOutcome:
    body = {"TaskToken": token, "Execution": ARN, "Payload": {"task": "t", "approval": approval}}
    return service.submit(parse_envelope(json.dumps(body)))


def aid(token: str = TOKEN) -> str:
    return TaskToken(token).approval_id()


def dm_counts(slack: FakeSlack, *users: str) -> list[int]:
    return [len(slack.dms(u)) for u in users]


def test_notify_both_posts_the_channel_message_and_one_copy_per_approver(world) -> None:
    service, store, _, slack, _ = world
    spec = {"notify": "both", "approvers": [ANA, BO, "S0ONCALL"], "requester": EVE}
    assert submit(service, spec) is RequestOutcome.POSTED
    channel_posts = [p for p in slack.posts if p["channel"] == "C0DEFAULT"]
    assert len(channel_posts) == 1
    # The group's bot and deactivated member get none, nor does the requester.
    assert dm_counts(slack, ANA, BO, CY, EVE, "UBOT", GONE) == [1, 1, 1, 0, 0, 0]
    stored = store.get(aid())
    assert stored.status is Status.PENDING
    assert stored.ts == channel_posts[0]["ts"]
    assert {c.user for c in stored.copies} == {ANA, BO, CY}
    assert all(p["message"].blocks == channel_posts[0]["message"].blocks for p in slack.posts)


def test_notify_dm_posts_nothing_in_the_channel_and_keeps_its_channel_for_visibility(
    world,
) -> None:
    service, store, _, slack, _ = world
    assert submit(service, {"notify": "dm", "approvers": [ANA, BO]}) is RequestOutcome.POSTED
    assert [p["channel"] for p in slack.posts] == ["DU0ANA", "DU0BO"]
    stored = store.get(aid())
    assert (stored.status, stored.channel, stored.ts) == (Status.PENDING, "C0DEFAULT", None)
    assert len(stored.messages()) == 2


def test_default_approvers_get_the_copies_when_the_request_names_none(world) -> None:
    service, store, _, slack, clock = world
    service = ApprovalService(
        store=store,
        workflow=FakeWorkflow(),
        slack=slack,
        policy=Policy(default_channel="C0DEFAULT", default_approvers=(BO, CY)),
        clock=clock,
    )
    submit(service, {"notify": "dm"})
    assert dm_counts(slack, ANA, BO, CY) == [0, 1, 1]


@pytest.mark.parametrize(
    ("spec", "reason"),
    [
        ({"notify": "dm"}, "names no approvers"),
        ({"notify": "both", "approvers": ["S0ONCALL"], "requester": CY}, "none of the approvers"),
    ],
)
def test_nobody_to_dm_fails_the_task_as_invalid(world, spec, reason) -> None:
    service, store, workflow, slack, _ = world
    assert submit(service, spec) is RequestOutcome.INVALID
    (call,) = workflow.calls
    assert call.error == "InvalidApprovalRequest"
    assert reason in str(call.cause)
    assert slack.posts == []
    assert store.get(aid()).status is Status.INVALID


def test_copies_are_capped(world) -> None:
    service, store, _, slack, _ = world
    many = [f"U{i:04d}" for i in range(MAX_DM_COPIES + 5)]
    slack.users.update({u: user(u) for u in many})
    submit(service, {"notify": "dm", "approvers": many})
    assert len(slack.posts) == MAX_DM_COPIES
    stored = store.get(aid())
    assert len(stored.copies) == MAX_DM_COPIES
    for channel, ts in stored.messages():  # every copy says so
        last = [u for u in slack.updates if (u["channel"], u["ts"]) == (channel, ts)][-1]
        assert f"direct message to {MAX_DM_COPIES} people" in str(last["message"].blocks)


def test_a_crash_after_some_copies_resumes_with_exactly_one_copy_each(world) -> None:
    service, store, _, slack, clock = world
    slack.crash_after_nth_post = 3  # the channel post, ANA's copy, BO's copy; then it dies
    spec = {"notify": "both", "approvers": [ANA, BO, CY]}
    with pytest.raises(SystemExit):
        submit(service, spec)
    assert store.get(aid()).status is Status.POSTING
    assert [c.user for c in store.get(aid()).copies] == [ANA]  # BO's was posted, not recorded
    clock.advance(LEASE + 1)
    assert submit(service, spec) is RequestOutcome.RECOVERED
    assert len([p for p in slack.posts if p["channel"] == "C0DEFAULT"]) == 1
    assert dm_counts(slack, ANA, BO, CY) == [1, 1, 1]
    stored = store.get(aid())
    assert stored.status is Status.PENDING
    assert {c.user: c.ts for c in stored.copies}[BO] == slack.dms(BO)[0]["ts"]


def test_a_copy_lost_in_a_timeout_is_found_before_posting_again(world) -> None:
    service, store, _, slack, clock = world
    # ANA's copy is posted, but the answer is lost (maybe_done): keep the lease, retry later.
    slack.crash_after_nth_post = 1
    with pytest.raises(SystemExit):
        submit(service, {"notify": "dm", "approvers": [ANA, BO]})
    with pytest.raises(RetryLater, match="being posted"):
        submit(service, {"notify": "dm", "approvers": [ANA, BO]})
    clock.advance(LEASE + 1)
    slack.history_unavailable = True  # cannot tell whether ANA got one: wait, never duplicate
    with pytest.raises(RetryLater, match="earlier copy"):
        submit(service, {"notify": "dm", "approvers": [ANA, BO]})
    slack.history_unavailable = False
    submit(service, {"notify": "dm", "approvers": [ANA, BO]})
    assert dm_counts(slack, ANA, BO) == [1, 1]
    assert store.get(aid()).status is Status.PENDING


def test_slack_refusing_one_copy_still_posts_the_others(world) -> None:
    service, store, _, slack, _ = world
    slack.fail_post.append(SlackRejected("chat.postMessage", "cannot_dm_bot"))
    submit(service, {"notify": "dm", "approvers": [ANA, BO]})
    assert dm_counts(slack, ANA, BO) == [0, 1]
    assert [c.user for c in store.get(aid()).copies] == [BO]


def test_a_rate_limited_copy_releases_the_lease_and_the_retry_posts_the_rest(world) -> None:
    service, _store, _, slack, _ = world
    # ANA's copy posts; BO's is rate limited (Slack says it did not post).
    original = slack.post
    calls = {"n": 0}

    def post(channel, message, *, approval_id):
        calls["n"] += 1
        if calls["n"] == 2:
            raise SlackUnavailable("chat.postMessage: ratelimited", maybe_done=False)
        return original(channel, message, approval_id=approval_id)

    slack.post = post  # type: ignore[method-assign]
    with pytest.raises(RetryLater):
        submit(service, {"notify": "dm", "approvers": [ANA, BO]})
    assert submit(service, {"notify": "dm", "approvers": [ANA, BO]}) is RequestOutcome.POSTED
    assert dm_counts(slack, ANA, BO) == [1, 1]


def test_a_decision_in_a_dm_updates_every_copy(world) -> None:
    service, store, _workflow, slack, _ = world
    submit(service, {"notify": "both", "approvers": [ANA, BO]})
    result = service.decide(aid(), BO, "approved")
    assert result.verdict is Verdict.DECIDED
    stored = store.get(aid())
    updated = {(u["channel"], u["ts"]) for u in slack.updates}
    assert updated >= set(stored.messages())
    assert len(stored.messages()) == 3
    for channel, ts in stored.messages():
        last = [u for u in slack.updates if (u["channel"], u["ts"]) == (channel, ts)][-1]
        assert "actions" not in [b.get("type") for b in last["message"].blocks]


def test_expiry_reminders_and_escalation_reach_every_copy(world) -> None:
    service, store, _, slack, clock = world
    spec = {
        "notify": "dm",
        "approvers": [ANA],
        "remind_every": "PT1H",
        "escalate_after": "PT3H",
        "escalate_to": [BO],
    }
    submit(service, spec)
    clock.advance(3600 + 1)
    assert service.sweep()["reminded"] == 1
    assert [r["channel"] for r in slack.replies] == ["DU0ANA"]
    clock.advance(2 * 3600)
    assert service.sweep()["escalated"] == 1
    assert dm_counts(slack, ANA, BO) == [1, 1]  # the escalation target got a copy, once
    assert service.sweep()["escalated"] == 0
    assert dm_counts(slack, ANA, BO) == [1, 1]
    stored = store.get(aid())
    assert {c.user for c in stored.copies} == {ANA, BO}
    assert {r["channel"] for r in slack.replies} == {"DU0ANA", "DU0BO"}
    service.expire_execution(ARN, "ABORTED")
    for channel, ts in store.get(aid()).messages():
        last = [u for u in slack.updates if (u["channel"], u["ts"]) == (channel, ts)][-1]
        assert "actions" not in [b.get("type") for b in last["message"].blocks]


def test_a_redraw_of_an_older_state_that_lands_last_is_drawn_again(world) -> None:
    """Two changes at once: the older one's redraw reaches the copies after the newer one's.
    The refresh reads the approval again and redraws: every copy ends showing the decision."""
    service, store, _, slack, _ = world
    submit(service, {"notify": "both", "approvers": [ANA, BO]})
    before = store.get(aid())  # what a slower concurrent change rendered
    assert service.decide(aid(), BO, "approved").verdict is Verdict.DECIDED
    Recorder(service._deps).refresh(before)  # its redraw lands after the decision's
    for channel, ts in store.get(aid()).messages():
        last = [u for u in slack.updates if (u["channel"], u["ts"]) == (channel, ts)][-1]
        assert "actions" not in [b.get("type") for b in last["message"].blocks]


def test_a_redraw_that_finds_a_decision_being_completed_leaves_the_outcome_to_it(world) -> None:
    """A vote's redraw re-reads the request and finds another vote completing it (CLAIMED):
    that completion draws the outcome after its own write, so after this drawing landed. One
    drawing, not two (each costs a chat.update of Slack's Tier 3 per copy)."""
    service, store, _, slack, _ = world
    submit(service, {"notify": "dm", "approvers": [ANA, BO]})
    before = store.get(aid())
    store.rows[aid()].approval = replace(before, status=Status.CLAIMED)  # another vote claimed it
    drawn = len(slack.updates)
    Recorder(service._deps).refresh(before)
    assert len(slack.updates) - drawn == len(before.messages())  # each copy drawn once


def test_a_failed_update_of_one_copy_is_drawn_again(world, monkeypatch) -> None:
    service, store, _, slack, _ = world
    monkeypatch.setattr(record, "LATE_UPDATE_SECONDS", 0)
    submit(service, {"notify": "dm", "approvers": [ANA, BO]})
    slack.fail_update.append(SlackUnavailable("chat.update: timeout", maybe_done=True))
    assert service.decide(aid(), BO, "approved").verdict is Verdict.DECIDED
    for channel, ts in store.get(aid()).messages():
        last = [u for u in slack.updates if (u["channel"], u["ts"]) == (channel, ts)][-1]
        assert "actions" not in [b.get("type") for b in last["message"].blocks]


@pytest.mark.parametrize(
    ("maybe_done", "waits"), [(True, [record.LATE_UPDATE_SECONDS]), (False, [])]
)
def test_only_an_update_slack_may_still_apply_is_waited_for(
    world, monkeypatch, maybe_done: bool, waits: list[float]
) -> None:
    """A lost answer (timeout, 5xx) may hide an update Slack applies late: wait before drawing
    over it. An update Slack answered it did not make (rate limited past the retries) is drawn
    again at once: waiting would only add billed time."""
    service, store, _, slack, _ = world
    slept: list[float] = []
    monkeypatch.setattr(record.time, "sleep", slept.append)
    submit(service, {"notify": "dm", "approvers": [ANA, BO]})
    slack.fail_update.append(SlackUnavailable("chat.update: failed", maybe_done=maybe_done))
    assert service.decide(aid(), BO, "approved").verdict is Verdict.DECIDED
    assert slept == waits
    for channel, ts in store.get(aid()).messages():
        last = [u for u in slack.updates if (u["channel"], u["ts"]) == (channel, ts)][-1]
        assert "actions" not in [b.get("type") for b in last["message"].blocks]


def test_copies_slack_would_not_take_are_drawn_by_the_next_sweep(world, monkeypatch) -> None:
    """Every drawing of a decision is rate limited past its retries: the copies still show the
    pending request. The approval goes on the sweep's list, and the sweep draws every copy;
    once Slack took them all, it is off the list."""
    service, store, _, slack, _ = world
    monkeypatch.setattr(record.time, "sleep", lambda _s: None)
    submit(service, {"notify": "both", "approvers": [ANA, BO]})
    limited = SlackUnavailable("chat.update: ratelimited (HTTP 429)", maybe_done=False)
    slack.fail_update.extend([limited] * 3 * len(store.get(aid()).messages()))
    assert service.decide(aid(), BO, "approved").verdict is Verdict.DECIDED
    assert store.redraw == {aid()}

    def shown_pending() -> list[tuple[str, str]]:
        stale = []
        for channel, ts in store.get(aid()).messages():
            last = [u for u in slack.updates if (u["channel"], u["ts"]) == (channel, ts)]
            blocks = [b.get("type") for b in last[-1]["message"].blocks] if last else ["actions"]
            if "actions" in blocks:
                stale.append((channel, ts))
        return stale

    assert shown_pending()  # what Slack shows now: the buttons of a decided request
    assert service.sweep()["redrawn"] == 1
    assert shown_pending() == []
    assert store.redraw == set()
    assert service.sweep()["redrawn"] == 0


def test_grouped_requests_with_notify_both_keep_one_dm_copy_each_and_redraw_it() -> None:
    """The group is the channel message; each request still gets its own DM copies, and a
    decision redraws them (never the group message with one request's rendering)."""
    from tests.unit.test_service_groups import World  # the groups world, with its fake store

    world = World()
    first = world.submit("tok-g1", approvers=[ANA], notify="both")
    world.submit("tok-g2", approvers=[ANA], notify="both")
    channel_posts = [p for p in world.slack.posts if not p["channel"].startswith("D")]
    assert len(channel_posts) == 1  # one group message
    assert len(world.slack.dms(ANA)) == 2  # one copy per request
    group_ts = channel_posts[0]["ts"]
    before = len(world.slack.updates)
    assert world.service.decide(first, ANA, "approved").verdict is Verdict.DECIDED
    (copy,) = world.store.get(first).copies
    mine = [u for u in world.slack.updates[before:] if u["ts"] == copy.ts]
    assert mine
    assert "actions" not in [b.get("type") for b in mine[-1]["message"].blocks]
    on_group = [u for u in world.slack.updates[before:] if u["ts"] == group_ts]
    assert on_group  # the group message was redrawn by the group, as a group
    assert "2 approval requests" in json.dumps(on_group[-1]["message"].blocks)
