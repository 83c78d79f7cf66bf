"""The Slack Web API stand-in and the signed-request builders, driven by real slack_sdk and Bolt."""

from __future__ import annotations

import json
import re
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace
from typing import Any

import pytest
from slack_bolt import App
from slack_bolt.adapter.aws_lambda import SlackRequestHandler
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry import builtin_handlers
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler
from slack_sdk.signature import SignatureVerifier

from bot.local.slack_requests import (
    api_gateway_v2_event,
    block_actions_body,
    post_signed,
    sign,
    signed_form_headers,
    slash_command_body,
    view_submission_body,
)
from bot.local.slack_standin import Fault, RecordedCall, SlackStandIn

TOKEN = "xoxb-test-token"
SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
CHANNEL = "C0APPROVALS"
TS_PATTERN = re.compile(r"^\d{10}\.\d{6}$")

MODAL = {
    "type": "modal",
    "callback_id": "reject_reason",
    "title": {"type": "plain_text", "text": "Reject request"},
    "submit": {"type": "plain_text", "text": "Reject"},
    "close": {"type": "plain_text", "text": "Cancel"},
    "private_metadata": "apv-1",
    "blocks": [
        {
            "type": "input",
            "block_id": "reason",
            "label": {"type": "plain_text", "text": "Why?"},
            "element": {"type": "plain_text_input", "action_id": "reason_input"},
        }
    ],
}


def section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


@pytest.fixture
def rate_limits() -> bool:
    """Slack's rate limits are on; a test that posts faster on purpose says so with
    ``@NO_RATE_LIMITS`` (pytest lets a parametrization override this fixture)."""
    return True


# Off for tests that post several messages into one channel within milliseconds to check what
# the method answers (Slack allows about one a second): the limits are tested on their own.
NO_RATE_LIMITS = pytest.mark.parametrize("rate_limits", [False], ids=["rate-limits-off"])


@pytest.fixture
def standin(rate_limits: bool) -> Iterator[SlackStandIn]:
    with SlackStandIn(bot_token=TOKEN, rate_limits=rate_limits) as slack:
        slack.add_channel(CHANNEL, "approvals", members=["U1", "U2", "U3"])
        slack.add_user("U1", "ana", real_name="Ana Lima", email="ana@example.com", tz="UTC")
        slack.add_user("U2", "bo")
        slack.add_user("U9", "outsider")
        yield slack


@pytest.fixture
def client(standin: SlackStandIn) -> WebClient:
    return WebClient(base_url=standin.url, token=TOKEN, timeout=5)


def slack_error(excinfo: pytest.ExceptionInfo[SlackApiError]) -> str:
    return str(excinfo.value.response["error"])


def raw_call(
    standin: SlackStandIn,
    method: str,
    *,
    query: dict[str, str] | None = None,
    body: bytes | None = None,
    content_type: str | None = None,
    token: str | None = TOKEN,
) -> tuple[int, dict[str, Any]]:
    """A Web API call without slack_sdk: GET with a query string, or POST with a raw body."""
    url = standin.url + method
    if query:
        url += "?" + urllib.parse.urlencode(query)
    request = urllib.request.Request(url, data=body, method="POST" if body else "GET")  # noqa: S310
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    if content_type:
        request.add_header("Content-Type", content_type)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


# --------------------------------------------------------------------------------------------
# Server, auth, encodings
# --------------------------------------------------------------------------------------------


def test_url_is_the_web_api_base(standin: SlackStandIn) -> None:
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/api/", standin.url)
    assert standin.port > 0


def test_auth_test_answers_the_bot_identity(client: WebClient) -> None:
    response = client.auth_test()

    assert response.status_code == 200
    assert response.data == {
        "ok": True,
        "url": "https://standin.slack.com/",
        "team": "Stand-in Workspace",
        "user": "approvals",
        "team_id": "T0STANDIN",
        "user_id": "UBOT",
        "bot_id": "B0STANDIN",
        "is_enterprise_install": False,
    }


def test_a_wrong_token_is_invalid_auth_and_no_token_is_not_authed(standin: SlackStandIn) -> None:
    with pytest.raises(SlackApiError) as wrong:
        WebClient(base_url=standin.url, token="xoxb-wrong").auth_test()
    assert wrong.value.response.status_code == 200
    assert slack_error(wrong) == "invalid_auth"

    status, body = raw_call(standin, "auth.test", token=None)
    assert (status, body) == (200, {"ok": False, "error": "not_authed"})


def test_a_token_argument_is_accepted_like_slack_does(standin: SlackStandIn) -> None:
    status, body = raw_call(
        standin,
        "auth.test",
        body=urllib.parse.urlencode({"token": TOKEN}).encode(),
        content_type="application/x-www-form-urlencoded",
        token=None,
    )
    assert status == 200
    assert body["ok"] is True
    assert "token" not in standin.calls("auth.test")[-1].params


def test_unknown_method(client: WebClient, standin: SlackStandIn) -> None:
    with pytest.raises(SlackApiError) as excinfo:
        client.api_call("chat.teleport", json={"channel": CHANNEL})
    assert excinfo.value.response.status_code == 200
    assert slack_error(excinfo) == "unknown_method"

    status, _ = raw_call(standin, "")
    assert status == 404


def test_malformed_json_is_answered_and_the_server_keeps_serving(
    standin: SlackStandIn, client: WebClient
) -> None:
    status, body = raw_call(
        standin,
        "chat.postMessage",
        body=b'{"channel": "C0APPROVALS", "text": ',
        content_type="application/json; charset=utf-8",
    )
    assert (status, body) == (200, {"ok": False, "error": "invalid_json"})

    status, body = raw_call(
        standin, "chat.postMessage", body=b"[1, 2]", content_type="application/json"
    )
    assert body == {"ok": False, "error": "invalid_json"}

    assert client.chat_postMessage(channel=CHANNEL, text="still alive")["ok"] is True


