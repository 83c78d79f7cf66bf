"""The stack watches itself: alarms, the async-failure destination, HTTP API access logs and the
dashboard of the bot's Powertools metrics, as `serverless package` writes them (the packaged
template is shared with test_deploy_config.py through deploy_package.build)."""

from __future__ import annotations

import json
import re
from typing import Any, Final

import pytest

from tests.functional import deploy_package
from tests.functional.deploy_package import ROOT, SERVICE, STAGE, Package

DEPLOY_DOC: Final = ROOT / "docs" / "deploy.md"

# The metrics contract of the bot (namespace SfnApprovals, dimension service=sfn-approvals).
NOTIFIER_METRICS: Final = (
    "ApprovalPosted",
    "ApprovalPostRecovered",
    "DuplicateSkipped",
    "InvalidRequest",
    "UnprocessableMessage",
    "RecordFailed",
)
DECISION_METRICS: Final = ("ApprovalApproved", "ApprovalRejected", "DecisionRefused")
EXPIRY_METRICS: Final = ("ApprovalExpired", "StaleClaimCompleted")

# alarm logical id -> (namespace, metric, dimension name, dimension value)
ALARMS: Final = {
    "VerificationDeadLetterQueueAlarm": (
        "AWS/SQS",
        "ApproximateNumberOfMessagesVisible",
        "QueueName",
        {"Fn::GetAtt": ["VerificationDeadLetterQueue", "QueueName"]},
    ),
    "VerificationQueueAgeAlarm": (
        "AWS/SQS",
        "ApproximateAgeOfOldestMessage",
        "QueueName",
        {"Fn::GetAtt": ["VerificationQueue", "QueueName"]},
    ),
    "NotifierErrorsAlarm": (
        "AWS/Lambda",
        "Errors",
        "FunctionName",
        {"Ref": "NotifierLambdaFunction"},
    ),
    "NotifierThrottlesAlarm": (
        "AWS/Lambda",
        "Throttles",
        "FunctionName",
        {"Ref": "NotifierLambdaFunction"},
    ),
    "InteractionsErrorsAlarm": (
        "AWS/Lambda",
        "Errors",
        "FunctionName",
        {"Ref": "InteractionsLambdaFunction"},
    ),
    "InteractionsThrottlesAlarm": (
        "AWS/Lambda",
        "Throttles",
        "FunctionName",
        {"Ref": "InteractionsLambdaFunction"},
    ),
    "InteractionsAsyncFailuresAlarm": (
        "AWS/SQS",
        "ApproximateNumberOfMessagesVisible",
        "QueueName",
        {"Fn::GetAtt": ["InteractionsAsyncFailureQueue", "QueueName"]},
    ),
    "ExpirationsErrorsAlarm": (
        "AWS/Lambda",
        "Errors",
        "FunctionName",
        {"Ref": "ExpirationsLambdaFunction"},
    ),
}


@pytest.fixture(scope="session")
def package_default(tmp_path_factory: pytest.TempPathFactory) -> Package:
    return deploy_package.build(tmp_path_factory)


def _dashboard(package: Package) -> dict[str, Any]:
    """The dashboard body, with each ${...} of its Fn::Sub replaced by a marker naming it."""
    body = package.resources["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    parsed: dict[str, Any] = json.loads(re.sub(r"\$\{([^}]+)\}", r"<\1>", body))
    return parsed


def _metric_lines(dashboard: dict[str, Any], title: str) -> list[list[Any]]:
    (widget,) = [w for w in dashboard["widgets"] if w["properties"].get("title") == title]
    lines: list[list[Any]] = widget["properties"]["metrics"]
    return lines


def test_every_alarm_watches_its_metric_and_notifies_the_topic(package_default: Package) -> None:
    alarms = package_default.of_type("AWS::CloudWatch::Alarm")
    assert set(alarms) == set(ALARMS)
    for logical_id, (namespace, metric, dimension, value) in ALARMS.items():
        props = alarms[logical_id]["Properties"]
        assert (props["Namespace"], props["MetricName"]) == (namespace, metric), logical_id
        assert props["Dimensions"] == [{"Name": dimension, "Value": value}], logical_id
        assert props["ComparisonOperator"] == "GreaterThanThreshold", logical_id
        assert props["TreatMissingData"] == "notBreaching", logical_id
        assert props["AlarmActions"] == [{"Ref": "AlarmTopic"}], logical_id
        assert props["OKActions"] == [{"Ref": "AlarmTopic"}], logical_id
        assert props["AlarmName"].startswith(f"{SERVICE}-{STAGE}-"), logical_id
        assert "docs/deploy.md" in props["AlarmDescription"], logical_id
    assert alarms["VerificationQueueAgeAlarm"]["Properties"]["Threshold"] == 600
    sweep = alarms["ExpirationsErrorsAlarm"]["Properties"]
    assert (sweep["EvaluationPeriods"], sweep["DatapointsToAlarm"]) == (2, 2)
    subscription = package_default.resources["AlarmEmailSubscription"]
    assert subscription["Condition"] == "HasAlarmEmail"
    parameter = package_default.template["Parameters"]["AlarmEmail"]
    assert parameter["Default"] == ""
    assert re.fullmatch(parameter["AllowedPattern"], "")
    assert re.fullmatch(parameter["AllowedPattern"], "ops@example.com")
    assert not re.fullmatch(parameter["AllowedPattern"], "ops at example.com")


