"""ApprovalService.decide / expire / pending with in-memory fakes."""

from __future__ import annotations

import json
import threading
from datetime import timedelta

import pytest

from bot.models import Actor, Decision, Status, TaskToken, parse_envelope
from bot.service import ApprovalService, Policy, Verdict
from bot.slack_gateway import UserInfo
from bot.workflow import ExecutionStatus
from tests.fakes import FakeClock, FakeSlack, FakeStore, FakeWorkflow

ARN = "arn:aws:states:us-east-1:123456789012:execution:approval-flow:run-1"
ANA, BO, CY, EVE = "U0ANA", "U0BO", "U0CY", "U0EVE"


def user(uid: str, name: str, **kw: object) -> UserInfo:
    base = {"email": f"{name}@example.com", "is_bot": False, "deleted": False, "has_2fa": True}
    base.update(kw)
    return UserInfo(id=uid, name=name, **base)  # type: ignore[arg-type]


@pytest.fixture
def world():
    clock = FakeClock()
    store, workflow, slack = FakeStore(), FakeWorkflow(), FakeSlack()
    slack.users = {
        ANA: user(ANA, "ana"),
        BO: user(BO, "bo"),
        CY: user(CY, "cy"),
        EVE: user(EVE, "eve"),
        "UBOT": user("UBOT", "bot", is_bot=True),
    }
    slack.emails = {f"{u.name}@example.com": uid for uid, u in slack.users.items()}
    slack.groups = {"S0ONCALL": frozenset({CY})}
    slack.members = {"C0DEFAULT": frozenset({ANA, BO, CY})}
    service = ApprovalService(
        store=store,
        workflow=workflow,
        slack=slack,
        policy=Policy(default_channel="C0DEFAULT"),
        clock=clock,
    )
    return service, store, workflow, slack, clock


def submit(service: ApprovalService, approval: dict | None = None, token: str = "tok-1") -> str:
    payload = {"task": "t-1", **({"approval": approval} if approval is not None else {})}
    body = {"TaskToken": token, "Execution": ARN, "Payload": payload}
    service.submit(parse_envelope(json.dumps(body)))
    return TaskToken(token).approval_id()


def test_approve_completes_the_task_with_payload_plus_decision(world) -> None:
    service, store, workflow, slack, _clock = world
    approval_id = submit(service, {"approvers": [ANA]})
    result = service.decide(approval_id, ANA, "approved", "ship it")
    assert result.verdict is Verdict.DECIDED
    (call,) = workflow.calls
    assert call.action == "succeed"
    assert call.output == {
        "task": "t-1",
        "approval": {
            "approvers": [ANA],  # what the author sent, untouched …
            "id": approval_id,  # … plus the id and the decision
            "decision": {
                "outcome": "approved",
                "approver": {"id": ANA, "name": "ana"},
                "approvers": [
                    {
                        "id": ANA,
                        "name": "ana",
                        "decided_at": "2026-11-25T12:00:00.000Z",
                        "comment": "ship it",
                    }
                ],
                "decided_at": "2026-11-25T12:00:00.000Z",
                "comment": "ship it",
                "inputs": {},
            },
        },
    }
    stored = store.get(approval_id)
    assert stored.status is Status.APPROVED
    assert stored.decision.actor.id == ANA
    (update,) = slack.updates
    assert "Approved" in update["message"].text


def test_reject_fails_the_task_with_a_json_cause(world) -> None:
    service, store, workflow, _, _ = world
    approval_id = submit(service, {"approvers": [ANA]})
    assert (
        service.decide(approval_id, ANA, "rejected", "not on a Friday").verdict is Verdict.DECIDED
    )
    (call,) = workflow.calls
    assert call.error == "Rejected"
    cause = json.loads(call.cause)
    assert cause["approver"] == {"id": ANA, "name": "ana"}
    assert cause["reason"] == "not on a Friday"
    assert cause["decided_at"] == "2026-11-25T12:00:00.000Z"
    assert store.get(approval_id).status is Status.REJECTED