def test_form_encoded_and_query_string_arguments(standin: SlackStandIn, client: WebClient) -> None:
    blocks = [section("*from a form*")]
    # api_call(params=...) sends a form-encoded body; JSON arguments travel as strings
    posted = client.api_call(
        "chat.postMessage",
        params={"channel": CHANNEL, "text": "form", "blocks": json.dumps(blocks)},
    )
    assert posted["message"]["blocks"] == blocks
    assert standin.calls("chat.postMessage")[-1].params["blocks"] == json.dumps(blocks)

    status, body = raw_call(standin, "conversations.history", query={"channel": CHANNEL})
    assert status == 200
    assert [m["text"] for m in body["messages"]] == ["form"]


# --------------------------------------------------------------------------------------------
# chat.postMessage
# --------------------------------------------------------------------------------------------


def test_post_message_success_shape(standin: SlackStandIn, client: WebClient) -> None:
    blocks = [section("Approve *deploy*?")]
    metadata = {"event_type": "approval_requested", "event_payload": {"approval_id": "apv-1"}}

    response = client.chat_postMessage(
        channel=CHANNEL, text="Approve?", blocks=blocks, metadata=metadata
    )

    assert response["ok"] is True
    assert response["channel"] == CHANNEL
    ts = response["ts"]
    assert TS_PATTERN.match(ts)
    message = response["message"]
    assert message["ts"] == ts
    assert message["text"] == "Approve?"
    assert message["blocks"] == blocks
    assert message["metadata"] == metadata
    assert (message["type"], message["user"], message["bot_id"]) == ("message", "UBOT", "B0STANDIN")

    stored = standin.message(CHANNEL, ts)
    assert stored["text"] == "Approve?"
    assert stored["blocks"] == blocks
    assert stored["metadata"] == metadata
    assert stored["thread_ts"] is None
    assert stored["edited"] is None
    assert stored["user"] == "UBOT"


@NO_RATE_LIMITS
def test_post_message_ts_values_are_unique_and_increasing(client: WebClient) -> None:
    stamps = [client.chat_postMessage(channel=CHANNEL, text=str(i))["ts"] for i in range(5)]
    assert all(TS_PATTERN.match(ts) for ts in stamps)
    assert [float(ts) for ts in stamps] == sorted({float(ts) for ts in stamps})
    assert abs(float(stamps[0]) - time.time()) < 60


def test_post_message_accepts_a_channel_name(client: WebClient) -> None:
    assert client.chat_postMessage(channel="#approvals", text="by name")["channel"] == CHANNEL


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"channel": "C0NOPE", "text": "x"}, "channel_not_found"),
        ({"channel": CHANNEL}, "no_text"),
        ({"channel": CHANNEL, "text": "x" * 40_001}, "msg_too_long"),
        ({"channel": CHANNEL, "blocks": [section(str(i)) for i in range(51)]}, "invalid_blocks"),
        ({"channel": CHANNEL, "blocks": [section("x" * 3001)]}, "invalid_blocks"),
        (
            {
                "channel": CHANNEL,
                "blocks": [{"type": "header", "text": {"type": "plain_text", "text": "h" * 151}}],
            },
            "invalid_blocks",
        ),
        (
            {
                "channel": CHANNEL,
                "blocks": [
                    {
                        "type": "actions",
                        "elements": [
                            {
                                "type": "button",
                                "action_id": "approve",
                                "text": {"type": "plain_text", "text": "Approve"},
                                "value": "v" * 2001,
                            }
                        ],
                    }
                ],
            },
            "invalid_blocks",
        ),
        ({"channel": CHANNEL, "blocks": [{"type": "sectoin"}]}, "invalid_blocks"),
        (
            {"channel": CHANNEL, "text": "x", "metadata": {"event_type": "no_payload"}},
            "invalid_metadata_schema",
        ),
    ],
    ids=[
        "unknown-channel",
        "no-text",
        "text-too-long",
        "51-blocks",
        "section-3001",
        "header-151",
        "button-value-2001",
        "unknown-block-type",
        "metadata-without-payload",
    ],
)
@pytest.mark.filterwarnings("ignore:The top-level `text` argument is missing:UserWarning")
def test_post_message_errors(
    standin: SlackStandIn, client: WebClient, kwargs: dict[str, Any], error: str
) -> None:
    with pytest.raises(SlackApiError) as excinfo:
        client.chat_postMessage(**kwargs)
    assert excinfo.value.response.status_code == 200
    assert slack_error(excinfo) == error
    assert standin.messages(CHANNEL) == []


def test_invalid_blocks_say_where_like_slack(client: WebClient) -> None:
    with pytest.raises(SlackApiError) as excinfo:
        client.chat_postMessage(
            channel=CHANNEL, text="x", blocks=[section("ok"), section("x" * 3001)]
        )
    data = excinfo.value.response.data
    assert data["errors"] == [
        "must be less than 3001 characters [json-pointer:/blocks/1/text/text]"
    ]
    assert data["response_metadata"]["messages"] == [f"[ERROR] {data['errors'][0]}"]


def test_blocks_that_are_not_json_are_invalid_blocks_format(client: WebClient) -> None:
    with pytest.raises(SlackApiError) as excinfo:
        client.api_call("chat.postMessage", params={"channel": CHANNEL, "blocks": "[{nope"})
    assert slack_error(excinfo) == "invalid_blocks_format"


def test_exactly_50_blocks_and_3000_characters_are_fine(client: WebClient) -> None:
    blocks = [section("x" * 3000)] + [{"type": "divider"}] * 49
    assert client.chat_postMessage(channel=CHANNEL, text="big", blocks=blocks)["ok"] is True


