"""Bolt on AWS Lambda, without the work a Lambda-hosted single-workspace app does not need.

``SlackRequestHandler`` starts a lazy listener by re-invoking the function with the API
Gateway event. Before that, Bolt's listener runner re-parses the request and deep-copies it
twice — most of a warm ack's time. :class:`LambdaListenerRunner` builds the lazy request from
just what the re-invocation reads. Relies on Bolt internals (``App._listener_runner``,
``ThreadListenerRunner._build_lazy_request``) of the pinned slack-bolt 1.30.0: recheck on
upgrade (benchmarks/ack.py measures the difference; tests/functional covers the behaviour).

The pre-Bolt screen (:func:`screen_request`) parses the form and the interaction payload to
check their shape; :class:`ScreenedRequestHandler` hands Bolt that parse (:func:`bolt_body`)
instead of letting it parse the same body again (urllib's ``parse_qsl`` decodes a click's
hundreds of ``%XX`` escapes one at a time). Bolt still verifies the signature of the raw body
itself; only its body parse is skipped, and only where the screen's parse is exactly Bolt's.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any, Final
from urllib.parse import parse_qs

from slack_bolt import App, BoltRequest
from slack_bolt.adapter.aws_lambda import SlackRequestHandler
from slack_bolt.adapter.aws_lambda.handler import to_aws_response
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


class Screened:
    """What :func:`screen_request` found: a refusal, or the body Bolt would parse from the
    request (None: let Bolt parse it, e.g. Slack's JSON URL check). A plain class: a
    dataclass costs ~0.6 ms of the cold start to create."""

    __slots__ = ("body", "raw_body", "refused")

    def __init__(
        self,
        refused: dict[str, Any] | None = None,
        *,
        raw_body: str = "",
        body: dict[str, Any] | None = None,
    ) -> None:
        self.refused = refused
        self.raw_body = raw_body
        self.body = body


def screen(event: dict[str, Any], verifier: SignatureVerifier) -> dict[str, Any] | None:
    """:func:`screen_request`'s refusal, or None."""
    return screen_request(event, verifier).refused


def screen_request(event: dict[str, Any], verifier: SignatureVerifier) -> Screened:
    """Refuse what Slack did not send before Bolt parses anything: 401 unless the request is
    signed with the signing secret within Slack's 5-minute window, 400 if a signed body is not
    shaped like a Slack request or carries Bolt's internal lazy-listener headers without being
    this function's own re-invocation. Otherwise the request goes on to Bolt, with the body
    parsed here (:func:`bolt_body`).

    Bolt parses the body before it checks the signature, and slack_sdk's verifier raises on
    some malformed headers: either would answer a forged request with a 500.
    """
    headers = {
        str(k).lower(): v for k, v in (event.get("headers") or {}).items() if isinstance(v, str)
    }
    body = event.get("body") or ""
    if not isinstance(body, str):
        return Screened(_UNSIGNED)
    if event.get("isBase64Encoded"):
        try:
            body = base64.b64decode(body, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return Screened(_UNSIGNED)
    refused = _refusal(event, body, headers, verifier)
    if refused is not None:
        return Screened(refused)
    return _shape(body, headers.get("content-type", ""))


def _refusal(
    event: dict[str, Any], body: str, headers: dict[str, str], verifier: SignatureVerifier
) -> dict[str, Any] | None:
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
    return None


def _shape(body: str, content_type: str) -> Screened:
    if "json" in content_type:
        # JSON: Slack's URL check, or an Events API delivery of the one event the app
        # subscribes to (the manifest's bot_events); Bolt parses and verifies it.
        problem = _event_problem(_json(body))
        return Screened(_malformed(problem) if problem else None, raw_body=body)
    form = parse_form(body)
    if "ssl_check" not in form and "command" in form and not (form.get("user_id") or [""])[0]:
        return Screened(_malformed("the slash command names no user"))
    if "ssl_check" in form or "command" in form:
        return Screened(raw_body=body, body=bolt_body(body, content_type, form))
    if "payload" not in form:
        return Screened(_malformed("neither an interaction nor a slash command"))
    if len(form["payload"]) != 1:
        # Bolt would act on the last one: the screen checks the one there is.
        return Screened(_malformed("more than one payload"))
    payload = _json(form["payload"][0])
    problem = _payload_problem(payload)
    if problem:
        return Screened(_malformed(problem))
    return Screened(raw_body=body, body=bolt_body(body, content_type, form, payload))


SUBSCRIBED_EVENTS: Final = frozenset({"app_home_opened"})  # = the manifest's bot_events


def _event_problem(data: Any) -> str | None:
    """What makes a JSON body other than Slack's URL check or an ``event_callback`` of a
    subscribed event type naming its user (Bolt builds its context from ``event.user``
    before a listener runs)."""
    if not isinstance(data, dict):
        return "the body is not a JSON object"
    if data.get("type") == "url_verification":
        return None
    if data.get("type") != "event_callback":
        return "this app receives no events but app_home_opened"
    event = data.get("event")
    if not isinstance(event, dict) or event.get("type") not in SUBSCRIBED_EVENTS:
        return "this app receives no events but app_home_opened"
    user = event.get("user")
    if not isinstance(user, str) or not user:
        return "the event names no user"
    return None


def bolt_body(
    body: str, content_type: str, form: dict[str, list[str]], payload: Any = None
) -> dict[str, Any] | None:
    """What Bolt's own parse of ``body`` (``slack_bolt.request.internals.parse_body``, 1.30.0)
    returns, from the screen's parse of it (``form``, :func:`parse_form`'s; ``payload``, its
    ``payload`` field parsed): the interaction payload, or the form's fields (their last
    values). None where that is not certainly Bolt's answer: Bolt then parses the body itself.
    """
    if not body or "json" in content_type or body.startswith("{"):
        return None  # Bolt reads it as JSON
    if "payload" in body:
        # Bolt looks for the text "payload" anywhere in the body (a slash command whose text
        # says "payload" included) and answers {} when no field has that name: left to Bolt,
        # as is a body with several (Bolt reads the last).
        one = len(form.get("payload", ())) == 1
        return payload if one and isinstance(payload, dict) else None
    return {name: values[-1] for name, values in form.items()}


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


def screened_bolt_request(
    event: dict[str, Any], raw_body: str, body: dict[str, Any]
) -> BoltRequest:
    """The ``BoltRequest`` Bolt's Lambda adapter builds from ``event`` (``to_bolt_request``,
    slack-bolt 1.30.0: the same raw body, headers, cookies, query and context), its body the
    screen's parse instead of Bolt's second one.

    ``BoltRequest`` takes a parsed body only in Socket Mode (where it keeps no raw body); the
    request is built that way, then given the raw body and HTTP mode back, so that Bolt's
    signature check verifies the raw body as for any HTTP request.
    """
    cookies = event.get("cookies") or []
    if not cookies:  # payload format 1.0
        multi = event.get("multiValueHeaders") or {}
        cookies = multi.get("cookie") or multi.get("Cookie") or []
    headers = event.get("headers", {})
    headers["cookie"] = cookies  # as Bolt's adapter does (the lazy re-invocation carries it)
    request = BoltRequest(
        body=body,
        query=event.get("queryStringParameters", {}),
        headers=headers,
        mode="socket_mode",
    )
    request.raw_body = raw_body
    request.mode = "http"
    return request


class ScreenedRequestHandler(SlackRequestHandler):
    """Bolt's Lambda adapter, given the screen's parse of the body (:func:`screen_request`).

    ``handle_screened`` dispatches a POST (this function's own lazy re-invocation included)
    as ``SlackRequestHandler.handle`` does, with the request from
    :func:`screened_bolt_request`; anything else, or a body the screen did not parse as Bolt
    would, goes to ``handle``.
    """

    def handle_screened(
        self, event: dict[str, Any], context: Any, screened: Screened
    ) -> dict[str, Any]:
        request_context = event.get("requestContext", {})  # as Bolt reads the method
        method = request_context.get("http", {}).get("method")
        if method is None:
            method = request_context.get("httpMethod")
        if screened.body is None or method not in ("POST", "NONE"):
            handled: dict[str, Any] = self.handle(event, context)  # type: ignore[no-untyped-call]
            return handled
        request = screened_bolt_request(event, screened.raw_body, screened.body)
        if method == "POST":
            request.context["aws_lambda_function_name"] = context.function_name
            request.context["aws_lambda_invoked_function_arn"] = context.invoked_function_arn
            request.context["lambda_request"] = event
        response: dict[str, Any] = to_aws_response(self.app.dispatch(request))
        return response


def lambda_request_handler(app: App, *, lambda_client: Any = None) -> ScreenedRequestHandler:
    """Bolt's Lambda adapter for ``app``, its listeners run by :class:`LambdaListenerRunner`
    (the same handlers, executor and lazy runner as Bolt built).

    ``lambda_client`` is the Lambda client the lazy runner invokes the function with (Bolt
    builds ``boto3.client("lambda")`` on the first lazy listener when it is None)."""
    handler = ScreenedRequestHandler(app)  # installs LambdaLazyListenerRunner
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
