"""Notifier Lambda: SQS (the VerificationQueue) → one Slack message per approval request.

Records for different channels are posted in parallel, a channel's records in order (Slack
rate-limits posting per channel). Each record's result is then reported through Powertools'
``BatchProcessor``: a record that cannot be handled now is in ``batchItemFailures`` and is
redelivered, then dead-lettered by the queue's redrive policy; the rest of the batch is not
affected. Requires ``functionResponseType: ReportBatchItemFailures`` on the event source.

The invocation's remaining time bounds the work: the Slack client's 429 retries stop when the
next ``Retry-After`` would not fit (``bot.slack_retry.DeadlineRetryHandler``, deadline set from
``context.get_remaining_time_in_millis()`` per invocation), and a record not started yet when
too little time is left is not started: it is reported (``OutOfTime``) and redelivered, instead
of being cut off by Lambda's timeout with the rest of the batch.
"""

# ruff: noqa: E402 - the imports follow startup.pause()
from __future__ import annotations

from bot.handlers import startup  # isort: skip - first: the imports below run without the GC

startup.pause()

from concurrent.futures import ThreadPoolExecutor
from typing import Any, Final

from aws_lambda_powertools import Logger
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
from bot.handlers.metrics import handler_metrics, slack_api_error
from bot.handlers.tracing import traced, tracer_if_enabled
from bot.log_secrecy import install as install_log_secrecy
from bot.models import Envelope, UnprocessableMessage, parse_envelope
from bot.service import RequestOutcome
from bot.wiring import build_service, notifier_retry_handler, slack_client

install_log_secrecy()  # before anything logs: no token in any log line, at any level
logger = Logger(service="sfn-approvals")
copy_config_to_registered_loggers(source_logger=logger, include={"bot"})
tracer = tracer_if_enabled("sfn-approvals")
metrics = handler_metrics()
# Always a partial response: a batch whose records all failed is still reported record by
# record instead of failing the invocation.
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)

settings = load_settings()
retry_handler = notifier_retry_handler(settings)
service = build_service(
    settings,
    web_client=slack_client(settings, on_error=slack_api_error, rate_limit_handler=retry_handler),
)

_METRIC = {
    RequestOutcome.POSTED: "ApprovalPosted",
    RequestOutcome.RECOVERED: "ApprovalPostRecovered",
    RequestOutcome.DUPLICATE: "DuplicateSkipped",
    RequestOutcome.INVALID: "InvalidRequest",
}
MAX_PARALLEL_CHANNELS: Final = 10
startup.resume()  # set-up done: freeze what it allocated, GC back on


Parsed = Envelope | UnprocessableMessage  # a record's body, parsed once per delivery


class OutOfTime(Exception):
    """Not started: too little of the invocation was left (the record is redelivered)."""


def parse(record: SQSRecord) -> Parsed:
    try:
        return parse_envelope(record.body)
    except UnprocessableMessage as exc:
        return exc


def submit(record: SQSRecord, parsed: Parsed) -> RequestOutcome:
    """Handle one record (on a worker thread; log keys are per thread)."""
    logger.thread_safe_append_keys(message_id=record.message_id)
    try:
        if isinstance(parsed, UnprocessableMessage):
            # No token: nothing to fail. Retry, then the DLQ keeps the message for a human.
            logger.error("unprocessable message", extra={"reason": str(parsed)})
            raise parsed
        logger.thread_safe_append_keys(
            approval_id=parsed.task_token.approval_id(), execution_arn=parsed.execution_arn
        )
        try:
            outcome = service.submit(parsed)
        except Exception as exc:
            logger.warning("record failed; it will be retried", extra={"error": str(exc)})
            raise
        logger.info("request handled", extra={"outcome": outcome.value})
        return outcome
    finally:
        logger.thread_safe_clear_keys()


def _channel(record: SQSRecord, parsed: Parsed) -> str:
    """Records for one channel are posted in order (Slack rate-limits per channel)."""
    if isinstance(parsed, UnprocessableMessage):
        return f"-{record.message_id}"
    return service.channel_for(parsed) or f"-{record.message_id}"


def _run_channel(
    items: list[tuple[SQSRecord, Parsed]],
) -> dict[str, RequestOutcome | BaseException]:
    results: dict[str, RequestOutcome | BaseException] = {}
    for record, parsed in items:
        if not retry_handler.fits(0):
            logger.warning(
                "record not started: too little time left; it will be retried",
                extra={"message_id": record.message_id, "reason": "OutOfTime"},
            )
            results[record.message_id] = OutOfTime(record.message_id)
            continue
        try:
            results[record.message_id] = submit(record, parsed)
        except BaseException as exc:  # replayed on the main thread by record_handler
            results[record.message_id] = exc
    return results


def post_batch(event: dict[str, Any]) -> dict[str, RequestOutcome | BaseException]:
    """Post a batch: channels in parallel, each channel's records in order."""
    by_channel: dict[str, list[tuple[SQSRecord, Parsed]]] = {}
    for raw in event.get("Records", []):
        record = SQSRecord(raw)
        parsed = parse(record)
        by_channel.setdefault(_channel(record, parsed), []).append((record, parsed))
    groups = list(by_channel.values())
    if len(groups) <= 1:
        return _run_channel(groups[0]) if groups else {}
    results: dict[str, RequestOutcome | BaseException] = {}
    with ThreadPoolExecutor(max_workers=min(MAX_PARALLEL_CHANNELS, len(groups))) as pool:
        for done in pool.map(_run_channel, groups):
            results.update(done)
    return results


@logger.inject_lambda_context
@traced(tracer)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    retry_handler.set_deadline_in(context.get_remaining_time_in_millis() / 1000)
    try:
        with service.home_refresh_deferred():  # each App Home concerned: one publish a batch
            results = post_batch(event)
    finally:
        retry_handler.clear_deadline()

    def record_handler(record: SQSRecord) -> RequestOutcome:
        result = results[record.message_id]
        if isinstance(result, BaseException):
            failed = isinstance(result, UnprocessableMessage)
            name = "UnprocessableMessage" if failed else "RecordFailed"
            metrics.add_metric(name=name, unit=MetricUnit.Count, value=1)
            raise result
        metrics.add_metric(name=_METRIC[result], unit=MetricUnit.Count, value=1)
        return result

    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
