"""The message contract: parsing SQS bodies into typed, immutable requests."""

from __future__ import annotations

import json
from dataclasses import FrozenInstanceError
from datetime import UTC, datetime

import pytest

from bot.models import (
    MAX_TASK_TOKEN_CHARS,
    ApprovalSpec,
    InvalidApprovalRequest,
    TaskToken,
    UnprocessableMessage,
    approval_id_for,
    parse_envelope,
    parse_request,
)

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
ARN = "arn:aws:states:eu-west-1:123456789012:execution:approval-flow:run-1"
TOKEN = "AQCEAAAAKgAAAAMAAAAAAAAAAT" + "x" * 600


def body(payload: object = None, **extra: object) -> str:
    message: dict[str, object] = {"TaskToken": TOKEN, "Execution": ARN}
    if payload is not None:
        message["Payload"] = payload
    message.update(extra)
    return json.dumps(message)


def parse(raw: str, default_channel: str | None = "C0DEFAULT"):
    return parse_request(parse_envelope(raw), default_channel=default_channel)


def test_seed_payload_without_approval_object_uses_defaults() -> None:
    request = parse(body({"task": "t-1", "amount": 5}))
    assert request.channel == "C0DEFAULT"
    assert request.spec == ApprovalSpec()
    assert request.payload == {"task": "t-1", "amount": 5}
    assert request.execution_arn == ARN
    assert request.task_token.reveal() == TOKEN


def test_full_approval_object() -> None:
    approval = {
        "title": "Deploy checkout?",
        "text": "*checkout* 2.4.1 to prod",
        "fields": {"Service": "checkout", "Replicas": 3, "Canary": True, "Owner": None},
        "channel": "C0OPS",
        "approvers": ["U0ANA", "S0ONCALL", "U0ANA"],
        "requester": "bo@example.com",
        "links": {"Diff": "https://example.com/diff/1"},
        "expires_at": "2026-11-26T12:00:00+02:00",
    }
    request = parse(body({"approval": approval}))
    spec = request.spec
    assert request.channel == "C0OPS"
    assert spec.title == "Deploy checkout?"
    assert spec.fields == (
        ("Service", "checkout"),
        ("Replicas", "3"),
        ("Canary", "true"),
        ("Owner", "—"),
    )
    assert spec.approvers == ("U0ANA", "S0ONCALL")  # de-duplicated, order kept
    assert spec.links == (("Diff", "https://example.com/diff/1"),)
    assert spec.expires_at == datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
    assert ApprovalSpec.from_dict(spec.to_dict()) == spec


def test_request_types_are_immutable() -> None:
    request = parse(body({"a": 1}))
    with pytest.raises(FrozenInstanceError):
        request.channel = "C0OTHER"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("not json", "not JSON"),
        ("[1, 2]", "must be a JSON object"),
        (json.dumps({"Payload": {}}), "no TaskToken"),
        (json.dumps({"TaskToken": "", "Payload": {}}), "no TaskToken"),
        (json.dumps({"TaskToken": 42, "Payload": {}}), "no TaskToken"),
        (json.dumps({"TaskToken": "t" * (MAX_TASK_TOKEN_CHARS + 1)}), "longer than 2048"),
        ("[" * 100_000, "not JSON"),
    ],
)
def test_messages_without_a_usable_token_are_unprocessable(raw: str, message: str) -> None:
    with pytest.raises(UnprocessableMessage, match=message):
        parse_envelope(raw)


def test_unprocessable_error_never_contains_the_body() -> None:
    raw = '{"TaskToken": "secret-token-value", "Payload": '
    with pytest.raises(UnprocessableMessage) as info:
        parse_envelope(raw)
    assert "secret-token-value" not in str(info.value)
    assert info.value.__cause__ is None
    assert info.value.__context__ is None
    assert "secret-token-value" not in repr(info.value.args)


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"approval": "yes"}, "approval must be an object"),
        ({"approval": {"titel": "x"}}, "did you mean 'title'"),
        ({"approval": {"title": 5}}, "approval.title must be a string"),
        ({"approval": {"title": "t" * 151}}, "at most 150"),
        ({"approval": {"text": "t" * 3001}}, "at most 3000"),
        ({"approval": {"fields": ["a"]}}, "must be an object of label"),
        ({"approval": {"fields": {"x": "v" * 2000}}}, "longer than Slack's 2000"),
        ({"approval": {"fields": {str(i): i for i in range(21)}}}, "at most 20"),
        ({"approval": {"channel": "#ops"}}, "channel id like C0123456789"),
        ({"approval": {"approvers": ["ana"]}}, "user ids"),
        ({"approval": {"approvers": 5}}, "must be a list"),
        ({"approval": {"requester": "ana"}}, "user id or an email"),
        ({"approval": {"links": {"x": "ftp://a"}}}, "http"),
        ({"approval": {"links": {"x": "https://a b"}}}, "without spaces"),
        ({"approval": {"expires_at": "tomorrow"}}, "ISO 8601"),
        ({"approval": {"expires_at": "2026-12-01T10:00:00"}}, "timezone"),
        ({"approval": {"title": "  "}}, "must not be empty"),
    ],
)
def test_invalid_approval_objects_say_what_is_wrong(payload: object, message: str) -> None:
    with pytest.raises(InvalidApprovalRequest, match=message):
        parse(body(payload))


def test_missing_payload_and_bad_execution_are_invalid() -> None:
    with pytest.raises(InvalidApprovalRequest, match="no Payload"):
        parse(json.dumps({"TaskToken": TOKEN}))
    with pytest.raises(InvalidApprovalRequest, match="execution ARN"):
        parse(json.dumps({"TaskToken": TOKEN, "Payload": {}, "Execution": "run-1"}))


def test_no_channel_anywhere_is_invalid() -> None:
    with pytest.raises(InvalidApprovalRequest, match="DEFAULT_CHANNEL"):
        parse(body({"a": 1}), default_channel=None)


def test_approval_id_is_deterministic_opaque_and_short() -> None:
    first = approval_id_for(TOKEN)
    assert first == approval_id_for(TOKEN)
    assert first != approval_id_for(TOKEN + "y")
    assert len(first) == 26
    assert first.isalnum()
    assert first.islower()
    assert TOKEN[:20] not in first
    assert TaskToken(TOKEN).approval_id() == first


def test_task_token_is_redacted_everywhere_but_reveal() -> None:
    token = TaskToken(TOKEN)
    request = parse(body({"a": 1}))
    for text in (str(token), repr(token), f"{token}", repr(request)):
        assert TOKEN not in text
    assert token.reveal() == TOKEN