def test_thread_replies_are_stored_but_not_in_history(
    standin: SlackStandIn, client: WebClient
) -> None:
    parent = client.chat_postMessage(channel=CHANNEL, text="parent")["ts"]
    reply = client.chat_postMessage(channel=CHANNEL, text="reply", thread_ts=parent)

    assert reply["message"]["thread_ts"] == parent
    history = client.conversations_history(channel=CHANNEL)["messages"]
    assert [m["text"] for m in history] == ["parent"]
    assert history[0]["reply_count"] == 1
    assert history[0]["latest_reply"] == reply["ts"]
    assert [m["text"] for m in standin.messages(CHANNEL)] == ["parent", "reply"]
    assert standin.message(CHANNEL, reply["ts"])["thread_ts"] == parent


# --------------------------------------------------------------------------------------------
# chat.update, chat.postEphemeral
# --------------------------------------------------------------------------------------------


def test_update_replaces_content_and_marks_edited(standin: SlackStandIn, client: WebClient) -> None:
    metadata = {"event_type": "approval_requested", "event_payload": {"approval_id": "apv-1"}}
    ts = client.chat_postMessage(
        channel=CHANNEL, text="pending", blocks=[section("pending")], metadata=metadata
    )["ts"]

    decided = [section("Approved by <@U1>")]
    response = client.chat_update(channel=CHANNEL, ts=ts, text="approved", blocks=decided)

    assert response["ok"] is True
    assert (response["channel"], response["ts"], response["text"]) == (CHANNEL, ts, "approved")
    assert response["message"]["blocks"] == decided
    assert response["message"]["edited"]["user"] == "UBOT"
    stored = standin.message(CHANNEL, ts)
    assert stored["text"] == "approved"
    assert stored["blocks"] == decided
    assert stored["metadata"] == metadata  # kept when not given
    assert stored["edited"] is not None
    assert len(standin.messages(CHANNEL)) == 1

    new_metadata = {"event_type": "approval_decided", "event_payload": {"decision": "approve"}}
    client.chat_update(channel=CHANNEL, ts=ts, text="approved", blocks=[], metadata=new_metadata)
    stored = standin.message(CHANNEL, ts)
    assert stored["blocks"] == []
    assert stored["text"] == "approved"
    assert stored["metadata"] == new_metadata


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"channel": CHANNEL, "ts": "1700000000.000001", "text": "x"}, "message_not_found"),
        ({"channel": "C0NOPE", "ts": "1700000000.000001", "text": "x"}, "channel_not_found"),
        ({"channel": CHANNEL, "text": "x", "blocks": [section("y" * 3001)]}, "invalid_blocks"),
    ],
    ids=["unknown-ts", "unknown-channel", "invalid-blocks"],
)
def test_update_errors(client: WebClient, kwargs: dict[str, Any], error: str) -> None:
    if "ts" not in kwargs:
        kwargs = {**kwargs, "ts": client.chat_postMessage(channel=CHANNEL, text="original")["ts"]}
    with pytest.raises(SlackApiError) as excinfo:
        client.chat_update(**kwargs)
    assert slack_error(excinfo) == error


def test_post_ephemeral(standin: SlackStandIn, client: WebClient) -> None:
    response = client.chat_postEphemeral(
        channel=CHANNEL, user="U1", text="only you", blocks=[section("hi")]
    )

    assert response["ok"] is True
    assert TS_PATTERN.match(response["message_ts"])
    assert set(response.data) == {"ok", "message_ts"}
    [ephemeral] = standin.ephemerals(user="U1")
    assert ephemeral["channel"] == CHANNEL
    assert ephemeral["text"] == "only you"
    assert ephemeral["message_ts"] == response["message_ts"]
    assert standin.ephemerals(user="U2") == []
    assert standin.messages(CHANNEL) == []


@pytest.mark.parametrize(
    ("channel", "user", "error"),
    [
        ("C0NOPE", "U1", "channel_not_found"),
        (CHANNEL, "U0GHOST", "user_not_found"),
        (CHANNEL, "U9", "user_not_in_channel"),
    ],
)
def test_post_ephemeral_errors(client: WebClient, channel: str, user: str, error: str) -> None:
    with pytest.raises(SlackApiError) as excinfo:
        client.chat_postEphemeral(channel=channel, user=user, text="x")
    assert slack_error(excinfo) == error


# --------------------------------------------------------------------------------------------
# conversations.history, conversations.members
# --------------------------------------------------------------------------------------------


@NO_RATE_LIMITS
def test_history_is_newest_first_and_paginates_with_cursors(client: WebClient) -> None:
    stamps = [client.chat_postMessage(channel=CHANNEL, text=f"m{i}")["ts"] for i in range(5)]

    seen: list[str] = []
    pages = 0
    cursor = None
    while True:
        page = client.conversations_history(channel=CHANNEL, limit=2, cursor=cursor)
        pages += 1
        seen += [m["ts"] for m in page["messages"]]
        cursor = page["response_metadata"]["next_cursor"]
        assert page["has_more"] is bool(cursor)
        if not cursor:
            break

    assert pages == 3
    assert seen == list(reversed(stamps))


@NO_RATE_LIMITS
def test_history_window_is_exclusive_unless_inclusive(client: WebClient) -> None:
    stamps = [client.chat_postMessage(channel=CHANNEL, text=f"m{i}")["ts"] for i in range(4)]

    exclusive = client.conversations_history(channel=CHANNEL, oldest=stamps[0], latest=stamps[3])
    assert [m["ts"] for m in exclusive["messages"]] == [stamps[2], stamps[1]]

    inclusive = client.conversations_history(
        channel=CHANNEL, oldest=stamps[0], latest=stamps[3], inclusive=True
    )
    assert [m["ts"] for m in inclusive["messages"]] == list(reversed(stamps))


