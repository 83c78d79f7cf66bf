"""The stand-in's direct messages and Home tabs, driven by real slack_sdk calls."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.local.slack_standin import SlackStandIn

TOKEN = "xoxb-dm-home"
CHANNEL = "C0APPROVALS"
ANA, BO, GONE = "U0ANA", "U0BO", "U0GONE"

HOME: dict[str, Any] = {
    "type": "home",
    "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "*Waiting for you*"}}],
}


@pytest.fixture
def standin() -> Iterator[SlackStandIn]:
    with SlackStandIn(bot_token=TOKEN) as slack:
        slack.add_channel(CHANNEL, "approvals", members=[ANA, BO])
        slack.add_user(ANA, "ana")
        slack.add_user(BO, "bo")
        slack.add_user(GONE, "gone", deleted=True)
        yield slack


@pytest.fixture
def client(standin: SlackStandIn) -> WebClient:
    return WebClient(base_url=standin.url, token=TOKEN, timeout=5)


def error_of(call: Any) -> str:
    with pytest.raises(SlackApiError) as info:
        call()
    return str(info.value.response["error"])


# --------------------------------------------------------------------------------------------
# Direct messages
# --------------------------------------------------------------------------------------------


def test_posting_to_a_user_id_lands_in_the_bots_dm_with_them(
    standin: SlackStandIn, client: WebClient
) -> None:
    assert standin.im_channel(ANA) is None
    assert standin.dms(ANA) == []
    posted = client.chat_postMessage(channel=ANA, text="please approve")
    dm = standin.im_channel(ANA)
    assert dm is not None
    assert dm.startswith("D")
    assert posted["channel"] == dm
    assert [m["text"] for m in standin.dms(ANA)] == ["please approve"]
    assert standin.messages(dm) == standin.dms(ANA)
    assert standin.dms(BO) == []  # nobody else's DM
    assert standin.messages(CHANNEL) == []

    again = client.chat_postMessage(channel=ANA, text="second")
    assert again["channel"] == dm  # one DM per user
    by_id = client.chat_postMessage(channel=dm, text="third")
    assert by_id["channel"] == dm
    assert [m["text"] for m in standin.dms(ANA)] == ["please approve", "second", "third"]


def test_conversations_open_gives_the_same_dm_and_says_whether_it_was_open(
    standin: SlackStandIn, client: WebClient
) -> None:
    first = client.conversations_open(users=BO)
    dm = first["channel"]["id"]
    assert dm.startswith("D")
    assert first["already_open"] is False
    second = client.conversations_open(users=[BO])
    assert second["channel"]["id"] == dm
    assert second["already_open"] is True
    full = client.conversations_open(users=BO, return_im=True)
    assert full["channel"]["is_im"] is True
    assert full["channel"]["user"] == BO
    assert client.chat_postMessage(channel=BO, text="hi")["channel"] == dm
    assert standin.im_channel(BO) == dm
    resumed = client.conversations_open(channel=dm, return_im=True)
    assert resumed["channel"]["id"] == dm


def test_conversations_open_errors_are_slacks(client: WebClient) -> None:
    # slack_sdk refuses this before sending; a raw call gets Slack's answer.
    assert error_of(lambda: client.api_call("conversations.open", json={})) == (
        "users_list_not_supplied"
    )
    assert error_of(lambda: client.conversations_open(users="U0NOBODY")) == "user_not_found"
    assert error_of(lambda: client.conversations_open(users=GONE)) == "user_disabled"
    assert (
        error_of(lambda: client.conversations_open(users=[ANA, BO]))
        == "method_not_supported_for_channel_type"
    )
    assert (
        error_of(lambda: client.conversations_open(channel=CHANNEL))
        == "method_not_supported_for_channel_type"
    )


def test_history_update_and_ephemerals_work_in_a_dm(
    standin: SlackStandIn, client: WebClient
) -> None:
    posted = client.chat_postMessage(
        channel=ANA,
        text="request",
        metadata={"event_type": "approval_request", "event_payload": {"approval_id": "a1"}},
    )
    dm, ts = posted["channel"], posted["ts"]
    history = client.conversations_history(channel=dm, include_all_metadata=True)
    assert [m["ts"] for m in history["messages"]] == [ts]
    assert history["messages"][0]["metadata"]["event_payload"] == {"approval_id": "a1"}

    client.chat_update(channel=dm, ts=ts, text="approved")
    assert standin.message(dm, ts)["text"] == "approved"

    client.chat_postEphemeral(channel=dm, user=ANA, text="done")
    assert standin.ephemerals(user=ANA)[0]["channel"] == dm
    # Only the two members of the DM are in it.
    assert error_of(lambda: client.chat_postEphemeral(channel=dm, user=BO, text="x")) == (
        "user_not_in_channel"
    )


def test_dms_are_listed_by_users_conversations_only_when_asked(
    standin: SlackStandIn, client: WebClient
) -> None:
    client.chat_postMessage(channel=ANA, text="hi")
    default = client.users_conversations(user=ANA)
    assert [c["id"] for c in default["channels"]] == [CHANNEL]
    with_ims = client.users_conversations(user=ANA, types="public_channel,im")
    kinds = {c["id"]: c["is_im"] for c in with_ims["channels"]}
    assert kinds == {CHANNEL: False, standin.im_channel(ANA): True}


# --------------------------------------------------------------------------------------------
# Home tabs
# --------------------------------------------------------------------------------------------


def test_views_publish_keeps_each_users_home_tab(standin: SlackStandIn, client: WebClient) -> None:
    assert standin.home_view(ANA) is None
    first = client.views_publish(user_id=ANA, view=HOME)["view"]
    assert first["type"] == "home"
    assert first["id"].startswith("V")
    assert standin.home_view(ANA)["blocks"] == HOME["blocks"]  # type: ignore[index]
    assert standin.home_view(BO) is None

    newer = {**HOME, "blocks": [*HOME["blocks"], {"type": "divider"}]}
    second = client.views_publish(user_id=ANA, view=newer, hash=first["hash"])["view"]
    assert second["id"] == first["id"]  # the same Home view, republished
    assert second["hash"] != first["hash"]
    assert len(standin.home_view(ANA)["blocks"]) == 2  # type: ignore[index]
    # Publishing over a view that changed since: Slack's hash_conflict, nothing changes.
    stale = error_of(lambda: client.views_publish(user_id=ANA, view=HOME, hash=first["hash"]))
    assert stale == "hash_conflict"
    assert len(standin.home_view(ANA)["blocks"]) == 2  # type: ignore[index]


def test_views_publish_is_validated_like_slack(standin: SlackStandIn, client: WebClient) -> None:
    modal = {
        "type": "modal",
        "title": {"type": "plain_text", "text": "x"},
        "blocks": HOME["blocks"],
    }
    with pytest.raises(SlackApiError) as info:
        client.views_publish(user_id=ANA, view=modal)
    assert info.value.response["error"] == "invalid_arguments"
    too_many = {"type": "home", "blocks": [{"type": "divider"}] * 101}
    with pytest.raises(SlackApiError) as info:
        client.views_publish(user_id=ANA, view=too_many)
    assert info.value.response["error"] == "invalid_arguments"
    assert client.views_publish(user_id=ANA, view={**too_many, "blocks": too_many["blocks"][:100]})
    assert error_of(lambda: client.views_publish(user_id="U0NOBODY", view=HOME)) == "not_found"


def test_subscribers_hear_about_dms_and_home_tabs(standin: SlackStandIn, client: WebClient) -> None:
    heard: list[str] = []
    standin.subscribe(lambda method, _params: heard.append(method))
    client.conversations_open(users=ANA)
    client.chat_postMessage(channel=ANA, text="hi")
    client.views_publish(user_id=ANA, view=HOME)
    assert heard == ["conversations.open", "chat.postMessage", "views.publish"]