def test_failed_lazy_listeners_land_on_a_queue_that_is_kept_two_weeks(
    package_default: Package,
) -> None:
    (config,) = package_default.of_type("AWS::Lambda::EventInvokeConfig").values()
    assert config["Properties"]["DestinationConfig"]["OnFailure"]["Destination"] == {
        "Fn::GetAtt": ["InteractionsAsyncFailureQueue", "Arn"]
    }
    queue = package_default.resources["InteractionsAsyncFailureQueue"]["Properties"]
    assert queue["MessageRetentionPeriod"] == 1209600
    assert queue["SqsManagedSseEnabled"] is True


def test_http_api_access_logs_are_json_and_expire(package_default: Package) -> None:
    (stage,) = package_default.of_type("AWS::ApiGatewayV2::Stage").values()
    settings = stage["Properties"]["AccessLogSettings"]
    assert settings["DestinationArn"] == {"Fn::GetAtt": ["HttpApiLogGroup", "Arn"]}
    fields = json.loads(settings["Format"])
    assert {"requestId", "status", "responseLatency", "integrationError"} <= set(fields)
    group = package_default.resources["HttpApiLogGroup"]["Properties"]
    assert group["LogGroupName"] == f"/aws/http-api/{SERVICE}-{STAGE}"
    assert group["RetentionInDays"] == 30


def test_dashboard_shows_the_bots_metrics_by_the_contract(package_default: Package) -> None:
    dashboard = _dashboard(package_default)
    assert package_default.resources["Dashboard"]["Properties"]["DashboardName"] == (
        f"{SERVICE}-{STAGE}"
    )
    service = ["service", "sfn-approvals"]
    requests = _metric_lines(dashboard, "Requests (notifier)")
    assert [line[:4] for line in requests] == [
        ["SfnApprovals", name, *service] for name in NOTIFIER_METRICS
    ]
    decisions = _metric_lines(dashboard, "Decisions and expiries")
    assert [line[:4] for line in decisions] == [
        ["SfnApprovals", name, *service] for name in DECISION_METRICS + EXPIRY_METRICS
    ]
    latency = _metric_lines(dashboard, "Time from request to decision (ms)")
    assert [(line[:4], line[4]["stat"]) for line in latency] == [
        (["SfnApprovals", "DecisionLatency", *service], "p50"),
        (["SfnApprovals", "DecisionLatency", *service], "p95"),
    ]
    ((search,),) = _metric_lines(dashboard, "Slack API errors by method")
    assert search["expression"] == (
        'SEARCH(\'{SfnApprovals,method,service} MetricName="SlackApiError" '
        "service=\"sfn-approvals\"', 'Sum', 300)"
    )


def test_dashboard_references_resolve_to_resources_of_the_stack(package_default: Package) -> None:
    dashboard = package_default.resources["Dashboard"]
    body = dashboard["Properties"]["DashboardBody"]["Fn::Sub"]
    references = set(re.findall(r"\$\{([^}]+)\}", body))
    pseudo = {r for r in references if r.startswith("AWS::")}
    assert pseudo == {"AWS::Partition", "AWS::Region", "AWS::AccountId"}
    for reference in references - pseudo:
        logical_id = reference.split(".", 1)[0]
        assert logical_id in package_default.resources, reference
    widgets = {w["properties"].get("title"): w for w in _dashboard(package_default)["widgets"]}
    shown = widgets["Alarms"]["properties"]["alarms"]
    arn = "arn:<AWS::Partition>:cloudwatch:<AWS::Region>:<AWS::AccountId>:alarm:"
    assert all(a.startswith(arn) for a in shown), shown
    alarms = package_default.of_type("AWS::CloudWatch::Alarm")
    assert sorted(a.removeprefix(arn) for a in shown) == sorted(
        a["Properties"]["AlarmName"] for a in alarms.values()
    )
    assert sorted(dashboard["DependsOn"]) == sorted(alarms)


def test_the_runbook_names_every_alarm_and_metric(package_default: Package) -> None:
    text = DEPLOY_DOC.read_text()
    prefix = f"{SERVICE}-{STAGE}-"
    for alarm in package_default.of_type("AWS::CloudWatch::Alarm").values():
        name = alarm["Properties"]["AlarmName"].removeprefix(prefix)
        assert f"`…-{name}`" in text, name
    for metric in (
        *NOTIFIER_METRICS,
        *DECISION_METRICS,
        *EXPIRY_METRICS,
        "DecisionLatency",
        "SlackApiError",
    ):
        assert f"`{metric}`" in text, metric
    for topic in ("DLQ redrive", "Stuck claim", "Slack outage"):
        assert topic in text, topic
