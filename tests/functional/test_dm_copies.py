"""approval.notify dm/both on moto's DynamoDB and the Slack stand-in, through the real handlers:
one direct-message copy per approver, exactly once across faults, and every copy (read from
the stand-in, not the bot's store) showing the final state."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from types import ModuleType
from typing import Any

import pytest
import yaml

from bot.ids import Action
from bot.local.events import LocalContext
from bot.local.infra import ExampleStack
from bot.local.slack_standin import Fault, SlackStandIn
from bot.models import (
    ApprovalRequest,
    MessageCopy,
    Status,
    TaskToken,
    approval_id_for,
    parse_envelope,
)
from bot.models import parse_request as parse
from bot.store import ApprovalStore, Begin, StateConflict
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
    invoke_notifier,
    receive_for,
    start_execution,
    wait_for_status,
)

NOW = datetime(2026, 12, 6, 3, 0, tzinfo=UTC)
MANIFEST = "infra/slack-app-manifest.yml"


def dm_request(token: str = "tok-dm", notify: str = "dm") -> ApprovalRequest:
    approval = {"notify": notify, "approvers": [ANA, BO]}
    body = json.dumps({"TaskToken": token, "Payload": {"approval": approval}})
    return parse(parse_envelope(body), default_channel=CHANNEL)


# --- the store ---------------------------------------------------------------------------------


def test_copies_are_recorded_under_the_lease_and_read_back(aws: Aws, stack) -> None:
    store = ApprovalStore(aws.dynamodb, TABLE)
    request = dm_request()
    posting = store.begin_posting(request, now=NOW, lease_seconds=60)
    assert posting.outcome is Begin.NEW
    assert posting.lease_owner is not None
    ana = MessageCopy(ANA, "D0ANA", "1.000001")
    store.record_copy(request.approval_id, ana, lease_owner=posting.lease_owner)
    with pytest.raises(StateConflict):  # another delivery's lease: not recorded
        store.record_copy(request.approval_id, MessageCopy(BO, "D0BO", "2.0"), lease_owner="x")
    posted = store.mark_posted(
        request.approval_id, lease_owner=posting.lease_owner, channel=CHANNEL, ts=None, now=NOW
    )
    assert posted.status is Status.PENDING
    assert (posted.channel, posted.ts) == (CHANNEL, None)  # notify dm: no channel message
    assert store.get(request.approval_id).copies == (ana,)
    # A copy posted later (an escalation target) is kept whatever the status.
    bo = MessageCopy(BO, "D0BO", "3.000001")
    store.record_copy(request.approval_id, bo, lease_owner=None)
    assert store.get(request.approval_id).messages() == (("D0ANA", ana.ts), ("D0BO", bo.ts))


def test_a_resumed_posting_sees_the_copies_recorded_before_the_crash(aws: Aws, stack) -> None:
    store = ApprovalStore(aws.dynamodb, TABLE)
    request = dm_request("tok-resume", notify="both")
    first = store.begin_posting(request, now=NOW, lease_seconds=0)
    assert first.lease_owner is not None
    ana = MessageCopy(ANA, "D0ANA", "1.000001")
    store.record_copy(request.approval_id, ana, lease_owner=first.lease_owner)
    later = datetime(2026, 12, 6, 3, 1, tzinfo=UTC)
    resumed = store.begin_posting(request, now=later, lease_seconds=60)
    assert resumed.outcome is Begin.RESUME
    assert resumed.approval.copies == (ana,)
    assert TaskToken("tok-resume").approval_id() == request.approval_id


# --- the Slack app manifest ----------------------------------------------------------------------


def test_the_manifest_grants_what_direct_message_copies_call() -> None:
    """conversations.open needs im:write; conversations.history in an IM needs im:history
    (Slack's scope reference); chat.postMessage into an IM needs chat:write only."""
    with open(MANIFEST) as manifest:
        scopes = yaml.safe_load(manifest)["oauth_config"]["scopes"]["bot"]
    assert {"im:write", "im:history", "chat:write"} <= set(scopes)


# --- through the handlers, against the stand-in ---------------------------------------------


def start(aws: Aws, stack: ExampleStack, name: str, **approval: Any) -> tuple[str, dict]:
    """Start the example flow with these approval fields; its SQS message (not delivered)."""
    execution = start_execution(aws, stack, name, channel=CHANNEL, **approval)
    return execution, receive_for(aws, stack.queues.url, execution)


def has_buttons(message: dict) -> bool:
    return any(b.get("type") == "actions" for b in message.get("blocks") or [])


def every_copy(slack: SlackStandIn, approval_id: str, users: list[str]) -> list[dict]:
    """The channel message and each DM of this approval, as the stand-in holds them."""

    def ours(m: dict) -> bool:
        return (m.get("metadata") or {}).get("event_payload", {}).get("approval_id") == approval_id

    found = [m for m in slack.messages(CHANNEL) if ours(m)]
    for user in users:
        found += [m for m in slack.dms(user) if ours(m)]
    return found


def test_notify_both_a_click_in_a_dm_decides_and_every_copy_shows_it(
    aws: Aws, stack: ExampleStack, slack: SlackStandIn, notifier: ModuleType, interactions
) -> None:
    execution, message = start(
        aws, stack, "dm-both", notify="both", approvers=[ANA, ONCALL], requester=BO
    )
    assert invoke_notifier(notifier, stack, [message]) == {"batchItemFailures": []}
    approval_id = approval_id_for(json.loads(message["Body"])["TaskToken"])
    (posted,) = slack.messages(CHANNEL)
    # ANA by id, CY through the on-call group; BO asked, so BO gets none.
    assert [len(slack.dms(u)) for u in (ANA, BO, CY, EVE)] == [1, 0, 1, 0]
    (dm,) = slack.dms(CY)
    assert dm["blocks"] == posted["blocks"]
    assert dm["metadata"]["event_payload"] == {"approval_id": approval_id}

    im = slack.im_channel(CY)
    assert im is not None
    interactions.slack.click(CY, im, dm["ts"], Action.APPROVE)
    interactions.wait()
    assert wait_for_status(aws, execution)["status"] == "SUCCEEDED"
    copies = every_copy(slack, approval_id, [ANA, BO, CY, EVE])
    assert len(copies) == 3
    assert [has_buttons(m) for m in copies] == [False, False, False]  # 0 stale copies
    stored = ApprovalStore(aws.dynamodb, TABLE).get(approval_id)
    assert stored.status is Status.APPROVED
    assert len(stored.messages()) == 3


def test_notify_dm_posts_only_direct_messages_exactly_once_across_lost_answers_and_5xx(
    aws: Aws, stack: ExampleStack, slack: SlackStandIn, notifier: ModuleType
) -> None:
    _, message = start(aws, stack, "dm-faults", notify="dm", approvers=[ANA, CY, EVE])
    approval_id = approval_id_for(json.loads(message["Body"])["TaskToken"])
    # ANA's copy is posted but the answer is lost; the delivery fails and keeps its lease.
    slack.inject("chat.postMessage", Fault(status=503, after=True))
    failed = {"batchItemFailures": [{"itemIdentifier": message["MessageId"]}]}
    assert invoke_notifier(notifier, stack, [message]) == failed
    assert [len(slack.dms(u)) for u in (ANA, CY, EVE)] == [1, 0, 0]
    time.sleep(POST_LEASE_SECONDS + 0.1)
    # The redelivery finds ANA's copy in the IM; CY's first try is a plain 5xx (not posted).
    slack.inject("chat.postMessage", Fault(status=500))
    assert invoke_notifier(notifier, stack, [message]) == failed
    time.sleep(POST_LEASE_SECONDS + 0.1)
    assert invoke_notifier(notifier, stack, [message]) == {"batchItemFailures": []}
    assert invoke_notifier(notifier, stack, [message]) == {"batchItemFailures": []}  # duplicate

    assert slack.messages(CHANNEL) == []  # notify dm: nothing in the channel
    assert [len(slack.dms(u)) for u in (ANA, CY, EVE)] == [1, 1, 1]  # exactly one copy each
    assert slack.calls("conversations.history")  # it looked before posting again
    stored = ApprovalStore(aws.dynamodb, TABLE).get(approval_id)
    assert (stored.status, stored.channel, stored.ts) == (Status.PENDING, CHANNEL, None)
    assert {(c.channel, c.ts) for c in stored.copies} == {
        (slack.im_channel(u), slack.dms(u)[0]["ts"]) for u in (ANA, CY, EVE)
    }


def test_an_aborted_execution_redraws_every_dm_copy(
    aws: Aws,
    stack: ExampleStack,
    slack: SlackStandIn,
    notifier: ModuleType,
    expirations: ModuleType,
) -> None:
    execution, message = start(aws, stack, "dm-abort", notify="dm", approvers=[ANA, CY])
    assert invoke_notifier(notifier, stack, [message]) == {"batchItemFailures": []}
    approval_id = approval_id_for(json.loads(message["Body"])["TaskToken"])
    assert [has_buttons(m) for m in every_copy(slack, approval_id, [ANA, CY])] == [True, True]
    aws.sfn.stop_execution(executionArn=execution)
    event = {
        "version": "0",
        "id": "dm-abort-event",
        "detail-type": "Step Functions Execution Status Change",
        "source": "aws.states",
        "account": "123456789012",
        "time": "2026-12-06T03:00:00Z",
        "region": "us-east-1",
        "resources": [execution],
        "detail": {"executionArn": execution, "status": "ABORTED", "name": "dm-abort"},
    }
    context = LocalContext(function_name="expirations")
    assert expirations.handler(event, context) == {"expired": 1}
    assert [has_buttons(m) for m in every_copy(slack, approval_id, [ANA, CY])] == [False, False]


def test_a_vote_in_a_dm_is_answered_in_that_dm_and_shown_on_every_copy(
    aws: Aws, stack: ExampleStack, slack: SlackStandIn, notifier: ModuleType, interactions
) -> None:
    _, message = start(
        aws, stack, "dm-vote", notify="both", approvers=[ANA, CY, EVE], required_approvals=2
    )
    assert invoke_notifier(notifier, stack, [message]) == {"batchItemFailures": []}
    approval_id = approval_id_for(json.loads(message["Body"])["TaskToken"])
    (dm,) = slack.dms(EVE)
    im = slack.im_channel(EVE)
    assert im is not None
    interactions.slack.click(EVE, im, dm["ts"], Action.APPROVE)
    interactions.wait()
    answers = slack.ephemerals(user=EVE)
    assert answers
    assert {a["channel"] for a in answers} == {im}  # the answer is private, in her DM
    copies = every_copy(slack, approval_id, [ANA, CY, EVE])
    assert len(copies) == 4
    for copy in copies:  # each copy shows her vote and still offers the buttons
        assert "1 of 2 approvals" in json.dumps(copy["blocks"])
        assert has_buttons(copy)
