"""Block Kit in the stand-in: messages, ephemerals, modals and Home views are parsed into
slack_sdk's models and held to their validators and Slack's documented limits, and refused as
Slack refuses them (``invalid_blocks`` / ``invalid_arguments`` with JSON-pointer errors)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.local.slack_standin import SlackStandIn

TOKEN = "xoxb-blockkit"
CHANNEL = "C0BLOCKS"
TITLE = {"type": "plain_text", "text": "Approve"}


def button(**fields: Any) -> dict[str, Any]:
    return {
        "type": "button",
        "action_id": "a",
        "text": {"type": "plain_text", "text": "A"},
        **fields,
    }


def option(i: int) -> dict[str, Any]:
    return {"text": {"type": "plain_text", "text": f"o{i}"}, "value": str(i)}


def actions(*elements: dict[str, Any]) -> dict[str, Any]:
    return {"type": "actions", "elements": list(elements)}


@pytest.fixture
def standin() -> Iterator[SlackStandIn]:
    # rate limits off: one post a case into one channel, faster than Slack's one a second
    with SlackStandIn(bot_token=TOKEN, rate_limits=False) as slack:
        slack.add_channel(CHANNEL, "blocks", members=["U1"])
        slack.add_user("U1", "ana")
        yield slack


@pytest.fixture
def client(standin: SlackStandIn) -> WebClient:
    return WebClient(base_url=standin.url, token=TOKEN, timeout=5)


@pytest.mark.parametrize(
    ("blocks", "error"),
    [
        # checked by slack_sdk's models (the stand-in's own checker knew none of these)
        (
            [actions({"type": "buttn", "action_id": "b"})],
            "unsupported type 'buttn' [json-pointer:/blocks/0/elements/0/type]",
        ),
        (
            [
                actions(
                    {
                        "type": "static_select",
                        "action_id": "s",
                        "placeholder": {"type": "plain_text", "text": "pick"},
                        "options": [option(i) for i in range(101)],
                    }
                )
            ],
            "no more than 100 items allowed [json-pointer:/blocks/0/elements/0/options]",
        ),
        (
            [actions({"type": "datepicker", "action_id": "d", "initial_date": "5/12/2026"})],
            "must be in format 'YYYY-MM-DD' [json-pointer:/blocks/0/elements/0/initial_date]",
        ),
        # Slack's documented limits
        (
            [{"type": "header", "text": {"type": "plain_text", "text": "h" * 151}}],
            "must be less than 151 characters [json-pointer:/blocks/0/text/text]",
        ),
        (
            [{"type": "section", "fields": [{"type": "mrkdwn", "text": "f"}] * 11}],
            "no more than 10 items allowed [json-pointer:/blocks/0/fields]",
        ),
        (
            [{"type": "section", "fields": [{"type": "mrkdwn", "text": "f" * 2001}]}],
            "must be less than 2001 characters [json-pointer:/blocks/0/fields/0/text]",
        ),
        (
            [actions(button(value="v" * 2001))],
            "must be less than 2001 characters [json-pointer:/blocks/0/elements/0/value]",
        ),
        (
            [actions(button(action_id="a" * 256))],
            "must be less than 256 characters [json-pointer:/blocks/0/elements/0/action_id]",
        ),
        (
            [{"type": "divider", "block_id": "b" * 256}],
            "must be less than 256 characters [json-pointer:/blocks/0/block_id]",
        ),
        # Slack's rules the models do not check
        (
            [{"type": "header", "text": {"type": "mrkdwn", "text": "h"}}],
            "must be one of plain_text [json-pointer:/blocks/0/text/type]",
        ),
        (
            [{"type": "section", "text": {"type": "mrkdwn", "text": ""}}],
            "must be more than 0 characters [json-pointer:/blocks/0/text/text]",
        ),
        (
            [actions(button(), button())],
            "duplicate action_id 'a' [json-pointer:/blocks/0/elements/1/action_id]",
        ),
        (
            [{"type": "section", "text": {"type": "mrkdwn", "text": "x"}}] * 51,
            "no more than 50 items allowed [json-pointer:/blocks]",
        ),
    ],
    ids=[
        "unknown-element",
        "select-101-options",
        "datepicker-date-format",
        "header-151",
        "section-11-fields",
        "field-2001",
        "button-value-2001",
        "action-id-256",
        "block-id-256",
        "header-mrkdwn",
        "empty-text",
        "duplicate-action-id",
        "51-blocks",
    ],
)
@pytest.mark.parametrize("method", ["chat.postMessage", "chat.postEphemeral"])
def test_message_and_ephemeral_blocks_are_refused_as_slack_does(
    standin: SlackStandIn, client: WebClient, method: str, blocks: list[Any], error: str
) -> None:
    args: dict[str, Any] = {"channel": CHANNEL, "text": "fallback", "blocks": blocks}
    if method == "chat.postEphemeral":
        args["user"] = "U1"
    with pytest.raises(SlackApiError) as refused:
        client.api_call(method, json=args)
    assert refused.value.response["error"] == "invalid_blocks"
    assert refused.value.response["errors"] == [error]
    assert standin.messages(CHANNEL) == []
    assert standin.ephemerals() == []


def test_the_fallback_text_is_at_most_40000_characters(client: WebClient) -> None:
    assert client.chat_postMessage(channel=CHANNEL, text="x" * 40_000)["ok"] is True
    with pytest.raises(SlackApiError) as too_long:
        client.chat_postMessage(channel=CHANNEL, text="x" * 40_001)
    assert too_long.value.response["error"] == "msg_too_long"


def modal(**fields: Any) -> dict[str, Any]:
    return {"type": "modal", "title": TITLE, "blocks": [{"type": "divider"}], **fields}


MODAL_CASES = {
    "title-25": (modal(title={"type": "plain_text", "text": "t" * 25}), "/view/title/text"),
    "private-metadata-3001": (modal(private_metadata="m" * 3001), "/view/private_metadata"),
    "callback-id-256": (modal(callback_id="c" * 256), "/view/callback_id"),
    "101-blocks": (modal(blocks=[{"type": "divider"}] * 101), "/view/blocks"),
    "mrkdwn-title": (modal(title={"type": "mrkdwn", "text": "t"}), "/view/title/type"),
    "home-in-views-open": ({"type": "home", "blocks": [{"type": "divider"}]}, "/view/type"),
}
MODAL_MESSAGES = {
    "title-25": "must be less than 25 characters",
    "private-metadata-3001": "must be less than 3001 characters",
    "callback-id-256": "must be less than 256 characters",
    "101-blocks": "no more than 100 items allowed",
    "mrkdwn-title": "must be one of plain_text",
    "home-in-views-open": "must be one of modal",
}


@pytest.mark.parametrize("case", list(MODAL_CASES))
def test_modals_are_refused_as_slack_does(client: WebClient, case: str) -> None:
    view, pointer = MODAL_CASES[case]
    message = f"{MODAL_MESSAGES[case]} [json-pointer:{pointer}]"
    with pytest.raises(SlackApiError) as refused:
        client.views_open(trigger_id="1.2.3", view=view)
    assert refused.value.response["error"] == "invalid_arguments"
    assert refused.value.response["response_metadata"]["messages"] == [f"[ERROR] {message}"]


def test_a_home_view_takes_100_blocks_and_no_more(client: WebClient) -> None:
    opened = client.views_open(trigger_id="1.2.4", view=modal(external_id="home-1"))["view"]
    home = {"type": "home", "blocks": [{"type": "divider"}] * 100}
    assert client.views_update(view_id=opened["id"], view=home)["ok"] is True
    with pytest.raises(SlackApiError) as refused:
        client.views_update(view_id=opened["id"], view={**home, "blocks": home["blocks"] * 2})
    assert refused.value.response["response_metadata"]["messages"] == [
        "[ERROR] no more than 100 items allowed [json-pointer:/view/blocks]"
    ]
