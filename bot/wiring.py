"""Composition root: builds the real clients and adapters from :class:`~bot.config.Settings`.

Only handlers (and the local sandbox) call this; nothing below them creates a client.
AWS endpoints follow boto3's own configuration (``AWS_ENDPOINT_URL``, ``AWS_REGION``);
Slack's Web API base URL comes from ``SLACK_API_URL`` (the stand-in sets it).

The boto3 clients are built once per process, on first use (:class:`LazyClient`): building one
loads its service model (DynamoDB's alone is ~30 ms), and a path that never calls the service
(the Approve click's ack, a notifier batch with only valid requests and Step Functions) should
not pay for it on a cold start. Warm calls go straight to the built client.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final, cast

import boto3
from botocore.config import Config
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry import RetryHandler
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler
from slack_sdk.web import SlackResponse

from bot.aws_session import new_session
from bot.config import Settings
from bot.group_store import GroupStore
from bot.home_store import HomeStore
from bot.service import ApprovalService, Policy
from bot.slack_gateway import SlackGateway
from bot.slack_retry import DeadlineRetryHandler
from bot.store import ApprovalStore
from bot.workflow import StepFunctionsGateway

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_lambda import LambdaClient
    from mypy_boto3_stepfunctions import SFNClient

SLACK_RATE_LIMIT_RETRIES: Final = 2  # 429 retries per call when no deadline is set
# After the last 429 wait: one more Slack call at its timeout (settings.slack_timeout_seconds)
# plus this long to save the record, report the batch and return.
FINISH_SECONDS: Final = 1.0

AWS_CONFIG: Final = Config(
    retries={"mode": "standard", "max_attempts": 4},
    connect_timeout=3,
    read_timeout=10,
)


def utc_now() -> datetime:
    return datetime.now(UTC)


class ReportingWebClient(WebClient):
    """slack_sdk's ``WebClient`` that tells ``on_error`` the Web API method of every
    ``SlackApiError`` it raises (after its retry handlers gave up), then raises it as before."""

    def __init__(self, *, on_error: Callable[[str], None], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._on_error = on_error

    def api_call(self, api_method: str, **kwargs: Any) -> SlackResponse:
        try:
            return super().api_call(api_method, **kwargs)
        except SlackApiError:
            self._on_error(api_method)
            raise


def notifier_retry_handler(settings: Settings) -> DeadlineRetryHandler:
    """The notifier's 429 handler: retries while ``Retry-After`` fits in the invocation's
    remaining time (the handler sets the deadline per invocation), keeping
    ``slack_timeout_seconds + FINISH_SECONDS`` for the last call and the rest of the record;
    ``SLACK_RATE_LIMIT_RETRIES`` retries when no deadline is set."""
    return DeadlineRetryHandler(
        SLACK_RATE_LIMIT_RETRIES,
        safety_margin_s=settings.slack_timeout_seconds + FINISH_SECONDS,
    )


def slack_client(
    settings: Settings,
    *,
    on_error: Callable[[str], None] | None = None,
    rate_limit_handler: RetryHandler | None = None,
) -> WebClient:
    """A WebClient that honours 429 ``Retry-After`` but never blindly re-sends a post.

    Only rate-limit answers are retried in process: Slack did not act on them. A timeout or a
    dropped connection may have posted anyway, so those surface to the service, which retries
    through SQS after checking the channel for the post (see ``ApprovalService.submit``).
    ``on_error`` hears of every ``SlackApiError`` by method (the handlers count them).
    ``rate_limit_handler`` replaces the default 429 handler (slack_sdk's
    ``RateLimitErrorRetryHandler``, ``SLACK_RATE_LIMIT_RETRIES`` retries), e.g. with
    :func:`notifier_retry_handler`.
    """
    handler = rate_limit_handler or RateLimitErrorRetryHandler(
        max_retry_count=SLACK_RATE_LIMIT_RETRIES
    )
    kwargs: dict[str, Any] = {
        "token": settings.bot_token(),
        "timeout": settings.slack_timeout_seconds,
        "retry_handlers": [handler],
    }
    if settings.slack_api_url:
        kwargs["base_url"] = settings.slack_api_url
    if on_error is not None:
        return ReportingWebClient(on_error=on_error, **kwargs)
    return WebClient(**kwargs)


# boto3's default session is not thread-safe while it builds a client (the notifier posts
# channels on worker threads): one lock for every lazily built client.
_BUILD_LOCK: Final = threading.Lock()


class LazyClient:
    """A boto3 client built on first attribute access (thread-safe), then used directly.

    Stands in for the client everywhere (``client.put_item(...)``,
    ``client.meta.events.register(...)``): every attribute is the real client's.
    """

    def __init__(self, build: Callable[[], Any]) -> None:
        self._build = build
        self._client: Any = None

    @property
    def built(self) -> bool:
        return self._client is not None

    def _real(self) -> Any:
        client = self._client
        if client is None:
            with _BUILD_LOCK:
                if self._client is None:
                    self._client = self._build()
                client = self._client
        return client

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name in ("_build", "_client"):  # copy/pickle probes
            raise AttributeError(name)
        return getattr(self._real(), name)

    def __repr__(self) -> str:
        return f"LazyClient({self._client!r})" if self.built else "LazyClient(not built yet)"


_session: boto3.session.Session | None = None


def aws_session() -> boto3.session.Session:
    """The process's one boto3 session (:func:`bot.aws_session.new_session`), made on first use.

    Call it under ``_BUILD_LOCK`` (a :class:`LazyClient` build does): making a session is not
    thread-safe either."""
    global _session  # noqa: PLW0603 - once per process, like boto3's default session
    if _session is None:
        _session = new_session()
    return _session


def dynamodb_client() -> DynamoDBClient:
    return cast(
        "DynamoDBClient", LazyClient(lambda: aws_session().client("dynamodb", config=AWS_CONFIG))
    )


def sfn_client() -> SFNClient:
    return cast(
        "SFNClient", LazyClient(lambda: aws_session().client("stepfunctions", config=AWS_CONFIG))
    )


def lambda_client() -> LambdaClient:
    """For Bolt's lazy listeners (``lambda:Invoke`` of this function): what Bolt would build
    itself (``boto3.client("lambda")``, botocore's default configuration), from this session."""
    return cast("LambdaClient", LazyClient(lambda: aws_session().client("lambda")))


def policy_from(settings: Settings) -> Policy:
    return Policy(
        default_channel=settings.default_channel,
        default_approvers=settings.default_approvers,
        allow_self_approval=settings.allow_self_approval,
        post_lease_seconds=settings.post_lease_seconds,
    )


def build_service(settings: Settings, *, web_client: WebClient | None = None) -> ApprovalService:
    dynamodb = dynamodb_client()
    return ApprovalService(
        store=ApprovalStore(
            dynamodb, settings.approvals_table, retention_days=settings.retention_days
        ),
        workflow=StepFunctionsGateway(sfn_client()),
        slack=SlackGateway(web_client or slack_client(settings)),
        policy=policy_from(settings),
        clock=utc_now,
        groups=GroupStore(dynamodb, settings.approvals_table),
        home=HomeStore(dynamodb, settings.approvals_table),  # App Home visits, same table
    )