def test_history_includes_metadata_only_when_asked(
    standin: SlackStandIn, client: WebClient
) -> None:
    metadata = {"event_type": "approval_requested", "event_payload": {"approval_id": "apv-1"}}
    client.chat_postMessage(channel=CHANNEL, text="with metadata", metadata=metadata)

    plain = client.conversations_history(channel=CHANNEL)["messages"][0]
    assert "metadata" not in plain

    asked = client.conversations_history(channel=CHANNEL, include_all_metadata=True)  # sent as "1"
    assert asked["messages"][0]["metadata"] == metadata

    for flag, expected in (("true", True), ("1", True), ("false", False), ("0", False)):
        _, body = raw_call(
            standin,
            "conversations.history",
            query={"channel": CHANNEL, "include_all_metadata": flag},
        )
        assert ("metadata" in body["messages"][0]) is expected, flag


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"channel": "C0NOPE"}, "channel_not_found"),
        ({"channel": CHANNEL, "cursor": "bm90LWEtY3Vyc29y"}, "invalid_cursor"),
        ({"channel": CHANNEL, "oldest": "yesterday"}, "invalid_ts_oldest"),
    ],
)
def test_history_errors(client: WebClient, kwargs: dict[str, Any], error: str) -> None:
    with pytest.raises(SlackApiError) as excinfo:
        client.conversations_history(**kwargs)
    assert slack_error(excinfo) == error


def test_members_paginates(standin: SlackStandIn, client: WebClient) -> None:
    first = client.conversations_members(channel=CHANNEL, limit=2)
    assert first["members"] == ["U1", "U2"]
    cursor = first["response_metadata"]["next_cursor"]
    assert cursor
    second = client.conversations_members(channel=CHANNEL, limit=2, cursor=cursor)
    assert second["members"] == ["U3"]
    assert second["response_metadata"]["next_cursor"] == ""

    with pytest.raises(SlackApiError) as excinfo:
        client.conversations_members(channel="C0NOPE")
    assert slack_error(excinfo) == "channel_not_found"


# --------------------------------------------------------------------------------------------
# views.*
# --------------------------------------------------------------------------------------------


def test_views_open_push_update(standin: SlackStandIn, client: WebClient) -> None:
    opened = client.views_open(trigger_id="111.222.aaa", view=MODAL)["view"]

    assert opened["id"].startswith("V")
    assert opened["hash"]
    assert opened["root_view_id"] == opened["id"]
    assert opened["state"] == {"values": {}}
    assert (opened["callback_id"], opened["private_metadata"]) == ("reject_reason", "apv-1")
    assert opened["team_id"] == "T0STANDIN"

    pushed = client.views_push(trigger_id="111.222.bbb", view={**MODAL, "callback_id": "confirm"})
    assert pushed["view"]["id"] != opened["id"]

    updated_view = {
        **MODAL,
        "title": {"type": "plain_text", "text": "Rejected"},
        "blocks": [section("Done")],
    }
    updated = client.views_update(view_id=opened["id"], hash=opened["hash"], view=updated_view)[
        "view"
    ]
    assert updated["id"] == opened["id"]
    assert updated["hash"] != opened["hash"]
    assert updated["title"]["text"] == "Rejected"

    log = standin.views()
    assert [(v["method"], v["trigger_id"]) for v in log] == [
        ("views.open", "111.222.aaa"),
        ("views.push", "111.222.bbb"),
        ("views.update", None),
    ]
    assert log[0]["view"] == opened
    assert log[2]["view_id"] == opened["id"]


def test_views_update_ignores_fields_slack_owns(client: WebClient) -> None:
    opened = client.views_open(trigger_id="4.4.4", view=MODAL)["view"]
    echoed = {**opened, "title": {"type": "plain_text", "text": "Again"}}  # id, hash, state...

    updated = client.views_update(view_id=opened["id"], view=echoed)["view"]

    assert updated["id"] == opened["id"]
    assert updated["hash"] != opened["hash"]
    assert updated["title"]["text"] == "Again"


def test_views_update_by_external_id(client: WebClient) -> None:
    client.views_open(trigger_id="1.2.3", view={**MODAL, "external_id": "apv-1-reject"})
    updated = client.views_update(
        external_id="apv-1-reject", view={**MODAL, "external_id": "apv-1-reject"}
    )
    assert updated["view"]["external_id"] == "apv-1-reject"

    with pytest.raises(SlackApiError) as duplicate:
        client.views_open(trigger_id="1.2.4", view={**MODAL, "external_id": "apv-1-reject"})
    assert slack_error(duplicate) == "duplicate_external_id"


def test_views_errors(client: WebClient) -> None:
    opened = client.views_open(trigger_id="9.9.9", view=MODAL)["view"]

    with pytest.raises(SlackApiError) as reused:
        client.views_open(trigger_id="9.9.9", view=MODAL)
    assert slack_error(reused) == "exchanged_trigger_id"

    with pytest.raises(SlackApiError) as missing:
        client.api_call("views.open", json={"view": MODAL})
    assert slack_error(missing) == "invalid_arguments"

    long_title = {**MODAL, "title": {"type": "plain_text", "text": "t" * 25}}
    with pytest.raises(SlackApiError) as invalid:
        client.views_open(trigger_id="9.9.10", view=long_title)
    assert slack_error(invalid) == "invalid_arguments"
    assert invalid.value.response["response_metadata"]["messages"] == [
        "[ERROR] must be less than 25 characters [json-pointer:/view/title/text]"
    ]

    no_submit = {k: v for k, v in MODAL.items() if k != "submit"}
    with pytest.raises(SlackApiError) as input_without_submit:
        client.views_open(trigger_id="9.9.11", view=no_submit)
    assert slack_error(input_without_submit) == "invalid_arguments"

    with pytest.raises(SlackApiError) as not_found:
        client.views_update(view_id="V0NOPE", view=MODAL)
    assert slack_error(not_found) == "not_found"

    with pytest.raises(SlackApiError) as conflict:
        client.views_update(view_id=opened["id"], hash="stale", view=MODAL)
    assert slack_error(conflict) == "hash_conflict"


