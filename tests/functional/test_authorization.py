"""Who may see and who may decide, end to end: signed requests through the real handlers,
moto and the Slack stand-in (its recorded calls count what each answer cost)."""

from __future__ import annotations

import json
import uuid
from types import ModuleType
from typing import Any, Final

import pytest

from bot.ids import Action, Modal
from bot.local.events import LocalContext, body_event
from bot.local.infra import ExampleStack
from bot.local.slack_standin import Fault, SlackStandIn
from bot.models import Status, approval_id_for
from bot.store import ApprovalStore
from tests.functional.conftest import (
    ANA,
    BO,
    CHANNEL,
    CY,
    EVE,
    ONCALL,
    TABLE,
    Aws,
    Interactions,
    request_approval,
)

DAN = "U0DAN"  # a workspace member in no channel at all
ARN = "arn:aws:states:us-east-1:123456789012:execution:approval-flow:{}"
DIRECTORY = (
    "users.info",
    "users.conversations",
    "usergroups.users.list",
    "users.lookupByEmail",
    "conversations.members",
)
# The bound the code states (bot.service.listing): users.info (mine) + users.conversations
# pages + user groups asked, per listing.
MAX_SLACK_CALLS_PER_LISTING = 1 + 3 + 5


@pytest.fixture
def default_approvers() -> str:
    return f"{ANA},{ONCALL}"


@pytest.fixture
def env(env: None, monkeypatch: pytest.MonkeyPatch, default_approvers: str) -> None:
    """The functional environment, with DEFAULT_APPROVERS as the test wants it."""
    if default_approvers:
        monkeypatch.setenv("DEFAULT_APPROVERS", default_approvers)
    else:
        monkeypatch.delenv("DEFAULT_APPROVERS")


@pytest.fixture
def team(slack: SlackStandIn) -> SlackStandIn:
    slack.add_user(DAN, "dan", real_name="Dan Elsewhere", email="dan@example.com")
    return slack


def post(notifier: ModuleType, stack: ExampleStack, approvals: list[dict[str, Any]]) -> list[str]:
    """Post requests through the notifier (synthetic SQS bodies), oldest first; their ids."""
    ids = []
    for start in range(0, len(approvals), 10):
        bodies = []
        for index, approval in enumerate(approvals[start : start + 10], start):
            token = f"token-{uuid.uuid4()}"
            payload = {"n": index, "approval": {"title": f"Request {index:03d}", **approval}}
            bodies.append(
                json.dumps({"TaskToken": token, "Execution": ARN.format(index), "Payload": payload})
            )
            ids.append(approval_id_for(token))
        event = body_event(bodies, queue_arn=stack.queues.arn)
        assert notifier.handler(event, LocalContext()) == {"batchItemFailures": []}
    return ids


def listed(blocks: list[dict]) -> list[str]:
    return [
        b["elements"][-1]["value"]
        for b in blocks
        if b["type"] == "actions" and b["elements"][-1]["action_id"] == Action.REJECT
    ]


def every_page(interactions: Interactions, user: str, text: str = "") -> list[str]:
    """What ``/approvals [text]`` and its "Show more" pages list for ``user``."""
    response = interactions.slack.command(user, CHANNEL, text)
    assert response.status == 200
    blocks = response.json()["blocks"]
    seen = listed(blocks)
    for _ in range(20):
        if not any(b.get("block_id") == "approvals_more" for b in blocks):
            return seen
        ephemeral = {"channel": CHANNEL, "message_ts": "1700000000.000300", "blocks": blocks}
        assert (
            interactions.slack.click_ephemeral(user, ephemeral, Action.MORE_PENDING).status == 200
        )
        interactions.wait()
        blocks = interactions.slack.standin.ephemerals(user=user)[-1]["blocks"]
        seen += listed(blocks)
    raise AssertionError("more than 20 pages")


def stored(aws: Aws, approval_id: str):
    return ApprovalStore(aws.dynamodb, TABLE).get(approval_id)


def told(slack: SlackStandIn, user: str) -> list[str]:
    return [e["text"] for e in slack.ephemerals(user=user)]


# --- 1. listings show a request only to who may see its channel or decide it ------------------


