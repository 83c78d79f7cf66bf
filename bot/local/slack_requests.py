"""What Slack sends to an app's Request URL, built locally.

Pure helpers that produce the exact bytes Slack POSTs for interactivity (``block_actions``,
``view_submission``) and slash commands, signed the way Slack signs them
(``v0=HMAC-SHA256(signing_secret, "v0:{timestamp}:{raw body}")``), plus an API Gateway HTTP API
(payload format 2.0) event wrapping such a request, as Bolt's
``slack_bolt.adapter.aws_lambda.SlackRequestHandler`` receives it on Lambda::

    body = block_actions_body(user_id="U1", user_name="ana", team_id="T1", channel_id="C1",
                              message_ts="1764099000.000100", action_id="approve",
                              value="apv-123", block_id="decision")
    event = api_gateway_v2_event(body, signed_form_headers(secret, body))
    handler.handle(event, context)            # or: post_signed(url, body, secret)

Interaction bodies are ``application/x-www-form-urlencoded`` with a single ``payload`` field holding
the JSON payload; slash command bodies are form-encoded fields.
"""

from __future__ import annotations

import base64 as b64
import hashlib
import hmac
import json
import secrets
import time
import urllib.error
import urllib.request
import uuid
from datetime import UTC, datetime
from typing import Any, Final
from urllib.parse import urlencode, urlsplit

__all__ = [
    "FORM_CONTENT_TYPE",
    "VERIFICATION_TOKEN",
    "api_gateway_v2_event",
    "app_home_opened_body",
    "block_actions_body",
    "home_block_actions_body",
    "post_signed",
    "post_signed_as",
    "sign",
    "signed_form_headers",
    "signed_json_headers",
    "slash_command_body",
    "view_submission_body",
]

FORM_CONTENT_TYPE: Final = "application/x-www-form-urlencoded"
JSON_CONTENT_TYPE: Final = "application/json"
#: The (deprecated) verification token Slack still puts in payloads; apps must not rely on it.
VERIFICATION_TOKEN: Final = "standin-verification-token"  # noqa: S105 (a fake, public value)
SLACK_USER_AGENT: Final = "Slackbot 1.0 (+https://api.slack.com/robots)"


def sign(signing_secret: str, body: str, timestamp: int | None = None) -> dict[str, str]:
    """Slack's request signature headers for ``body`` (timestamp: now unless given).

    Returns ``{"x-slack-request-timestamp": ts, "x-slack-signature": "v0=<hex hmac>"}``.
    """
    ts = int(time.time()) if timestamp is None else timestamp
    base = f"v0:{ts}:{body}".encode()
    digest = hmac.new(signing_secret.encode("utf-8"), base, hashlib.sha256).hexdigest()
    return {"x-slack-request-timestamp": str(ts), "x-slack-signature": f"v0={digest}"}


def signed_form_headers(
    signing_secret: str, body: str, timestamp: int | None = None
) -> dict[str, str]:
    """`sign` plus ``content-type: application/x-www-form-urlencoded``, as Slack sends them."""
    return {"content-type": FORM_CONTENT_TYPE, **sign(signing_secret, body, timestamp)}


def signed_json_headers(
    signing_secret: str, body: str, timestamp: int | None = None
) -> dict[str, str]:
    """`sign` plus ``content-type: application/json``, as Slack sends Events API requests."""
    return {"content-type": JSON_CONTENT_TYPE, **sign(signing_secret, body, timestamp)}


def _trigger_id() -> str:
    """A fresh trigger id shaped like Slack's ("<digits>.<digits>.<hex>")."""
    return f"{secrets.randbelow(10**13)}.{secrets.randbelow(10**12)}.{secrets.token_hex(16)}"


def _response_url(kind: str, team_id: str) -> str:
    return (
        f"https://hooks.slack.com/{kind}/{team_id}/{secrets.randbelow(10**13)}/"
        f"{secrets.token_urlsafe(18)}"
    )


def _now_ts() -> str:
    return f"{time.time():.6f}"


def _user(user_id: str, user_name: str, team_id: str) -> dict[str, str]:
    return {"id": user_id, "username": user_name, "name": user_name, "team_id": team_id}


def _payload_body(payload: dict[str, Any]) -> str:
    return urlencode({"payload": json.dumps(payload, separators=(",", ":"))})