# --------------------------------------------------------------------------------------------
# users.info, usergroups.users.list
# --------------------------------------------------------------------------------------------


def test_users_info(standin: SlackStandIn, client: WebClient) -> None:
    standin.add_user("U7", "gone", deleted=True, has_2fa=False, tz="Europe/Berlin")

    user = client.users_info(user="U1")["user"]
    assert user["id"] == "U1"
    assert user["team_id"] == "T0STANDIN"
    assert user["name"] == "ana"
    assert user["real_name"] == "Ana Lima"
    assert (user["deleted"], user["is_bot"], user["has_2fa"], user["tz"]) == (
        False,
        False,
        True,
        "UTC",
    )
    assert user["profile"]["email"] == "ana@example.com"
    assert user["profile"]["display_name"] == "ana"
    assert user["profile"]["real_name"] == "Ana Lima"

    gone = client.users_info(user="U7")["user"]
    assert (gone["deleted"], gone["has_2fa"], gone["tz"]) == (True, False, "Europe/Berlin")
    assert client.users_info(user="UBOT")["user"]["is_bot"] is True

    with pytest.raises(SlackApiError) as excinfo:
        client.users_info(user="U0GHOST")
    assert slack_error(excinfo) == "user_not_found"


def test_usergroups_users_list(standin: SlackStandIn, client: WebClient) -> None:
    standin.add_usergroup("S0APPROVERS", "approvers", ["U1", "U2"])

    assert client.usergroups_users_list(usergroup="S0APPROVERS")["users"] == ["U1", "U2"]
    with pytest.raises(SlackApiError) as excinfo:
        client.usergroups_users_list(usergroup="S0NOPE")
    assert slack_error(excinfo) == "no_such_subteam"


# --------------------------------------------------------------------------------------------
# Faults, latency
# --------------------------------------------------------------------------------------------


