"""The packaged stack in a CloudFormation engine: moto's, in process.

As `serverless deploy` does it: create the stack from the core template (the deployment
bucket), upload the artifacts and the compiled template to that bucket, update the stack to
the full template; then update it again (the example workflow turned on) and delete it. The
assertions read what moto built — queues and redrive, the table and its indexes, the roles and
their statements with every intrinsic resolved, the functions and their event source mapping,
the rules — and ``MOTO_CANNOT_CREATE`` lists, exactly, what moto's CloudFormation skips (it
warns and goes on), so a moto that learns one of them makes this test say so.

The packages are the ones test_deploy_config.py reads (deploy_package.build).
"""

from __future__ import annotations

import ast
import json
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Final

import boto3
import pytest
from moto import mock_aws

from tests.functional import deploy_package
from tests.functional.deploy_package import CREATE_TEMPLATE, SERVICE, STAGE, Package

REGION: Final = "ap-northeast-2"
ACCOUNT: Final = "123456789012"  # moto's
STACK: Final = f"{SERVICE}-{STAGE}"
CAPABILITIES: Final = ["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"]

# Resource types of the packaged stack that moto 5.2's CloudFormation does not implement:
# it warns "No Moto CloudFormation support for ..." and creates nothing for them. Real
# CloudFormation creates them; the template tests (test_deploy_config.py,
# test_deploy_monitoring.py) and cfn-lint cover their properties.
MOTO_CANNOT_CREATE: Final = frozenset(
    {
        "AWS::ApiGatewayV2::Api",
        "AWS::ApiGatewayV2::Integration",
        "AWS::ApiGatewayV2::Route",
        "AWS::ApiGatewayV2::Stage",
        "AWS::CloudWatch::Alarm",
        "AWS::Lambda::EventInvokeConfig",
        "AWS::S3::BucketPolicy",
    }
)
# Other gaps seen here, asserted below where they show: moto ignores a function's
# Architectures (it reports x86_64), does not record the exports of an update, and then fails
# to delete such a stack with a KeyError after it deleted its resources.


pytestmark = pytest.mark.filterwarnings("ignore:Tried to parse:UserWarning")


@dataclass
class Aws:
    cloudformation: Any
    s3: Any
    sqs: Any
    dynamodb: Any
    iam: Any
    lambda_: Any
    events: Any
    cloudwatch: Any
    logs: Any
    sfn: Any


@pytest.fixture(scope="module")
def packages(tmp_path_factory: pytest.TempPathFactory) -> tuple[Package, Package]:
    return (
        deploy_package.build(tmp_path_factory),
        deploy_package.build(tmp_path_factory, *deploy_package.EXAMPLE),
    )


@pytest.fixture
def aws() -> Iterator[Aws]:
    # moto's configuration as its defaults, whatever tests before this one set: with
    # execute_state_machine on, the Step Functions API answers from another backend than
    # the one CloudFormation creates state machines in.
    config: Any = {
        "stepfunctions": {"execute_state_machine": False},
        "lambda": {"use_docker": False},
    }
    with mock_aws(config=config):

        def client(name: str) -> Any:
            return boto3.client(name, region_name=REGION)

        yield Aws(
            cloudformation=client("cloudformation"),
            s3=client("s3"),
            sqs=client("sqs"),
            dynamodb=client("dynamodb"),
            iam=client("iam"),
            lambda_=client("lambda"),
            events=client("events"),
            cloudwatch=client("cloudwatch"),
            logs=client("logs"),
            sfn=client("stepfunctions"),
        )


def _resources(aws: Aws) -> dict[str, str]:
    """Logical id -> physical id of what the engine created."""
    listed = aws.cloudformation.describe_stack_resources(StackName=STACK)["StackResources"]
    return {
        r["LogicalResourceId"]: r.get("PhysicalResourceId", "")
        for r in listed
        if r.get("LogicalResourceId")
    }