def block_actions_body(
    *,
    user_id: str,
    user_name: str,
    team_id: str,
    channel_id: str,
    message_ts: str | None,
    action_id: str,
    value: str,
    block_id: str,
    trigger_id: str | None = None,
    response_url: str | None = None,
    message: dict[str, Any] | None = None,
    container_type: str = "message",
    is_ephemeral: bool = False,
    api_app_id: str = "A0STANDIN",
    channel_name: str | None = None,
    team_domain: str = "standin",
    view: dict[str, Any] | None = None,
) -> str:
    """The form-encoded body of a ``block_actions`` interaction: a button click.

    ``container_type`` "message" (default) describes a button in a channel message
    (``message_ts``, ``channel_id``, ``is_ephemeral``); for an in-channel message the payload
    carries ``message`` (the given one, e.g. ``SlackStandIn.message(...)``, or a minimal one).
    ``container_type`` "view" describes a button inside a modal: pass the ``view`` (with its id).
    ``trigger_id`` and ``response_url`` are generated when not given.
    """
    if container_type == "view":
        if view is None or "id" not in view:
            raise ValueError("container_type 'view' needs the view (with its id)")
        container: dict[str, Any] = {"type": "view", "view_id": view["id"]}
    elif container_type == "message":
        if message_ts is None:
            raise ValueError("container_type 'message' needs message_ts")
        container = {
            "type": "message",
            "message_ts": message_ts,
            "channel_id": channel_id,
            "is_ephemeral": is_ephemeral,
        }
    else:
        raise ValueError(f"unsupported container_type {container_type!r}")

    payload: dict[str, Any] = {
        "type": "block_actions",
        "user": _user(user_id, user_name, team_id),
        "api_app_id": api_app_id,
        "token": VERIFICATION_TOKEN,
        "container": container,
        "trigger_id": trigger_id or _trigger_id(),
        "team": {"id": team_id, "domain": team_domain},
        "enterprise": None,
        "is_enterprise_install": False,
    }
    if container_type == "message":
        payload["channel"] = {"id": channel_id, "name": channel_name or channel_id}
        if message is not None:
            payload["message"] = message
        elif not is_ephemeral:
            payload["message"] = {"type": "message", "ts": message_ts, "text": ""}
    else:
        payload["view"] = view
    payload["state"] = {"values": {}}
    payload["response_url"] = response_url or _response_url("actions", team_id)
    payload["actions"] = [
        {
            "action_id": action_id,
            "block_id": block_id,
            "text": {"type": "plain_text", "text": action_id, "emoji": True},
            "value": value,
            "type": "button",
            "action_ts": _now_ts(),
        }
    ]
    return _payload_body(payload)


def home_block_actions_body(
    *,
    user_id: str,
    user_name: str,
    team_id: str,
    view: dict[str, Any],
    action_id: str,
    value: str,
    block_id: str,
    trigger_id: str | None = None,
    api_app_id: str = "A0STANDIN",
    team_domain: str = "standin",
) -> str:
    """The form-encoded body of a ``block_actions`` interaction from a button on the app's
    **Home tab**: the container is the published view (``{"type": "view", "view_id": ...}``)
    and the payload carries that ``view`` (``type`` "home", with its id, hash and state). A
    view has no channel, message or ``response_url``: the app answers with Web API calls
    (``views.publish``, ``chat.update``, ``views.open`` with the ``trigger_id``).

    ``view`` is the Home view as published, e.g. ``SlackStandIn.home_view(user_id)``.
    (`block_actions_body` with ``container_type="view"`` describes a modal's button and adds a
    ``response_url`` and a top-level ``state``, which Slack does not send for a Home tab.)
    """
    if view.get("type") != "home" or "id" not in view:
        raise ValueError("a Home tab click needs the published home view (type 'home', its id)")
    published = json.loads(json.dumps(view))  # a deep copy of plain JSON
    published.setdefault("state", {"values": {}})
    payload: dict[str, Any] = {
        "type": "block_actions",
        "user": _user(user_id, user_name, team_id),
        "api_app_id": api_app_id,
        "token": VERIFICATION_TOKEN,
        "container": {"type": "view", "view_id": published["id"]},
        "trigger_id": trigger_id or _trigger_id(),
        "team": {"id": team_id, "domain": team_domain},
        "enterprise": None,
        "is_enterprise_install": False,
        "view": published,
        "actions": [
            {
                "action_id": action_id,
                "block_id": block_id,
                "text": {"type": "plain_text", "text": action_id, "emoji": True},
                "value": value,
                "type": "button",
                "action_ts": _now_ts(),
            }
        ],
    }
    return _payload_body(payload)