def test_listings_show_a_request_only_to_who_may_see_its_channel_or_decide_it(
    notifier: ModuleType, stack: ExampleStack, team: SlackStandIn, interactions: Interactions
) -> None:
    team.add_channel("G0SECRET", "secret", members=[ANA, BO])  # private (G…)
    team.add_channel("C0HUSH", "hush", members=[ANA], private=True)  # private C…
    public = post(notifier, stack, [{}] * 3)  # CHANNEL: ANA, BO, CY, EVE
    secret = post(notifier, stack, [{"channel": "G0SECRET", "approvers": [CY]}] * 6)
    hush = post(notifier, stack, [{"channel": "C0HUSH", "approvers": [ANA]}] * 6)

    newest_first = (public + secret + hush)[::-1]
    assert every_page(interactions, ANA) == newest_first  # a member of every channel
    # CY is in no private channel, but may decide the G0SECRET requests.
    assert every_page(interactions, CY) == (public + secret)[::-1]
    assert every_page(interactions, EVE) == public[::-1]  # across every "Show more" page
    assert every_page(interactions, EVE, "mine") == []
    assert every_page(interactions, DAN) == []  # not in the public channel either
    # The public requests fall to DEFAULT_APPROVERS (ANA and @oncall, which holds CY).
    assert every_page(interactions, CY, "mine") == (public + secret)[::-1]


def test_a_listing_fails_closed_when_slack_does_not_answer(
    notifier: ModuleType, stack: ExampleStack, team: SlackStandIn, interactions: Interactions
) -> None:
    team.add_channel("G0SECRET", "secret", members=[ANA, BO])
    post(notifier, stack, [{"channel": "G0SECRET"}])
    team.inject("users.conversations", Fault(status=500), times=3)
    response = interactions.slack.command(EVE, CHANNEL)
    assert response.status == 200
    assert "Slack did not answer" in response.json()["text"]
    assert "Request 000" not in response.body


# --- 6. membership costs O(the reader), not O(the channel) ---------------------------------------


def directory_calls(slack: SlackStandIn) -> dict[str, int]:
    return {m: len(slack.calls(m)) for m in DIRECTORY if slack.calls(m)}


@pytest.mark.parametrize("default_approvers", [""])  # anyone in the channel may decide
def test_listing_30_channels_of_5000_members_costs_a_bounded_few_slack_calls(
    aws: Aws,
    notifier: ModuleType,
    stack: ExampleStack,
    team: SlackStandIn,
    interactions: Interactions,
) -> None:
    """The issue's case: 30 channels of 5,000 members made ``/approvals mine`` call
    conversations.members 180 times inside Slack's 3 s. Now the reader's own channels are
    read once per command, whatever the size of the channels."""
    crowd = [f"U1{i:06d}" for i in range(4_999)]
    channels = [f"C0BIG{i:02d}" for i in range(30)]
    for channel in channels:
        team.add_channel(channel, channel.lower(), members=[*crowd, CY])
    ids = post(notifier, stack, [{"channel": c} for c in channels])

    for text in ("mine", "", "all"):
        team.reset_calls()
        response = interactions.slack.command(CY, CHANNEL, text)
        assert response.status == 200
        page = listed(response.json()["blocks"])
        assert len(page) == 10
        assert set(page) <= set(ids)
        calls = directory_calls(team)
        assert "conversations.members" not in calls
        # Read once (the next commands may reuse it: listings may use recent answers).
        assert calls.get("users.conversations", 0) == (1 if text == "mine" else 0)
        assert sum(calls.values()) <= MAX_SLACK_CALLS_PER_LISTING, calls
        assert len(team.calls()) == sum(calls.values())  # nothing else (no chat.update)
    # An outsider's listing costs the same, and shows none of them.
    team.reset_calls()
    assert listed(interactions.slack.command(DAN, CHANNEL).json()["blocks"]) == []
    assert sum(directory_calls(team).values()) <= MAX_SLACK_CALLS_PER_LISTING


