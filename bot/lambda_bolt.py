"""Bolt on AWS Lambda, without the work a Lambda-hosted single-workspace app does not need.

``SlackRequestHandler`` starts a lazy listener by re-invoking the function with the API
Gateway event. Before that, Bolt's listener runner re-parses the request and deep-copies it
twice — most of a warm ack's time. :class:`LambdaListenerRunner` builds the lazy request from
just what the re-invocation reads. Relies on Bolt internals (``App._listener_runner``,
``ThreadListenerRunner._build_lazy_request``) of the pinned slack-bolt 1.30.0: recheck on
upgrade (benchmarks/ack.py measures the difference; tests/functional covers the behaviour).
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any, Final
from urllib.parse import parse_qs

from slack_bolt import App, BoltRequest
from slack_bolt.adapter.aws_lambda import SlackRequestHandler
from slack_bolt.adapter.aws_lambda.lazy_listener_runner import LambdaLazyListenerRunner
from slack_bolt.listener.thread_runner import ThreadListenerRunner
from slack_sdk.signature import SignatureVerifier

_UNSIGNED: Final = {"statusCode": 401, "body": "invalid request", "headers": {}}
# Bolt's marks of a lazy listener's re-invocation: a request carrying them runs the named lazy
# listener directly, without its ack-time listener (and so without the checks made there).
LAZY_HEADERS: Final = frozenset({"x-slack-bolt-lazy-only", "x-slack-bolt-lazy-function-name"})


def _malformed(why: str) -> dict[str, Any]:
    return {"statusCode": 400, "body": f"malformed request: {why}", "headers": {}}


def self_invocation(event: dict[str, Any]) -> bool:
    """Whether ``event`` is this function re-invoking itself for a lazy listener.

    ``LambdaLazyListenerRunner.start`` (slack-bolt 1.30.0) re-invokes the function with the API
    Gateway event plus the lazy headers and a top-level ``"method": "NONE"``. API Gateway never
    sets a top-level ``method``, and nothing a client sends over HTTP can: only an AWS principal
    allowed to invoke the function could forge it.
    """
    return event.get("method") == "NONE"


def _header_names(event: dict[str, Any]) -> set[str]:
    names: set[str] = set()
    for key in ("headers", "multiValueHeaders"):  # payload 2.0, and 1.0
        value = event.get(key)
        if isinstance(value, dict):
            names.update(str(name).lower() for name in value)
    return names


def screen(event: dict[str, Any], verifier: SignatureVerifier) -> dict[str, Any] | None:
    """Refuse what Slack did not send before Bolt parses anything: 401 unless the request is
    signed with the signing secret within Slack's 5-minute window, 400 if a signed body is not
    shaped like a Slack request or carries Bolt's internal lazy-listener headers without being
    this function's own re-invocation. None lets the request through to Bolt.

    Bolt parses the body before it checks the signature, and slack_sdk's verifier raises on
    some malformed headers: either would answer a forged request with a 500.
    """
    headers = {
        str(k).lower(): v for k, v in (event.get("headers") or {}).items() if isinstance(v, str)
    }
    body = event.get("body") or ""
    if not isinstance(body, str):
        return _UNSIGNED
    if event.get("isBase64Encoded"):
        try:
            body = base64.b64decode(body, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return _UNSIGNED
    timestamp = headers.get("x-slack-request-timestamp", "")
    signature = headers.get("x-slack-signature", "")
    try:
        signed = timestamp.isdecimal() and verifier.is_valid(body, timestamp, signature)
    except (ValueError, TypeError, UnicodeError):
        signed = False
    if not signed:
        return _UNSIGNED
    if not self_invocation(event) and _header_names(event) & LAZY_HEADERS:
        return _malformed("x-slack-bolt-lazy-* headers are internal to the app")
    return _shape_problem(body, headers.get("content-type", ""))


def _shape_problem(body: str, content_type: str) -> dict[str, Any] | None:
    if "json" in content_type:
        # The app subscribes to no Events API events: only Slack's URL check comes as JSON.
        data = _json(body)
        if not isinstance(data, dict) or data.get("type") != "url_verification":
            return _malformed("this app receives no events")
        return None
    form = parse_form(body)
    if "ssl_check" in form:
        return None
    if "command" in form:
        user = (form.get("user_id") or [""])[0]
        return None if user else _malformed("the slash command names no user")
    if "payload" not in form:
        return _malformed("neither an interaction nor a slash command")
    problem = _payload_problem(_json(form["payload"][0]))
    return _malformed(problem) if problem else None


_OBJECTS: Final = ("user", "channel", "team", "enterprise", "container", "message", "state")


def _payload_problem(payload: Any) -> str | None:
    """What makes an interaction payload unlike Slack's, for the shapes Bolt and the listeners
    rely on (Bolt builds its context from these before any listener can refuse them)."""
    if not isinstance(payload, dict) or not isinstance(payload.get("type"), str):
        return "the payload is not an interaction"
    for key in _OBJECTS:
        if payload.get(key) is not None and not isinstance(payload[key], dict):
            return f"{key} is not an object"
    user = payload.get("user") or {}
    if not isinstance(user.get("id"), str) or not user["id"]:
        return "the payload names no user"
    urls = payload.get("response_urls")
    if urls is not None and (
        not isinstance(urls, list) or len(urls) > 1 or not all(isinstance(u, dict) for u in urls)
    ):
        # The app's modals ask for no response URL; and slack-bolt 1.30.0 fails on several.
        return "unexpected response_urls"
    return _parts_problem(payload)


def _parts_problem(payload: dict[str, Any]) -> str | None:
    """The clicked actions of a click, the view of a modal submission."""
    if payload["type"] == "block_actions":
        actions = payload.get("actions")
        if not isinstance(actions, list) or not actions:
            return "a click without actions"
        if not all(isinstance(a, dict) and isinstance(a.get("action_id"), str) for a in actions):
            return "an action is not an object with an action_id"
    if payload["type"] in ("view_submission", "view_closed"):
        view = payload.get("view")
        if not isinstance(view, dict) or not isinstance(view.get("callback_id"), str):
            return "a view without a callback_id"
        if not isinstance(view.get("type"), str):
            return "a view without a type"
    return None


def _unquote_plus(text: str) -> str:
    """``urllib.parse.unquote_plus`` for well-formed input, in C: each ``%XX`` becomes a
    ``\\xXX`` escape that the ``unicode_escape`` codec decodes (as Latin-1 code points, i.e.
    bytes), then the bytes are read as UTF-8. urllib's pure-Python loop takes ~0.4 ms for a
    click's payload (hundreds of escapes: the clicked message's blocks), about as long as the
    rest of the ack. Anything unusual (a stray ``%``, bytes that are not UTF-8) raises here."""
    if "%" not in text and "+" not in text:
        return text
    escaped = text.replace("\\", "\\\\").replace("+", " ").replace("%", "\\x")
    return escaped.encode("utf-8").decode("unicode_escape").encode("latin-1").decode("utf-8")


def parse_form(body: str) -> dict[str, list[str]]:
    """``urllib.parse.parse_qs(body, keep_blank_values=True)``, the same dict, faster; input
    the fast path does not take exactly falls back to ``parse_qs`` itself."""
    form: dict[str, list[str]] = {}
    try:
        for pair in body.split("&"):
            if not pair:
                continue
            name, _, value = pair.partition("=")
            form.setdefault(_unquote_plus(name), []).append(_unquote_plus(value))
    except (UnicodeError, ValueError):
        return parse_qs(body, keep_blank_values=True)
    return form


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None


class LambdaListenerRunner(ThreadListenerRunner):
    """Bolt's listener runner, minus two deep copies of every click on the ack path.

    Before it starts a lazy listener, Bolt re-parses the request and deep-copies it twice
    (``BoltRequest.to_copyable()`` + ``copy.deepcopy``): the whole payload, including the
    clicked message's blocks, and the API Gateway event. That is most of a warm ack's time.
    On Lambda the lazy request is only handed to ``LambdaLazyListenerRunner.start``, which reads
    three things: the API Gateway event (which it marks ``lazy-only`` and re-invokes the
    function with), the function's ARN and the lazy function's name. This builds a request with
    just those: the event copied as far as ``start`` changes it (the event and its headers).
    The JSON the function is re-invoked with is the same. Any other lazy runner gets Bolt's copy.
    """

    def _build_lazy_request(self, request: BoltRequest, lazy_func_name: str) -> BoltRequest:
        event = request.context.get("lambda_request")
        if not isinstance(self.lazy_listener_runner, LambdaLazyListenerRunner) or not (
            isinstance(event, dict) and isinstance(event.get("headers"), dict)
        ):
            return super()._build_lazy_request(request, lazy_func_name)
        context = {
            "lambda_request": {**event, "headers": dict(event["headers"])},
            "aws_lambda_function_name": request.context.get("aws_lambda_function_name"),
            "aws_lambda_invoked_function_arn": request.context.get(
                "aws_lambda_invoked_function_arn"
            ),
        }
        lazy = BoltRequest(body="", headers={}, context=context, mode=request.mode)
        lazy.lazy_only = True
        lazy.lazy_function_name = lazy_func_name
        lazy.context["listener_runner"] = self
        return lazy


def lambda_request_handler(app: App, *, lambda_client: Any = None) -> SlackRequestHandler:
    """Bolt's Lambda adapter for ``app``, its listeners run by :class:`LambdaListenerRunner`
    (the same handlers, executor and lazy runner as Bolt built).

    ``lambda_client`` is the Lambda client the lazy runner invokes the function with (Bolt
    builds ``boto3.client("lambda")`` on the first lazy listener when it is None)."""
    handler = SlackRequestHandler(app)  # installs LambdaLazyListenerRunner
    runner = app._listener_runner
    if lambda_client is not None and isinstance(
        runner.lazy_listener_runner, LambdaLazyListenerRunner
    ):
        runner.lazy_listener_runner.lambda_client = lambda_client
    app._listener_runner = LambdaListenerRunner(
        logger=runner.logger,
        process_before_response=runner.process_before_response,
        listener_error_handler=runner.listener_error_handler,
        listener_start_handler=runner.listener_start_handler,
        listener_completion_handler=runner.listener_completion_handler,
        listener_executor=runner.listener_executor,
        lazy_listener_runner=runner.lazy_listener_runner,
    )
    return handler
