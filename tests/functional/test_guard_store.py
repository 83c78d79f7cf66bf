"""Guards found by mutation testing (benchmarks/mutants.py): the store's vote condition on its
own, against moto's DynamoDB. The service reads before it writes, so its own checks hide a
weak condition; these call the store as a concurrent writer would."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from bot.local.infra import create_table
from bot.models import Actor, Decision, Status, parse_envelope, parse_request
from bot.store import ApprovalStore, StateConflict
from tests.functional.conftest import ANA, CHANNEL, CY, TABLE, Aws

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
ARN = "arn:aws:states:us-east-1:123456789012:execution:approval-flow:guard"


@pytest.fixture
def store(aws: Aws) -> ApprovalStore:
    create_table(aws.dynamodb, TABLE)
    return ApprovalStore(aws.dynamodb, TABLE)


def posting(store: ApprovalStore, required: int = 2) -> tuple[str, str]:
    """A request being posted: its id and the lease owner."""
    body = {
        "TaskToken": f"guard-token-{required}",
        "Execution": ARN,
        "Payload": {"approval": {"approvers": [ANA, CY], "required_approvals": required}},
    }
    request = parse_request(parse_envelope(json.dumps(body)), default_channel=CHANNEL)
    begun = store.begin_posting(request, now=NOW, lease_seconds=60)
    assert begun.lease_owner is not None
    return request.approval_id, begun.lease_owner


def pending(store: ApprovalStore, required: int = 2) -> str:
    approval_id, owner = posting(store, required)
    store.mark_posted(approval_id, lease_owner=owner, channel=CHANNEL, ts="1.2", now=NOW)
    return approval_id


def vote(user: str, minutes: int = 1) -> Decision:
    return Decision("approved", Actor(user, user.lower()), NOW + timedelta(minutes=minutes))


def test_one_person_votes_once_even_without_the_counts_check(store: ApprovalStore) -> None:
    approval_id = pending(store)
    first = store.vote(approval_id, vote(ANA), now=NOW, final=False)
    assert [v.actor.id for v in first.votes] == [ANA]
    with pytest.raises(StateConflict) as conflict:
        store.vote(approval_id, vote(ANA, minutes=2), now=NOW, final=False)
    assert len(conflict.value.current.votes) == 1
    assert len(store.get(approval_id).votes_for("approved")) == 1


@pytest.mark.parametrize("final", [False, True], ids=["a vote", "the deciding vote"])
def test_no_vote_lands_on_an_expired_request(store: ApprovalStore, final: bool) -> None:
    approval_id = pending(store)
    store.finish(approval_id, Status.EXPIRED, now=NOW, reason="expired", expected=(Status.PENDING,))
    with pytest.raises(StateConflict):
        store.vote(approval_id, vote(ANA), now=NOW, final=final)
    stored = store.get(approval_id)
    assert stored.status is Status.EXPIRED
    assert stored.votes == ()
    assert stored.decision is None


def test_a_vote_on_counts_that_changed_meanwhile_is_refused(store: ApprovalStore) -> None:
    approval_id = pending(store)  # two approvals needed
    store.vote(approval_id, vote(ANA), now=NOW, final=False, counts=(0, 0))
    with pytest.raises(StateConflict):  # CY read (0, 0) before ANA's vote: it would decide
        store.vote(approval_id, vote(CY), now=NOW, final=False, counts=(0, 0))
    assert [v.actor.id for v in store.get(approval_id).votes] == [ANA]


def test_a_finished_decision_is_never_taken_back(store: ApprovalStore) -> None:
    approval_id = pending(store, required=1)
    decision = vote(ANA)
    store.claim(approval_id, decision, now=NOW)
    store.finish(approval_id, Status.APPROVED, now=NOW)
    with pytest.raises(StateConflict):
        store.release(approval_id, decision, now=NOW)
    assert store.get(approval_id).status is Status.APPROVED


def test_a_final_status_only_leaves_the_statuses_it_names(store: ApprovalStore) -> None:
    approval_id = pending(store, required=1)
    store.claim(approval_id, vote(ANA), now=NOW)
    store.finish(approval_id, Status.APPROVED, now=NOW)
    with pytest.raises(StateConflict):  # an expiry arriving after the approval
        store.finish(
            approval_id, Status.EXPIRED, now=NOW, reason="late", expected=(Status.PENDING,)
        )
    assert store.get(approval_id).status is Status.APPROVED


def test_only_the_lease_owner_records_the_post(store: ApprovalStore) -> None:
    approval_id, owner = posting(store)
    with pytest.raises(StateConflict):
        store.mark_posted(
            approval_id, lease_owner="another-delivery", channel=CHANNEL, ts="9.9", now=NOW
        )
    assert store.get(approval_id).status is Status.POSTING
    posted = store.mark_posted(approval_id, lease_owner=owner, channel=CHANNEL, ts="1.2", now=NOW)
    assert (posted.status, posted.ts) == (Status.PENDING, "1.2")


def test_only_a_finished_approval_goes_on_the_sweeps_redraw_list_and_off_it(
    store: ApprovalStore,
) -> None:
    """The redraw list is the by-status index under REDRAW: a finished approval only (an open
    one's next change redraws it), never shown by a listing, off it once drawn."""
    approval_id = pending(store)
    store.mark_redraw(approval_id)  # open: nothing happens
    assert store.needs_redraw(limit=10) == []
    assert [a.approval_id for a in store.list_open(Status.PENDING, limit=10).approvals] == [
        approval_id
    ]
    store.finish(approval_id, Status.EXPIRED, now=NOW, expected=(Status.PENDING,))
    store.mark_redraw(approval_id)
    store.mark_redraw(approval_id)  # twice: still one entry
    listed = store.needs_redraw(limit=10)
    assert [(a.approval_id, a.status) for a in listed] == [(approval_id, Status.EXPIRED)]
    for status in (Status.PENDING, Status.CLAIMED, Status.POSTING):
        assert store.list_open(status, limit=10).approvals == []
    store.redraw_done(approval_id)
    store.redraw_done(approval_id)  # already off: no error
    assert store.needs_redraw(limit=10) == []
    assert store.get(approval_id).status is Status.EXPIRED
    store.mark_redraw("no-such-approval")  # nothing to list
    assert store.needs_redraw(limit=10) == []
