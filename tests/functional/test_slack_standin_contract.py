"""The stand-in holds calls to Slack's contract (slack_sdk's signatures, Slack's OpenAPI spec),
and every Web API method and argument the bot sends is one slack_sdk's WebClient knows."""

from __future__ import annotations

import ast
import inspect
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.blocks import Message
from bot.ids import Action, Input, Modal
from bot.local.slack_standin import SlackStandIn
from bot.local.slack_standin.contract import (
    CLIENT_DEFAULT_ARGUMENTS,
    ONE_OF,
    SPEC_EXCERPT,
    contract_for,
    sdk_method_name,
)
from bot.local.slack_standin.methods import SERVED_METHODS
from bot.slack_gateway import SlackGateway
from tests.functional.conftest import (
    ANA,
    BO,
    CHANNEL,
    CY,
    EVE,
    ONCALL,
    Aws,
    ExampleStack,
    Interactions,
    request_approval,
)

REPO = Path(__file__).resolve().parents[2]
FULL_SPEC = REPO.parent / "shared" / "slack-web-api" / "slack_web_openapi_v2_without_examples.json"
TOKEN = "xoxb-contract"


def sdk_arguments(method: str) -> set[str]:
    """The named parameters of ``WebClient.<method>``: the test's own reading of slack_sdk."""
    signature = inspect.signature(getattr(WebClient, sdk_method_name(method)))
    return {name for name in signature.parameters if name not in ("self", "kwargs")}


@pytest.fixture
def standin() -> Iterator[SlackStandIn]:
    with SlackStandIn(bot_token=TOKEN) as slack:
        slack.add_channel(CHANNEL, "approvals", members=[ANA, BO])
        slack.add_user(ANA, "ana", email="ana@example.com")
        slack.add_user(BO, "bo")
        slack.add_usergroup(ONCALL, "oncall", [ANA])
        yield slack


def call(standin: SlackStandIn, method: str, params: dict[str, Any]) -> dict[str, Any]:
    client = WebClient(base_url=standin.url, token=TOKEN, timeout=5)
    try:
        return dict(client.api_call(method, json=params).data)  # type: ignore[arg-type]
    except SlackApiError as error:
        return dict(error.response.data)  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------
# The contract of every served method
# --------------------------------------------------------------------------------------------


def test_the_spec_excerpt_is_what_slacks_openapi_spec_says() -> None:
    spec = json.loads(FULL_SPEC.read_text(encoding="utf-8"))
    excerpt = json.loads(SPEC_EXCERPT.read_text(encoding="utf-8"))["methods"]
    assert set(excerpt) == set(SERVED_METHODS)
    for method, entry in excerpt.items():
        ((_, operation),) = spec["paths"][f"/{method}"].items()
        parameters = [p for p in operation.get("parameters", []) if p["name"] != "token"]
        assert entry["parameters"] == sorted(p["name"] for p in parameters), method
        assert entry["required"] == sorted(p["name"] for p in parameters if p.get("required"))


@pytest.mark.parametrize("method", sorted(SERVED_METHODS))
def test_accepted_arguments_are_exactly_slack_sdks(method: str) -> None:
    contract = contract_for(method)
    assert contract.accepted == sdk_arguments(method) | {"token"} | CLIENT_DEFAULT_ARGUMENTS
    assert {"team_id"} == CLIENT_DEFAULT_ARGUMENTS  # what Bolt's per-request client adds
    spec = json.loads(SPEC_EXCERPT.read_text(encoding="utf-8"))["methods"][method]
    assert set(spec["required"]) <= contract.required | set().union(*contract.one_of)


def required_arguments(method: str) -> dict[str, Any]:
    """One valid-looking value for each required argument (and one of each one-of group)."""
    contract = contract_for(method)
    names = set(contract.required) | {sorted(group)[0] for group in contract.one_of}
    return dict.fromkeys(names, "x")


