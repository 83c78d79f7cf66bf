"""Slack's rate limits in the stand-in: tiers per method and workspace, one message a second per
channel, response URLs; 429 + Retry-After as Slack answers, and slack_sdk's retry handler copes.

The limits run on an injected clock: the tests move time, they never measure it."""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.webhook import WebhookClient

from bot.blocks import Message
from bot.local.slack_standin import SlackStandIn
from bot.local.slack_standin.methods import SERVED_METHODS
from bot.local.slack_standin.ratelimits import CHANNEL_BURST, METHOD_TIERS, TIER_2, TIER_3
from bot.slack_gateway import SlackGateway
from bot.wiring import slack_client

TOKEN = "xoxb-limits"
CHANNEL, OTHER = "C0LIMITS", "C0OTHER"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def standin(clock: Clock) -> Iterator[SlackStandIn]:
    with SlackStandIn(bot_token=TOKEN, clock=clock) as slack:
        slack.add_channel(CHANNEL, "limits", members=["U1"])
        slack.add_channel(OTHER, "other", members=["U1"])
        slack.add_user("U1", "ana")
        slack.add_usergroup("S1", "group", ["U1"])
        yield slack


@pytest.fixture
def client(standin: SlackStandIn) -> WebClient:
    return WebClient(base_url=standin.url, token=TOKEN, timeout=5, retry_handlers=[])


def post(client: WebClient, channel: str = CHANNEL) -> tuple[int, str, str | None]:
    """(HTTP status, "ok" or the error, Retry-After)."""
    try:
        response = client.chat_postMessage(channel=channel, text="x")
    except SlackApiError as error:
        headers = error.response.headers
        return error.response.status_code, error.response["error"], headers.get("Retry-After")
    return response.status_code, "ok", None


def test_every_served_method_has_its_tier() -> None:
    assert set(METHOD_TIERS) == SERVED_METHODS
    assert METHOD_TIERS["chat.update"] == TIER_3
    assert METHOD_TIERS["usergroups.users.list"] == TIER_2


def test_post_message_allows_a_short_burst_then_one_a_second_per_channel(
    standin: SlackStandIn, client: WebClient, clock: Clock
) -> None:
    assert [post(client) for _ in range(CHANNEL_BURST)] == [(200, "ok", None)] * CHANNEL_BURST
    assert post(client) == (429, "ratelimited", "1")
    assert post(client, OTHER) == (200, "ok", None)  # another channel has its own second

    clock.now += 1.0
    assert post(client) == (200, "ok", None)
    assert post(client)[0] == 429
    clock.now += 0.5
    assert post(client) == (429, "ratelimited", "1")  # half a message is not a message

    assert len(standin.messages(CHANNEL)) == CHANNEL_BURST + 1  # a 429 posts nothing
    limited = [c for c in standin.calls("chat.postMessage") if c.status == 429]
    assert [c.response for c in limited] == [{"ok": False, "error": "ratelimited"}] * 3
    assert [(h.method, h.key) for h in standin.rate_limit_hits()] == [
        ("chat.postMessage", CHANNEL)
    ] * 3


def test_a_tier_is_a_minutes_quota_per_method_and_workspace(
    standin: SlackStandIn, client: WebClient, clock: Clock
) -> None:
    for _ in range(20):  # Tier 2: 20 a minute
        client.usergroups_users_list(usergroup="S1")
    with pytest.raises(SlackApiError) as limited:
        client.usergroups_users_list(usergroup="S1")
    assert limited.value.response.status_code == 429
    assert limited.value.response.headers["Retry-After"] == "3"  # 60 s / 20
    assert client.users_info(user="U1")["ok"] is True  # another method, another quota

    clock.now += 3.0
    assert client.usergroups_users_list(usergroup="S1")["ok"] is True


def test_chat_post_message_has_a_workspace_wide_limit_too(
    standin: SlackStandIn, client: WebClient
) -> None:
    channels = [f"C{i:04d}" for i in range(100)]
    for channel in channels:
        standin.add_channel(channel, channel.lower())
    answers = [post(client, channel)[0] for channel in channels for _ in range(CHANNEL_BURST)]
    assert answers == [200] * 300  # "several hundred a minute", in one burst
    assert post(client, OTHER)[0] == 429  # a channel never posted to is still over it


def test_response_urls_are_limited_like_incoming_webhooks_per_channel(
    standin: SlackStandIn, clock: Clock
) -> None:
    urls = [standin.response_url(channel=CHANNEL, user="U1") for _ in range(CHANNEL_BURST + 1)]
    statuses = [WebhookClient(url, retry_handlers=[]).send(text="hi").status_code for url in urls]
    assert statuses == [200] * CHANNEL_BURST + [429]
    other = standin.response_url(channel=OTHER, user="U1")
    assert WebhookClient(other).send(text="hi").status_code == 200
    clock.now += 1.0
    assert WebhookClient(urls[-1]).send(text="hi").status_code == 200
    assert len(standin.ephemerals(user="U1")) == CHANNEL_BURST + 2


def test_the_bots_slack_client_waits_out_a_429_and_gets_through() -> None:
    """The bot's own WebClient (``bot.wiring.slack_client``: slack_sdk's
    RateLimitErrorRetryHandler) through its gateway, on a real clock: slack_sdk sleeps
    ``Retry-After`` (1 s) before it tries again."""
    with SlackStandIn(bot_token=TOKEN) as slack:
        slack.add_channel(CHANNEL, "limits")
        settings = SimpleNamespace(
            bot_token=lambda: TOKEN, slack_timeout_seconds=5, slack_api_url=slack.url
        )
        gateway = SlackGateway(slack_client(settings))  # type: ignore[arg-type]
        for i in range(CHANNEL_BURST + 1):
            gateway.post(CHANNEL, Message(text=str(i), blocks=[]), approval_id=f"apv-{i}")
        assert len(slack.messages(CHANNEL)) == CHANNEL_BURST + 1
        assert [c.status for c in slack.calls()].count(429) >= 1
        assert len(slack.rate_limit_hits("chat.postMessage")) >= 1
        assert slack.fired_faults() == []  # Slack's own limit, not an injected fault


def test_rate_limits_can_be_turned_off(client: WebClient) -> None:
    with SlackStandIn(bot_token=TOKEN, rate_limits=False) as slack:
        slack.add_channel(CHANNEL, "limits")
        fast = WebClient(base_url=slack.url, token=TOKEN, timeout=5, retry_handlers=[])
        assert {post(fast)[0] for _ in range(CHANNEL_BURST * 3)} == {200}
        assert slack.rate_limit_hits() == []
