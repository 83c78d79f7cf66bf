"""Fault accounting: a fault counts when a call meets it; response URLs honour faults too."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.webhook import WebhookClient

from bot.local.slack_standin import Fault, SlackStandIn

TOKEN = "xoxb-faults"
CHANNEL = "C0FAULTS"


@pytest.fixture
def standin() -> Iterator[SlackStandIn]:
    # rate limits off: these tests post several messages into one channel within milliseconds
    with SlackStandIn(bot_token=TOKEN, rate_limits=False) as slack:
        slack.add_channel(CHANNEL, "faults", members=["U1"])
        slack.add_user("U1", "ana")
        yield slack


@pytest.fixture
def client(standin: SlackStandIn) -> WebClient:
    return WebClient(base_url=standin.url, token=TOKEN, timeout=0.3, retry_handlers=[])


def post(client: WebClient) -> str:
    try:
        client.chat_postMessage(channel=CHANNEL, text="x")
    except SlackApiError as error:
        return str(error.response["error"])
    except TimeoutError:
        return "timeout"
    return "ok"


def test_a_fault_counts_when_a_call_meets_it_not_when_it_is_injected(
    standin: SlackStandIn, client: WebClient
) -> None:
    standin.inject("chat.update", Fault(status=500))  # nobody calls chat.update
    standin.inject("chat.postMessage", Fault(status=429), times=2)
    assert standin.fired_faults() == []

    assert post(client) == "ratelimited"

    (fired,) = standin.fired_faults()
    assert (fired.method, fired.kind, fired.fault) == ("chat.postMessage", "429", Fault(429))
    assert fired.at == standin.calls("chat.postMessage")[0].at
    assert standin.pending_faults() == [
        ("chat.update", Fault(status=500), 1),
        ("chat.postMessage", Fault(status=429), 1),
    ]
    standin.clear_faults()
    assert post(client) == "ok"
    assert len(standin.fired_faults()) == 1  # clearing drops the pending, not the fired


def test_each_kind_of_fault_is_told_apart(standin: SlackStandIn, client: WebClient) -> None:
    faults = [
        Fault(status=429, retry_after=2),
        Fault(status=503),
        Fault(error="channel_not_found"),
        Fault(delay=0.6),  # longer than the client's 0.3 s timeout
        Fault(status=500, after=True),
    ]
    for fault in faults:
        standin.inject("chat.postMessage", fault)
    seen = []
    for _ in faults:
        try:
            seen.append(post(client))
        except OSError:  # the read timed out: urllib's own error
            seen.append("timeout")
    assert seen[:3] == ["ratelimited", "internal_error", "channel_not_found"]
    kinds = [f.kind for f in standin.fired_faults("chat.postMessage")]
    assert kinds == ["429", "5xx", "slack_error", "delay_timeout", "answer_lost"]
    assert standin.fired_faults("chat.update") == []
    # the delayed call (once it is answered) and the lost answer both took effect
    standin.wait_for_calls("chat.postMessage", count=len(faults))
    assert len(standin.messages(CHANNEL)) == 2


def test_a_response_url_honours_injected_faults(standin: SlackStandIn) -> None:
    url = standin.response_url(channel=CHANNEL, user="U1")
    standin.inject("response_url", Fault(status=429, retry_after=3))
    standin.inject("response_url", Fault(status=500, after=True))

    limited = WebhookClient(url, retry_handlers=[]).send(text="first")
    assert (limited.status_code, limited.body) == (429, "ratelimited")
    assert limited.headers["Retry-After"] in ("3", ["3"])
    assert standin.ephemerals(user="U1") == []  # the 429 did nothing

    lost = WebhookClient(url, retry_handlers=[]).send(text="second")
    assert lost.status_code == 500
    assert [e["text"] for e in standin.ephemerals(user="U1")] == ["second"]  # done, answer lost

    ok = WebhookClient(url, retry_handlers=[]).send(text="third")
    assert ok.status_code == 200
    kinds = [(f.method, f.kind) for f in standin.fired_faults()]
    assert kinds == [("response_url", "429"), ("response_url", "answer_lost")]
    assert [c.status for c in standin.calls("response_url")] == [429, 500, 200]