def test_non_object_payload_is_wrapped(world) -> None:
    service, _, workflow, _, _ = world
    body = {"TaskToken": "tok-list", "Execution": ARN, "Payload": [1, 2]}
    service.submit(parse_envelope(json.dumps(body)))
    approval_id = TaskToken("tok-list").approval_id()
    service.decide(approval_id, ANA, "approved")
    output = workflow.calls[0].output
    assert output["Payload"] == [1, 2]
    assert output["approval"]["id"] == approval_id
    assert set(output["approval"]) == {"id", "decision"}


def test_payload_without_an_approval_object_gets_one_with_the_decision(world) -> None:
    service, _, workflow, _, _ = world
    approval_id = submit(service, None, token="tok-seed")
    service.decide(approval_id, ANA, "approved")
    output = workflow.calls[0].output
    assert output["task"] == "t-1"
    assert set(output["approval"]) == {"id", "decision"}
    assert output["approval"]["decision"]["outcome"] == "approved"


@pytest.mark.parametrize(
    ("approval", "clicker", "reason"),
    [
        ({"approvers": [ANA]}, EVE, "Only <@U0ANA> can decide"),
        ({"approvers": ["S0ONCALL"]}, ANA, "Only <!subteam^S0ONCALL> can decide"),
        ({"requester": BO}, BO, "You requested this approval"),
        ({"requester": "BO@example.com"}, BO, "You requested this approval"),
        ({}, EVE, "Only members of <#C0DEFAULT>"),
        ({}, "UBOT", "Only active human users"),
    ],
)
def test_unauthorized_clicks_are_refused_and_change_nothing(
    world, approval: dict, clicker: str, reason: str
) -> None:
    service, store, workflow, slack, _ = world
    approval_id = submit(service, approval)
    result = service.decide(approval_id, clicker, "approved")
    assert result.verdict is Verdict.REFUSED
    assert reason in result.text
    assert workflow.calls == []
    assert store.get(approval_id).status is Status.PENDING
    assert slack.updates == []
    assert service.check(approval_id, clicker).verdict is Verdict.REFUSED


def test_group_member_and_channel_member_may_decide(world) -> None:
    service, _, _, _, _ = world
    in_group = submit(service, {"approvers": ["S0ONCALL"]}, token="tok-g")
    assert service.decide(in_group, CY, "approved").verdict is Verdict.DECIDED
    anyone_in_channel = submit(service, {}, token="tok-c")
    assert service.check(anyone_in_channel, ANA).verdict is Verdict.ALLOWED
    assert service.decide(anyone_in_channel, ANA, "approved").verdict is Verdict.DECIDED


def test_default_approvers_apply_without_approvers_in_the_request(world) -> None:
    service, store, workflow, slack, clock = world
    service = ApprovalService(
        store=store,
        workflow=workflow,
        slack=slack,
        policy=Policy(default_channel="C0DEFAULT", default_approvers=("S0ONCALL",)),
        clock=clock,
    )
    approval_id = submit(service, {})
    assert service.decide(approval_id, ANA, "approved").verdict is Verdict.REFUSED
    assert service.decide(approval_id, CY, "approved").verdict is Verdict.DECIDED


def test_self_approval_can_be_allowed(world) -> None:
    service, store, workflow, slack, clock = world
    service = ApprovalService(
        store=store,
        workflow=workflow,
        slack=slack,
        policy=Policy(default_channel="C0DEFAULT", allow_self_approval=True),
        clock=clock,
    )
    approval_id = submit(service, {"requester": BO})
    assert service.decide(approval_id, BO, "approved").verdict is Verdict.DECIDED


def test_second_click_is_told_who_was_faster(world) -> None:
    service, _, workflow, _, _ = world
    approval_id = submit(service)
    assert service.decide(approval_id, ANA, "approved").verdict is Verdict.DECIDED
    late = service.decide(approval_id, CY, "rejected", "no")
    assert late.verdict is Verdict.TOO_LATE
    assert "<@U0ANA> already approved it" in late.text
    assert len(workflow.calls) == 1


