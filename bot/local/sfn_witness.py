"""An independent witness on the Step Functions side: every task completion moto receives.

:class:`SfnWitness` records each ``SendTaskSuccess``, ``SendTaskFailure`` and
``SendTaskHeartbeat`` that reaches moto's Step Functions backend — from any client, in-process
``mock_aws`` or the ``ThreadedMotoServer`` of the sandbox (both share moto's backend objects in
this process) — and whether moto accepted it or refused it (and with which exception). It wraps
moto's backend methods, not the bot's boto3 clients, so what it counts does not depend on the
code it checks.

What it keeps per call (:class:`TaskCall`): the approval id of the token
(:func:`bot.models.approval_id_for`; the token itself is never stored or printed), the
execution the token belongs to (when moto knows it), ``error``, ``cause``, ``output``,
``accepted`` and the refusing exception's class name.

Why the response layer is wrapped too: moto's HTTP layer drops ``SendTaskFailure``'s ``cause``
before it calls the backend (its executions then report no cause, where AWS reports the one
sent). The witness reads the ``cause`` of the request being handled, on the same thread, and
records it with the backend call. moto's behaviour is left as it is.

Counting double decisions (the soak)::

    with SfnWitness() as witness:
        ...                                   # run the bot
        witness.double_decisions()            # {approval_id: accepted decisions} where > 1
        witness.accepted(approval_id)         # accepted SendTaskSuccess + SendTaskFailure

moto accepts more than AWS would: a second ``SendTaskFailure`` for a token whose execution has
already finished is accepted (moto looks the token up in every execution; AWS answers
``TaskTimedOut``), and so is a second completion while the execution still runs. For a
double-decision counter that is what is wanted: every completion the backend took counts.

Several witnesses may be installed at once (each sees every call from its install on); moto's
methods are restored when the last one is uninstalled. Thread-safe.
"""

from __future__ import annotations

import functools
import inspect
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Final, Literal

from bot.models import approval_id_for

Action = Literal["SendTaskSuccess", "SendTaskFailure", "SendTaskHeartbeat"]

SUCCESS: Final = "SendTaskSuccess"
FAILURE: Final = "SendTaskFailure"
HEARTBEAT: Final = "SendTaskHeartbeat"
DECISIONS: Final[frozenset[str]] = frozenset({SUCCESS, FAILURE})

_METHODS: Final[dict[str, Action]] = {
    "send_task_success": SUCCESS,
    "send_task_failure": FAILURE,
    "send_task_heartbeat": HEARTBEAT,
}


@dataclass(frozen=True)
class TaskCall:
    """One SendTask* call as moto's backend received it."""

    seq: int  # order of arrival across every witness of the process
    action: Action
    approval_id: str
    execution_arn: str | None  # the execution waiting on the token, if moto knows it
    error: str | None
    cause: str | None
    output: str | None
    accepted: bool  # moto returned without raising
    refused: str | None  # else the exception's class name (InvalidToken, TaskTimedOut, …)
    at: float  # time.time() when moto answered

    @property
    def decision(self) -> bool:
        """A completion (success or failure), not a heartbeat."""
        return self.action in DECISIONS


class SfnWitness:
    """Records every SendTask* reaching moto's Step Functions backend while installed."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls: list[TaskCall] = []
        self._installed = False

    # --- lifecycle ------------------------------------------------------------------------------

    def install(self) -> SfnWitness:
        """Start recording (idempotent)."""
        with _REGISTRY_LOCK:
            if not self._installed:
                if not _WITNESSES:
                    _patch()
                _WITNESSES.append(self)
                self._installed = True
        return self

    def uninstall(self) -> None:
        """Stop recording; the last witness out restores moto's methods (idempotent)."""
        with _REGISTRY_LOCK:
            if self._installed:
                _WITNESSES.remove(self)
                self._installed = False
                if not _WITNESSES:
                    _unpatch()

    @property
    def installed(self) -> bool:
        return self._installed

    def __enter__(self) -> SfnWitness:
        return self.install()

    def __exit__(self, *exc: object) -> None:
        self.uninstall()

    # --- what was seen --------------------------------------------------------------------------

    def calls(
        self,
        approval_id: str | None = None,
        *,
        execution_arn: str | None = None,
        actions: Iterable[str] | None = None,
    ) -> list[TaskCall]:
        """The calls recorded, oldest first, optionally only those of one approval id, one
        execution, or some actions."""
        wanted = None if actions is None else frozenset(actions)
        with self._lock:
            return [
                call
                for call in self._calls
                if (approval_id is None or call.approval_id == approval_id)
                and (execution_arn is None or call.execution_arn == execution_arn)
                and (wanted is None or call.action in wanted)
            ]

    def accepted(self, approval_id: str, *, actions: Iterable[str] = DECISIONS) -> int:
        """How many completions (by default SendTaskSuccess + SendTaskFailure) of this
        approval's token moto accepted. More than 1 is a double decision."""
        return sum(1 for call in self.calls(approval_id, actions=actions) if call.accepted)

    def double_decisions(self) -> dict[str, int]:
        """Approval ids whose token moto accepted more than one completion for, with the count."""
        counts = Counter(
            call.approval_id for call in self.calls() if call.decision and call.accepted
        )
        return {approval_id: n for approval_id, n in counts.items() if n > 1}

    def last_decision(self, execution_arn: str) -> TaskCall | None:
        """The last completion moto accepted for a task of this execution (what ended its wait)."""
        found = [c for c in self.calls(execution_arn=execution_arn) if c.decision and c.accepted]
        return found[-1] if found else None

    def clear(self) -> None:
        with self._lock:
            self._calls.clear()

    def _record(self, call: TaskCall) -> None:
        with self._lock:
            self._calls.append(call)