def test_429_is_retried_after_retry_after_by_the_rate_limit_handler(
    standin: SlackStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the handler sleeps Retry-After + random(); pin the jitter so the test takes ~1 s
    monkeypatch.setattr(builtin_handlers, "random", SimpleNamespace(random=lambda: 0.0))
    standin.inject("chat.postMessage", Fault(status=429, retry_after=1))
    client = WebClient(
        base_url=standin.url,
        token=TOKEN,
        retry_handlers=[RateLimitErrorRetryHandler(max_retry_count=1)],
    )

    response = client.chat_postMessage(channel=CHANNEL, text="eventually")

    assert response["ok"] is True
    first, second = standin.calls("chat.postMessage")
    assert (first.status, first.response) == (429, {"ok": False, "error": "ratelimited"})
    assert second.status == 200
    assert second.at - first.at >= 1.0
    assert [m["text"] for m in standin.messages(CHANNEL)] == ["eventually"]


def test_429_without_a_retry_handler_surfaces_retry_after(
    standin: SlackStandIn, client: WebClient
) -> None:
    standin.inject("chat.postMessage", Fault(status=429, retry_after=7))

    with pytest.raises(SlackApiError) as excinfo:
        client.chat_postMessage(channel=CHANNEL, text="x")

    assert excinfo.value.response.status_code == 429
    assert excinfo.value.response.headers["Retry-After"] == "7"
    assert slack_error(excinfo) == "ratelimited"


def test_500_raises_slack_api_error_and_changes_nothing(
    standin: SlackStandIn, client: WebClient
) -> None:
    standin.inject("chat.postMessage", Fault(status=500))

    with pytest.raises(SlackApiError) as excinfo:
        client.chat_postMessage(channel=CHANNEL, text="x")

    assert excinfo.value.response.status_code == 500
    assert slack_error(excinfo) == "internal_error"
    assert standin.messages(CHANNEL) == []
    assert client.chat_postMessage(channel=CHANNEL, text="next one works")["ok"] is True


def test_an_error_fault_answers_a_slack_error(standin: SlackStandIn, client: WebClient) -> None:
    standin.inject("chat.update", Fault(error="cant_update_message"))
    ts = client.chat_postMessage(channel=CHANNEL, text="x")["ts"]

    with pytest.raises(SlackApiError) as excinfo:
        client.chat_update(channel=CHANNEL, ts=ts, text="y")

    assert excinfo.value.response.status_code == 200
    assert slack_error(excinfo) == "cant_update_message"
    assert standin.message(CHANNEL, ts)["text"] == "x"


def test_a_delay_longer_than_the_client_timeout_times_out(standin: SlackStandIn) -> None:
    standin.inject("chat.postMessage", Fault(delay=0.6))
    impatient = WebClient(base_url=standin.url, token=TOKEN, timeout=0.2, retry_handlers=[])

    started = time.monotonic()
    with pytest.raises(TimeoutError):
        impatient.chat_postMessage(channel=CHANNEL, text="slow")
    assert time.monotonic() - started < 0.5

    # the slow call was still carried out, as Slack would: the caller just never heard back
    [call] = standin.wait_for_calls("chat.postMessage", count=1, timeout=2.0)
    assert call.status == 200
    assert [m["text"] for m in standin.messages(CHANNEL)] == ["slow"]


def test_after_fault_stores_the_message_but_the_caller_sees_an_error(
    standin: SlackStandIn, client: WebClient
) -> None:
    standin.inject("chat.postMessage", Fault(status=503, after=True))

    with pytest.raises(SlackApiError) as excinfo:
        client.chat_postMessage(channel=CHANNEL, text="posted anyway")

    assert excinfo.value.response.status_code == 503
    assert [m["text"] for m in standin.messages(CHANNEL)] == ["posted anyway"]
    assert standin.calls("chat.postMessage")[0].status == 503


def test_wildcard_faults_count_down_and_can_be_cleared(
    standin: SlackStandIn, client: WebClient
) -> None:
    standin.inject("*", Fault(error="fatal_error"), times=2)

    for call in (client.auth_test, lambda: client.users_info(user="U1")):
        with pytest.raises(SlackApiError) as excinfo:
            call()
        assert slack_error(excinfo) == "fatal_error"
    assert client.auth_test()["ok"] is True

    standin.inject("auth.test", Fault(status=500), times=5)
    standin.clear_faults()
    assert client.auth_test()["ok"] is True


def test_latency_slows_every_call(standin: SlackStandIn, client: WebClient) -> None:
    standin.latency = 0.15
    started = time.monotonic()
    client.auth_test()
    assert time.monotonic() - started >= 0.15
    standin.latency = 0.0


def test_stop_cuts_pending_delays_short() -> None:
    slack = SlackStandIn(bot_token=TOKEN).start()
    slack.inject("auth.test", Fault(delay=30))
    client = WebClient(base_url=slack.url, token=TOKEN, timeout=0.2, retry_handlers=[])
    with pytest.raises(TimeoutError):
        client.auth_test()

    started = time.monotonic()
    slack.stop()
    slack.wait_for_calls("auth.test", count=1, timeout=2.0)
    assert time.monotonic() - started < 1.0
    slack.stop()  # idempotent


def test_fault_validation() -> None:
    with pytest.raises(ValueError, match="status"):
        Fault(status=302)
    with pytest.raises(ValueError, match="delay"):
        Fault(delay=-1)


# --------------------------------------------------------------------------------------------
# Observation: calls, subscribe, concurrency
# --------------------------------------------------------------------------------------------


def test_calls_are_recorded_in_order_without_the_token(
    standin: SlackStandIn, client: WebClient
) -> None:
    client.auth_test()
    client.chat_postMessage(channel=CHANNEL, text="one")
    with pytest.raises(SlackApiError):
        client.chat_postMessage(channel="C0NOPE", text="two")

    calls = standin.calls()
    assert [c.method for c in calls] == ["auth.test", "chat.postMessage", "chat.postMessage"]
    assert all(isinstance(c, RecordedCall) for c in calls)
    assert [c.at for c in calls] == sorted(c.at for c in calls)
    assert calls[1].params == {"channel": CHANNEL, "text": "one"}
    assert calls[2].response == {"ok": False, "error": "channel_not_found"}
    assert len(standin.calls("chat.postMessage")) == 2

    standin.reset_calls()
    assert standin.calls() == []
    assert len(standin.messages(CHANNEL)) == 1


def test_subscribers_hear_about_mutations_that_took_effect(
    standin: SlackStandIn, client: WebClient
) -> None:
    heard: list[tuple[str, dict[str, Any]]] = []
    standin.subscribe(lambda method, params: heard.append((method, params)))

    ts = client.chat_postMessage(channel=CHANNEL, text="a")["ts"]
    client.chat_update(channel=CHANNEL, ts=ts, text="b")
    client.conversations_history(channel=CHANNEL)
    with pytest.raises(SlackApiError):
        client.chat_postMessage(channel="C0NOPE", text="never")
    client.views_open(trigger_id="5.5.5", view=MODAL)

    assert [method for method, _ in heard] == ["chat.postMessage", "chat.update", "views.open"]
    assert heard[0][1] == {"channel": CHANNEL, "text": "a"}


def test_a_failing_subscriber_does_not_break_the_call(
    standin: SlackStandIn, client: WebClient, caplog: pytest.LogCaptureFixture
) -> None:
    def explode(method: str, params: dict[str, Any]) -> None:
        raise RuntimeError("subscriber bug")

    standin.subscribe(explode)
    assert client.chat_postMessage(channel=CHANNEL, text="fine")["ok"] is True
    assert "subscriber failed" in caplog.text
    standin.unsubscribe(explode)


def test_wait_for_calls_is_bounded(standin: SlackStandIn) -> None:
    with pytest.raises(TimeoutError):
        standin.wait_for_calls("chat.postMessage", count=1, timeout=0.05)


@NO_RATE_LIMITS
def test_concurrent_posts_get_unique_increasing_ts(standin: SlackStandIn) -> None:
    threads_count, per_thread = 8, 10
    errors: list[BaseException] = []

    def post(worker: int) -> None:
        client = WebClient(base_url=standin.url, token=TOKEN, timeout=5)
        try:
            for i in range(per_thread):
                client.chat_postMessage(channel=CHANNEL, text=f"{worker}-{i}")
        except BaseException as error:  # surfaced by the assertion below
            errors.append(error)

    threads = [threading.Thread(target=post, args=(n,)) for n in range(threads_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)

    assert errors == []
    messages = standin.messages(CHANNEL)
    assert len(messages) == threads_count * per_thread
    stamps = [m["ts"] for m in messages]
    assert len(set(stamps)) == len(stamps)
    assert stamps == sorted(stamps, key=float)
    assert {m["text"] for m in messages} == {
        f"{w}-{i}" for w in range(threads_count) for i in range(per_thread)
    }
    assert len(standin.calls("chat.postMessage")) == threads_count * per_thread


# --------------------------------------------------------------------------------------------
# Signed requests
# --------------------------------------------------------------------------------------------


def test_sign_is_accepted_by_the_sdk_verifier() -> None:
    body = slash_command_body(
        command="/approvals",
        text="",
        user_id="U1",
        user_name="ana",
        channel_id=CHANNEL,
        team_id="T1",
    )
    headers = sign(SECRET, body)
    verifier = SignatureVerifier(SECRET)

    assert verifier.is_valid(
        body, headers["x-slack-request-timestamp"], headers["x-slack-signature"]
    )
    assert verifier.is_valid_request(body, signed_form_headers(SECRET, body))
    assert not verifier.is_valid_request(body + "&x=1", headers)
    assert not SignatureVerifier("another-secret").is_valid_request(body, headers)
    stale = sign(SECRET, body, timestamp=int(time.time()) - 600)
    assert not verifier.is_valid_request(body, stale)


def test_sign_matches_slacks_documented_example() -> None:
    # The worked example of Slack's "Verifying requests from Slack" guide
    body = (
        "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&"
        "channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&"
        "command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2F"
        "commands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&"
        "trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
    )
    headers = sign("8f742231b10e8888abcd99yyyzzz85a5", body, timestamp=1531420618)
    assert headers == {
        "x-slack-request-timestamp": "1531420618",
        "x-slack-signature": "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503",
    }


def test_block_actions_body_is_shaped_like_slacks() -> None:
    message = {"type": "message", "ts": "1764099000.000100", "text": "Approve?"}
    body = block_actions_body(
        user_id="U1",
        user_name="ana",
        team_id="T1",
        channel_id=CHANNEL,
        message_ts="1764099000.000100",
        action_id="approve",
        value="apv-1",
        block_id="decision",
        message=message,
    )
    ((key, raw),) = urllib.parse.parse_qsl(body)
    payload = json.loads(raw)

    assert key == "payload"
    assert payload["type"] == "block_actions"
    assert payload["user"] == {"id": "U1", "username": "ana", "name": "ana", "team_id": "T1"}
    assert payload["container"] == {
        "type": "message",
        "message_ts": "1764099000.000100",
        "channel_id": CHANNEL,
        "is_ephemeral": False,
    }
    assert payload["channel"]["id"] == CHANNEL
    assert payload["team"]["id"] == "T1"
    assert payload["message"] == message
    assert payload["trigger_id"]
    assert payload["response_url"].startswith("https://hooks.slack.com/actions/T1/")
    [action] = payload["actions"]
    assert {k: action[k] for k in ("action_id", "block_id", "value", "type")} == {
        "action_id": "approve",
        "block_id": "decision",
        "value": "apv-1",
        "type": "button",
    }
    assert TS_PATTERN.match(action["action_ts"])


def test_slash_command_body_fields() -> None:
    body = slash_command_body(
        command="/approvals",
        text="pending",
        user_id="U1",
        user_name="ana",
        channel_id=CHANNEL,
        team_id="T1",
        trigger_id="1.2.3",
    )
    fields = dict(urllib.parse.parse_qsl(body))
    assert fields["command"] == "/approvals"
    assert fields["text"] == "pending"
    assert (fields["user_id"], fields["channel_id"], fields["team_id"]) == ("U1", CHANNEL, "T1")
    assert fields["trigger_id"] == "1.2.3"
    assert fields["response_url"].startswith("https://hooks.slack.com/commands/T1/")


@pytest.fixture
def bolt(standin: SlackStandIn) -> tuple[SlackRequestHandler, list[dict[str, Any]]]:
    app = App(
        process_before_response=True,
        signing_secret=SECRET,
        client=WebClient(base_url=standin.url, token=TOKEN),
        token_verification_enabled=False,
    )
    seen: list[dict[str, Any]] = []

    @app.action("approve")
    def on_approve(ack: Any, body: dict[str, Any]) -> None:
        ack()
        seen.append(body)

    @app.command("/approvals")
    def on_command(ack: Any, command: dict[str, Any]) -> None:
        ack(text="nothing pending")
        seen.append(command)

    @app.view("reject_reason")
    def on_submit(ack: Any, view: dict[str, Any]) -> None:
        ack()
        seen.append(view)

    return SlackRequestHandler(app), seen


LAMBDA_CONTEXT = SimpleNamespace(
    function_name="interactions",
    invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:interactions",
)


def test_bolt_on_lambda_accepts_a_signed_block_action(
    bolt: tuple[SlackRequestHandler, list[dict[str, Any]]], standin: SlackStandIn
) -> None:
    handler, seen = bolt
    body = block_actions_body(
        user_id="U1",
        user_name="ana",
        team_id="T0STANDIN",
        channel_id=CHANNEL,
        message_ts="1764099000.000100",
        action_id="approve",
        value="apv-1",
        block_id="decision",
    )

    response = handler.handle(
        api_gateway_v2_event(body, signed_form_headers(SECRET, body)), LAMBDA_CONTEXT
    )

    assert response["statusCode"] == 200
    assert seen[0]["actions"][0]["value"] == "apv-1"
    assert seen[0]["user"]["id"] == "U1"
    assert standin.calls("auth.test")  # Bolt's authorization asked the stand-in who it is

    base64_event = api_gateway_v2_event(body, signed_form_headers(SECRET, body), base64=True)
    assert base64_event["isBase64Encoded"] is True
    assert handler.handle(base64_event, LAMBDA_CONTEXT)["statusCode"] == 200


def test_bolt_on_lambda_rejects_a_bad_signature(
    bolt: tuple[SlackRequestHandler, list[dict[str, Any]]],
) -> None:
    handler, seen = bolt
    body = block_actions_body(
        user_id="U1",
        user_name="ana",
        team_id="T0STANDIN",
        channel_id=CHANNEL,
        message_ts="1764099000.000100",
        action_id="approve",
        value="apv-1",
        block_id="decision",
    )

    forged = api_gateway_v2_event(body, signed_form_headers("not-the-secret", body))
    stale = api_gateway_v2_event(body, signed_form_headers(SECRET, body, int(time.time()) - 600))

    assert handler.handle(forged, LAMBDA_CONTEXT)["statusCode"] == 401
    assert handler.handle(stale, LAMBDA_CONTEXT)["statusCode"] == 401
    assert seen == []


def test_bolt_on_lambda_runs_a_slash_command_and_a_view_submission(
    bolt: tuple[SlackRequestHandler, list[dict[str, Any]]], standin: SlackStandIn, client: WebClient
) -> None:
    handler, seen = bolt
    command = slash_command_body(
        command="/approvals",
        text="",
        user_id="U1",
        user_name="ana",
        channel_id=CHANNEL,
        team_id="T0STANDIN",
    )
    response = handler.handle(
        api_gateway_v2_event(command, signed_form_headers(SECRET, command)), LAMBDA_CONTEXT
    )
    assert response["statusCode"] == 200
    assert response["body"] == "nothing pending"  # Bolt acks a command's text as text/plain
    assert seen[0]["command"] == "/approvals"

    opened = client.views_open(trigger_id="7.7.7", view=MODAL)["view"]
    submission = view_submission_body(
        user_id="U1",
        user_name="ana",
        team_id="T0STANDIN",
        view=opened,
        values={"reason": {"reason_input": {"type": "plain_text_input", "value": "too risky"}}},
    )
    event = api_gateway_v2_event(submission, signed_form_headers(SECRET, submission))
    assert handler.handle(event, LAMBDA_CONTEXT)["statusCode"] == 200
    submitted = seen[1]
    assert submitted["id"] == opened["id"]
    assert submitted["private_metadata"] == "apv-1"
    assert submitted["state"]["values"]["reason"]["reason_input"]["value"] == "too risky"


def test_api_gateway_event_shape() -> None:
    event = api_gateway_v2_event("a=1", {"X-Slack-Signature": "v0=abc"}, path="/slack/events")

    assert event["version"] == "2.0"
    assert event["routeKey"] == "POST /slack/events"
    assert event["rawPath"] == "/slack/events"
    assert event["rawQueryString"] == ""
    assert event["headers"]["x-slack-signature"] == "v0=abc"
    assert event["headers"]["content-type"] == "application/x-www-form-urlencoded"
    assert all(name == name.lower() for name in event["headers"])
    http = event["requestContext"]["http"]
    assert (http["method"], http["path"], http["sourceIp"]) == (
        "POST",
        "/slack/events",
        "127.0.0.1",
    )
    assert event["requestContext"]["stage"] == "$default"
    assert isinstance(event["requestContext"]["timeEpoch"], int)
    assert (event["body"], event["isBase64Encoded"]) == ("a=1", False)


class _VerifyingHandler(BaseHTTPRequestHandler):
    """A Request URL that checks Slack signatures with the SDK's verifier."""

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"])).decode()
        headers = {k.lower(): v for k, v in self.headers.items()}
        valid = SignatureVerifier(SECRET).is_valid_request(body, headers)
        form_type = headers.get("content-type") == "application/x-www-form-urlencoded"
        status = 200 if valid and form_type else 401
        payload = json.dumps({"valid": valid, "form": form_type}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_post_signed_sends_what_a_verifier_accepts() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _VerifyingHandler)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/slack/events"
        body = slash_command_body(
            command="/approvals",
            text="",
            user_id="U1",
            user_name="ana",
            channel_id=CHANNEL,
            team_id="T1",
        )

        status, headers, text = post_signed(url, body, SECRET, timeout=5)
        assert status == 200
        assert headers["content-type"] == "application/json"
        assert json.loads(text) == {"valid": True, "form": True}

        status, _, text = post_signed(url, body, "wrong-secret", timeout=5)
        assert status == 401
        assert json.loads(text)["valid"] is False
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)

    with pytest.raises(ValueError, match="http"):
        post_signed("file:///etc/passwd", body, SECRET)


# --------------------------------------------------------------------------------------------
# Directory: users.lookupByEmail, users.conversations, hidden e-mails
# --------------------------------------------------------------------------------------------


def test_lookup_by_email_finds_the_user_case_insensitively(client: WebClient) -> None:
    user = client.users_lookupByEmail(email="ANA@example.com")["user"]
    assert user["id"] == "U1"
    assert user["profile"]["email"] == "ana@example.com"
    with pytest.raises(SlackApiError) as excinfo:
        client.users_lookupByEmail(email="nobody@example.com")
    assert slack_error(excinfo) == "users_not_found"


def test_a_hidden_email_is_left_out_of_users_info_but_still_looked_up(
    standin: SlackStandIn, client: WebClient
) -> None:
    standin.add_user("U5", "hidden", email="hidden@example.com", email_visible=False)
    assert "email" not in client.users_info(user="U5")["user"]["profile"]
    assert client.users_lookupByEmail(email="hidden@example.com")["user"]["id"] == "U5"


def test_users_conversations_lists_a_users_channels_private_only_where_the_bot_is(
    standin: SlackStandIn, client: WebClient
) -> None:
    standin.add_channel("G0SECRET", "secret", members=["U1"])
    standin.add_channel("C0PRIVATE", "private-c", members=["U1", "U2"], private=True)
    standin.add_channel("G0NOBOT", "no-bot", members=["U1"], bot_member=False)
    both = "public_channel,private_channel"
    ids = [c["id"] for c in client.users_conversations(user="U1", types=both)["channels"]]
    assert ids == [CHANNEL, "C0PRIVATE", "G0SECRET"]
    public = client.users_conversations(user="U1")["channels"]
    assert [c["id"] for c in public] == [CHANNEL]
    assert [c["id"] for c in client.users_conversations(user="U9", types=both)["channels"]] == []
    secret = client.users_conversations(user="U1", types="private_channel")["channels"]
    assert {c["id"]: c["is_private"] for c in secret} == {"C0PRIVATE": True, "G0SECRET": True}


def test_users_conversations_paginates(standin: SlackStandIn, client: WebClient) -> None:
    for i in range(5):
        standin.add_channel(f"C0PAGE{i}", f"page{i}", members=["U2"])
    seen: list[str] = []
    cursor = None
    for _ in range(10):
        page = client.users_conversations(user="U2", limit=2, cursor=cursor)
        seen += [c["id"] for c in page["channels"]]
        cursor = page["response_metadata"]["next_cursor"] or None
        if cursor is None:
            break
    assert seen == sorted([CHANNEL, *(f"C0PAGE{i}" for i in range(5))])
    with pytest.raises(SlackApiError) as excinfo:
        client.users_conversations(user="U404")
    assert slack_error(excinfo) == "user_not_found"
