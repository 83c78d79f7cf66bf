"""The metrics contract: every bot metric the deployed dashboard and alarms read is emitted by a
handler, in namespace ``SfnApprovals`` with the dimensions and unit they read.

The expected metrics come from the template itself (serverless.yml's resource files: the
dashboard body and any alarm in the bot's namespace), so a metric the dashboard shows but the
bot never emits fails here. The handlers run for real (moto, the Slack stand-in, signed
requests); their EMF lines are read from what they print, as CloudWatch reads them.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from bot.ids import Action, Input, Modal
from bot.local.events import LocalContext, body_event
from bot.local.infra import ExampleStack
from bot.local.slack_standin import Fault, SlackStandIn
from bot.models import approval_id_for
from tests.functional.conftest import (
    ANA,
    CHANNEL,
    EVE,
    POST_LEASE_SECONDS,
    Aws,
    Interactions,
    invoke_notifier,
    receive_for,
    start_execution,
)

ROOT = Path(__file__).resolve().parents[2]
NAMESPACE = "SfnApprovals"
SERVICE = "sfn-approvals"
UNITS = {"DecisionLatency": "Milliseconds"}  # the dashboard's "(ms)" widget; the rest count

Metric = tuple[str, frozenset[str]]  # name, dimension names


class _TemplateLoader(yaml.SafeLoader):
    """YAML with CloudFormation's short tags (``!Ref``...) read as their plain values."""


_TemplateLoader.add_multi_constructor(
    "!",
    lambda loader, _tag, node: (
        loader.construct_scalar(node) if isinstance(node, yaml.ScalarNode) else None
    ),
)


def template_resources() -> dict[str, Any]:
    """The resources serverless.yml deploys from its resource files (long-form intrinsics)."""
    text = (ROOT / "serverless.yml").read_text(encoding="utf-8")
    config = yaml.load(text, Loader=_TemplateLoader)  # noqa: S506 - SafeLoader + tag stubs
    resources: dict[str, Any] = {}
    for entry in config["resources"] if isinstance(config["resources"], list) else []:
        found = re.fullmatch(r"\$\{file\((.+)\)\}", str(entry))
        if found:
            loaded = yaml.safe_load((ROOT / found.group(1)).read_text(encoding="utf-8"))
            resources.update(loaded.get("Resources", {}))
    return resources


def metrics_the_deployment_reads() -> set[Metric]:
    wanted: set[Metric] = set()
    for resource in template_resources().values():
        properties = resource.get("Properties", {})
        if resource.get("Type") == "AWS::CloudWatch::Dashboard":
            body = properties["DashboardBody"]
            body = json.loads(body["Fn::Sub"] if isinstance(body, dict) else body)
            for widget in body["widgets"]:
                for row in widget.get("properties", {}).get("metrics", []):
                    if row and row[0] == NAMESPACE:
                        names = [x for x in row[1:] if isinstance(x, str)]
                        dims = dict(zip(names[1::2], names[2::2], strict=True))
                        assert dims.get("service") == SERVICE, row
                        wanted.add((names[0], frozenset(dims)))
                    elif row and isinstance(row[0], dict) and "expression" in row[0]:
                        for dims_text, name in re.findall(
                            r"\{" + NAMESPACE + r",([^}]*)\}\s+MetricName=\"(\w+)\"",
                            row[0]["expression"],
                        ):
                            wanted.add((name, frozenset(dims_text.split(","))))
        if resource.get("Type") == "AWS::CloudWatch::Alarm":
            if properties.get("Namespace") == NAMESPACE:
                dims = {d["Name"] for d in properties.get("Dimensions", [])}
                wanted.add((properties["MetricName"], frozenset(dims)))
            for query in properties.get("Metrics", []):
                stat = query.get("MetricStat", {}).get("Metric", {})
                if stat.get("Namespace") == NAMESPACE:
                    dims = {d["Name"] for d in stat.get("Dimensions", [])}
                    wanted.add((stat["MetricName"], frozenset(dims)))
    return wanted


def emitted(stdout: str) -> tuple[dict[Metric, set[str]], list[str]]:
    """What the EMF lines on stdout publish: (name, dimensions) → units; and the EMF lines."""
    found: dict[Metric, set[str]] = {}
    lines: list[str] = []
    for line in stdout.splitlines():
        try:
            blob = json.loads(line)
        except ValueError:
            continue
        if not isinstance(blob, dict) or "_aws" not in blob:
            continue
        lines.append(line)
        for directive in blob["_aws"]["CloudWatchMetrics"]:
            assert directive["Namespace"] == NAMESPACE, line
            for dims in directive["Dimensions"]:
                assert blob["service"] == SERVICE, line
                for metric in directive["Metrics"]:
                    assert metric["Name"] in blob, line
                    key = (metric["Name"], frozenset(dims))
                    found.setdefault(key, set()).add(metric["Unit"])
    return found, lines


