"""Create the deployed resources on moto from the same files ``serverless deploy`` uses.

* ``infra/resources/*.yml`` — the table and the queues (CloudFormation ``Resources``),
* ``infra/statemachine/approval-flow.asl.json`` — the seed's state machine,
* ``infra/lambdas/*.py`` — the seed's two example Lambdas.

moto cannot run Lambda functions without Docker. With ``lambda.use_docker = False`` it uses a
"simple" Lambda backend; :func:`install_example_lambdas` makes that backend run the real example
handlers from ``infra/lambdas`` in process, so the state machine's Lambda tasks execute the
same code a deployment would.
"""

from __future__ import annotations

import importlib.util
import io
import json
import logging
import threading
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import yaml

ROOT: Final = Path(__file__).resolve().parents[2]
INFRA: Final = ROOT / "infra"
ASL_FILE: Final = INFRA / "statemachine" / "approval-flow.asl.json"
WAIT_STATE: Final = "Request user varification"  # the seed's spelling

EXAMPLE_LAMBDAS: Final = {
    "lambda-for-task-generator": "task_generator",
    "lambda-for-processing": "processing",
}

MOTO_CONFIG: Final[dict[str, Any]] = {
    "lambda": {"use_docker": False},
    "stepfunctions": {"execute_state_machine": True},
}


def load_resources() -> dict[str, dict[str, Any]]:
    """Every CloudFormation resource of ``infra/resources``, by logical id."""
    resources: dict[str, dict[str, Any]] = {}
    for path in sorted((INFRA / "resources").glob("*.yml")):
        resources.update(yaml.safe_load(path.read_text())["Resources"])
    return resources


def create_table(dynamodb: Any, table_name: str) -> None:
    props = load_resources()["ApprovalsTable"]["Properties"]
    dynamodb.create_table(
        TableName=table_name,
        BillingMode=props["BillingMode"],
        AttributeDefinitions=props["AttributeDefinitions"],
        KeySchema=props["KeySchema"],
        GlobalSecondaryIndexes=props["GlobalSecondaryIndexes"],
        SSESpecification={"Enabled": props["SSESpecification"]["SSEEnabled"]},
    )
    ttl = props["TimeToLiveSpecification"]
    dynamodb.update_time_to_live(
        TableName=table_name,
        TimeToLiveSpecification={"AttributeName": ttl["AttributeName"], "Enabled": ttl["Enabled"]},
    )


@dataclass(frozen=True)
class Queues:
    url: str
    arn: str
    dlq_url: str
    dlq_arn: str
    max_receive_count: int


