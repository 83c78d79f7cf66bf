"""The deployment as CloudFormation will see it: `serverless package`, offline, then invariants.

tests/functional/deploy_package.py builds each configuration once per test process — the
default (``deployExample`` off) and the example workflow on — and these tests read the
generated ``cloudformation-template-update-stack.json`` and zips.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlparse

import pytest
import yaml

from tests.functional import deploy_package
from tests.functional.deploy_package import ROOT, SERVICE, STAGE, TEMPLATE, Package

ASL_FILE: Final = ROOT / "infra" / "statemachine" / "approval-flow.asl.json"
MANIFEST_FILE: Final = ROOT / "infra" / "slack-app-manifest.yml"
BOT_TOKEN_PARAM: Final = f"/{SERVICE}/{STAGE}/slack-bot-token"
SIGNING_SECRET_PARAM: Final = f"/{SERVICE}/{STAGE}/slack-signing-secret"

# The only actions that may be granted on "*": AWS offers no resource type for them
# (Service Authorization Reference; see the comments in infra/resources/iam.yml).
NO_RESOURCE_LEVEL: Final = frozenset(
    {
        "states:SendTaskSuccess",
        "states:SendTaskFailure",
        "states:SendTaskHeartbeat",
        "xray:PutTraceSegments",
        "xray:PutTelemetryRecords",
    }
)
LOGS: Final = frozenset({"logs:CreateLogStream", "logs:PutLogEvents"})
XRAY: Final = frozenset({"xray:PutTraceSegments", "xray:PutTelemetryRecords"})
FUNCTIONS: Final = ("notifier", "interactions", "expirations")
COMMON_ENV: Final = frozenset(
    {"POWERTOOLS_SERVICE_NAME", "POWERTOOLS_METRICS_NAMESPACE", "LOG_LEVEL"}
)


@pytest.fixture(scope="session")
def package_default(tmp_path_factory: pytest.TempPathFactory) -> Package:
    return deploy_package.build(tmp_path_factory)


@pytest.fixture(scope="session")
def package_example(tmp_path_factory: pytest.TempPathFactory) -> Package:
    return deploy_package.build(tmp_path_factory, *deploy_package.EXAMPLE)


# --- reading the template ------------------------------------------------------------------


def _function(package: Package, key: str) -> dict[str, Any]:
    """A function by its serverless.yml key (logical id ``<Key>LambdaFunction``)."""
    logical_id = key[0].upper() + key[1:] + "LambdaFunction"
    resource: dict[str, Any] = package.resources[logical_id]
    return resource


def _role_of(package: Package, key: str) -> tuple[str, dict[str, Any]]:
    role_ref = _function(package, key)["Properties"]["Role"]
    logical_id = role_ref["Fn::GetAtt"][0]
    return logical_id, package.resources[logical_id]


def _statements(role: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for p in role["Properties"]["Policies"] for s in p["PolicyDocument"]["Statement"]]


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _grants(role: dict[str, Any]) -> dict[str, list[Any]]:
    """Action -> every resource it is allowed on (Allow statements only; no Deny is used)."""
    grants: dict[str, list[Any]] = {}
    for statement in _statements(role):
        assert statement["Effect"] == "Allow"
        assert "NotAction" not in statement
        assert "NotResource" not in statement
        for action in _as_list(statement["Action"]):
            grants.setdefault(action, []).extend(_as_list(statement["Resource"]))
    return grants


def _rendered(value: Any) -> str:
    """A resource reference as text: Fn::Sub strings as written, anything else as JSON."""
    if isinstance(value, dict) and "Fn::Sub" in value:
        sub = value["Fn::Sub"]
        return sub if isinstance(sub, str) else sub[0]
    return json.dumps(value, sort_keys=True)


def _getatt(logical_id: str, attribute: str = "Arn") -> dict[str, Any]:
    return {"Fn::GetAtt": [logical_id, attribute]}


def _env(package: Package, key: str) -> dict[str, Any]:
    variables: dict[str, Any] = _function(package, key)["Properties"]["Environment"]["Variables"]
    return variables


class _CfnLoader(yaml.SafeLoader):
    """Reads serverless.yml: CloudFormation short-form tags (!Ref, !GetAtt, …) become plain
    values, as the Framework's own parser does."""


