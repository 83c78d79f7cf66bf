"""/approvals: what is pending, paginated under Slack's 50-block limit, with working buttons."""

from __future__ import annotations

import json
import uuid
from types import ModuleType

import pytest

from bot.blocks import HELP_TEXT
from bot.ids import Action
from bot.local.events import LocalContext, body_event
from bot.local.infra import ExampleStack
from bot.local.slack_standin import SlackStandIn
from bot.models import approval_id_for
from tests.functional.conftest import ANA, CHANNEL, CY, EVE, Aws, Interactions

ARN = "arn:aws:states:us-east-1:123456789012:execution:approval-flow:{}"


def post_requests(
    notifier: ModuleType, stack: ExampleStack, count: int, approvers: list[str] | None = None
) -> list[str]:
    """Post ``count`` requests through the notifier (synthetic SQS bodies), oldest first."""
    ids = []
    for start in range(0, count, 10):
        bodies = []
        for i in range(start, min(count, start + 10)):
            token = f"token-{uuid.uuid4()}"
            approval = {"title": f"Request {i:03d}"}
            if approvers is not None:
                approval["approvers"] = approvers
            payload = {"n": i, "approval": approval}
            bodies.append(
                json.dumps({"TaskToken": token, "Execution": ARN.format(i), "Payload": payload})
            )
            ids.append(approval_id_for(token))
        response = notifier.handler(body_event(bodies, queue_arn=stack.queues.arn), LocalContext())
        assert response == {"batchItemFailures": []}
    return ids


def ack_blocks(response) -> list[dict]:
    assert response.status == 200
    body = response.json()
    assert body["response_type"] == "ephemeral"
    return body["blocks"]


def listed_values(blocks: list[dict]) -> list[str]:
    return [
        b["elements"][0]["value"]
        for b in blocks
        if b["type"] == "actions" and b["elements"][0]["action_id"] == Action.APPROVE
    ]


def test_nothing_pending(aws: Aws, stack: ExampleStack, interactions: Interactions) -> None:
    blocks = ack_blocks(interactions.slack.command(ANA, CHANNEL))
    assert blocks[0]["text"]["text"] == "Pending approvals"
    assert "Nothing is waiting" in blocks[1]["text"]["text"]


def test_one_pending_has_the_same_working_buttons(
    aws: Aws,
    stack: ExampleStack,
    notifier: ModuleType,
    slack: SlackStandIn,
    interactions: Interactions,
) -> None:
    (approval_id,) = post_requests(notifier, stack, 1)
    blocks = ack_blocks(interactions.slack.command(ANA, CHANNEL))
    assert listed_values(blocks) == [approval_id]
    assert "*Request 000*" in blocks[1]["text"]["text"]
    # Clicking Approve in the list decides it like the channel message would (the synthetic
    # execution does not exist, so Step Functions refuses the token: recorded, never stuck).
    ephemeral = {"channel": CHANNEL, "message_ts": "1700000000.000200", "blocks": blocks}
    interactions.slack.click_ephemeral(ANA, ephemeral, Action.APPROVE)
    interactions.wait()
    message = slack.messages(CHANNEL)[0]
    assert all(b["type"] != "actions" for b in message["blocks"])


# Rate limits off: setting up 120 pending requests posts 120 messages into one channel, which
# Slack takes at about one a second (two minutes); the listing, not the posting, is tested here.
@pytest.mark.parametrize("rate_limits", [False], ids=["rate-limits-off"])
def test_120_pending_are_paginated_newest_first_with_more_buttons(
    aws: Aws,
    stack: ExampleStack,
    notifier: ModuleType,
    slack: SlackStandIn,
    interactions: Interactions,
) -> None:
    ids = post_requests(notifier, stack, 120)
    blocks = ack_blocks(interactions.slack.command(EVE, CHANNEL, "all"))
    seen = listed_values(blocks)
    pages = 1
    assert len(blocks) <= 50
    while any(b.get("block_id") == "approvals_more" for b in blocks):
        ephemeral = {"channel": CHANNEL, "message_ts": "1700000000.000300", "blocks": blocks}
        assert interactions.slack.click_ephemeral(EVE, ephemeral, Action.MORE_PENDING).status == 200
        interactions.wait()
        latest = slack.ephemerals(user=EVE)[-1]
        blocks = latest["blocks"]
        assert len(blocks) <= 50
        seen += listed_values(blocks)
        pages += 1
        assert pages <= 13
    assert seen == ids[::-1]  # every one, once, newest first
    assert pages == 12


