"""Step Functions gateway: complete a waiting task, and ask an execution how it is.

Maps the service's error codes onto three domain errors, so the service never sees botocore:

* :class:`TaskGone` — the token is dead (``TaskTimedOut``, ``TaskDoesNotExist``,
  ``InvalidToken``): a second completion, a completion after timeout/abort, or a token moto
  does not know. The caller asks :meth:`execution_status` what really happened.
* :class:`WorkflowUnavailable` — throttling, 5xx, network: worth retrying later
  (boto3's own standard-mode retries have already run).
* :class:`InvalidTaskOutput` — the output was refused (too large, not JSON).

Error messages never include the token.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from botocore.exceptions import BotoCoreError, ClientError

from bot.models import TaskToken

if TYPE_CHECKING:
    from mypy_boto3_stepfunctions import SFNClient

MAX_ERROR_CHARS: Final = 256
MAX_CAUSE_CHARS: Final = 32768
MAX_OUTPUT_BYTES: Final = 256 * 1024

_GONE: Final = frozenset({"TaskTimedOut", "TaskDoesNotExist", "InvalidToken"})
_BAD_OUTPUT: Final = frozenset({"InvalidOutput", "ValidationException"})


HISTORY_PAGE_SIZE: Final = 1000
HISTORY_MAX_PAGES: Final = 5


@dataclass(frozen=True)
class ExecutionStatus:
    status: str
    error: str | None = None

    @property
    def running(self) -> bool:
        return self.status == "RUNNING"


class TaskGone(RuntimeError):
    """Step Functions no longer accepts this token."""


class WorkflowUnavailable(RuntimeError):
    """A transient failure talking to Step Functions."""


class InvalidTaskOutput(ValueError):
    """Step Functions refused the output or error/cause."""


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", "Unknown"))


def _translate(exc: ClientError | BotoCoreError, action: str) -> Exception:
    if isinstance(exc, BotoCoreError):
        return WorkflowUnavailable(f"{action}: {type(exc).__name__}")
    code = _code(exc)
    if code in _GONE:
        return TaskGone(f"{action}: {code}")
    if code in _BAD_OUTPUT:
        return InvalidTaskOutput(f"{action}: {code}")
    return WorkflowUnavailable(f"{action}: {code}")


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


class StepFunctionsGateway:
    def __init__(self, client: SFNClient) -> None:
        self._sfn = client

    def succeed(self, token: TaskToken, output: Any) -> None:
        document = json.dumps(output, ensure_ascii=False, separators=(",", ":"))
        if len(document.encode()) > MAX_OUTPUT_BYTES:
            raise InvalidTaskOutput(
                f"SendTaskSuccess: output is {len(document.encode())} bytes, "
                f"more than Step Functions' {MAX_OUTPUT_BYTES}"
            )
        try:
            self._sfn.send_task_success(taskToken=token.reveal(), output=document)
        except (ClientError, BotoCoreError) as exc:
            raise _translate(exc, "SendTaskSuccess") from None

    def fail(self, token: TaskToken, *, error: str, cause: str) -> None:
        try:
            self._sfn.send_task_failure(
                taskToken=token.reveal(),
                error=clip(error, MAX_ERROR_CHARS),
                cause=clip(cause, MAX_CAUSE_CHARS),
            )
        except (ClientError, BotoCoreError) as exc:
            raise _translate(exc, "SendTaskFailure") from None

    def execution_status(self, execution_arn: str) -> ExecutionStatus:
        """RUNNING, SUCCEEDED, FAILED, TIMED_OUT, ABORTED, PENDING_REDRIVE — or UNKNOWN."""
        try:
            result = self._sfn.describe_execution(executionArn=execution_arn)
        except ClientError as exc:
            if _code(exc) in ("ExecutionDoesNotExist", "InvalidArn"):
                return ExecutionStatus("UNKNOWN")
            raise WorkflowUnavailable(f"DescribeExecution: {_code(exc)}") from None
        except BotoCoreError as exc:
            raise WorkflowUnavailable(f"DescribeExecution: {type(exc).__name__}") from None
        return ExecutionStatus(str(result["status"]), result.get("error"))

    def completed_by(self, execution_arn: str, approval_id: str) -> str | None:
        """ "approved" / "rejected" if the execution's history shows this bot completed the
        task of ``approval_id`` (its output / cause carry the id), else None.

        Asked only when Step Functions refuses a token the bot had claimed: it tells a retry
        after a crash ("we already completed it") from a token that died on its own.
        """
        kwargs: dict[str, Any] = {
            "executionArn": execution_arn,
            "reverseOrder": True,
            "maxResults": HISTORY_PAGE_SIZE,
            "includeExecutionData": True,
        }
        for _ in range(HISTORY_MAX_PAGES):
            try:
                page = self._sfn.get_execution_history(**kwargs)
            except ClientError as exc:
                if _code(exc) in ("ExecutionDoesNotExist", "InvalidArn"):
                    return None
                raise WorkflowUnavailable(f"GetExecutionHistory: {_code(exc)}") from None
            except BotoCoreError as exc:
                raise WorkflowUnavailable(f"GetExecutionHistory: {type(exc).__name__}") from None
            for event in page.get("events", []):
                succeeded: Mapping[str, Any] = event.get("taskSucceededEventDetails") or {}
                if approval_id in str(succeeded.get("output") or ""):
                    return "approved"
                failed: Mapping[str, Any] = event.get("taskFailedEventDetails") or {}
                if failed.get("error") == "Rejected" and approval_id in str(
                    failed.get("cause") or ""
                ):
                    return "rejected"
            if not page.get("nextToken"):
                return None
            kwargs["nextToken"] = page["nextToken"]
        return None