def _tagged(loader: yaml.SafeLoader, tag_suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return {tag_suffix: loader.construct_scalar(node)}
    if isinstance(node, yaml.SequenceNode):
        return {tag_suffix: loader.construct_sequence(node)}
    return {tag_suffix: loader.construct_mapping(node)}  # type: ignore[arg-type]


_CfnLoader.add_multi_constructor("!", _tagged)


# --- the functions ---------------------------------------------------------------------------


def test_the_three_bot_functions_with_their_handlers(package_default: Package) -> None:
    functions = package_default.of_type("AWS::Lambda::Function")
    assert {f["Properties"]["Handler"] for f in functions.values()} == {
        "bot.handlers.notifier.handler",
        "bot.handlers.interactions.handler",
        "bot.handlers.expirations.handler",
    }
    for key in FUNCTIONS:
        props = _function(package_default, key)["Properties"]
        assert props["FunctionName"] == f"{SERVICE}-{STAGE}-{key}"
        assert props["Runtime"] == "python3.13"
        assert props["Architectures"] == ["arm64"]
        assert props["TracingConfig"] == {"Mode": "Active"}
        variables = props["Environment"]["Variables"]
        assert variables["POWERTOOLS_SERVICE_NAME"] == "sfn-approvals"
        assert variables["POWERTOOLS_METRICS_NAMESPACE"] == "SfnApprovals"
        assert variables["LOG_LEVEL"] == "INFO"
        assert variables["APPROVALS_TABLE"] == {"Ref": "ApprovalsTable"}
    log_groups = package_default.of_type("AWS::Logs::LogGroup")
    assert {g["Properties"]["RetentionInDays"] for g in log_groups.values()} == {30}


def test_each_function_gets_only_its_settings(package_default: Package) -> None:
    assert set(_env(package_default, "notifier")) - COMMON_ENV == {
        "APPROVALS_TABLE",
        "DEFAULT_CHANNEL",
        "SLACK_BOT_TOKEN_PARAM",
    }
    assert set(_env(package_default, "interactions")) - COMMON_ENV == {
        "APPROVALS_TABLE",
        "DEFAULT_CHANNEL",
        "DEFAULT_APPROVERS",
        "ALLOW_SELF_APPROVAL",
        "SLACK_BOT_TOKEN_PARAM",
        "SLACK_SIGNING_SECRET_PARAM",
    }
    assert set(_env(package_default, "expirations")) - COMMON_ENV == {
        "APPROVALS_TABLE",
        "SLACK_BOT_TOKEN_PARAM",
    }
    interactions = _env(package_default, "interactions")
    assert interactions["SLACK_BOT_TOKEN_PARAM"] == BOT_TOKEN_PARAM
    assert interactions["SLACK_SIGNING_SECRET_PARAM"] == SIGNING_SECRET_PARAM
    assert interactions["ALLOW_SELF_APPROVAL"] == "false"


def test_no_config_warning(package_default: Package) -> None:
    flagged = re.findall(r"^\s+at '([^']+)'", package_default.output, flags=re.MULTILINE)
    assert flagged == [], package_default.output


def test_notifier_consumes_the_queue_with_partial_batch_failures(package_default: Package) -> None:
    mappings = package_default.of_type("AWS::Lambda::EventSourceMapping")
    assert len(mappings) == 1
    props = next(iter(mappings.values()))["Properties"]
    assert props["EventSourceArn"] == _getatt("VerificationQueue")
    assert props["FunctionName"] == _getatt("NotifierLambdaFunction")
    assert props["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert props["BatchSize"] == 5  # see serverless.yml and docs/performance.md, Bursts
    assert props["MaximumBatchingWindowInSeconds"] == 1


def test_queue_visibility_is_six_notifier_timeouts_and_redrives_to_the_dlq(
    package_default: Package,
) -> None:
    notifier_timeout = _function(package_default, "notifier")["Properties"]["Timeout"]
    queue = package_default.resources["VerificationQueue"]["Properties"]
    assert queue["VisibilityTimeout"] >= 6 * notifier_timeout
    redrive = queue["RedrivePolicy"]
    assert redrive["deadLetterTargetArn"] == _getatt("VerificationDeadLetterQueue")
    assert int(redrive["maxReceiveCount"]) >= 1
    dlq = package_default.resources["VerificationDeadLetterQueue"]["Properties"]
    assert dlq["MessageRetentionPeriod"] >= queue["MessageRetentionPeriod"]


def test_table_indexes_ttl_and_point_in_time_recovery(package_default: Package) -> None:
    table = package_default.resources["ApprovalsTable"]["Properties"]
    assert {i["IndexName"] for i in table["GlobalSecondaryIndexes"]} == {
        "by-status",
        "by-execution",
        "audit-by-time",
    }
    assert table["TimeToLiveSpecification"] == {"AttributeName": "expires_ttl", "Enabled": True}
    assert table["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert table["BillingMode"] == "PAY_PER_REQUEST"


def test_the_table_outlives_the_stack_and_is_the_only_thing_that_does(
    package_default: Package,
) -> None:
    """The audit trail survives `serverless remove` and a replacing update; queues and log
    groups go with the stack (docs/deploy.md, "Remove", says why)."""
    table = package_default.resources["ApprovalsTable"]
    assert table["DeletionPolicy"] == "Retain"
    assert table["UpdateReplacePolicy"] == "Retain"
    assert table["Properties"]["DeletionProtectionEnabled"] is True
    kept = {
        logical_id
        for logical_id, resource in package_default.resources.items()
        if "Retain" in (resource.get("DeletionPolicy"), resource.get("UpdateReplacePolicy"))
    }
    assert kept == {"ApprovalsTable"}


# --- least privilege -------------------------------------------------------------------------


def test_every_function_has_its_own_role_and_there_is_no_shared_one(
    package_default: Package,
) -> None:
    roles = {key: _role_of(package_default, key)[0] for key in FUNCTIONS}
    assert roles == {
        "notifier": "NotifierRole",
        "interactions": "InteractionsRole",
        "expirations": "ExpirationsRole",
    }
    assert set(package_default.of_type("AWS::IAM::Role")) == set(roles.values())
    for logical_id in roles.values():
        role = package_default.resources[logical_id]["Properties"]
        assert "ManagedPolicyArns" not in role
        (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
        assert trust["Principal"] == {"Service": "lambda.amazonaws.com"}


def test_notifier_permissions_are_exactly_what_it_calls(package_default: Package) -> None:
    _, role = _role_of(package_default, "notifier")
    grants = _grants(role)
    assert set(grants) == LOGS | XRAY | {
        "sqs:ReceiveMessage",
        "sqs:DeleteMessage",
        "sqs:GetQueueAttributes",
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "dynamodb:Query",  # the App Home refresh after a post
        "states:SendTaskFailure",
        "ssm:GetParameter",
    }
    assert "states:SendTaskSuccess" not in grants  # it never approves anything
    assert [_rendered(r) for r in grants["dynamodb:Query"]] == [
        json.dumps(_getatt("ApprovalsTable"), sort_keys=True),
        "${TableArn}/index/*",
    ]
    assert grants["sqs:ReceiveMessage"] == [_getatt("VerificationQueue")]
    assert grants["dynamodb:PutItem"] == [_getatt("ApprovalsTable")]
    assert grants["logs:PutLogEvents"] == [_getatt("NotifierLogGroup")]
    assert [_rendered(r) for r in grants["ssm:GetParameter"]] == [
        "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter" + BOT_TOKEN_PARAM
    ]


def test_interactions_permissions_are_exactly_what_it_calls(package_default: Package) -> None:
    _, role = _role_of(package_default, "interactions")
    grants = _grants(role)
    assert set(grants) == LOGS | XRAY | {
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "dynamodb:Query",
        "states:SendTaskSuccess",
        "states:SendTaskFailure",
        "states:DescribeExecution",
        "states:GetExecutionHistory",
        "ssm:GetParameter",
        "lambda:InvokeFunction",
        "sqs:SendMessage",
    }
    # Lambda sends failed lazy-listener invocations to the destination queue as this role.
    assert grants["sqs:SendMessage"] == [_getatt("InteractionsAsyncFailureQueue")]
    assert grants["dynamodb:PutItem"] == [_getatt("ApprovalsTable")]  # the audit trail
    assert [_rendered(r) for r in grants["dynamodb:Query"]] == [
        json.dumps(_getatt("ApprovalsTable"), sort_keys=True),
        "${TableArn}/index/*",
    ]
    assert sorted(_rendered(r).rsplit(":parameter", 1)[1] for r in grants["ssm:GetParameter"]) == [
        BOT_TOKEN_PARAM,
        SIGNING_SECRET_PARAM,
    ]
    assert [_rendered(r) for r in grants["states:DescribeExecution"]] == [
        "arn:${AWS::Partition}:states:${AWS::Region}:${AWS::AccountId}:execution:"
        f"{SERVICE}-{STAGE}-*:*"
    ]


def test_only_interactions_may_invoke_and_only_itself(package_default: Package) -> None:
    name = _function(package_default, "interactions")["Properties"]["FunctionName"]
    for key in ("notifier", "expirations"):
        assert "lambda:InvokeFunction" not in _grants(_role_of(package_default, key)[1])
    (target,) = _grants(_role_of(package_default, "interactions")[1])["lambda:InvokeFunction"]
    assert _rendered(target) == (
        "arn:${AWS::Partition}:lambda:${AWS::Region}:${AWS::AccountId}:function:" + name
    )
    config = package_default.of_type("AWS::Lambda::EventInvokeConfig")
    assert [c["Properties"]["FunctionName"] for c in config.values()] == [
        {"Ref": "InteractionsLambdaFunction"}
    ]
    (props,) = (c["Properties"] for c in config.values())
    assert props["MaximumRetryAttempts"] == 1
    assert props["MaximumEventAgeInSeconds"] == 300
    assert props["DestinationConfig"] == {
        "OnFailure": {"Destination": _getatt("InteractionsAsyncFailureQueue")}
    }


def test_expirations_permissions_never_include_the_signing_secret(
    package_default: Package,
) -> None:
    _, role = _role_of(package_default, "expirations")
    grants = _grants(role)
    assert set(grants) == LOGS | XRAY | {
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "dynamodb:Query",
        "states:SendTaskSuccess",
        "states:SendTaskFailure",
        "states:DescribeExecution",
        "states:GetExecutionHistory",
        "ssm:GetParameter",
    }
    assert grants["dynamodb:PutItem"] == [_getatt("ApprovalsTable")]  # the audit trail
    parameters = [_rendered(r) for r in grants["ssm:GetParameter"]]
    assert parameters == [
        "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter" + BOT_TOKEN_PARAM
    ]
    assert not any("signing-secret" in p for p in parameters)


def test_star_only_where_aws_offers_no_resource_type(
    package_default: Package, package_example: Package
) -> None:
    for package in (package_default, package_example):
        for logical_id, role in package.of_type("AWS::IAM::Role").items():
            for action, resources in _grants(role).items():
                assert "*" not in action, f"{logical_id}: wildcard action {action}"
                if "*" in resources:
                    assert action in NO_RESOURCE_LEVEL, f"{logical_id}: {action} on *"
                    assert resources == ["*"]


# --- events, route, outputs ------------------------------------------------------------------


def test_expirations_hear_stopped_executions_and_sweep(package_default: Package) -> None:
    rules = package_default.of_type("AWS::Events::Rule")
    targets = {
        json.dumps(r["Properties"].get("EventPattern") or r["Properties"]["ScheduleExpression"])
        for r in rules.values()
        if r["Properties"]["Targets"][0]["Arn"] == _getatt("ExpirationsLambdaFunction")
    }
    assert len(rules) == 2
    assert targets == {
        json.dumps(
            {
                "source": ["aws.states"],
                "detail-type": ["Step Functions Execution Status Change"],
                "detail": {
                    "status": ["FAILED", "TIMED_OUT", "ABORTED"],
                    # Only this stage's state machines (the default stateMachineNamePattern),
                    # as the roles: other executions of the account never invoke expirations.
                    "stateMachineArn": [
                        {
                            "wildcard": {
                                "Fn::Sub": "arn:${AWS::Partition}:states:${AWS::Region}:"
                                f"${{AWS::AccountId}}:stateMachine:{SERVICE}-{STAGE}-*"
                            }
                        }
                    ],
                },
            }
        ),
        json.dumps("rate(5 minutes)"),
    }
    permissions = package_default.of_type("AWS::Lambda::Permission")
    principals = sorted(
        p["Properties"]["Principal"]
        for p in permissions.values()
        if p["Properties"]["FunctionName"] == _getatt("ExpirationsLambdaFunction")
    )
    assert principals == ["events.amazonaws.com", "events.amazonaws.com"]


def test_slack_reaches_interactions_at_the_manifest_path(package_default: Package) -> None:
    routes = package_default.of_type("AWS::ApiGatewayV2::Route")
    assert [r["Properties"]["RouteKey"] for r in routes.values()] == ["POST /slack/events"]
    (integration,) = package_default.of_type("AWS::ApiGatewayV2::Integration").values()
    assert integration["Properties"]["IntegrationUri"] == _getatt("InteractionsLambdaFunction")
    manifest = yaml.safe_load(MANIFEST_FILE.read_text())
    urls = [
        manifest["settings"]["interactivity"]["request_url"],
        *(c["url"] for c in manifest["features"]["slash_commands"]),
    ]
    assert {urlparse(u).path for u in urls} == {"/slack/events"}
    output = package_default.template["Outputs"]["InteractionsUrl"]["Value"]["Fn::Sub"]
    assert output == "https://${HttpApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}/slack/events"


def test_outputs_for_admins_and_workflow_authors(package_default: Package) -> None:
    outputs = package_default.template["Outputs"]
    assert outputs["VerificationQueueUrl"]["Value"] == {"Ref": "VerificationQueue"}
    assert outputs["VerificationQueueArn"]["Value"] == _getatt("VerificationQueue")
    assert outputs["VerificationQueueArn"]["Export"]["Name"] == (
        f"{SERVICE}-{STAGE}-VerificationQueueArn"
    )
    assert outputs["VerificationDeadLetterQueueUrl"]["Value"] == {
        "Ref": "VerificationDeadLetterQueue"
    }
    assert outputs["ApprovalsTableName"]["Value"] == {"Ref": "ApprovalsTable"}
    assert "ExampleStateMachineArn" not in outputs


# --- the deployExample flag ------------------------------------------------------------------

EXAMPLE_RESOURCES: Final = {
    "ApprovalFlowStateMachine",
    "ApprovalFlowRole",
    "ExampleLambdaRole",
    "TaskGeneratorLambdaFunction",
    "ProcessingLambdaFunction",
    "TaskGeneratorLogGroup",
    "ProcessingLogGroup",
}


def test_example_flag_off_by_default_and_on_for_dev() -> None:
    config = yaml.load((ROOT / "serverless.yml").read_text(), Loader=_CfnLoader)  # noqa: S506
    assert config["params"]["default"]["deployExample"] == "false"
    assert config["params"]["dev"]["deployExample"] == "true"
    assert config["provider"]["stage"] == "${opt:stage, 'dev'}"


def test_example_flag_off_leaves_no_example_resources(package_default: Package) -> None:
    assert not EXAMPLE_RESOURCES & set(package_default.resources)
    assert not package_default.of_type("AWS::StepFunctions::StateMachine")


def test_example_flag_on_adds_the_seed_workflow_and_nothing_else(
    package_default: Package, package_example: Package
) -> None:
    added = set(package_example.resources) - set(package_default.resources)
    assert added == EXAMPLE_RESOURCES
    assert set(package_default.resources) <= set(package_example.resources)
    handlers = {
        key: _function(package_example, key)["Properties"]["Handler"]
        for key in ("taskGenerator", "processing")
    }
    assert handlers == {
        "taskGenerator": "infra/lambdas/task_generator.handler",
        "processing": "infra/lambdas/processing.handler",
    }
    names = {_function(package_example, k)["Properties"]["FunctionName"] for k in handlers}
    assert names == {
        f"{SERVICE}-{STAGE}-lambda-for-task-generator",
        f"{SERVICE}-{STAGE}-lambda-for-processing",
    }
    assert package_example.template["Outputs"]["ExampleStateMachineArn"]["Value"] == {
        "Ref": "ApprovalFlowStateMachine"
    }


def test_state_machine_is_the_asl_file_with_cloudformation_substitutions(
    package_example: Package,
) -> None:
    machine = package_example.resources["ApprovalFlowStateMachine"]["Properties"]
    text = ASL_FILE.read_text()
    # The Framework left the placeholders alone; CloudFormation substitutes them.
    assert machine["Definition"] == json.loads(text)
    assert machine["StateMachineType"] == "STANDARD"
    placeholders = set(re.findall(r"\$\{([A-Za-z0-9]+)\}", text))
    assert machine["DefinitionSubstitutions"] == {
        "TaskGeneratorFunctionArn": _getatt("TaskGeneratorLambdaFunction"),
        "ProcessingFunctionArn": _getatt("ProcessingLambdaFunction"),
        "VerificationQueueUrl": {"Ref": "VerificationQueue"},
    }
    assert placeholders == set(machine["DefinitionSubstitutions"])
    wait = machine["Definition"]["States"]["Request user varification"]
    assert wait["Resource"] == "arn:aws:states:::sqs:sendMessage.waitForTaskToken"
    assert "TimeoutSeconds" in wait


def test_state_machine_role_is_the_seeds_scoped_to_this_stack(package_example: Package) -> None:
    role_id = package_example.resources["ApprovalFlowStateMachine"]["Properties"]["RoleArn"]
    role = package_example.resources[role_id["Fn::GetAtt"][0]]
    (trust,) = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "states.amazonaws.com"}
    grants = _grants(role)
    assert grants == {
        "lambda:InvokeFunction": [
            _getatt("TaskGeneratorLambdaFunction"),
            _getatt("ProcessingLambdaFunction"),
        ],
        "sqs:SendMessage": [_getatt("VerificationQueue")],
    }
    example_role = package_example.resources["ExampleLambdaRole"]
    assert set(_grants(example_role)) == LOGS | XRAY


# --- artifacts -------------------------------------------------------------------------------


def test_bot_artifact_holds_bot_and_aarch64_wheels_only(package_default: Package) -> None:
    names = package_default.zip_names(f"{SERVICE}.zip")
    assert {"bot/handlers/notifier.py", "bot/handlers/interactions.py"} <= set(names)
    assert "bot/handlers/expirations.py" in names
    for package in ("slack_bolt/", "slack_sdk/", "aws_lambda_powertools/", "aws_xray_sdk/"):
        assert any(n.startswith(package) for n in names), package
    compiled = [n for n in names if n.endswith(".so")]
    assert compiled, "expected the C extension of wrapt (X-Ray SDK)"
    assert all(n.endswith(".cpython-313-aarch64-linux-gnu.so") for n in compiled), compiled
    for excluded in ("bot/local/", "tests/", "infra/", "node_modules/", ".venv/", "benchmarks/"):
        assert not any(n.startswith(excluded) for n in names), excluded
    # Bytecode for the runtime (infra/serverless/bytecode.js), checked-hash, nothing else.
    pyc = [n for n in names if n.endswith(".pyc")]
    assert "bot/handlers/__pycache__/interactions.cpython-313.pyc" in pyc
    assert any(n.startswith("slack_bolt/__pycache__/") for n in pyc)
    assert all(".cpython-313." in n for n in pyc), [n for n in pyc if ".cpython-313." not in n]
    with zipfile.ZipFile(package_default.directory / f"{SERVICE}.zip") as archive:
        flags = int.from_bytes(archive.read(pyc[0])[4:8], "little")
    assert flags == 0b11, "checked-hash .pyc (the zip keeps no source timestamps)"
    assert "serverless.yml" not in names
    size = (package_default.directory / f"{SERVICE}.zip").stat().st_size
    assert size < 50 * 1024 * 1024  # Lambda's limit for a zip uploaded directly


def test_handlers_import_from_the_bot_artifact_alone(
    package_default: Package, tmp_path: Path
) -> None:
    """Nothing the handlers import is missing from the zip (requirements.txt is complete):
    a Python without site-packages (-S) imports all three from the unpacked artifact. (The
    aarch64 wrapt extension cannot load here; wrapt falls back to pure Python.)"""
    with zipfile.ZipFile(package_default.directory / f"{SERVICE}.zip") as archive:
        archive.extractall(tmp_path)
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]);"
        "import bot.handlers.notifier, bot.handlers.interactions, bot.handlers.expirations;"
        "import slack_bolt, aws_lambda_powertools as pt;"
        "assert all(m.__file__.startswith(sys.argv[1]) for m in (slack_bolt, pt))"
    )
    env = {
        "PATH": os.environ.get("PATH", ""),
        "AWS_REGION": "ap-northeast-2",
        "AWS_DEFAULT_REGION": "ap-northeast-2",
        "AWS_ACCESS_KEY_ID": "offline",
        "AWS_SECRET_ACCESS_KEY": "offline",
        "AWS_EC2_METADATA_DISABLED": "true",
        "POWERTOOLS_TRACE_DISABLED": "1",
        "APPROVALS_TABLE": "approvals",
        "SLACK_BOT_TOKEN": "xoxb-offline",
        "SLACK_SIGNING_SECRET": "offline",
        "SLACK_API_URL": "http://127.0.0.1:9/",  # nothing may reach Slack while importing
    }
    result = subprocess.run(  # noqa: S603 - this interpreter, fixed code
        [sys.executable, "-S", "-c", code, str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_example_artifacts_hold_their_handler_only(package_example: Package) -> None:
    assert package_example.zip_names("taskGenerator.zip") == ["infra/lambdas/task_generator.py"]
    assert package_example.zip_names("processing.zip") == ["infra/lambdas/processing.py"]


def test_cfn_lint_passes_both_templates(package_default: Package, package_example: Package) -> None:
    cfn_lint = Path(sys.executable).parent / "cfn-lint"
    if not cfn_lint.exists():
        pytest.fail("cfn-lint is missing: pip install -r requirements-dev.txt", pytrace=False)
    deploy_package.run(
        [
            str(cfn_lint),
            str(package_default.directory / TEMPLATE),
            str(package_example.directory / TEMPLATE),
        ],
        "cfn-lint (.cfnlintrc)",
    )


# --- the Slack app manifest ------------------------------------------------------------------


def test_slack_manifest_asks_for_exactly_the_scopes_the_bot_uses() -> None:
    manifest = yaml.safe_load(MANIFEST_FILE.read_text())
    assert manifest["_metadata"]["major_version"] == 1
    assert manifest["features"]["bot_user"]["display_name"]
    assert sorted(manifest["oauth_config"]["scopes"]["bot"]) == sorted(
        [
            "chat:write",
            "commands",
            "users:read",
            "users:read.email",
            "usergroups:read",
            "channels:history",
            "groups:history",
            "channels:read",
            "groups:read",
            "im:write",
            "im:history",
        ]
    )
    assert "user" not in manifest["oauth_config"]["scopes"]
    (command,) = manifest["features"]["slash_commands"]
    assert command["command"] == "/approvals"
    assert command["usage_hint"] == "[mine|history [n]|help]"
    settings = manifest["settings"]
    assert settings["interactivity"]["is_enabled"] is True
    assert settings["socket_mode_enabled"] is False
    assert settings["token_rotation_enabled"] is False
    # Events: only app_home_opened (pinned to the registered listeners in test_home.py).
    assert settings["event_subscriptions"]["bot_events"] == ["app_home_opened"]