def test_repeated_call_by_the_same_user_is_idempotent(world) -> None:
    service, _, workflow, _, _ = world
    approval_id = submit(service)
    service.decide(approval_id, ANA, "approved")
    again = service.decide(approval_id, ANA, "approved")
    assert again.verdict is Verdict.DECIDED
    assert len(workflow.calls) == 1


def test_concurrent_clicks_decide_once(world) -> None:
    service, _, workflow, _, _ = world
    approval_id = submit(service)
    results = []
    barrier = threading.Barrier(3)

    def click(uid: str) -> None:
        barrier.wait()
        results.append(service.decide(approval_id, uid, "approved"))

    threads = [threading.Thread(target=click, args=(u,)) for u in (ANA, BO, CY)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=5)
    assert sorted(r.verdict for r in results) == [
        Verdict.DECIDED,
        Verdict.TOO_LATE,
        Verdict.TOO_LATE,
    ]
    assert len(workflow.calls) == 1


def test_transient_failure_after_the_claim_rolls_back_and_a_retry_decides(world) -> None:
    service, store, workflow, slack, _ = world
    approval_id = submit(service)
    workflow.unavailable = 1
    result = service.decide(approval_id, ANA, "approved")
    assert result.verdict is Verdict.UNAVAILABLE
    assert "try again" in result.text
    assert store.get(approval_id).status is Status.PENDING
    assert "Approve" in json.dumps(slack.updates[-1]["message"].blocks)  # buttons are back
    assert service.decide(approval_id, ANA, "approved").verdict is Verdict.DECIDED
    assert store.get(approval_id).status is Status.APPROVED


def test_dead_token_of_a_stopped_execution_is_expired(world) -> None:
    service, store, workflow, slack, _ = world
    approval_id = submit(service)
    workflow.gone.add("tok-1")
    workflow.statuses[ARN] = ExecutionStatus("FAILED", "ApprovalExpired")
    result = service.decide(approval_id, ANA, "approved")
    assert result.verdict is Verdict.TOO_LATE
    assert "expired" in result.text
    stored = store.get(approval_id)
    assert stored.status is Status.EXPIRED
    assert stored.status_reason == "the execution is failed"
    assert "Expired" in slack.updates[-1]["message"].text


def test_dead_token_of_a_running_execution_is_an_error(world) -> None:
    service, store, workflow, _, _ = world
    approval_id = submit(service)
    workflow.gone.add("tok-1")
    assert service.decide(approval_id, ANA, "approved").verdict is Verdict.TOO_LATE
    assert store.get(approval_id).status is Status.ERROR


def test_retry_after_a_crash_past_the_task_call_records_the_delivered_decision(world) -> None:
    service, store, workflow, _, clock = world
    approval_id = submit(service)
    when = store.get(approval_id).created_at
    store.claim(approval_id, Decision("approved", Actor(ANA, "ana"), when), now=when)
    # The crashed worker had delivered it: the token is gone, history shows our approval.
    workflow.gone.add("tok-1")
    workflow.completed[approval_id] = "approved"
    # Within a live worker's time a repeat changes nothing (a double click while it works) …
    assert service.decide(approval_id, ANA, "approved").verdict is Verdict.DECIDED
    assert store.get(approval_id).status is Status.CLAIMED
    # … after it, Lambda's retry (or the sweep) finishes the job and records the truth.
    clock.advance(61)
    assert service.decide(approval_id, ANA, "approved").verdict is Verdict.DECIDED
    assert store.get(approval_id).status is Status.APPROVED
    assert workflow.calls == []  # Step Functions had refused the repeat; nothing sent twice


def test_expires_at_is_enforced_on_click_and_fails_the_task(world) -> None:
    service, store, workflow, _slack, clock = world
    expires = (clock.now + timedelta(minutes=10)).isoformat()
    approval_id = submit(service, {"expires_at": expires})
    clock.advance(11 * 60)
    result = service.decide(approval_id, ANA, "approved")
    assert result.verdict is Verdict.TOO_LATE
    assert store.get(approval_id).status is Status.EXPIRED
    (call,) = workflow.calls
    assert (call.action, call.error) == ("fail", "ApprovalExpired")


