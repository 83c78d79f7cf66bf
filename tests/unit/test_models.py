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
        ({"approval": {"notify": "email"}}, "notify must be one of channel, dm, both"),
        ({"approval": {"group": 7}}, "approval.group must be a string"),
        ({"approval": {"group": "g" * 201}}, "at most 200"),
        ({"approval": {"group": "batch\n1"}}, "control characters"),
    ],
)
def test_invalid_approval_objects_say_what_is_wrong(payload: object, message: str) -> None:
    with pytest.raises(InvalidApprovalRequest, match=message):
        parse(body(payload))


def test_notify_and_group_are_parsed_and_kept() -> None:
    request = parse(body({"approval": {"notify": "both", "group": "run-7/batch A"}}))
    assert (request.spec.notify, request.spec.group) == ("both", "run-7/batch A")
    assert request.spec.dms
    assert request.spec.in_channel
    assert ApprovalSpec.from_dict(request.spec.to_dict()) == request.spec
    dm_only = parse(body({"approval": {"notify": "dm"}})).spec
    assert dm_only.dms
    assert not dm_only.in_channel
    default = parse(body({"approval": {}})).spec
    assert (default.notify, default.group, default.dms, default.in_channel) == (
        "channel",
        None,
        False,
        True,
    )
    assert "notify" not in default.to_dict()


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


# --- the mrkdwn rule at parse time (bot.mrkdwn): broadcasts and disguised links are refused ---


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("Heads up <!channel>", "notifies a whole channel or group"),
        ("<!here> please look", "notifies a whole channel or group"),
        ("<!here|here> please look", "notifies a whole channel or group"),
        ("<!everyone>", "notifies a whole channel or group"),
        ("<!group>", "notifies a whole channel or group"),
        ("ping <!subteam^S0ONCALL|@oncall>", "notifies a whole channel or group"),
        ("<https://bank.com@evil.example/login|bank.com>", "user:password@"),
        ("<https://user:pass@evil.example|docs>", "user:password@"),
        ("<https://evil.example/\u202egnp.exe|report>", "U\\+202E"),
        ("<https://example.com/\u200b|docs>", "U\\+200B"),
        ("<https://evil.example\\@bank.com|bank>", "character '\\\\\\\\'"),
        ("see https://bank.com@evil.example/login", "real host is hidden by a user@"),
        ("<https://ex.com|x>" * 160, "once its links show their hosts"),  # 2880 → 4320
    ],
)
def test_text_that_broadcasts_or_hides_a_link_target_is_refused(text: str, message: str) -> None:
    with pytest.raises(InvalidApprovalRequest, match=message) as info:
        parse(body({"approval": {"text": text}}))
    assert str(info.value).startswith("approval.text ")


@pytest.mark.parametrize(
    "text",
    [
        "*bold* _italic_ ~strike~ `code`\n```block```\n> quote\n• a\n1. b :rocket:",
        "for <@U0ANA> and <@W0BO|bo> in <#C0OPS> by <!date^1764079200^{date}|25 Nov>",
        "<https://example.com/diff/1|the diff> and <https://example.com> and <mailto:a@b.io|mail>",
        "an email bob@here.com, a & b, 2 < 3, x > y",
        "<javascript:alert(1)|harmless once inert> <!unknown>",
    ],
)
def test_text_that_formats_is_accepted(text: str) -> None:
    assert parse(body({"approval": {"text": text}})).spec.text == text


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("https://user:pass@evil.example/", "user:password@"),
        ("https://bank.com@evil.example/", "user:password@"),
        ("https://evil.example/\u202efdp.exe", "U\\+202E"),
        ("https://exa\u200bmple.com/", "U\\+200B"),
        ("https://evil.example\\@bank.com/", "character"),
        ("https://%62ank.com/", "host that cannot be shown"),
    ],
)
def test_links_that_hide_their_target_are_refused(url: str, message: str) -> None:
    with pytest.raises(InvalidApprovalRequest, match=message):
        parse(body({"approval": {"links": {"Docs": url}}}))


@pytest.mark.parametrize(
    "arn",
    [
        "arn:aws:states:eu-west-1:123456789012:execution:approval-flow:run-1",
        "arn:aws-us-gov:states:us-gov-west-1:123456789012:execution:flow:run-1",
        "arn:aws-cn:states:cn-north-1:123456789012:execution:flow:2f1a-é-한국어",
        "arn:aws:states:us-east-1:123456789012:execution:parent/map-run:child-0001",
        "arn:aws:states:us-east-1:123456789012:express:flow:run-1:6d4e-11ee",
        "arn:aws:states:ap-southeast-4:123456789012:execution:" + "m" * 80 + ":" + "n" * 80,
    ],
)
def test_execution_arns_of_the_real_grammar_are_accepted(arn: str) -> None:
    assert parse(body({"a": 1}, Execution=arn)).execution_arn == arn


@pytest.mark.parametrize(
    "arn",
    [
        "arn:aws:states:us-east-1:123456789012:execution:flow:<!channel>",
        "arn:aws:states:us-east-1:123456789012:execution:flow:x|y",
        "arn:aws:states:us-east-1:123456789012:execution:fl>ow:run",
        "arn:aws:states:us-east-1:123456789012:execution:flow:run`x`",
        "arn:aws:states:us-east-1:123456789012:execution:flow:a b",
        "arn:aws:states:us-east-1:123456789012:execution:flow:a\u0085b",
        "arn:aws:states:us-east-1:12345678901:execution:flow:run",  # 11-digit account
        "arn:aws:states:us-east-1:123456789012:stateMachine:flow",
        "arn:aws:lambda:us-east-1:123456789012:execution:flow:run",
        "arn:evil:states:us-east-1:123456789012:execution:flow:run",
        "arn:aws:states:US-EAST-1:123456789012:execution:flow:run",
        "arn:aws:states:us-east-1:123456789012:express:flow:run",  # Express: name and id
        "arn:aws:states:us-east-1:123456789012:execution:flow:" + "n" * 81,
        "arn:aws:states:us-east-1:123456789012:execution:"  # longer than 256
        + "m" * 80
        + "/"
        + "l" * 80
        + ":"
        + "n" * 80,
    ],
)
def test_execution_arns_outside_the_grammar_are_refused(arn: str) -> None:
    with pytest.raises(InvalidApprovalRequest, match="execution ARN"):
        parse(body({"a": 1}, Execution=arn))


@pytest.mark.parametrize("channel", ["D0123ABCD", "DABC"])
def test_direct_message_channels_are_refused(channel: str) -> None:
    """The manifest asks for no im:* scope: the bot can neither post to a DM nor tell who
    may see one."""
    with pytest.raises(InvalidApprovalRequest, match="not a direct message"):
        parse(body({"approval": {"channel": channel}}))
    assert parse(body({"approval": {"channel": "G0PRIVATE"}})).channel == "G0PRIVATE"
