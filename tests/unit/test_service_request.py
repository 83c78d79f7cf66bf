"""ApprovalService.submit with in-memory fakes: exactly once, nothing lost, clear failures."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from bot.models import Status, TaskToken, parse_envelope
from bot.service import ApprovalService, Policy, RequestOutcome, RetryLater
from bot.slack_gateway import SlackRejected, SlackUnavailable
from tests.fakes import FakeClock, FakeSlack, FakeStore, FakeWorkflow

ARN = "arn:aws:states:us-east-1:123456789012:execution:approval-flow:run-1"
TOKEN = "token-" + "a" * 200
LEASE = 120


@pytest.fixture
def world():
    clock = FakeClock()
    store, workflow, slack = FakeStore(), FakeWorkflow(), FakeSlack()
    service = ApprovalService(
        store=store,
        workflow=workflow,
        slack=slack,
        policy=Policy(default_channel="C0DEFAULT", post_lease_seconds=LEASE),
        clock=clock,
    )
    return service, store, workflow, slack, clock


def envelope(payload: object = None, token: str = TOKEN):
    body = {"TaskToken": token, "Execution": ARN, "Payload": payload or {"task": "t-1"}}
    return parse_envelope(json.dumps(body))


def approval_id(token: str = TOKEN) -> str:
    return TaskToken(token).approval_id()


def test_first_delivery_posts_and_stores_pending(world) -> None:
    service, store, workflow, slack, _ = world
    assert service.submit(envelope()) is RequestOutcome.POSTED
    assert len(slack.posts) == 1
    stored = store.get(approval_id())
    assert stored.status is Status.PENDING
    assert (stored.channel, stored.ts) == ("C0DEFAULT", slack.posts[0]["ts"])
    assert workflow.calls == []


def test_duplicate_delivery_never_posts_twice(world) -> None:
    service, _, _, slack, _ = world
    service.submit(envelope())
    assert service.submit(envelope()) is RequestOutcome.DUPLICATE
    assert service.submit(envelope()) is RequestOutcome.DUPLICATE
    assert len(slack.posts) == 1


def test_crash_after_post_then_redelivery_recovers_without_reposting(world) -> None:
    service, store, _, slack, clock = world
    slack.crash_after_post = True
    with pytest.raises(SystemExit):
        service.submit(envelope())
    assert store.get(approval_id()).status is Status.POSTING
    # Redelivered while the crashed attempt's lease still runs: not now.
    with pytest.raises(RetryLater):
        service.submit(envelope())
    clock.advance(LEASE + 1)
    assert service.submit(envelope()) is RequestOutcome.RECOVERED
    assert len(slack.posts) == 1
    stored = store.get(approval_id())
    assert stored.status is Status.PENDING
    assert stored.ts == slack.posts[0]["ts"]


def test_crash_before_post_then_redelivery_posts(world) -> None:
    service, store, _, slack, clock = world
    slack.fail_post.append(SystemExit("crash before chat.postMessage"))
    with pytest.raises(SystemExit):
        service.submit(envelope())
    clock.advance(LEASE + 1)
    assert service.submit(envelope()) is RequestOutcome.POSTED
    assert len(slack.posts) == 1
    assert store.get(approval_id()).status is Status.PENDING


def test_slack_saying_it_did_not_post_releases_the_lease_for_an_immediate_retry(world) -> None:
    service, store, _, slack, _ = world
    slack.fail_post.append(SlackUnavailable("chat.postMessage: ratelimited", maybe_done=False))
    with pytest.raises(RetryLater, match="will retry"):
        service.submit(envelope())
    assert service.submit(envelope()) is RequestOutcome.POSTED  # no lease wait
    assert len(slack.posts) == 1
    assert store.get(approval_id()).status is Status.PENDING


def test_a_timeout_keeps_the_lease_until_slack_cannot_still_be_posting(world) -> None:
    service, store, _, slack, clock = world
    slack.fail_post.append(SlackUnavailable("chat.postMessage: TimeoutError", maybe_done=True))
    with pytest.raises(RetryLater, match="will retry"):
        service.submit(envelope())
    with pytest.raises(RetryLater, match="being posted"):  # a redelivery right away waits
        service.submit(envelope())
    clock.advance(LEASE + 1)
    assert service.submit(envelope()) is RequestOutcome.POSTED  # after checking the history
    assert len(slack.posts) == 1
    assert store.get(approval_id()).status is Status.PENDING


def test_unknown_history_on_resume_waits_instead_of_risking_a_duplicate(world) -> None:
    service, _, _, slack, clock = world
    slack.crash_after_post = True
    with pytest.raises(SystemExit):
        service.submit(envelope())
    clock.advance(LEASE + 1)
    slack.history_unavailable = True
    with pytest.raises(RetryLater, match="earlier post"):
        service.submit(envelope())
    slack.history_unavailable = False
    assert service.submit(envelope()) is RequestOutcome.RECOVERED
    assert len(slack.posts) == 1


def test_invalid_request_fails_the_task_with_the_reason(world) -> None:
    service, _, workflow, slack, _ = world
    outcome = service.submit(envelope({"approval": {"channel": "#ops"}}))
    assert outcome is RequestOutcome.INVALID
    assert slack.posts == []
    (call,) = workflow.calls
    assert call.action == "fail"
    assert call.error == "InvalidApprovalRequest"
    assert "approval.channel must be a Slack channel id" in (call.cause or "")


def test_invalid_request_whose_task_is_gone_is_consumed(world) -> None:
    service, _, workflow, _, _ = world
    workflow.gone.add(TOKEN)
    assert service.submit(envelope({"approval": 5})) is RequestOutcome.INVALID


def test_slack_refusing_the_channel_fails_the_task(world) -> None:
    service, store, workflow, slack, _ = world
    slack.fail_post.append(SlackRejected("chat.postMessage", "not_in_channel"))
    assert service.submit(envelope()) is RequestOutcome.INVALID
    (call,) = workflow.calls
    assert call.error == "InvalidApprovalRequest"
    assert "not_in_channel" in (call.cause or "")
    assert "invite the bot" in (call.cause or "")
    assert store.get(approval_id()).status is Status.INVALID
    assert service.submit(envelope()) is RequestOutcome.DUPLICATE


def test_expires_at_in_the_past_fails_the_task(world) -> None:
    service, _, workflow, slack, clock = world
    past = (clock.now - timedelta(minutes=5)).isoformat()
    assert service.submit(envelope({"approval": {"expires_at": past}})) is RequestOutcome.INVALID
    assert slack.posts == []
    assert "in the past" in (workflow.calls[0].cause or "")


def test_distinct_tokens_are_distinct_approvals(world) -> None:
    service, _, _, slack, _ = world
    for i in range(5):
        service.submit(envelope(token=f"token-{i}"))
    assert len({p["approval_id"] for p in slack.posts}) == 5
