"""Composition root: builds the real clients and adapters from :class:`~bot.config.Settings`.

Only handlers (and the local sandbox) call this; nothing below them creates a client.
AWS endpoints follow boto3's own configuration (``AWS_ENDPOINT_URL``, ``AWS_REGION``);
Slack's Web API base URL comes from ``SLACK_API_URL`` (the stand-in sets it).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final

import boto3
from botocore.config import Config
from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler

from bot.config import Settings
from bot.service import ApprovalService, Policy
from bot.slack_gateway import SlackGateway
from bot.store import ApprovalStore
from bot.workflow import StepFunctionsGateway

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_stepfunctions import SFNClient

SLACK_RATE_LIMIT_RETRIES: Final = 2

AWS_CONFIG: Final = Config(
    retries={"mode": "standard", "max_attempts": 4},
    connect_timeout=3,
    read_timeout=10,
)


def utc_now() -> datetime:
    return datetime.now(UTC)


def slack_client(settings: Settings) -> WebClient:
    """A WebClient that honours 429 ``Retry-After`` but never blindly re-sends a post.

    Only rate-limit answers are retried in process: Slack did not act on them. A timeout or a
    dropped connection may have posted anyway, so those surface to the service, which retries
    through SQS after checking the channel for the post (see ``ApprovalService.submit``).
    """
    kwargs: dict[str, Any] = {
        "token": settings.bot_token(),
        "timeout": settings.slack_timeout_seconds,
        "retry_handlers": [RateLimitErrorRetryHandler(max_retry_count=SLACK_RATE_LIMIT_RETRIES)],
    }
    if settings.slack_api_url:
        kwargs["base_url"] = settings.slack_api_url
    return WebClient(**kwargs)


def dynamodb_client() -> DynamoDBClient:
    return boto3.client("dynamodb", config=AWS_CONFIG)


def sfn_client() -> SFNClient:
    return boto3.client("stepfunctions", config=AWS_CONFIG)


def policy_from(settings: Settings) -> Policy:
    return Policy(
        default_channel=settings.default_channel,
        default_approvers=settings.default_approvers,
        allow_self_approval=settings.allow_self_approval,
        post_lease_seconds=settings.post_lease_seconds,
    )


def build_service(settings: Settings, *, web_client: WebClient | None = None) -> ApprovalService:
    return ApprovalService(
        store=ApprovalStore(
            dynamodb_client(), settings.approvals_table, retention_days=settings.retention_days
        ),
        workflow=StepFunctionsGateway(sfn_client()),
        slack=SlackGateway(web_client or slack_client(settings)),
        policy=policy_from(settings),
        clock=utc_now,
    )