@pytest.mark.parametrize("method", sorted(SERVED_METHODS))
def test_every_slack_sdk_argument_is_accepted_and_an_unknown_one_is_not(
    standin: SlackStandIn, method: str
) -> None:
    every = dict.fromkeys(sdk_arguments(method), "x") | {"team_id": "T0STANDIN"}
    answer = call(standin, method, every)
    assert answer.get("error") != "invalid_arg_name", answer  # other errors: the values are junk
    assert "missing required field" not in json.dumps(answer)

    unknown = call(standin, method, {**required_arguments(method), "colour": "blue"})
    assert unknown["error"] == "invalid_arg_name"
    assert unknown["response_metadata"]["messages"] == ["[ERROR] unknown argument: colour"]


@pytest.mark.parametrize(
    ("method", "missing"),
    sorted(
        (method, name)
        for method in SERVED_METHODS
        for name in contract_for(method).required
        | {" or ".join(sorted(g)) for g in contract_for(method).one_of}
    ),
)
def test_an_absent_required_argument_is_invalid_arguments(
    standin: SlackStandIn, method: str, missing: str
) -> None:
    params = {k: v for k, v in required_arguments(method).items() if k not in missing.split(" or ")}
    answer = call(standin, method, params)
    assert answer == {
        "ok": False,
        "error": "invalid_arguments",
        "response_metadata": {"messages": [f"[ERROR] missing required field: {missing}"]},
    }


def test_required_arguments_follow_the_spec_and_slack_sdk() -> None:
    assert contract_for("chat.postMessage").required == {"channel"}
    assert contract_for("chat.update").required == {"channel", "ts"}
    assert contract_for("chat.postEphemeral").required == {"channel", "user"}
    # the 2020 spec leaves these optional; Slack's docs (and slack_sdk) require them
    assert contract_for("conversations.history").required == {"channel"}
    assert contract_for("users.info").required == {"user"}
    assert contract_for("views.update").required == {"view"}
    assert contract_for("views.open").one_of == ONE_OF["views.open"]
    assert contract_for("users.conversations").required == set()


def test_present_but_empty_is_the_methods_own_error(standin: SlackStandIn) -> None:
    assert call(standin, "chat.postMessage", {"channel": "", "text": "x"})["error"] == (
        "channel_not_found"
    )
    assert call(standin, "chat.postMessage", {"text": "x"})["error"] == "invalid_arguments"
    assert call(standin, "users.info", {"user": ""})["error"] == "user_not_found"
    assert call(standin, "views.open", {"trigger_id": "", "view": {}})["response_metadata"] == {
        "messages": ["[ERROR] invalid `trigger_id` [json-pointer:/trigger_id]"]
    }


# --------------------------------------------------------------------------------------------
# What the bot calls
# --------------------------------------------------------------------------------------------


def gateway_calls_in_code() -> dict[str, set[str]]:
    """``self._call("method", **kwargs)`` in bot/slack_gateway.py, read from its syntax tree."""
    tree = ast.parse((REPO / "bot" / "slack_gateway.py").read_text(encoding="utf-8"))
    found: dict[str, set[str]] = {}
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "_call"
            and node.args
            and isinstance(node.args[0], ast.Constant)
        ):
            kwargs = {k.arg for k in node.keywords if k.arg is not None and k.arg != "get"}
            found.setdefault(str(node.args[0].value), set()).update(kwargs)
    return found


def bolt_client_calls_in_code() -> dict[str, set[str]]:
    """``client.<method>(...)`` in bot/slack_app.py (Bolt's WebClient), as Slack method names."""
    by_sdk_name = {sdk_method_name(m): m for m in SERVED_METHODS}
    tree = ast.parse((REPO / "bot" / "slack_app.py").read_text(encoding="utf-8"))
    found: dict[str, set[str]] = {}
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and isinstance(node.func.value, ast.Name)
            and node.func.value.id == "client"
        ):
            method = by_sdk_name[node.func.attr]
            found.setdefault(method, set()).update(k.arg for k in node.keywords if k.arg)
    return found


def bot_calls() -> dict[str, set[str]]:
    calls: dict[str, set[str]] = {}
    for source in (gateway_calls_in_code(), bolt_client_calls_in_code()):
        for method, kwargs in source.items():
            calls.setdefault(method, set()).update(kwargs)
    return calls


