"""The message contract and the domain types, parsed once at the boundary.

An SQS body written by ``arn:aws:states:::sqs:sendMessage.waitForTaskToken`` is::

    {"Payload": <state input>, "TaskToken": "...", "Execution": "<execution ARN>"}

``Payload.approval`` (optional) steers the Slack message; see the README's message contract.
Parsing happens in two steps so that the task token never travels inside an exception:

1. :func:`parse_envelope` needs only JSON with a ``TaskToken``. Without one nothing can be
   done but retry and dead-letter the message: it raises :class:`UnprocessableMessage`.
2. :func:`parse_request` validates the rest. What is wrong there is the workflow author's to
   fix, so it raises :class:`InvalidApprovalRequest` and the caller fails the task with it.
"""

from __future__ import annotations

import base64
import difflib
import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Final, Literal

# --- Slack and AWS limits and shapes -----------------------------------------------------------

MAX_TASK_TOKEN_CHARS: Final = 2048  # Step Functions: taskToken length 1..2048
MAX_TITLE_CHARS: Final = 150  # header block text
MAX_TEXT_CHARS: Final = 3000  # section text
MAX_FIELD_CHARS: Final = 2000  # one section field
MAX_FIELDS: Final = 20  # rendered as sections of at most 10 fields
MAX_LABEL_CHARS: Final = 100
MAX_LINKS: Final = 10
MAX_URL_CHARS: Final = 1000
MAX_APPROVERS: Final = 50
MAX_PAYLOAD_PREVIEW_CHARS: Final = 2800  # code block of the raw payload, below the 3000 cap

CHANNEL_ID_RE: Final = re.compile(r"^[CGD][A-Z0-9]{2,}$")
USER_ID_RE: Final = re.compile(r"^[UW][A-Z0-9]{2,}$")
USERGROUP_ID_RE: Final = re.compile(r"^S[A-Z0-9]{2,}$")
PRINCIPAL_ID_RE: Final = re.compile(r"^(?:[UW]|S)[A-Z0-9]{2,}$")
EMAIL_RE: Final = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
EXECUTION_ARN_RE: Final = re.compile(
    r"^arn:aws[a-z-]*:states:[a-z0-9-]+:\d{12}:(?:execution|express):[^:\s]+:[^:\s]+$"
)

APPROVAL_ID_DOMAIN: Final = b"sfn-approvals/approval-id/v1\x00"


# --- errors -------------------------------------------------------------------------------------


class UnprocessableMessage(ValueError):
    """The SQS body carries no usable task token: retry it, then let the DLQ keep it."""


class InvalidApprovalRequest(ValueError):
    """The request is wrong in a way its author must fix; the task is failed with this reason."""

    error_code: Final = "InvalidApprovalRequest"


# --- the secret ----------------------------------------------------------------------------------