def _upload(aws: Aws, bucket: str, package: Package) -> str:
    """The artifacts where the template expects them, and the template beside them (as the
    Framework uploads it): the template's URL."""
    keys = {
        r["Properties"]["Code"]["S3Key"] for r in package.of_type("AWS::Lambda::Function").values()
    }
    for key in keys:
        body = (package.directory / key.rsplit("/", 1)[1]).read_bytes()
        aws.s3.put_object(Bucket=bucket, Key=key, Body=body)
    (prefix,) = {k.rsplit("/", 1)[0] for k in keys}
    template_key = f"{prefix}/compiled-cloudformation-template.json"
    aws.s3.put_object(Bucket=bucket, Key=template_key, Body=json.dumps(package.template))
    return f"https://{bucket}.s3.{REGION}.amazonaws.com/{template_key}"


@contextmanager
def _skipped() -> Iterator[set[str]]:
    """The resource types moto warned (meanwhile) it cannot create."""
    types: set[str] = set()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield types
    prefix = "Tried to parse "
    types.update(
        str(w.message).removeprefix(prefix).split(" ", 1)[0]
        for w in caught
        if str(w.message).startswith(prefix)
    )


def _update(aws: Aws, bucket: str, package: Package) -> None:
    url = _upload(aws, bucket, package)
    aws.cloudformation.update_stack(StackName=STACK, TemplateURL=url, Capabilities=CAPABILITIES)
    (stack,) = aws.cloudformation.describe_stacks(StackName=STACK)["Stacks"]
    assert stack["StackStatus"] == "UPDATE_COMPLETE", stack.get("StackStatusReason")


def _statements(aws: Aws, role: str) -> dict[str, dict[str, Any]]:
    (name,) = aws.iam.list_role_policies(RoleName=role)["PolicyNames"]
    document = aws.iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]
    if isinstance(document, str):
        # moto keeps the inline policy of a role it created from a template as Python's
        # repr() of the document, not as JSON.
        document = ast.literal_eval(document)
    return {s["Sid"]: s for s in document["Statement"]}


