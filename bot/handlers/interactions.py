"""Interactions Lambda: Slack's Request URL for buttons, modals and ``/approvals``.

API Gateway HTTP API (payload v2) → the pre-Bolt screen (``bot.lambda_bolt.screen_request``)
→ Bolt's ``SlackRequestHandler``, given the screen's parse of the body. Bolt verifies the
signature (and Slack's 5-minute window) before any listener runs: a bad or stale request
gets 401 and changes nothing. Listeners ack at once; decisions run in lazy listeners, which
re-invoke this function asynchronously (it needs ``lambda:InvokeFunction`` on itself).
"""

# ruff: noqa: E402 - the imports follow startup.pause()
from __future__ import annotations

from bot.handlers import startup  # isort: skip - first: the imports below run without the GC

startup.pause()

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.utilities.typing import LambdaContext
from slack_sdk.signature import SignatureVerifier

from bot.config import load_settings
from bot.handlers.metrics import DecisionMetrics, handler_metrics, slack_api_error
from bot.handlers.tracing import traced, tracer_if_enabled
from bot.lambda_bolt import lambda_request_handler, screen_request
from bot.log_secrecy import install as install_log_secrecy
from bot.slack_app import build_app
from bot.wiring import build_service, lambda_client, slack_client

install_log_secrecy()  # before anything logs: no token in any log line, at any level
logger = Logger(service="sfn-approvals")
copy_config_to_registered_loggers(source_logger=logger, include={"bot", "slack_bolt"})
tracer = tracer_if_enabled("sfn-approvals")

settings = load_settings()
signing_secret = settings.signing_secret()
web_client = slack_client(settings, on_error=slack_api_error)
service = build_service(settings, web_client=web_client)
app = build_app(
    service,
    signing_secret=signing_secret,
    client=web_client,
    bot_token=web_client.token,
    on_decision=DecisionMetrics(handler_metrics()).record,
)
slack_handler = lambda_request_handler(app, lambda_client=lambda_client())
verifier = SignatureVerifier(signing_secret)
startup.resume()  # set-up done: freeze what it allocated, GC back on


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@traced(tracer)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    screened = screen_request(event, verifier)
    if screened.refused is not None:
        return screened.refused
    # Bolt gets the screen's parse of the body; it still verifies the signature itself.
    return slack_handler.handle_screened(event, context, screened)