# --- the patch: one per process, shared by every installed witness -------------------------------

_REGISTRY_LOCK: Final = threading.Lock()
_WITNESSES: Final[list[SfnWitness]] = []
_ORIGINALS: Final[dict[tuple[type, str], Callable[..., Any]]] = {}
_SEQ_LOCK: Final = threading.Lock()
_seq = 0
# Per thread: the ``cause`` of the SendTaskFailure request being handled (moto's response layer
# reads it, then drops it), and whether a backend call is already being recorded (so a backend
# method that calls another wrapped one is recorded once).
_LOCAL: Final = threading.local()
_NO_CAUSE: Final = object()


def _next_seq() -> int:
    global _seq  # noqa: PLW0603 - one counter for the process
    with _SEQ_LOCK:
        _seq += 1
        return _seq


def _backend_classes() -> list[type]:
    from moto.stepfunctions.models import StepFunctionBackend
    from moto.stepfunctions.parser.models import StepFunctionsParserBackend

    # The parser backend runs state machines (execute_state_machine); the plain one does not.
    return [StepFunctionBackend, StepFunctionsParserBackend]


def _patch() -> None:
    from moto.stepfunctions.responses import StepFunctionResponse

    for cls in _backend_classes():
        for name, action in _METHODS.items():
            original = cls.__dict__.get(name)
            if original is None:  # inherited: wrapping the defining class covers it
                continue
            _ORIGINALS[(cls, name)] = original
            setattr(cls, name, _witnessed(original, action))
    original_response = StepFunctionResponse.__dict__["send_task_failure"]
    _ORIGINALS[(StepFunctionResponse, "send_task_failure")] = original_response
    StepFunctionResponse.send_task_failure = _keeping_cause(original_response)  # type: ignore[method-assign]


def _unpatch() -> None:
    for (cls, name), original in _ORIGINALS.items():
        setattr(cls, name, original)
    _ORIGINALS.clear()


def _keeping_cause(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def send_task_failure(self: Any) -> Any:
        _LOCAL.cause = self._get_param("cause")
        try:
            return original(self)
        finally:
            _LOCAL.cause = _NO_CAUSE

    return send_task_failure


def _witnessed(original: Callable[..., Any], action: Action) -> Callable[..., Any]:
    signature = inspect.signature(original)

    @functools.wraps(original)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        if getattr(_LOCAL, "recording", False):
            return original(self, *args, **kwargs)
        bound = signature.bind_partial(self, *args, **kwargs).arguments
        token = str(bound.get("task_token") or "")
        execution_arn = _execution_of(self, token)
        cause = bound.get("cause", getattr(_LOCAL, "cause", _NO_CAUSE))
        _LOCAL.recording = True
        refused: BaseException | None = None
        try:
            return original(self, *args, **kwargs)
        except BaseException as exc:
            refused = exc
            raise
        finally:
            _LOCAL.recording = False
            call = TaskCall(
                seq=_next_seq(),
                action=action,
                approval_id=approval_id_for(token),
                execution_arn=execution_arn,
                error=_text(bound.get("error")),
                cause=None if cause is _NO_CAUSE else _text(cause),
                output=_text(bound.get("outcome")),
                accepted=refused is None,
                refused=None if refused is None else type(refused).__name__,
                at=time.time(),
            )
            with _REGISTRY_LOCK:
                witnesses = list(_WITNESSES)
            for witness in witnesses:
                witness._record(call)

    wrapper._witnessed = True  # type: ignore[attr-defined]
    return wrapper


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _execution_of(backend: Any, token: str) -> str | None:
    """The ARN of the execution whose callback pool holds ``token`` (moto's parser backend),
    or None. Reads moto internals defensively: a moto without them just gives no ARN."""
    try:
        for machine in list(getattr(backend, "state_machines", [])):
            for execution in list(getattr(machine, "executions", [])):
                env = getattr(getattr(execution, "exec_worker", None), "env", None)
                pool = getattr(env, "callback_pool_manager", None)
                if pool is not None and pool.get(token) is not None:
                    return str(execution.execution_arn)
    except Exception:  # a witness never breaks the call it watches
        return None
    return None