class TaskToken:
    """A Step Functions task token: a bearer credential that must never be shown.

    ``str()`` and ``repr()`` are redacted, so a token that ends up in a log line, an f-string or
    a traceback's locals prints as ``TaskToken(***)``. Only the Step Functions gateway calls
    :meth:`reveal`.
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def approval_id(self) -> str:
        return approval_id_for(self._value)

    def __repr__(self) -> str:
        return "TaskToken(***)"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TaskToken) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


def approval_id_for(task_token: str) -> str:
    """The opaque, deterministic id of the approval that waits on ``task_token``.

    A domain-separated SHA-256 of the token, base32 without padding, 26 characters (130 bits).
    The token is a long random credential, so the id cannot be turned back into it; the same
    token (a redelivered message) always maps to the same id, which is what deduplicates.
    """
    digest = hashlib.sha256(APPROVAL_ID_DOMAIN + task_token.encode()).digest()
    return base64.b32encode(digest).decode().rstrip("=").lower()[:26]


# --- statuses and decisions ----------------------------------------------------------------------


class Status(StrEnum):
    POSTING = "POSTING"  # stored, Slack post in flight
    PENDING = "PENDING"  # posted, waiting for a decision
    CLAIMED = "CLAIMED"  # a decision is being sent to Step Functions
    APPROVED = "APPROVED"
    REJECTED = "REJECTED"
    EXPIRED = "EXPIRED"  # the execution stopped waiting (timeout, failure, abort, expires_at)
    ERROR = "ERROR"  # Step Functions refused the token while the execution still runs
    INVALID = "INVALID"  # the request was invalid; its task was failed

    @property
    def is_open(self) -> bool:
        return self in (Status.POSTING, Status.PENDING, Status.CLAIMED)


@dataclass(frozen=True)
class Actor:
    id: str
    name: str

    def to_dict(self) -> dict[str, str]:
        return {"id": self.id, "name": self.name}


@dataclass(frozen=True)
class Decision:
    outcome: Literal["approved", "rejected"]
    actor: Actor
    decided_at: datetime
    comment: str | None = None  # the approver's comment, or the reject reason

    @property
    def status(self) -> Status:
        return Status.APPROVED if self.outcome == "approved" else Status.REJECTED


# --- the request ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ApprovalSpec:
    """``Payload.approval``: what the message says and who may decide. Every field optional."""

    title: str | None = None
    text: str | None = None
    fields: tuple[tuple[str, str], ...] = ()
    channel: str | None = None
    approvers: tuple[str, ...] = ()
    requester: str | None = None
    links: tuple[tuple[str, str], ...] = ()
    expires_at: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key in ("title", "text", "channel", "requester"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        if self.fields:
            out["fields"] = [list(pair) for pair in self.fields]
        if self.links:
            out["links"] = [list(pair) for pair in self.links]
        if self.approvers:
            out["approvers"] = list(self.approvers)
        if self.expires_at is not None:
            out["expires_at"] = format_time(self.expires_at)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ApprovalSpec:
        expires = data.get("expires_at")
        return cls(
            title=data.get("title"),
            text=data.get("text"),
            fields=tuple((str(k), str(v)) for k, v in data.get("fields", ())),
            channel=data.get("channel"),
            approvers=tuple(data.get("approvers", ())),
            requester=data.get("requester"),
            links=tuple((str(k), str(v)) for k, v in data.get("links", ())),
            expires_at=parse_time(expires) if expires else None,
        )


@dataclass(frozen=True)
class Envelope:
    """The SQS body, before the approval object is validated."""

    task_token: TaskToken
    execution: Any  # the raw "Execution" value, validated by parse_request
    payload: Any
    has_payload: bool

    @property
    def execution_arn(self) -> str | None:
        """The execution ARN if it looks like one (for log correlation before validation)."""
        ok = isinstance(self.execution, str) and EXECUTION_ARN_RE.match(self.execution)
        return self.execution if ok else None


@dataclass(frozen=True)
class ApprovalRequest:
    """A valid request: what the notifier stores and posts."""

    task_token: TaskToken = field(repr=False)
    execution_arn: str | None
    payload: Any
    spec: ApprovalSpec
    channel: str

    @property
    def approval_id(self) -> str:
        return self.task_token.approval_id()


@dataclass(frozen=True)
class Approval:
    """A stored approval, as the decision path and the renderers see it."""

    approval_id: str
    status: Status
    execution_arn: str | None
    payload: Any
    spec: ApprovalSpec
    channel: str
    ts: str | None
    created_at: datetime
    updated_at: datetime
    decision: Decision | None = None
    status_reason: str | None = None

    @property
    def short_code(self) -> str:
        return self.approval_id[:6].upper()


def execution_name(execution_arn: str | None) -> str | None:
    """``arn:aws:states:r:a:execution:StateMachine:name`` → ``StateMachine/name``."""
    if not execution_arn:
        return None
    parts = execution_arn.split(":")
    return f"{parts[-2]}/{parts[-1]}" if len(parts) >= 8 else execution_arn


# --- time ----------------------------------------------------------------------------------------


def format_time(moment: datetime) -> str:
    """UTC, millisecond ISO 8601 with ``Z``: sorts lexicographically (GSI sort keys)."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_time(raw: str) -> datetime:
    moment = datetime.fromisoformat(raw)
    if moment.tzinfo is None:
        raise ValueError("a timezone is required (e.g. 2026-12-01T17:00:00Z)")
    return moment.astimezone(UTC)


