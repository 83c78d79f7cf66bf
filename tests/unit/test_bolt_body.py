"""Bolt is handed the pre-Bolt screen's parse of the body (``bot.lambda_bolt``): the request it
gets is the one its own Lambda adapter would build, it parses nothing again, and it still
verifies the signature of the raw body itself."""

from __future__ import annotations

import copy
import json
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlencode

import pytest
from hypothesis import given
from hypothesis import strategies as st
from slack_bolt import Ack, App, BoltRequest
from slack_bolt.adapter.aws_lambda.handler import to_bolt_request
from slack_bolt.authorization import AuthorizeResult
from slack_bolt.request import internals, request
from slack_sdk.signature import SignatureVerifier

from bot.lambda_bolt import (
    ScreenedRequestHandler,
    bolt_body,
    parse_form,
    screen_request,
    screened_bolt_request,
)
from bot.local.slack_requests import (
    api_gateway_v2_event,
    block_actions_body,
    signed_form_headers,
    slash_command_body,
)

SECRET = "unit-signing-secret"
VERIFIER = SignatureVerifier(SECRET)
CONTEXT = SimpleNamespace(
    function_name="interactions",
    invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:interactions",
)


def click(**overrides: Any) -> str:
    fields: dict[str, Any] = {
        "user_id": "U0ANA",
        "user_name": "ana",
        "team_id": "T0TEAM",
        "channel_id": "C0CHAN",
        "message_ts": "1.2",
        "action_id": "approve",
        "value": "a1",
        "block_id": "b",
    }
    return block_actions_body(**{**fields, **overrides})


def command(text: str) -> str:
    return slash_command_body(
        command="/approvals",
        text=text,
        user_id="U0ANA",
        user_name="ana",
        channel_id="C0CHAN",
        team_id="T0TEAM",
    )


BODIES = {
    "click": click(),
    "click, non-ASCII value": click(value="é ü + & = %"),
    "slash command": command("mine"),
    "slash command saying payload": command("payload"),
    "ssl check": "ssl_check=1&token=x",
}


def signed_event(body: str, **options: Any) -> dict[str, Any]:
    return api_gateway_v2_event(body, signed_form_headers(SECRET, body), **options)


def same_request(a: BoltRequest, b: BoltRequest) -> None:
    assert (a.raw_body, a.body, a.query, a.headers, a.content_type) == (
        b.raw_body,
        b.body,
        b.query,
        b.headers,
        b.content_type,
    )
    assert (a.lazy_only, a.lazy_function_name, a.mode) == (
        b.lazy_only,
        b.lazy_function_name,
        b.mode,
    )
    assert dict(a.context) == dict(b.context)


@pytest.mark.parametrize("name", list(BODIES))
@pytest.mark.parametrize("variant", ["v2", "base64", "cookies", "v1 cookies", "lazy"])
def test_the_request_is_the_one_bolts_adapter_builds(name: str, variant: str) -> None:
    event = signed_event(BODIES[name], base64=variant == "base64")
    if variant == "cookies":
        event["cookies"] = ["a=1", "b=2"]
    if variant == "v1 cookies":
        event["multiValueHeaders"] = {"Cookie": ["c=3"]}
    if variant == "lazy":  # this function's own re-invocation, as Bolt's lazy runner sends it
        event["headers"].update(
            {"x-slack-bolt-lazy-only": "1", "x-slack-bolt-lazy-function-name": "decide"}
        )
        event["method"] = "NONE"
    screened = screen_request(event, VERIFIER)
    assert screened.refused is None
    theirs_event, ours_event = copy.deepcopy(event), copy.deepcopy(event)
    theirs = to_bolt_request(theirs_event)
    if screened.body is None:  # left to Bolt: only where Bolt reads the body its own way
        assert name == "slash command saying payload"
        return
    ours = screened_bolt_request(ours_event, screened.raw_body, screened.body)
    same_request(ours, theirs)
    assert ours_event == theirs_event  # the event as the lazy runner will re-send it


FIELD = st.text(alphabet=st.sampled_from("abpayloadé%+&= {}\"'"), max_size=12)


@given(
    st.lists(
        st.tuples(st.sampled_from(["payload", "command", "text", "x", ""]), FIELD), max_size=5
    ),
    st.one_of(
        st.none(), st.dictionaries(st.sampled_from(["type", "user", "é"]), FIELD, max_size=3)
    ),
)
def test_bolt_body_is_bolts_parse_or_none(pairs: list[tuple[str, str]], payload: Any) -> None:
    if payload is not None:
        pairs = [*pairs, ("payload", json.dumps(payload))]
    body = urlencode(pairs)
    content_type = "application/x-www-form-urlencoded"
    form = parse_form(body)
    parsed = None
    if len(form.get("payload", ())) == 1:
        try:
            parsed = json.loads(form["payload"][0])
        except ValueError:
            parsed = None
    ours = bolt_body(body, content_type, form, parsed)
    if ours is not None:
        assert ours == internals.parse_body(body, content_type)


def ack_only_app() -> App:
    app = App(
        signing_secret=SECRET,
        authorize=lambda **_: AuthorizeResult(
            enterprise_id=None, team_id="T0TEAM", bot_token="xoxb-unit", bot_user_id="U0BOT"
        ),
        process_before_response=True,
    )

    @app.action("approve")
    def approve(ack: Ack) -> None:
        ack()

    return app


def test_bolt_does_not_parse_a_screened_click_again(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    real = request.parse_body

    def counting(body: str, content_type: str | None) -> dict[str, Any]:
        calls.append(body)
        return real(body, content_type)

    monkeypatch.setattr(request, "parse_body", counting)
    handler = ScreenedRequestHandler(ack_only_app())
    event = signed_event(click())
    screened = screen_request(event, VERIFIER)
    response = handler.handle_screened(event, CONTEXT, screened)
    assert response["statusCode"] == 200
    assert calls == []
    handler.handle(signed_event(click()), CONTEXT)  # Bolt's own adapter parses it
    assert len(calls) == 1


def test_bolt_still_verifies_the_signature_of_the_raw_body() -> None:
    """Handed a body the signature does not cover, Bolt itself answers 401."""
    handler = ScreenedRequestHandler(ack_only_app())
    event = signed_event(click())
    screened = screen_request(event, VERIFIER)
    forged = type(screened)(raw_body=click(value="other"), body=screened.body)
    assert handler.handle_screened(event, CONTEXT, forged)["statusCode"] == 401
    assert handler.handle_screened(event, CONTEXT, screened)["statusCode"] == 200


def test_a_body_with_two_payloads_is_refused() -> None:
    """Bolt acts on the last payload, the screen checked the first: two are never Slack's."""
    first = click()
    second = click(user_id="U0EVE").removeprefix("payload=")
    body = f"{first}&payload={second}"
    screened = screen_request(signed_event(body), VERIFIER)
    assert screened.refused is not None
    assert screened.refused["statusCode"] == 400
    assert screen_request(signed_event(first), VERIFIER).refused is None