def test_execution_status_change_expires_open_approvals(world) -> None:
    service, store, workflow, _slack, _ = world
    first = submit(service, token="tok-a")
    second = submit(service, token="tok-b")
    service.decide(second, ANA, "approved")
    assert service.expire_execution(ARN, "TIMED_OUT") == 1
    assert store.get(first).status is Status.EXPIRED
    assert store.get(first).status_reason == "the execution timed out"
    assert store.get(second).status is Status.APPROVED
    assert workflow.calls[-1].action == "succeed"  # no task failure for an ended execution


def test_sweep_expires_overdue_and_finishes_stale_claims(world) -> None:
    service, store, _workflow, _, clock = world
    overdue = submit(service, {"expires_at": (clock.now + timedelta(minutes=1)).isoformat()}, "t1")
    claimed = submit(service, token="t2")
    store.claim(claimed, Decision("approved", Actor(ANA, "ana"), clock.now), now=clock.now)
    clock.advance(600)
    assert service.sweep() == {
        "expired": 1,
        "reminded": 0,
        "escalated": 0,
        "claims_completed": 1,
        "redrawn": 0,
    }
    assert store.get(overdue).status is Status.EXPIRED
    assert store.get(claimed).status is Status.APPROVED
    assert service.sweep() == {
        "expired": 0,
        "reminded": 0,
        "escalated": 0,
        "claims_completed": 0,
        "redrawn": 0,
    }


def test_pending_lists_newest_first_and_mine_filters(world) -> None:
    service, _, _, _, clock = world
    ids = []
    for i in range(15):
        clock.advance(1)
        approvers = [ANA] if i % 3 == 0 else [CY]
        ids.append(submit(service, {"approvers": approvers}, token=f"tok-{i}"))
    page = service.pending(BO, mine=False, size=10)  # a member of the channel sees all
    assert [a.approval_id for a in page.approvals] == ids[::-1][:10]
    rest = service.pending(BO, mine=False, cursor=page.cursor, size=10)
    assert [a.approval_id for a in rest.approvals] == ids[::-1][10:]
    assert rest.cursor is None
    mine = service.pending(ANA, mine=True, size=10)
    assert [a.approval_id for a in mine.approvals] == [ids[i] for i in (12, 9, 6, 3, 0)]


def test_mine_pages_through_everything_once_when_a_store_page_overflows_the_listing(
    world,
) -> None:
    """Store pages of 10 where 2 in 3 are Ana's: the second store page takes the listing past
    10. "Show more" must start right after the last one shown, not after the store page."""
    service, _, _, _, clock = world
    ids = []
    for i in range(40):
        clock.advance(1)
        approvers = [CY] if i % 3 == 0 else [ANA]
        ids.append(submit(service, {"approvers": approvers}, token=f"tok-{i}"))
    expected = [ids[i] for i in range(39, -1, -1) if i % 3 != 0]
    seen: list[str] = []
    cursor = None
    for _ in range(10):
        page = service.pending(ANA, mine=True, cursor=cursor, size=10)
        assert len(page.approvals) <= 10
        seen += [a.approval_id for a in page.approvals]
        cursor = page.cursor
        if cursor is None:
            break
    assert seen == expected


def test_a_listing_changes_nothing_and_leaves_out_what_is_overdue(world) -> None:
    """Listings answer within Slack's 3 s: no writes, no chat.update, no Step Functions call.
    An overdue request is left out; the sweep (or the next click) expires it."""
    service, store, workflow, slack, clock = world
    overdue = submit(service, {"expires_at": (clock.now + timedelta(minutes=1)).isoformat()})
    clock.advance(120)
    assert service.pending(ANA, mine=False).approvals == []
    assert store.get(overdue).status is Status.PENDING
    assert (workflow.calls, slack.updates) == ([], [])
    assert service.sweep()["expired"] == 1
