"""Notifier Lambda: SQS (the VerificationQueue) → one Slack message per approval request.

Each record is handled on its own (Powertools ``BatchProcessor``); a record that cannot be
handled now is reported in ``batchItemFailures`` and redelivered, then dead-lettered by the
queue's redrive policy. The rest of the batch is not affected. Requires
``functionResponseType: ReportBatchItemFailures`` on the event source mapping.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from bot.config import load_settings
from bot.models import UnprocessableMessage, parse_envelope
from bot.service import RequestOutcome
from bot.wiring import build_service

logger = Logger(service="sfn-approvals")
copy_config_to_registered_loggers(source_logger=logger, include={"bot"})
tracer = Tracer(service="sfn-approvals")
metrics = Metrics(namespace="SfnApprovals", service="sfn-approvals")
# Always a partial response: a batch whose records all failed is still reported record by
# record instead of failing the invocation.
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)

settings = load_settings()
service = build_service(settings)

_METRIC = {
    RequestOutcome.POSTED: "ApprovalPosted",
    RequestOutcome.RECOVERED: "ApprovalPostRecovered",
    RequestOutcome.DUPLICATE: "DuplicateSkipped",
    RequestOutcome.INVALID: "InvalidRequest",
}


@tracer.capture_method
def record_handler(record: SQSRecord) -> RequestOutcome:
    with logger.append_context_keys(message_id=record.message_id):
        try:
            envelope = parse_envelope(record.body)
        except UnprocessableMessage as exc:
            # No token: nothing to fail. Retry, then the DLQ keeps the message for a human.
            logger.error("unprocessable message", extra={"reason": str(exc)})
            metrics.add_metric(name="UnprocessableMessage", unit=MetricUnit.Count, value=1)
            raise
        with logger.append_context_keys(
            approval_id=envelope.task_token.approval_id(), execution_arn=envelope.execution_arn
        ):
            try:
                outcome = service.submit(envelope)
            except Exception as exc:
                logger.warning("record failed; it will be retried", extra={"error": str(exc)})
                metrics.add_metric(name="RecordFailed", unit=MetricUnit.Count, value=1)
                raise
            logger.info("request handled", extra={"outcome": outcome.value})
            metrics.add_metric(name=_METRIC[outcome], unit=MetricUnit.Count, value=1)
            return outcome


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
