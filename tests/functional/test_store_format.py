"""The approval item on moto's DynamoDB: the notifier stores the payload once (a typical request
in under 1 KB), and an item in the older format (payload and parsed spec) is still listed,
decided and finished with the spec it was stored with."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from types import ModuleType

from bot.local.slack_standin import SlackStandIn
from bot.models import Actor, ApprovalSpec, Decision, Status, format_time
from bot.store import ApprovalStore, item_size
from tests.functional.conftest import ANA, BO, CHANNEL, CY, EVE, TABLE, Aws, request_approval

NOW = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)


def raw_item(aws: Aws, approval_id: str) -> dict:
    key = {"pk": {"S": f"APPROVAL#{approval_id}"}, "sk": {"S": "APPROVAL"}}
    return dict(aws.dynamodb.get_item(TableName=TABLE, Key=key, ConsistentRead=True)["Item"])


def test_the_notifier_stores_the_payload_once(
    aws: Aws, stack, notifier: ModuleType, slack: SlackStandIn
) -> None:
    """The cost benchmark's 2-of-3 request, through the example flow and the real notifier."""
    posted = request_approval(
        aws,
        stack,
        notifier,
        slack,
        "run-format",
        service="svc-12",
        version="1.0",
        requester=BO,
        channel=CHANNEL,
        approvers=[ANA, CY, EVE],
        required_approvals=2,
    )
    item = raw_item(aws, posted.approval_id)
    assert "spec" not in item
    assert json.loads(item["payload"]["S"])["approval"]["approvers"] == [ANA, CY, EVE]
    # moto's task token is a UUID; a deployed one is longer (see docs/performance.md, Cost).
    assert item_size(item) < 1024, item_size(item)
    approval = ApprovalStore(aws.dynamodb, TABLE).get(posted.approval_id)
    assert approval.status is Status.PENDING
    assert approval.spec.approvers == (ANA, CY, EVE)
    assert approval.spec.required_approvals == 2
    assert approval.spec.title == "Deploy svc-12 1.0 to production?"


def test_an_item_in_the_older_format_is_listed_decided_and_finished(aws: Aws, stack) -> None:
    spec = ApprovalSpec(title="Older", approvers=(ANA, CY), required_approvals=2)
    approval_id = "b" * 26
    created = format_time(NOW)
    aws.dynamodb.put_item(
        TableName=TABLE,
        Item={
            "pk": {"S": f"APPROVAL#{approval_id}"},
            "sk": {"S": "APPROVAL"},
            "item_type": {"S": "approval"},
            "approval_id": {"S": approval_id},
            "status": {"S": Status.PENDING},
            "open_status": {"S": Status.PENDING},
            "task_token": {"S": "older-token"},
            "payload": {"S": json.dumps({"task": 7, "approval": spec.to_dict()})},
            "spec": {"S": json.dumps(spec.to_dict())},
            "channel": {"S": CHANNEL},
            "ts": {"S": "1764936000.000100"},
            "created_at": {"S": created},
            "updated_at": {"S": created},
            "votes": {"M": {}},
            "approve_count": {"N": "0"},
            "reject_count": {"N": "0"},
        },
    )
    store = ApprovalStore(aws.dynamodb, TABLE)
    (listed,) = store.list_open(Status.PENDING, limit=10).approvals
    assert (listed.approval_id, listed.spec, listed.payload["task"]) == (approval_id, spec, 7)

    def vote(user: str, at: datetime) -> Decision:
        return Decision("approved", Actor(user, user.lower()), at)

    first = store.vote(approval_id, vote(ANA, NOW), now=NOW, final=False, counts=(0, 0))
    assert (first.status, first.spec) == (Status.PENDING, spec)
    later = NOW + timedelta(minutes=1)
    claimed = store.vote(approval_id, vote(CY, later), now=later, final=True, counts=(1, 0))
    assert (claimed.status, claimed.spec) == (Status.CLAIMED, spec)
    done = store.finish(approval_id, Status.APPROVED, now=later)
    assert (done.status, done.spec, len(done.votes)) == (Status.APPROVED, spec, 2)
