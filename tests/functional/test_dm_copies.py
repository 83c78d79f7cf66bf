"""approval.notify dm/both on moto's DynamoDB and the Slack stand-in, through the real handlers:
one direct-message copy per approver, exactly once across faults, and every copy (read from
the stand-in, not the bot's store) showing the final state."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
import yaml

from bot.models import ApprovalRequest, MessageCopy, Status, TaskToken, parse_envelope
from bot.models import parse_request as parse
from bot.store import ApprovalStore, Begin, StateConflict
from tests.functional.conftest import ANA, BO, CHANNEL, TABLE, Aws

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