def create_queues(
    sqs: Any,
    *,
    name: str = "VerificationQueue",
    visibility_timeout: int | None = None,
    max_receive_count: int | None = None,
) -> Queues:
    """The queue and its DLQ with the deployed attributes (tests may shorten two of them)."""
    resources = load_resources()
    dlq_props = resources["VerificationDeadLetterQueue"]["Properties"]
    props = resources["VerificationQueue"]["Properties"]
    dlq_url = sqs.create_queue(
        QueueName=f"{name}-dlq",
        Attributes={"MessageRetentionPeriod": str(dlq_props["MessageRetentionPeriod"])},
    )["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    receives = max_receive_count or int(props["RedrivePolicy"]["maxReceiveCount"])
    url = sqs.create_queue(
        QueueName=name,
        Attributes={
            "VisibilityTimeout": str(visibility_timeout or props["VisibilityTimeout"]),
            "MessageRetentionPeriod": str(props["MessageRetentionPeriod"]),
            "RedrivePolicy": json.dumps(
                {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": receives}
            ),
        },
    )["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    return Queues(url=url, arn=arn, dlq_url=dlq_url, dlq_arn=dlq_arn, max_receive_count=receives)


def definition(
    substitutions: Mapping[str, str], *, approval_timeout_seconds: int | None = None
) -> str:
    """The state machine's ASL with ``${Name}`` substituted, as CloudFormation's
    ``DefinitionSubstitutions`` does; optionally a shorter wait (to demonstrate expiry)."""
    text = ASL_FILE.read_text()
    for name, value in substitutions.items():
        text = text.replace("${" + name + "}", value)
    if "${" in text:
        start = text.index("${")
        raise ValueError(f"unsubstituted {text[start : text.index('}', start) + 1]} in {ASL_FILE}")
    asl = json.loads(text)
    if approval_timeout_seconds is not None:
        asl["States"][WAIT_STATE]["TimeoutSeconds"] = approval_timeout_seconds
    return json.dumps(asl)


def _load_handler(module: str) -> Callable[[Any, Any], Any]:
    path = INFRA / "lambdas" / f"{module}.py"
    spec = importlib.util.spec_from_file_location(f"infra_lambdas_{module}", path)
    if spec is None or spec.loader is None:  # pragma: no cover - the files are in the repo
        raise ImportError(path)
    loaded = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(loaded)
    handler: Callable[[Any, Any], Any] = loaded.handler
    return handler


def install_example_lambdas() -> None:
    """Make moto's Docker-free Lambda backend run ``infra/lambdas`` handlers in process."""
    from moto.awslambda_simple.models import LambdaSimpleBackend

    handlers = {name: _load_handler(module) for name, module in EXAMPLE_LAMBDAS.items()}

    def invoke(  # noqa: PLR0917 - moto's signature
        self: Any,
        function_name: str,
        qualifier: str | None,
        body: Any,
        headers: Any,
        response_headers: Any,
    ) -> bytes:
        name = function_name.split(":")[6] if function_name.startswith("arn:") else function_name
        handler = handlers.get(name)
        if handler is None:
            return json.dumps({"errorMessage": f"no local handler for {name}"}).encode()
        event = json.loads(body) if body else {}
        return json.dumps(handler(event, None)).encode()

    LambdaSimpleBackend.invoke = invoke  # type: ignore[method-assign]


def make_dynamodb_writes_atomic() -> None:
    """Give moto DynamoDB's atomicity for conditional writes.

    DynamoDB evaluates a ``ConditionExpression`` and applies the write as one atomic step;
    moto does not lock, so two threads can both pass the same condition (two approvers both
    "winning" a claim). Serializing moto's item writes restores the real semantics for the
    tests, the soak and the sandbox. Idempotent.
    """
    from moto.dynamodb.models import DynamoDBBackend

    lock = threading.RLock()
    for name in ("put_item", "update_item", "delete_item", "transact_write_items"):
        original = getattr(DynamoDBBackend, name)
        if getattr(original, "_serialized", False):
            continue

        def serialized(self: Any, *args: Any, _original: Any = original, **kwargs: Any) -> Any:
            with lock:
                return _original(self, *args, **kwargs)

        serialized._serialized = True  # type: ignore[attr-defined]
        setattr(DynamoDBBackend, name, serialized)


# The errors a waiting task ends with in a normal run: what the bot sends with SendTaskFailure
# (README, "Errors your workflow can Catch") and the task's own TimeoutSeconds.
EXPECTED_TASK_ERRORS: Final = frozenset(
    {
        "Rejected",
        "ApprovalExpired",
        "InvalidApprovalRequest",
        "ApprovalOutputInvalid",
        "States.Timeout",
    }
)
MOTO_ASL_LOGGER: Final = "moto.stepfunctions.parser.asl.component.eval_component"


class ExpectedTaskFailures(logging.Filter):
    """Drops moto's ERROR line for a state machine failing the way it is meant to.

    moto logs ``Exception=FailureEventException, Error=<name>, …`` at ERROR for every error a
    state raises — also when the error is the normal outcome (the bot rejected or expired the
    request, the Catch routed it to a Fail state): one line per reject, expiry or invalid request,
    each repeated by the states that re-raise it. Only those lines with an error name in
    :data:`EXPECTED_TASK_ERRORS` are dropped; any other error (``States.Runtime``, a Lambda's
    failure, a moto exception) is still logged.
    """

    PREFIX: Final = "Exception=FailureEventException, Error="

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.ERROR:
            return True
        # The message, not its arguments: the log-secrecy record factory (bot.log_secrecy)
        # formats and scrubs each record as it is made, so ``args`` may already be folded in.
        head = record.getMessage()
        if not head.startswith(self.PREFIX):
            return True
        name = head[len(self.PREFIX) :].split(",", 1)[0]
        return name not in EXPECTED_TASK_ERRORS


def quiet_expected_task_failures() -> None:
    """Install :class:`ExpectedTaskFailures` on moto's ASL logger (idempotent)."""
    logger = logging.getLogger(MOTO_ASL_LOGGER)
    if not any(isinstance(f, ExpectedTaskFailures) for f in logger.filters):
        logger.addFilter(ExpectedTaskFailures())


def enable_jsonata() -> None:
    """Let moto run JSONata states (``"QueryLanguage": "JSONata"``).

    moto 5.2 parses JSONata states but has no evaluator (the code it comes from runs one in a
    JVM): its ``_eval_jsonata`` hook is left unset and a JSONata expression fails the state.
    jsonata-python (a pure-Python JSONata) fills the hook; moto composes each expression with its
    ``$states`` bindings and evaluates it without input, as it does with its own evaluator.
    """
    import jsonata  # type: ignore[import-untyped]
    from moto.stepfunctions.parser.asl.jsonata import jsonata as moto_jsonata

    def evaluate(expression: str) -> Any:
        result = jsonata.Jsonata(expression).evaluate(None)
        return json.loads(json.dumps(result))  # plain JSON values, as moto's own evaluator returns

    moto_jsonata._eval_jsonata = evaluate


def prepare_moto() -> None:
    """Everything moto needs for this project's local runs (tests, soak, sandbox)."""
    install_example_lambdas()
    make_dynamodb_writes_atomic()
    quiet_expected_task_failures()
    enable_jsonata()


def _zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("handler.py", "def handler(event, context):\n    return event\n")
    return buffer.getvalue()


@dataclass(frozen=True)
class ExampleStack:
    queues: Queues
    state_machine_arn: str
    function_arns: dict[str, str]


def deploy_example(
    *,
    iam: Any,
    lambda_: Any,
    sqs: Any,
    sfn: Any,
    queue_name: str = "VerificationQueue",
    state_machine_name: str = "approval-flow",
    approval_timeout_seconds: int | None = None,
    visibility_timeout: int | None = None,
    max_receive_count: int | None = None,
    queues: Queues | None = None,
) -> ExampleStack:
    """Queues (unless given), the two example Lambdas and the seed's state machine, on moto."""
    queues = queues or create_queues(
        sqs,
        name=queue_name,
        visibility_timeout=visibility_timeout,
        max_receive_count=max_receive_count,
    )
    trust = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": ["states.amazonaws.com", "lambda.amazonaws.com"]},
                    "Action": "sts:AssumeRole",
                }
            ],
        }
    )
    role_name = f"{state_machine_name}-role"
    try:
        role = iam.create_role(RoleName=role_name, AssumeRolePolicyDocument=trust)["Role"]["Arn"]
    except iam.exceptions.EntityAlreadyExistsException:
        role = iam.get_role(RoleName=role_name)["Role"]["Arn"]
    arns: dict[str, str] = {}
    for name in EXAMPLE_LAMBDAS:
        try:
            arns[name] = lambda_.create_function(
                FunctionName=name,
                Runtime="python3.12",
                Role=role,
                Handler="handler.handler",
                Code={"ZipFile": _zip()},
            )["FunctionArn"]
        except lambda_.exceptions.ResourceConflictException:
            arns[name] = lambda_.get_function(FunctionName=name)["Configuration"]["FunctionArn"]
    asl = definition(
        {
            "TaskGeneratorFunctionArn": arns["lambda-for-task-generator"],
            "ProcessingFunctionArn": arns["lambda-for-processing"],
            "VerificationQueueUrl": queues.url,
        },
        approval_timeout_seconds=approval_timeout_seconds,
    )
    machine = sfn.create_state_machine(name=state_machine_name, definition=asl, roleArn=role)
    return ExampleStack(queues, machine["stateMachineArn"], arns)