def test_mine_lists_only_what_i_may_decide(
    aws: Aws, stack: ExampleStack, notifier: ModuleType, interactions: Interactions
) -> None:
    for_cy = post_requests(notifier, stack, 3, approvers=["S0ONCALL"])
    post_requests(notifier, stack, 2, approvers=[ANA])
    blocks = ack_blocks(interactions.slack.command(CY, CHANNEL, "mine"))
    assert blocks[0]["text"]["text"] == "Pending approvals you can decide"
    assert listed_values(blocks) == for_cy[::-1]
    nothing = ack_blocks(interactions.slack.command(EVE, CHANNEL, "mine"))
    assert "Nothing is waiting for you" in nothing[1]["text"]["text"]


def test_help_and_unknown_subcommands_show_the_usage(interactions: Interactions) -> None:
    for text in ("help", "frobnicate", "HELP me"):
        response = interactions.slack.command(ANA, CHANNEL, text)
        assert response.status == 200
        body = response.json()
        assert body["response_type"] == "ephemeral"
        assert "`/approvals mine`" in body["text"]


def _answer(interactions: Interactions, text: str) -> dict:
    response = interactions.slack.command(ANA, CHANNEL, text)
    assert response.status == 200, response
    body = response.json()
    assert body["response_type"] == "ephemeral"
    return body


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("bogus stuff", "`/approvals bogus stuff`: unknown subcommand"),
        ("history abc", "`/approvals history abc`: n must be a whole number from 1 to 40"),
        ("history " + "9" * 4301, "longer than 100 characters"),  # was HTTP 500: int()'s limit
        ("history " + "9" * 90, "n must be a whole number from 1 to 40"),
        ("history 0", "n must be a whole number from 1 to 40"),
        ("history 41", "n must be a whole number from 1 to 40"),
        ("history ²", "n must be a whole number from 1 to 40"),
        ("history 3 4", "`history` takes no more words here"),
        ("mine please", "`mine` takes no more words here"),
        ("x" * 5000, "longer than 100 characters"),
        ("<!channel> `x` *y*", "`/approvals &lt;!channel&gt; \u02cbx\u02cb \u2217y\u2217`"),
    ],
)
def test_input_that_is_not_a_command_says_so_then_shows_the_usage(
    interactions: Interactions, text: str, said: str
) -> None:
    body = _answer(interactions, text)
    assert body["text"].startswith(":thinking_face: I did not understand `/approvals ")
    assert said in body["text"]
    assert body["text"].endswith(HELP_TEXT)
    assert len(body["text"]) < len(HELP_TEXT) + 250  # the echo is bounded
    assert "<!channel>" not in body["text"]


@pytest.mark.parametrize(
    ("text", "heading"),
    [
        ("", "Pending approvals"),
        ("  ALL ", "Pending approvals"),
        ("list", "Pending approvals"),
        ("Mine", "Pending approvals you can decide"),
        ("history", "Approval history"),
        ("history 40", "Approval history"),
    ],
)
def test_every_command_of_the_usage_is_understood(
    interactions: Interactions, text: str, heading: str
) -> None:
    assert _answer(interactions, text)["blocks"][0]["text"]["text"] == heading


def test_listing_titles_with_asterisks_or_backticks_keep_one_bold_span(
    aws: Aws, stack: ExampleStack, notifier: ModuleType, interactions: Interactions
) -> None:
    token = f"token-{uuid.uuid4()}"
    payload = {"approval": {"title": "Deploy *prod* `v2` now"}}
    body = json.dumps({"TaskToken": token, "Execution": ARN.format("bold"), "Payload": payload})
    response = notifier.handler(body_event([body], queue_arn=stack.queues.arn), LocalContext())
    assert response == {"batchItemFailures": []}
    first_line = ack_blocks(interactions.slack.command(ANA, CHANNEL))[1]["text"]["text"]
    first_line = first_line.split("\n")[0]
    assert first_line == "*Deploy \u2217prod\u2217 \u02cbv2\u02cb now*"


def test_history_shows_refusal_reasons_with_their_mentions(
    aws: Aws,
    stack: ExampleStack,
    notifier: ModuleType,
    slack: SlackStandIn,
    interactions: Interactions,
) -> None:
    """The refusal reason is the bot's own mrkdwn: its mentions render, not ``<@U0ANA>``."""
    (approval_id,) = post_requests(notifier, stack, 1, approvers=[ANA, "S0ONCALL"])
    ephemeral = {"channel": CHANNEL, "message_ts": "1700000000.000400"}
    ephemeral["blocks"] = ack_blocks(interactions.slack.command(EVE, CHANNEL))
    interactions.slack.click_ephemeral(EVE, ephemeral, Action.APPROVE, value=approval_id)
    interactions.wait()
    blocks = _answer(interactions, "history 5")["blocks"]
    text = json.dumps(blocks)
    assert ">Only <@U0ANA>, <!subteam^S0ONCALL> can decide this request." in text
    assert "&lt;@U0ANA&gt;" not in text