# --- parsing -------------------------------------------------------------------------------------

_SPEC_KEYS: Final = (
    "title",
    "text",
    "fields",
    "channel",
    "approvers",
    "requester",
    "links",
    "expires_at",
)


def parse_envelope(body: str) -> Envelope:
    """Step 1: JSON object with a ``TaskToken``. Raises :class:`UnprocessableMessage`."""
    problem: str | None = None
    try:
        data = json.loads(body)
    except json.JSONDecodeError as exc:
        # Keep only msg/pos: the exception's ``doc`` holds the body, and with it the token.
        problem = f"{exc.msg} at char {exc.pos}"
    except RecursionError:
        problem = "nested too deeply"
    if problem is not None:  # raised outside ``except`` so no context chains to the body
        raise UnprocessableMessage(f"message body is not JSON ({problem})")
    if not isinstance(data, dict):
        raise UnprocessableMessage(f"message body must be a JSON object, got {type(data).__name__}")
    token = data.get("TaskToken")
    if not isinstance(token, str) or not token.strip():
        raise UnprocessableMessage(
            'message has no TaskToken: pass "TaskToken.$": "$$.Task.Token" in the MessageBody'
        )
    if len(token) > MAX_TASK_TOKEN_CHARS:
        raise UnprocessableMessage(
            f"TaskToken is {len(token)} characters, longer than {MAX_TASK_TOKEN_CHARS}"
        )
    return Envelope(
        task_token=TaskToken(token),
        execution=data.get("Execution"),
        payload=data.get("Payload"),
        has_payload="Payload" in data,
    )


def parse_request(envelope: Envelope, *, default_channel: str | None) -> ApprovalRequest:
    """Step 2: the approval object. Raises :class:`InvalidApprovalRequest` with the reason.

    Only the shape is checked here; whether ``expires_at`` has passed depends on when the
    message is handled, so the service checks it (after deduplication).
    """
    if not envelope.has_payload:
        raise InvalidApprovalRequest(
            'message has no Payload: pass "Payload.$": "$" in the MessageBody'
        )
    execution = envelope.execution
    if execution is not None and (
        not isinstance(execution, str) or not EXECUTION_ARN_RE.match(execution)
    ):
        raise InvalidApprovalRequest(
            'Execution must be the execution ARN ("Execution.$": "$$.Execution.Id")'
        )
    payload = envelope.payload
    raw_spec = payload.get("approval") if isinstance(payload, dict) else None
    spec = _parse_spec(raw_spec) if raw_spec is not None else ApprovalSpec()
    channel = spec.channel or default_channel
    if channel is None:
        raise InvalidApprovalRequest(
            "no channel: set approval.channel in the payload or DEFAULT_CHANNEL on the bot"
        )
    return ApprovalRequest(
        task_token=envelope.task_token,
        execution_arn=execution,
        payload=payload,
        spec=spec,
        channel=channel,
    )


def _fail(path: str, problem: str) -> InvalidApprovalRequest:
    return InvalidApprovalRequest(f"approval.{path} {problem}")


def _opt_str(raw: Mapping[str, Any], key: str, limit: int) -> str | None:
    value = raw.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise _fail(key, f"must be a string, got {type(value).__name__}")
    if not value.strip():
        raise _fail(key, "must not be empty")
    if len(value) > limit:
        raise _fail(key, f"is {len(value)} characters; Slack allows at most {limit}")
    return value


def _render_value(value: Any) -> str:
    if isinstance(value, str):
        return value
    if value is None:
        return "—"
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _pairs(raw: Mapping[str, Any], key: str, *, max_items: int) -> list[tuple[str, Any]]:
    value = raw.get(key)
    if value is None:
        return []
    if not isinstance(value, dict):
        raise _fail(key, f"must be an object of label → value, got {type(value).__name__}")
    if len(value) > max_items:
        raise _fail(key, f"has {len(value)} entries; at most {max_items} are shown")
    pairs = list(value.items())
    for label, _ in pairs:
        if not label.strip():
            raise _fail(key, "has an empty label")
        if len(label) > MAX_LABEL_CHARS:
            raise _fail(f"{key}[{label[:20]!r}…]", f"label is longer than {MAX_LABEL_CHARS}")
    return pairs