def test_create_update_and_delete_the_packaged_stack(
    aws: Aws, packages: tuple[Package, Package]
) -> None:
    default, example = packages
    # 1. The core stack: the deployment bucket.
    core = (default.directory / CREATE_TEMPLATE).read_text()
    with _skipped() as skipped:
        aws.cloudformation.create_stack(StackName=STACK, TemplateBody=core)
        bucket = _resources(aws)["ServerlessDeploymentBucket"]

        # 2. The full stack.
        _update(aws, bucket, default)
    created = _resources(aws)
    template = default.resources
    # (AlarmEmailSubscription's condition is false: no alarmEmail.)
    expected = {
        k
        for k, v in template.items()
        if v["Type"] not in MOTO_CANNOT_CREATE and "Condition" not in v
    }
    assert set(created) == expected
    assert skipped == MOTO_CANNOT_CREATE

    # Queues and their redrive.
    attributes = aws.sqs.get_queue_attributes(
        QueueUrl=created["VerificationQueue"], AttributeNames=["All"]
    )["Attributes"]
    dlq_arn = aws.sqs.get_queue_attributes(
        QueueUrl=created["VerificationDeadLetterQueue"], AttributeNames=["QueueArn"]
    )["Attributes"]["QueueArn"]
    assert attributes["VisibilityTimeout"] == "180"
    assert json.loads(attributes["RedrivePolicy"]) == {
        "deadLetterTargetArn": dlq_arn,
        "maxReceiveCount": 5,
    }
    failures = aws.sqs.get_queue_attributes(
        QueueUrl=created["InteractionsAsyncFailureQueue"], AttributeNames=["All"]
    )["Attributes"]
    assert failures["MessageRetentionPeriod"] == "1209600"

    # The table and its indexes.
    table = aws.dynamodb.describe_table(TableName=created["ApprovalsTable"])["Table"]
    assert {i["IndexName"] for i in table["GlobalSecondaryIndexes"]} == {
        "by-status",
        "by-execution",
        "audit-by-time",
    }
    assert table["DeletionProtectionEnabled"] is True

    # The functions, their roles and the statements with every intrinsic resolved.
    functions = {
        key: aws.lambda_.get_function(FunctionName=f"{STACK}-{key}")["Configuration"]
        for key in ("notifier", "interactions", "expirations")
    }
    for key, config in functions.items():
        assert config["Runtime"] == "python3.13", key
        assert config["Handler"] == f"bot.handlers.{key}.handler"
        assert config["Environment"]["Variables"]["APPROVALS_TABLE"] == created["ApprovalsTable"]
        assert config["Architectures"] == ["x86_64"]  # moto ignores arm64 (the template has it)
    interactions_role = functions["interactions"]["Role"].rsplit("/", 1)[1]
    assert interactions_role == created["InteractionsRole"]
    statements = _statements(aws, interactions_role)
    ssm = f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/{SERVICE}/{STAGE}/"
    assert sorted(statements["SlackSecrets"]["Resource"]) == [
        f"{ssm}slack-bot-token",
        f"{ssm}slack-signing-secret",
    ]
    assert statements["ReadExecutions"]["Resource"] == [
        f"arn:aws:states:{REGION}:{ACCOUNT}:execution:{SERVICE}-{STAGE}-*:*"
    ]
    failure_queue_arn = aws.sqs.get_queue_attributes(
        QueueUrl=created["InteractionsAsyncFailureQueue"], AttributeNames=["QueueArn"]
    )["Attributes"]["QueueArn"]
    assert statements["AsyncFailureDestination"]["Resource"] == [failure_queue_arn]
    assert statements["LazyListenersInvokeSelf"]["Resource"] == [
        functions["interactions"]["FunctionArn"]
    ]
    expirations = _statements(aws, created["ExpirationsRole"])
    assert expirations["SlackBotToken"]["Resource"] == [f"{ssm}slack-bot-token"]

    # The queue's event source mapping.
    (mapping,) = aws.lambda_.list_event_source_mappings()["EventSourceMappings"]
    assert mapping["FunctionArn"] == functions["notifier"]["FunctionArn"]
    assert mapping["EventSourceArn"] == attributes["QueueArn"]
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]

    # The rules: the sweep, and stopped executions of this stage's state machines only.
    rules = {r["Name"]: r for r in aws.events.list_rules()["Rules"]}
    patterns = [json.loads(r["EventPattern"]) for r in rules.values() if "EventPattern" in r]
    assert [p["detail"]["stateMachineArn"] for p in patterns] == [
        [{"wildcard": f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{SERVICE}-{STAGE}-*"}]
    ]
    assert [r["ScheduleExpression"] for r in rules.values() if "ScheduleExpression" in r] == [
        "rate(5 minutes)"
    ]
    # The dashboard and the access log group.
    (dashboard,) = aws.cloudwatch.list_dashboards()["DashboardEntries"]
    assert dashboard["DashboardName"] == STACK
    groups = {g["logGroupName"]: g for g in aws.logs.describe_log_groups()["logGroups"]}
    assert groups[f"/aws/http-api/{STACK}"]["retentionInDays"] == 30
    assert aws.cloudformation.list_exports()["Exports"] == []  # moto: exports of an update

    # 3. An update: the example workflow on.
    _update(aws, bucket, example)
    updated = _resources(aws)
    added = {
        k
        for k, v in example.resources.items()
        if v["Type"] not in MOTO_CANNOT_CREATE and "Condition" not in v
    }
    assert set(updated) == added
    assert updated["ApprovalsTable"] == created["ApprovalsTable"]  # updated in place
    (machine,) = aws.sfn.list_state_machines()["stateMachines"]
    assert machine["name"] == f"{STACK}-approval-flow"

    # 4. Delete: everything goes but the retained table.
    # moto never recorded the exports the update added, and fails on them with a KeyError
    # after it deleted the resources.
    with pytest.raises(KeyError, match=rf"^'(sls-{STACK}|{STACK})-"):
        aws.cloudformation.delete_stack(StackName=STACK)
    (summary,) = aws.cloudformation.list_stacks()["StackSummaries"]
    assert summary["StackStatus"] == "DELETE_COMPLETE"
    assert aws.dynamodb.list_tables()["TableNames"] == [created["ApprovalsTable"]]
    assert aws.lambda_.list_functions()["Functions"] == []
    assert aws.sqs.list_queues().get("QueueUrls", []) == []
    assert aws.sfn.list_state_machines()["stateMachines"] == []
    assert aws.events.list_rules()["Rules"] == []


def test_the_core_template_is_only_the_deployment_bucket(packages: tuple[Package, Package]) -> None:
    core = json.loads((packages[0].directory / CREATE_TEMPLATE).read_text())
    assert {v["Type"] for v in core["Resources"].values()} == {
        "AWS::S3::Bucket",
        "AWS::S3::BucketPolicy",
    }
