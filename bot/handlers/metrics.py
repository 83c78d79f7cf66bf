"""The bot's CloudWatch metrics (Powertools EMF): namespace ``SfnApprovals``, dimension
``service=sfn-approvals`` on every metric, as infra/resources/dashboard.yml and docs/deploy.md
read them. No metric name, dimension or value ever carries a task token or an approval id.

* :class:`DecisionMetrics` — a decision's outcome, from the interactions function's lazy
  listeners: ``ApprovalApproved`` / ``ApprovalRejected`` with ``DecisionLatency`` (ms from the
  request being stored for posting to the decision) once a decision completes the request,
  ``DecisionRefused`` when someone who may not decide tried. Flushed at once (the interactions
  handler is not wrapped in ``log_metrics``: an ack emits nothing and should pay nothing).
* :func:`slack_api_error` — ``SlackApiError`` with dimensions ``service`` and ``method``, its
  own EMF blob (``single_metric``: a metric set shares its dimensions), printed at once.
"""

from __future__ import annotations

from typing import Final

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit, single_metric

from bot.models import Status
from bot.service import DecisionResult, Verdict

NAMESPACE: Final = "SfnApprovals"
SERVICE: Final = "sfn-approvals"
_DECIDED: Final = {Status.APPROVED: "ApprovalApproved", Status.REJECTED: "ApprovalRejected"}


def handler_metrics() -> Metrics:
    return Metrics(namespace=NAMESPACE, service=SERVICE)


class DecisionMetrics:
    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    def record(self, result: DecisionResult) -> None:
        """Count ``result`` (a vote that does not yet decide an N-of-M request counts nothing)."""
        approval = result.approval
        if result.verdict is Verdict.REFUSED:
            self._metrics.add_metric(name="DecisionRefused", unit=MetricUnit.Count, value=1)
        elif (
            result.verdict is Verdict.DECIDED
            and approval is not None
            and approval.status in _DECIDED
            and approval.decision is not None
        ):
            self._metrics.add_metric(name=_DECIDED[approval.status], unit=MetricUnit.Count, value=1)
            waited = approval.decision.decided_at - approval.created_at
            self._metrics.add_metric(
                name="DecisionLatency",
                unit=MetricUnit.Milliseconds,
                value=max(0.0, waited.total_seconds() * 1000),
            )
        else:
            return
        self._metrics.flush_metrics()


def slack_api_error(method: str) -> None:
    """One ``SlackApiError`` of Web API ``method`` (e.g. ``chat.postMessage``)."""
    with single_metric(
        name="SlackApiError",
        unit=MetricUnit.Count,
        value=1,
        namespace=NAMESPACE,
        default_dimensions={"service": SERVICE},
    ) as metric:
        metric.add_dimension(name="method", value=method)