def _check_keys(raw: Mapping[str, Any]) -> None:
    unknown = sorted(k for k in raw if k not in _SPEC_KEYS)
    if not unknown:
        return
    hints = []
    for key in unknown:
        close = difflib.get_close_matches(key, _SPEC_KEYS, n=1)
        hints.append(f"{key!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
    raise InvalidApprovalRequest(
        f"approval has unknown field(s) {', '.join(hints)}; known: {', '.join(_SPEC_KEYS)}"
    )


def _parse_fields(raw: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    fields = []
    for label, value in _pairs(raw, "fields", max_items=MAX_FIELDS):
        text = _render_value(value)
        if len(label) + len(text) + 4 > MAX_FIELD_CHARS:
            raise _fail(
                f"fields[{label!r}]", f"is longer than Slack's {MAX_FIELD_CHARS} characters"
            )
        fields.append((label, text))
    return tuple(fields)


def _parse_links(raw: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    links = []
    for label, url in _pairs(raw, "links", max_items=MAX_LINKS):
        if not isinstance(url, str) or not url.startswith(("https://", "http://")):
            raise _fail(f"links[{label!r}]", "must be an http(s) URL")
        if len(url) > MAX_URL_CHARS or any(c in url for c in "<>| \n"):
            raise _fail(
                f"links[{label!r}]",
                f"must be a URL of at most {MAX_URL_CHARS} characters without spaces, <, > or |",
            )
        links.append((label, url))
    return tuple(links)


def _parse_approvers(raw: Mapping[str, Any]) -> tuple[str, ...]:
    value = raw.get("approvers")
    if value is None:
        return ()
    if isinstance(value, str):
        value = [a.strip() for a in value.split(",") if a.strip()]
    if not isinstance(value, list) or not all(isinstance(a, str) for a in value):
        raise _fail("approvers", "must be a list of Slack user or user-group ids")
    bad = [a for a in value if not PRINCIPAL_ID_RE.match(a)]
    if bad:
        raise _fail(
            "approvers", f"must hold user ids (U…/W…) or user-group ids (S…), got {bad[:5]!r}"
        )
    if len(value) > MAX_APPROVERS:
        raise _fail("approvers", f"has {len(value)} entries; at most {MAX_APPROVERS}")
    return tuple(dict.fromkeys(value))


def _parse_expiry(raw: Mapping[str, Any]) -> datetime | None:
    text = _opt_str(raw, "expires_at", 64)
    if text is None:
        return None
    try:
        expires_at = parse_time(text)
    except ValueError as exc:
        raise _fail("expires_at", f"must be ISO 8601 with a timezone: {exc}") from None
    return expires_at


def _parse_spec(raw: Any) -> ApprovalSpec:
    if not isinstance(raw, dict):
        raise InvalidApprovalRequest(f"approval must be an object, got {type(raw).__name__}")
    _check_keys(raw)
    channel = _opt_str(raw, "channel", 30)
    if channel is not None and not CHANNEL_ID_RE.match(channel):
        raise _fail("channel", f"must be a Slack channel id like C0123456789, got {channel!r}")
    requester = _opt_str(raw, "requester", 254)
    if requester is not None and not (USER_ID_RE.match(requester) or EMAIL_RE.match(requester)):
        raise _fail("requester", f"must be a Slack user id or an email address, got {requester!r}")
    return ApprovalSpec(
        title=_opt_str(raw, "title", MAX_TITLE_CHARS),
        text=_opt_str(raw, "text", MAX_TEXT_CHARS),
        fields=_parse_fields(raw),
        channel=channel,
        approvers=_parse_approvers(raw),
        requester=requester,
        links=_parse_links(raw),
        expires_at=_parse_expiry(raw),
    )
