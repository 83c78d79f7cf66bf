"""Expirations Lambda: approvals whose execution stopped waiting say so.

* EventBridge "Step Functions Execution Status Change" (FAILED, TIMED_OUT, ABORTED) → the
  execution's open approvals (GSI by execution ARN) become EXPIRED and their messages lose
  their buttons.
* A schedule (every few minutes) → :meth:`ApprovalService.sweep`: requests past their
  ``approval.expires_at`` are expired (and their tasks failed with ``ApprovalExpired``), and
  decisions whose worker died after the claim are completed.
"""

from __future__ import annotations

from typing import Any, Final

from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes import EventBridgeEvent, event_source
from aws_lambda_powertools.utilities.typing import LambdaContext

from bot.config import load_settings
from bot.handlers.metrics import handler_metrics, slack_api_error
from bot.handlers.tracing import traced, tracer_if_enabled
from bot.log_secrecy import install as install_log_secrecy
from bot.wiring import build_service, slack_client

install_log_secrecy()  # before anything logs: no token in any log line, at any level
logger = Logger(service="sfn-approvals")
copy_config_to_registered_loggers(source_logger=logger, include={"bot"})
tracer = tracer_if_enabled("sfn-approvals")
metrics = handler_metrics()

settings = load_settings()
service = build_service(settings, web_client=slack_client(settings, on_error=slack_api_error))

STATUS_CHANGE: Final = "Step Functions Execution Status Change"
STOPPED: Final = frozenset({"FAILED", "TIMED_OUT", "ABORTED"})


@logger.inject_lambda_context
@traced(tracer)
@metrics.log_metrics
@event_source(data_class=EventBridgeEvent)
def handler(event: EventBridgeEvent, context: LambdaContext) -> dict[str, Any]:
    if event.source == "aws.states" and event.detail_type == STATUS_CHANGE:
        status = str(event.detail.get("status", ""))
        execution_arn = str(event.detail.get("executionArn", ""))
        if status not in STOPPED or not execution_arn:
            return {"expired": 0}
        with logger.append_context_keys(execution_arn=execution_arn, status=status):
            expired = service.expire_execution(execution_arn, status)
            logger.info("execution stopped", extra={"expired": expired})
        metrics.add_metric(name="ApprovalExpired", unit=MetricUnit.Count, value=expired)
        return {"expired": expired}
    if event.detail_type == "Scheduled Event":
        report = service.sweep()
        logger.info("sweep done", extra=report)
        metrics.add_metric(name="ApprovalExpired", unit=MetricUnit.Count, value=report["expired"])
        metrics.add_metric(
            name="StaleClaimCompleted", unit=MetricUnit.Count, value=report["claims_completed"]
        )
        return report
    logger.warning(
        "ignored event", extra={"source": event.source, "detail_type": event.detail_type}
    )
    return {"ignored": True}