def test_the_bot_calls_listed_from_its_code() -> None:
    """The list the next test checks, pinned so that a change to it is seen in review."""
    assert bot_calls() == {
        "chat.postMessage": {
            "channel",
            "text",
            "blocks",
            "metadata",
            "unfurl_links",
            "unfurl_media",
            "thread_ts",
        },
        "chat.update": {"channel", "ts", "text", "blocks"},
        "chat.postEphemeral": {"channel", "user", "text"},
        "conversations.open": {"users"},
        "conversations.history": {
            "channel",
            "oldest",
            "limit",
            "include_all_metadata",
            "cursor",
        },
        "users.conversations": {"user", "types", "exclude_archived", "limit", "cursor"},
        "users.info": {"user"},
        "users.lookupByEmail": {"email"},
        "usergroups.users.list": {"usergroup"},
        "views.open": {"trigger_id", "view"},
        "views.publish": {"user_id", "view"},  # the App Home tab
    }


@pytest.mark.parametrize("method", sorted(bot_calls()))
def test_every_method_and_argument_the_bot_calls_is_in_slack_sdks_signature(method: str) -> None:
    assert method in SERVED_METHODS
    assert bot_calls()[method] <= sdk_arguments(method)


def test_what_the_gateway_sends_on_the_wire_is_what_its_code_says(standin: SlackStandIn) -> None:
    """Exercise every gateway method against the stand-in: the calls it records are the ones
    read from the code, and the stand-in accepts each (no contract error)."""
    client = WebClient(base_url=standin.url, token=TOKEN, timeout=5)
    gateway = SlackGateway(client, directory_ttl_seconds=0)
    message = Message(text="approve?", blocks=[])
    channel, ts = gateway.post(CHANNEL, message, approval_id="apv-1")
    gateway.update(channel, ts, message)
    gateway.find_post(channel, "apv-1", since=datetime.now(UTC))
    gateway.post_reply(channel, ts, "reminder")
    gateway.post_ephemeral(channel, ANA, "only you")
    gateway.user_info(ANA)
    gateway.usergroup_members(ONCALL)
    gateway.user_channels(ANA)
    gateway.lookup_email("ana@example.com")
    gateway.post_dm(ANA, message, approval_id="apv-1")
    gateway.open_dm(BO)
    gateway.publish_home(ANA, {"type": "home", "blocks": [{"type": "divider"}]})

    recorded: dict[str, set[str]] = {}
    for c in standin.calls():
        assert c.response["ok"] is True, (c.method, c.response)
        recorded.setdefault(c.method, set()).update(c.params)
    expected = gateway_calls_in_code()
    assert set(recorded) == set(expected)
    for method, kwargs in expected.items():
        assert recorded[method] <= kwargs
        assert kwargs - recorded[method] <= {"cursor"}, method  # sent from the second page on


def test_what_bolt_sends_for_the_bot_is_in_slack_sdks_signature(
    aws: Aws,
    stack: ExampleStack,
    notifier: ModuleType,
    slack: SlackStandIn,
    interactions: Interactions,
) -> None:
    """The Bolt side (views.open, chat.postEphemeral, respond()): two approvers race to reject,
    an outsider clicks; every Web API call Bolt's client made is within slack_sdk's signature."""
    posted = request_approval(aws, stack, notifier, slack, "contract-1", service="s", requester=BO)
    driver = interactions.slack
    driver.click(EVE, CHANNEL, posted.ts, Action.APPROVE)  # refused through response_url
    driver.click(ANA, CHANNEL, posted.ts, Action.REJECT)
    driver.click(CY, CHANNEL, posted.ts, Action.REJECT)
    ana_modal, cy_modal = driver.open_views(Modal.REJECT)
    reason = {Input.REASON_BLOCK: {Input.REASON_INPUT: "no"}}
    driver.submit(ANA, ana_modal, reason)
    interactions.wait()
    driver.submit(CY, cy_modal, reason)  # too late: answered with chat.postEphemeral
    interactions.wait()

    methods = {c.method for c in slack.calls()}
    assert {"views.open", "chat.postEphemeral", "response_url"} <= methods
    for c in slack.calls():
        if c.method != "response_url":
            assert c.response["ok"] is True, (c.method, c.response)
            assert set(c.params) <= sdk_arguments(c.method) | CLIENT_DEFAULT_ARGUMENTS