@pytest.mark.parametrize("default_approvers", [""])  # anyone in the channel may decide
def test_a_member_of_a_channel_past_20000_members_may_decide(
    aws: Aws,
    notifier: ModuleType,
    stack: ExampleStack,
    team: SlackStandIn,
    interactions: Interactions,
) -> None:
    """conversations.members stopped after 20 pages of 1,000: real members past them were
    refused. The clicker's own channels (users.conversations) know them all."""
    team.add_channel("C0HUGE", "everyone", members=[f"U2{i:06d}" for i in range(24_000)] + [BO])
    (approval_id,) = post(notifier, stack, [{"channel": "C0HUGE"}])
    ts = stored(aws, approval_id).ts
    team.reset_calls()
    interactions.slack.click(BO, "C0HUGE", ts, Action.APPROVE)
    interactions.wait()
    # The synthetic execution does not exist: Step Functions refuses the token, and the
    # decision ends EXPIRED — but BO was let through, which is what this is about.
    assert stored(aws, approval_id).decision.actor.id == BO
    assert "Only members" not in " ".join(told(team, BO))
    calls = directory_calls(team)
    assert calls == {"users.info": 1, "users.conversations": 1}  # the bound per decision


# --- 7. decisions authorize with fresh answers --------------------------------------------------


def open_reject_modal(interactions: Interactions, user: str, channel: str, ts: str) -> None:
    """A first click whose checks (users.info, groups, channels) a warm function remembers."""
    interactions.slack.click(user, channel, ts, Action.REJECT)
    assert interactions.slack.open_views(Modal.REJECT, user_id=user)


STALE: Final = {  # what changes in Slack between two clicks, and what the second is told
    "removed from the group": (
        [ONCALL],
        CY,
        lambda slack: slack.add_usergroup(ONCALL, "oncall", []),
        "Only <!subteam^S0ONCALL> can decide",
    ),
    "deactivated": (
        [ANA],
        ANA,
        lambda slack: slack.add_user(ANA, "ana", email="ana@example.com", deleted=True),
        "Only active human users",
    ),
    "removed from the channel": (  # no approvers (and no defaults): the channel's members
        None,
        BO,
        lambda slack: slack.add_channel(CHANNEL, "approvals", members=[ANA, CY, EVE]),
        f"Only members of <#{CHANNEL}> can decide",
    ),
}


@pytest.mark.parametrize("default_approvers", [""])
@pytest.mark.parametrize("case", list(STALE))
def test_a_change_in_slack_applies_to_the_next_click(
    aws: Aws,
    stack: ExampleStack,
    notifier: ModuleType,
    team: SlackStandIn,
    interactions: Interactions,
    case: str,
) -> None:
    approvers, clicker, change, refusal = STALE[case]
    extra = {"approvers": approvers} if approvers else {}
    posted = request_approval(aws, stack, notifier, team, "stale", **extra)
    open_reject_modal(interactions, clicker, CHANNEL, posted.ts)  # allowed, and remembered
    change(team)
    interactions.slack.click(clicker, CHANNEL, posted.ts, Action.APPROVE)
    interactions.wait()
    assert refusal in told(team, clicker)[-1]
    assert stored(aws, posted.approval_id).status is Status.PENDING


# --- 2. the requester never approves their own request -----------------------------------------


def test_an_email_requester_cannot_approve_when_slack_hides_their_email(
    aws: Aws,
    stack: ExampleStack,
    notifier: ModuleType,
    team: SlackStandIn,
    interactions: Interactions,
) -> None:
    """users.info leaves the e-mail out (no users:read.email, or workspace settings): the
    requester's id, resolved when the request was posted, still tells who asked."""
    team.add_user(BO, "bo", real_name="Bo Requester", email="bo@example.com", email_visible=False)
    posted = request_approval(
        aws, stack, notifier, team, "hidden-email", requester="bo@example.com", approvers=[ANA, BO]
    )
    interactions.slack.click(BO, CHANNEL, posted.ts, Action.APPROVE)
    interactions.wait()
    assert "You requested this approval" in told(team, BO)[-1]
    interactions.slack.click(BO, CHANNEL, posted.ts, Action.REJECT)  # no modal either
    assert not interactions.slack.open_views(Modal.REJECT, user_id=BO)
    assert "You requested this approval" in told(team, BO)[-1]
    assert stored(aws, posted.approval_id).status is Status.PENDING
    assert aws.sfn.describe_execution(executionArn=posted.execution_arn)["status"] == "RUNNING"
    assert "Requested by <@U0BO>" in json.dumps(team.message(CHANNEL, posted.ts)["blocks"])
