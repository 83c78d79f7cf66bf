"""Guards found by mutation testing (benchmarks/mutants.py): required_approvals and the
reject policy count exactly, through the service (in-memory fakes)."""

from __future__ import annotations

from bot.models import ApprovalSpec, Status
from bot.service import Verdict
from bot.service.decisions import decides
from tests.unit.test_service_decision import ANA, BO, CY, submit, world  # noqa: F401


def test_the_nth_approval_decides_and_not_one_before() -> None:
    spec = ApprovalSpec(required_approvals=3)
    assert [decides(spec, (n, 0), "approved") for n in range(3)] == [False, False, True]


def test_rejections_decide_at_once_or_by_majority() -> None:
    majority = ApprovalSpec(required_approvals=2, reject_policy="majority")
    assert [decides(majority, (0, n), "rejected") for n in range(2)] == [False, True]
    assert decides(ApprovalSpec(required_approvals=2), (0, 0), "rejected")  # policy any


def test_two_of_three_needs_two_distinct_approvers(world) -> None:  # noqa: F811
    service, store, workflow, _slack, _clock = world
    approval_id = submit(service, {"approvers": [ANA, BO, CY], "required_approvals": 2})
    first = service.decide(approval_id, ANA, "approved")
    assert first.verdict is Verdict.DECIDED
    assert store.get(approval_id).status is Status.PENDING
    assert workflow.calls == []
    service.decide(approval_id, BO, "approved")
    assert store.get(approval_id).status is Status.APPROVED
    assert [c.action for c in workflow.calls] == ["succeed"]


def test_a_majority_rejection_needs_two_rejections(world) -> None:  # noqa: F811
    service, store, workflow, _slack, _clock = world
    approval = {"approvers": [ANA, BO, CY], "required_approvals": 2, "reject_policy": "majority"}
    approval_id = submit(service, approval)
    service.decide(approval_id, ANA, "rejected", "no")
    assert store.get(approval_id).status is Status.PENDING
    assert workflow.calls == []
    service.decide(approval_id, BO, "rejected", "no")
    assert store.get(approval_id).status is Status.REJECTED
    assert [c.action for c in workflow.calls] == ["fail"]