def view_submission_body(
    *,
    user_id: str,
    user_name: str,
    team_id: str,
    view: dict[str, Any],
    values: dict[str, dict[str, dict[str, Any]]],
    private_metadata: str | None = None,
    trigger_id: str | None = None,
    api_app_id: str = "A0STANDIN",
    team_domain: str = "standin",
) -> str:
    """The form-encoded body of a ``view_submission`` interaction: a modal's Submit.

    ``view`` is the modal as opened (e.g. ``SlackStandIn.views()[-1]["view"]``, or the view
    definition the app sent: missing ``id``/``hash``/... are filled in). ``values`` becomes
    ``view.state.values``: ``{block_id: {action_id: {"type": "plain_text_input", "value": ...}}}``.
    ``private_metadata``, when given, replaces the view's.
    """
    submitted: dict[str, Any] = {
        "id": f"V{secrets.token_hex(5).upper()}",
        "team_id": team_id,
        "type": "modal",
        "private_metadata": "",
        "callback_id": "",
        "external_id": "",
        "hash": f"{int(time.time())}.{secrets.token_hex(4)}",
        "clear_on_close": False,
        "notify_on_close": False,
        "previous_view_id": None,
        "app_id": api_app_id,
        "app_installed_team_id": team_id,
        "bot_id": "B0STANDIN",
    }
    submitted.update(json.loads(json.dumps(view)))  # a deep copy of plain JSON
    submitted.setdefault("root_view_id", submitted["id"])
    submitted["state"] = {"values": values}
    if private_metadata is not None:
        submitted["private_metadata"] = private_metadata
    payload: dict[str, Any] = {
        "type": "view_submission",
        "team": {"id": team_id, "domain": team_domain},
        "user": _user(user_id, user_name, team_id),
        "api_app_id": api_app_id,
        "token": VERIFICATION_TOKEN,
        "trigger_id": trigger_id or _trigger_id(),
        "view": submitted,
        "response_urls": [],
        "enterprise": None,
        "is_enterprise_install": False,
    }
    return _payload_body(payload)


def slash_command_body(
    *,
    command: str,
    text: str,
    user_id: str,
    user_name: str,
    channel_id: str,
    team_id: str,
    trigger_id: str | None = None,
    response_url: str | None = None,
    channel_name: str | None = None,
    team_domain: str = "standin",
    api_app_id: str = "A0STANDIN",
) -> str:
    """The form-encoded body Slack POSTs when a user runs a slash command (e.g. ``/approvals``)."""
    return urlencode(
        {
            "token": VERIFICATION_TOKEN,
            "team_id": team_id,
            "team_domain": team_domain,
            "channel_id": channel_id,
            "channel_name": channel_name or channel_id,
            "user_id": user_id,
            "user_name": user_name,
            "command": command,
            "text": text,
            "api_app_id": api_app_id,
            "is_enterprise_install": "false",
            "response_url": response_url or _response_url("commands", team_id),
            "trigger_id": trigger_id or _trigger_id(),
        }
    )


def app_home_opened_body(
    *,
    user_id: str,
    team_id: str,
    channel_id: str,
    tab: str = "home",
    view: dict[str, Any] | None = None,
    event_id: str | None = None,
    event_time: int | None = None,
    api_app_id: str = "A0STANDIN",
    bot_user_id: str = "UBOT",
) -> str:
    """The JSON body of an Events API delivery of ``app_home_opened`` (the person opened the
    app's Home tab, or its Messages tab with ``tab="messages"``), as Slack POSTs it to the
    app's Request URL. ``view``: the Home view published before, if any (Slack includes it).
    ``event_id`` (``Ev…``) is what a retried delivery repeats; fresh when not given."""
    now = int(time.time()) if event_time is None else event_time
    event: dict[str, Any] = {
        "type": "app_home_opened",
        "user": user_id,
        "channel": channel_id,
        "tab": tab,
        "event_ts": f"{now}.{secrets.randbelow(10**6):06d}",
    }
    if view is not None:
        event["view"] = view
    body = {
        "token": VERIFICATION_TOKEN,
        "team_id": team_id,
        "api_app_id": api_app_id,
        "event": event,
        "type": "event_callback",
        "event_id": event_id or f"Ev{secrets.token_hex(5).upper()}",
        "event_time": now,
        "authorizations": [
            {
                "enterprise_id": None,
                "team_id": team_id,
                "user_id": bot_user_id,
                "is_bot": True,
                "is_enterprise_install": False,
            }
        ],
        "is_ext_shared_channel": False,
        "event_context": f"4-{secrets.token_urlsafe(24)}",
    }
    return json.dumps(body, separators=(",", ":"))