def test_the_template_names_the_bots_metrics() -> None:
    """The parser finds what the dashboard shows (else the contract below would be empty)."""
    wanted = metrics_the_deployment_reads()
    assert ("ApprovalPosted", frozenset({"service"})) in wanted
    assert ("SlackApiError", frozenset({"service", "method"})) in wanted
    assert len(wanted) >= 12


def test_every_metric_the_dashboard_and_alarms_read_is_emitted_by_a_handler(
    aws: Aws,
    stack: ExampleStack,
    slack: SlackStandIn,
    notifier: ModuleType,
    interactions: Interactions,
    expirations: ModuleType,
    capsys: pytest.CaptureFixture[str],
) -> None:
    context = LocalContext(function_name="notifier")
    # Notifier: posted, duplicate, invalid (the channel does not exist: a Slack API error),
    # unprocessable, failed (the post's answer lost) and then recovered on redelivery.
    for name, extra in (("ok", {}), ("expire", {}), ("bad", {"channel": "C0NOSUCH"})):
        message = receive_for(aws, stack.queues.url, start_execution(aws, stack, name, **extra))
        assert invoke_notifier(notifier, stack, [message]) == {"batchItemFailures": []}
        if name == "ok":
            ok = message
            assert invoke_notifier(notifier, stack, [message]) == {"batchItemFailures": []}
        elif name == "expire":
            expire = message
    broken = body_event(["{broken"], queue_arn=stack.queues.arn)
    assert notifier.handler(broken, context)["batchItemFailures"]
    lost = receive_for(aws, stack.queues.url, start_execution(aws, stack, "lost"))
    slack.inject("chat.postMessage", Fault(status=500, after=True))
    assert invoke_notifier(notifier, stack, [lost])["batchItemFailures"]
    time.sleep(POST_LEASE_SECONDS + 0.1)  # the failed attempt's post lease expires
    assert invoke_notifier(notifier, stack, [lost]) == {"batchItemFailures": []}

    tokens = [json.loads(m["Body"])["TaskToken"] for m in (ok, expire, lost)]
    ts = {
        (m.get("metadata") or {}).get("event_payload", {}).get("approval_id"): m["ts"]
        for m in slack.messages(CHANNEL)
    }
    ok_ts, expire_ts, lost_ts = (ts[approval_id_for(t)] for t in tokens)
    assert expire_ts

    # Interactions: an approval, a refusal, a rejection (each in its lazy listener).
    interactions.slack.click(ANA, CHANNEL, ok_ts, Action.APPROVE)
    interactions.slack.click(EVE, CHANNEL, lost_ts, Action.APPROVE)
    interactions.wait()
    interactions.slack.click(ANA, CHANNEL, lost_ts, Action.REJECT)
    (modal,) = interactions.slack.open_views(Modal.REJECT)
    reason = {Input.REASON_BLOCK: {Input.REASON_INPUT: "Not today"}}
    assert interactions.slack.submit(ANA, modal, reason).status == 200
    interactions.wait()

    # Expirations: the waiting execution stopped.
    execution = json.loads(expire["Body"])["Execution"]
    aws.sfn.stop_execution(executionArn=execution, error="Cancelled")
    event = {
        "version": "0",
        "id": "6f1e1b6e-0000-0000-0000-000000000001",
        "detail-type": "Step Functions Execution Status Change",
        "source": "aws.states",
        "account": "123456789012",
        "time": "2026-11-25T12:00:00Z",
        "region": "us-east-1",
        "resources": [execution],
        "detail": {"executionArn": execution, "status": "ABORTED"},
    }
    assert expirations.handler(event, LocalContext(function_name="expirations")) == {"expired": 1}
    # The scheduled sweep reports what it expired and which stale claims it completed.
    sweep = {**event, "detail-type": "Scheduled Event", "source": "aws.events", "detail": {}}
    report = expirations.handler(sweep, LocalContext(function_name="expirations"))
    assert set(report) >= {"expired", "claims_completed"}

    found, lines = emitted(capsys.readouterr().out)
    missing = {
        (name, tuple(sorted(dims)))
        for name, dims in metrics_the_deployment_reads()
        if (name, dims) not in found
    }
    assert not missing, f"the dashboard/alarms read metrics no handler emitted: {missing}"
    for (name, _), units in found.items():
        assert units == {UNITS.get(name, "Count")}, (name, units)
    methods = {json.loads(line).get("method") for line in lines} - {None}
    assert methods == {"chat.postMessage"}
    text = "\n".join(lines)
    for token in tokens:
        assert token not in text
        assert approval_id_for(token) not in text
