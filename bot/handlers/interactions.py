"""Interactions Lambda: Slack's Request URL for buttons, modals and ``/approvals``.

API Gateway HTTP API (payload v2) → Bolt's ``SlackRequestHandler``. Bolt verifies the
signature (and Slack's 5-minute window) before any listener runs: a bad or stale request
gets 401 and changes nothing. Listeners ack at once; decisions run in lazy listeners, which
re-invoke this function asynchronously (it needs ``lambda:InvokeFunction`` on itself).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.utilities.typing import LambdaContext
from slack_bolt import App, BoltContext, BoltRequest
from slack_bolt.adapter.aws_lambda import SlackRequestHandler
from slack_bolt.adapter.aws_lambda.lazy_listener_runner import LambdaLazyListenerRunner
from slack_bolt.authorization import AuthorizeResult
from slack_bolt.authorization.authorize import Authorize
from slack_bolt.listener.thread_runner import ThreadListenerRunner
from slack_bolt.middleware.authorization import MultiTeamsAuthorization, SingleTeamAuthorization

from bot.config import load_settings
from bot.handlers.tracing import traced, tracer_if_enabled
from bot.slack_app import build_app
from bot.wiring import build_service, slack_client


class KnownBotToken(Authorize):
    """Bolt's ``authorize`` for this single-workspace app: the bot token is already known.

    Bolt's default for a token-only app (``SingleTeamAuthorization``) calls ``auth.test`` on
    the first request of every execution environment, before the listener may ack: a Slack
    round trip on every cold click, for the bot's own ids, which no listener uses. The request
    itself is authenticated by its signature (``RequestVerification``, which runs first).
    """

    def __init__(self, bot_token: str) -> None:
        self._bot_token = bot_token

    def __call__(
        self,
        *,
        context: BoltContext,
        enterprise_id: str | None,
        team_id: str | None,
        user_id: str | None,
        actor_enterprise_id: str | None = None,
        actor_team_id: str | None = None,
        actor_user_id: str | None = None,
    ) -> AuthorizeResult:
        return AuthorizeResult(
            enterprise_id=enterprise_id,
            team_id=team_id,
            user_id=user_id,
            bot_token=self._bot_token,
        )


def authorize_without_auth_test(app: App, bot_token: str) -> None:
    """Swap the app's ``SingleTeamAuthorization`` for :class:`KnownBotToken` (Bolt's
    ``App(authorize=...)`` would do the same; ``build_app`` builds a token-only app)."""
    middleware = app._middleware_list
    for index, item in enumerate(middleware):
        if isinstance(item, SingleTeamAuthorization):
            middleware[index] = MultiTeamsAuthorization(
                authorize=KnownBotToken(bot_token), base_logger=app._base_logger
            )


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


def lean_lazy_requests(app: App) -> None:
    """Run the app's listeners with :class:`LambdaListenerRunner` (same handlers, executor and
    lazy runner as Bolt built)."""
    runner = app._listener_runner
    app._listener_runner = LambdaListenerRunner(
        logger=runner.logger,
        process_before_response=runner.process_before_response,
        listener_error_handler=runner.listener_error_handler,
        listener_start_handler=runner.listener_start_handler,
        listener_completion_handler=runner.listener_completion_handler,
        listener_executor=runner.listener_executor,
        lazy_listener_runner=runner.lazy_listener_runner,
    )


logger = Logger(service="sfn-approvals")
copy_config_to_registered_loggers(source_logger=logger, include={"bot", "slack_bolt"})
tracer = tracer_if_enabled("sfn-approvals")

settings = load_settings()
web_client = slack_client(settings)
service = build_service(settings, web_client=web_client)
app = build_app(service, signing_secret=settings.signing_secret(), client=web_client)
authorize_without_auth_test(app, web_client.token or "")
slack_handler = SlackRequestHandler(app)  # installs LambdaLazyListenerRunner
lean_lazy_requests(app)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@traced(tracer)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    response: dict[str, Any] = slack_handler.handle(event, context)  # type: ignore[no-untyped-call]
    return response