def api_gateway_v2_event(
    body: str,
    headers: dict[str, str],
    *,
    path: str = "/slack/events",
    method: str = "POST",
    base64: bool = False,
) -> dict[str, Any]:
    """An API Gateway HTTP API (payload format 2.0) Lambda event for a request Slack made.

    ``headers`` (e.g. from `signed_form_headers`) are lower-cased, as API Gateway delivers them;
    ``content-type`` defaults to form-encoded. With ``base64=True`` the body is base64-encoded and
    ``isBase64Encoded`` is true (API Gateway does that for some content types).
    """
    now = datetime.now(UTC)
    api_id = "standinapi"
    domain = f"{api_id}.execute-api.us-east-1.amazonaws.com"
    lowered = {name.lower(): value for name, value in headers.items()}
    lowered.setdefault("content-type", FORM_CONTENT_TYPE)
    event_headers = {
        "accept": "application/json,*/*",
        "accept-encoding": "gzip,deflate",
        "content-length": str(len(body.encode("utf-8"))),
        "host": domain,
        "user-agent": SLACK_USER_AGENT,
        "x-amzn-trace-id": f"Root=1-{int(now.timestamp()):08x}-{secrets.token_hex(12)}",
        "x-forwarded-for": "127.0.0.1",
        "x-forwarded-port": "443",
        "x-forwarded-proto": "https",
        **lowered,
    }
    return {
        "version": "2.0",
        "routeKey": f"{method} {path}",
        "rawPath": path,
        "rawQueryString": "",
        "headers": event_headers,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": api_id,
            "domainName": domain,
            "domainPrefix": api_id,
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": SLACK_USER_AGENT,
            },
            "requestId": str(uuid.uuid4()),
            "routeKey": f"{method} {path}",
            "stage": "$default",
            "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "timeEpoch": int(now.timestamp() * 1000),
        },
        "body": b64.b64encode(body.encode("utf-8")).decode("ascii") if base64 else body,
        "isBase64Encoded": base64,
    }


def post_signed(
    url: str,
    body: str,
    signing_secret: str,
    *,
    timestamp: int | None = None,
    timeout: float = 5.0,
) -> tuple[int, dict[str, str], str]:
    """POST ``body`` to ``url`` the way Slack does (signed, form-encoded).

    Returns ``(status, headers with lower-case names, body text)``; HTTP error statuses are
    returned, not raised. Only http(s) URLs are accepted.
    """
    if urlsplit(url).scheme not in ("http", "https"):
        raise ValueError(f"not an http(s) URL: {url!r}")
    headers = {**signed_form_headers(signing_secret, body, timestamp)}
    headers["user-agent"] = SLACK_USER_AGENT
    request = urllib.request.Request(  # noqa: S310 (scheme checked above)
        url, data=body.encode("utf-8"), headers=headers, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            status = int(response.status)
            response_headers = {k.lower(): v for k, v in response.headers.items()}
            text = response.read().decode("utf-8", errors="replace")
    except urllib.error.HTTPError as error:
        status = int(error.code)
        response_headers = {k.lower(): v for k, v in error.headers.items()}
        text = error.read().decode("utf-8", errors="replace")
    return status, response_headers, text


def post_signed_as(
    url: str,
    body: str,
    signing_secret: str,
    *,
    content_type: str,
    timestamp: int | None = None,
    timeout: float = 5.0,
) -> tuple[int, dict[str, str], str]:
    """`post_signed` with another ``content-type``: Slack POSTs Events API callbacks (e.g.
    ``app_home_opened``) and its URL check as ``application/json``, signed the same way.

    Returns ``(status, headers with lower-case names, body text)``; HTTP error statuses are
    returned, not raised. Only http(s) URLs are accepted.
    """
    if urlsplit(url).scheme not in ("http", "https"):
        raise ValueError(f"not an http(s) URL: {url!r}")
    headers = {
        **sign(signing_secret, body, timestamp),
        "content-type": content_type,
        "user-agent": SLACK_USER_AGENT,
    }
    request = urllib.request.Request(  # noqa: S310 (scheme checked above)
        url, data=body.encode("utf-8"), headers=headers, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            status = int(response.status)
            response_headers = {k.lower(): v for k, v in response.headers.items()}
            text = response.read().decode("utf-8", errors="replace")
    except urllib.error.HTTPError as error:
        status = int(error.code)
        response_headers = {k.lower(): v for k, v in error.headers.items()}
        text = error.read().decode("utf-8", errors="replace")
    return status, response_headers, text
