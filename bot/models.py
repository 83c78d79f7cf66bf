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
import hashlib
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, Final, Literal

from bot.durations import format_duration, parse_duration
from bot.log_secrecy import remember as remember_secret
from bot.mrkdwn import author_mrkdwn, link_problem, text_problem

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
MAX_DM_COPIES: Final = 25  # approval.notify dm/both: direct-message copies of one request, at most
MAX_GROUP_KEY_CHARS: Final = 200  # approval.group: the workflow author's key for one message
NOTIFY_CHOICES: Final = ("channel", "dm", "both")

# Public (C…) and private (C…, G…) channels. Not direct messages (D…): the app's manifest asks
# for no im:* scope, so it could neither post there nor tell who may see them.
CHANNEL_ID_RE: Final = re.compile(r"^[CG][A-Z0-9]{2,}$")
CHANNEL_ID_HINT: Final = "a Slack channel id like C0123456789 (C… or G…; not a direct message D…)"
USER_ID_RE: Final = re.compile(r"^[UW][A-Z0-9]{2,}$")
USERGROUP_ID_RE: Final = re.compile(r"^S[A-Z0-9]{2,}$")
PRINCIPAL_ID_RE: Final = re.compile(r"^(?:[UW]|S)[A-Z0-9]{2,}$")
EMAIL_RE: Final = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
# Step Functions names (state machines, executions, map run labels): 1 to 80 characters, none
# of them white space, < > { } [ ] ? * " # % \ ^ | ~ ` $ & , ; : /, a control character
# (U+0000-001F, U+007F-009F, U+FFFE-FFFF) or a surrogate (the StartExecution API reference).
_SFN_NAME: Final = (
    r"[^\s<>{}\[\]?*\"#%\\^|~`$&,;:/\x00-\x1f\x7f-\x9f\ufffe\uffff\ud800-\udfff]{1,80}"
)
MAX_EXECUTION_ARN_CHARS: Final = 256  # DescribeExecution's executionArn
# arn:<partition>:states:<region>:<12-digit account>:execution:<state machine>[/<map run>]:<name>
# or an Express execution: …:express:<state machine>:<name>:<id>.
EXECUTION_ARN_RE: Final = re.compile(
    r"^arn:(?P<partition>aws(?:-[a-z]+)*):states:(?P<region>[a-z]{2}(?:-[a-z]+)+-\d{1,2}):"
    r"(?P<account>\d{12}):(?:"
    rf"execution:(?P<machine>{_SFN_NAME}(?:/{_SFN_NAME})?):(?P<name>{_SFN_NAME})"
    rf"|express:(?P<express_machine>{_SFN_NAME}):(?P<express_name>{_SFN_NAME}):{_SFN_NAME}"
    r")$"
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
        remember_secret(value)  # scrubbed from every later log record (bot.log_secrecy)

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
    """One person's decision (a vote, with N-of-M approvals)."""

    outcome: Literal["approved", "rejected"]
    actor: Actor
    decided_at: datetime
    comment: str | None = None  # the approver's comment, or the reject reason
    inputs: tuple[tuple[str, Any], ...] = ()  # approval.inputs the approver filled in

    def to_dict(self) -> dict[str, Any]:
        record: dict[str, Any] = {
            "id": self.actor.id,
            "name": self.actor.name,
            "decided_at": format_time(self.decided_at),
            "comment": self.comment,
        }
        if self.inputs:
            record["inputs"] = dict(self.inputs)
        return record

    @property
    def status(self) -> Status:
        return Status.APPROVED if self.outcome == "approved" else Status.REJECTED


# --- the request ---------------------------------------------------------------------------------


INPUT_NAME_RE: Final = re.compile(r"^[a-z][a-z0-9_]{0,49}$")
MAX_INPUTS: Final = 10
MAX_OPTIONS: Final = 100  # static_select
MAX_OPTION_CHARS: Final = 75
MAX_INPUT_LABEL_CHARS: Final = 100  # shorter than Slack's 2000: labels are headings


@dataclass(frozen=True)
class InputField:
    """One field of ``approval.inputs``: what an approver fills in before approving."""

    name: str
    label: str
    type: Literal["text", "number", "select"] = "text"
    required: bool = False
    options: tuple[str, ...] = ()
    multiline: bool = False
    minimum: float | None = None
    maximum: float | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "label": self.label, "type": self.type}
        if self.required:
            out["required"] = True
        if self.options:
            out["options"] = list(self.options)
        if self.multiline:
            out["multiline"] = True
        if self.minimum is not None:
            out["min"] = self.minimum
        if self.maximum is not None:
            out["max"] = self.maximum
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> InputField:
        return cls(
            name=str(data["name"]),
            label=str(data.get("label") or data["name"]),
            type=data.get("type", "text"),
            required=bool(data.get("required", False)),
            options=tuple(str(o) for o in data.get("options", ())),
            multiline=bool(data.get("multiline", False)),
            minimum=data.get("min"),
            maximum=data.get("max"),
        )

    def validate(self, raw: str | None) -> tuple[Any, str | None]:
        """(value, error) for what an approver typed or picked."""
        text = (raw or "").strip()
        if not text:
            return None, "Required." if self.required else None
        if self.type == "number":
            try:
                number = float(text)
            except ValueError:
                return None, "Enter a number."
            if not math.isfinite(number):
                return None, "Enter a finite number."
            if self.minimum is not None and number < self.minimum:
                return None, f"At least {self.minimum:g}."
            if self.maximum is not None and number > self.maximum:
                return None, f"At most {self.maximum:g}."
            return (int(number) if number.is_integer() else number), None
        if self.type == "select" and text not in self.options:
            return None, "Pick one of the options."
        return text, None


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
    required_approvals: int = 1
    reject_policy: Literal["any", "majority"] = "any"
    remind_every: timedelta | None = None
    escalate_after: timedelta | None = None
    escalate_to: tuple[str, ...] = ()
    inputs: tuple[InputField, ...] = ()
    risk: Literal["normal", "high"] = "normal"
    # Where the request is shown: the channel (default), a direct message to each approver,
    # or both. The channel still decides who may see it (/approvals, the Home tab).
    notify: Literal["channel", "dm", "both"] = "channel"
    # Requests with the same group key in the same channel share one message.
    group: str | None = None

    @property
    def dms(self) -> bool:
        """Each approver gets a direct message copy."""
        return self.notify in ("dm", "both")

    @property
    def in_channel(self) -> bool:
        """The request is posted in its channel."""
        return self.notify in ("channel", "both")

    @property
    def needs_form(self) -> bool:
        """Approving needs the approve modal (inputs to fill, or a code to type)."""
        return bool(self.inputs) or self.risk == "high"

    def to_dict(self) -> dict[str, Any]:
        """For storage (``from_dict`` reads it back); empty values are left out."""
        out: dict[str, Any] = {
            "title": self.title,
            "text": self.text,
            "fields": [list(pair) for pair in self.fields],
            "channel": self.channel,
            "approvers": list(self.approvers),
            "requester": self.requester,
            "links": [list(pair) for pair in self.links],
            "expires_at": format_time(self.expires_at) if self.expires_at else None,
            "required_approvals": self.required_approvals,
            "reject_policy": self.reject_policy,
            "remind_every": format_duration(self.remind_every) if self.remind_every else None,
            "escalate_after": (
                format_duration(self.escalate_after) if self.escalate_after else None
            ),
            "escalate_to": list(self.escalate_to),
            "inputs": [field.to_dict() for field in self.inputs],
            "risk": self.risk,
            "notify": None if self.notify == "channel" else self.notify,
            "group": self.group,
        }
        return {key: value for key, value in out.items() if value not in (None, [])}

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
            required_approvals=int(data.get("required_approvals", 1)),
            reject_policy=data.get("reject_policy", "any"),
            remind_every=parse_duration(data["remind_every"]) if "remind_every" in data else None,
            escalate_after=(
                parse_duration(data["escalate_after"]) if "escalate_after" in data else None
            ),
            escalate_to=tuple(data.get("escalate_to", ())),
            inputs=tuple(InputField.from_dict(f) for f in data.get("inputs", ())),
            risk=data.get("risk", "normal"),
            notify=data.get("notify", "channel"),
            group=data.get("group"),
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
        return self.execution if is_execution_arn(self.execution) else None


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
class MessageCopy:
    """A direct-message copy of a request (``approval.notify`` dm/both): the approver it went
    to, and the IM channel (D…) and ts of the message, for ``chat.update`` and thread replies."""

    user: str
    channel: str
    ts: str


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
    votes: tuple[Decision, ...] = ()  # every vote so far, oldest first (N-of-M)
    reminded_at: datetime | None = None
    reminders: int = 0
    escalated_at: datetime | None = None
    requester_id: str | None = None  # the requester's user id, resolved when it was posted
    eligible_approvers: int | None = None  # set when fewer could approve than it needs
    # The direct-message copies posted so far (notify dm/both). With notify "dm" there is no
    # channel message: ``ts`` stays None, and ``channel`` still decides who may see it.
    copies: tuple[MessageCopy, ...] = ()

    def messages(self) -> tuple[tuple[str, str], ...]:
        """Every message showing this request, as (channel, ts): the channel post (if any)
        and each direct-message copy."""
        channel = ((self.channel, self.ts),) if self.ts is not None else ()
        return channel + tuple((c.channel, c.ts) for c in self.copies)

    def copy_for(self, user: str) -> MessageCopy | None:
        return next((c for c in self.copies if c.user == user), None)

    @property
    def requester(self) -> str | None:
        """Who asked: their user id when known, else ``approval.requester`` as sent."""
        return self.requester_id or self.spec.requester

    @property
    def short_code(self) -> str:
        """What a high-risk approver types to confirm (and the "Ref" in messages)."""
        return self.approval_id[:6].upper()

    def votes_for(self, outcome: str) -> tuple[Decision, ...]:
        return tuple(v for v in self.votes if v.outcome == outcome)

    def approvers(self, defaults: tuple[str, ...] = ()) -> tuple[str, ...]:
        """Who may decide now: the request's approvers (or the defaults), plus the escalation
        targets once the request has been escalated."""
        base = self.spec.approvers or defaults
        if self.escalated_at is not None and self.spec.escalate_to:
            return tuple(dict.fromkeys(base + self.spec.escalate_to))
        return base


@dataclass(frozen=True)
class AuditEvent:
    """One line of the audit trail: who did what to which approval, and when. No token."""

    approval_id: str
    event: str  # posted, vote, approved, rejected, refused, reminded, escalated, expired, ...
    at: datetime
    actor_id: str | None = None
    actor_name: str | None = None
    title: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)
    channel: str | None = None  # the request's channel: who may read the event

    def to_dict(self) -> dict[str, Any]:
        return {
            "at": format_time(self.at),
            "approval_id": self.approval_id,
            "channel": self.channel,
            "event": self.event,
            "actor": {"id": self.actor_id, "name": self.actor_name} if self.actor_id else None,
            "title": self.title,
            "detail": self.detail,
        }


def is_execution_arn(value: Any) -> bool:
    """Whether ``value`` is a Step Functions execution ARN (the real grammar: no ``<``, ``>``
    or ``|`` can reach a Slack message or the console link through it)."""
    return (
        isinstance(value, str)
        and len(value) <= MAX_EXECUTION_ARN_CHARS
        and EXECUTION_ARN_RE.match(value) is not None
    )


def execution_name(execution_arn: str | None) -> str | None:
    """``arn:aws:states:r:a:execution:StateMachine:name`` → ``StateMachine/name``."""
    if not execution_arn:
        return None
    match = EXECUTION_ARN_RE.match(execution_arn)
    if match is None:
        return execution_arn
    if match.group("name") is not None:
        return f"{match.group('machine')}/{match.group('name')}"
    return f"{match.group('express_machine')}/{match.group('express_name')}"


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
    "required_approvals",
    "reject_policy",
    "remind_every",
    "escalate_after",
    "escalate_to",
    "inputs",
    "risk",
    "notify",
    "group",
)
_INPUT_KEYS: Final = ("name", "label", "type", "required", "options", "multiline", "min", "max")


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
    if execution is not None and not is_execution_arn(execution):
        raise InvalidApprovalRequest(
            "Execution must be the execution ARN "
            "(arn:<partition>:states:<region>:<account>:execution:<state machine>:<name>; "
            'pass "Execution.$": "$$.Execution.Id")'
        )
    payload = envelope.payload
    spec = spec_of_payload(payload)
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
    import difflib  # here: only a request with a typo needs it (~0.6 ms at import)

    hints = []
    for key in unknown:
        close = difflib.get_close_matches(key, _SPEC_KEYS, n=1)
        hints.append(f"{key!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
    raise InvalidApprovalRequest(
        f"approval has unknown field(s) {', '.join(hints)}; known: {', '.join(_SPEC_KEYS)}"
    )


def _escaped_len(text: str) -> int:
    """Length once ``&``, ``<`` and ``>`` are escaped for Slack (as ``bot.blocks.escape`` does)."""
    return len(text) + 4 * text.count("&") + 3 * text.count("<") + 3 * text.count(">")


def _parse_fields(raw: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    fields = []
    for label, value in _pairs(raw, "fields", max_items=MAX_FIELDS):
        text = _render_value(value)
        if _escaped_len(label) + _escaped_len(text) + 4 > MAX_FIELD_CHARS:
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
        problem = link_problem(url, schemes=("https://", "http://"))
        if problem is not None:
            raise _fail(f"links[{label!r}]", problem)
        links.append((label, url))
    return tuple(links)


def _parse_text(raw: Mapping[str, Any]) -> str | None:
    """``approval.text``: mrkdwn that may format but never broadcast or disguise a link
    (``bot.mrkdwn``), within Slack's 3000 characters as rendered (links show their hosts)."""
    text = _opt_str(raw, "text", MAX_TEXT_CHARS)
    if text is None:
        return None
    problem = text_problem(text)
    if problem is not None:
        raise _fail("text", problem)
    rendered = len(author_mrkdwn(text))
    if rendered > MAX_TEXT_CHARS:
        raise _fail(
            "text",
            f"is {rendered} characters once its links show their hosts; "
            f"Slack allows at most {MAX_TEXT_CHARS}",
        )
    return text


def _parse_approvers(raw: Mapping[str, Any], key: str = "approvers") -> tuple[str, ...]:
    value = raw.get(key)
    if value is None:
        return ()
    if isinstance(value, str):
        value = [a.strip() for a in value.split(",") if a.strip()]
    if not isinstance(value, list) or not all(isinstance(a, str) for a in value):
        raise _fail(key, "must be a list of Slack user or user-group ids")
    bad = [a for a in value if not PRINCIPAL_ID_RE.match(a)]
    if bad:
        raise _fail(key, f"must hold user ids (U…/W…) or user-group ids (S…), got {bad[:5]!r}")
    if len(value) > MAX_APPROVERS:
        raise _fail(key, f"has {len(value)} entries; at most {MAX_APPROVERS}")
    return tuple(dict.fromkeys(value))


def _parse_expiry(raw: Mapping[str, Any]) -> datetime | None:
    text = _opt_str(raw, "expires_at", 64)
    if text is None:
        return None
    try:
        expires_at = parse_time(text)
    except (ValueError, OverflowError) as exc:  # Overflow: e.g. 9999-12-31T23:00-05:00 in UTC
        raise _fail("expires_at", f"must be ISO 8601 with a timezone: {exc}") from None
    return expires_at


def _parse_count(raw: Mapping[str, Any]) -> int:
    value = raw.get("required_approvals", 1)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_APPROVERS:
        raise _fail("required_approvals", f"must be a whole number from 1 to {MAX_APPROVERS}")
    return value


def _parse_choice(raw: Mapping[str, Any], key: str, choices: tuple[str, ...]) -> Any:
    value = raw.get(key, choices[0])
    if value not in choices:
        raise _fail(key, f"must be one of {', '.join(choices)}, got {value!r}")
    return value


def _parse_duration_field(raw: Mapping[str, Any], key: str) -> timedelta | None:
    text = _opt_str(raw, key, 40)
    if text is None:
        return None
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise _fail(key, f"must be an ISO 8601 duration: {exc}") from None


def _parse_input(index: int, item: Any) -> InputField:
    where = f"inputs[{index}]"
    if not isinstance(item, dict):
        raise _fail(where, "must be an object with name, label and type")
    unknown = sorted(k for k in item if k not in _INPUT_KEYS)
    if unknown:
        raise _fail(where, f"has unknown field(s) {unknown!r}; known: {', '.join(_INPUT_KEYS)}")
    name = item.get("name")
    if not isinstance(name, str) or not INPUT_NAME_RE.match(name):
        raise _fail(f"{where}.name", "must be lower_snake_case, 1 to 50 characters")
    label = item.get("label", name)
    if not isinstance(label, str) or not label.strip() or len(label) > MAX_INPUT_LABEL_CHARS:
        raise _fail(
            f"{where}.label", f"must be a string of 1 to {MAX_INPUT_LABEL_CHARS} characters"
        )
    kind = _parse_choice(item, "type", ("text", "number", "select"))
    options = item.get("options", [])
    if kind == "select":
        if not isinstance(options, list) or not 1 <= len(options) <= MAX_OPTIONS:
            raise _fail(f"{where}.options", f"must list 1 to {MAX_OPTIONS} choices")
        if not all(isinstance(o, str) and 0 < len(o) <= MAX_OPTION_CHARS for o in options):
            raise _fail(
                f"{where}.options", f"must be strings of 1 to {MAX_OPTION_CHARS} characters"
            )
        if len(set(options)) != len(options):
            raise _fail(f"{where}.options", "must not repeat a choice")
    elif "options" in item:
        raise _fail(f"{where}.options", "only applies to type select")
    bounds = {k: item.get(k) for k in ("min", "max") if item.get(k) is not None}
    for key, value in bounds.items():
        if kind != "number" or isinstance(value, bool) or not isinstance(value, int | float):
            raise _fail(f"{where}.{key}", "must be a number, for type number")
    required = item.get("required", False)
    multiline = item.get("multiline", False)
    if not isinstance(required, bool) or not isinstance(multiline, bool):
        raise _fail(where, "required and multiline must be true or false")
    return InputField(
        name=name,
        label=label,
        type=kind,
        required=required,
        options=tuple(options) if kind == "select" else (),
        multiline=multiline and kind == "text",
        minimum=bounds.get("min"),
        maximum=bounds.get("max"),
    )


def _parse_inputs(raw: Mapping[str, Any]) -> tuple[InputField, ...]:
    value = raw.get("inputs")
    if value is None:
        return ()
    if not isinstance(value, list) or len(value) > MAX_INPUTS:
        raise _fail("inputs", f"must be a list of at most {MAX_INPUTS} fields")
    fields = tuple(_parse_input(i, item) for i, item in enumerate(value))
    names = [f.name for f in fields]
    if len(set(names)) != len(names):
        raise _fail("inputs", "must not repeat a name")
    return fields


def spec_of_payload(payload: Any) -> ApprovalSpec:
    """The payload's ``approval`` object, parsed (the empty spec when there is none): the
    request's own, and what the store reads back from the payload it kept."""
    raw = payload.get("approval") if isinstance(payload, dict) else None
    return _parse_spec(raw) if raw is not None else ApprovalSpec()


def _parse_spec(raw: Any) -> ApprovalSpec:
    if not isinstance(raw, dict):
        raise InvalidApprovalRequest(f"approval must be an object, got {type(raw).__name__}")
    _check_keys(raw)
    channel = _opt_str(raw, "channel", 30)
    if channel is not None and not CHANNEL_ID_RE.match(channel):
        raise _fail("channel", f"must be {CHANNEL_ID_HINT}, got {channel!r}")
    requester = _opt_str(raw, "requester", 254)
    if requester is not None and not (USER_ID_RE.match(requester) or EMAIL_RE.match(requester)):
        raise _fail("requester", f"must be a Slack user id or an email address, got {requester!r}")
    spec = ApprovalSpec(
        title=_opt_str(raw, "title", MAX_TITLE_CHARS),
        text=_parse_text(raw),
        fields=_parse_fields(raw),
        channel=channel,
        approvers=_parse_approvers(raw),
        requester=requester,
        links=_parse_links(raw),
        expires_at=_parse_expiry(raw),
        required_approvals=_parse_count(raw),
        reject_policy=_parse_choice(raw, "reject_policy", ("any", "majority")),
        remind_every=_parse_duration_field(raw, "remind_every"),
        escalate_after=_parse_duration_field(raw, "escalate_after"),
        escalate_to=_parse_approvers(raw, "escalate_to"),
        inputs=_parse_inputs(raw),
        risk=_parse_choice(raw, "risk", ("normal", "high")),
        notify=_parse_choice(raw, "notify", NOTIFY_CHOICES),
        group=_parse_group(raw),
    )
    _check_enough_approvers(spec)
    return spec


def _parse_group(raw: Mapping[str, Any]) -> str | None:
    group = _opt_str(raw, "group", MAX_GROUP_KEY_CHARS)
    if group is not None and not group.isprintable():
        raise _fail("group", "must not contain control characters")
    return group


def people(count: int) -> str:
    return f"{count} {'person' if count == 1 else 'people'}"


def _check_enough_approvers(spec: ApprovalSpec) -> None:
    """Explicit user approvers fewer than ``required_approvals``: it could never be approved.

    Only user ids can be counted here. With user groups (or without approvers: the bot's
    defaults, or the channel's members) the service counts when it posts the request.
    """
    named = spec.approvers + spec.escalate_to
    if not spec.approvers or any(USERGROUP_ID_RE.match(p) for p in named):
        return
    count = len(set(named))
    if count < spec.required_approvals:
        where = (
            "approval.approvers and escalate_to name"
            if spec.escalate_to
            else ("approval.approvers names")
        )
        raise _fail(
            "required_approvals",
            f"is {spec.required_approvals}, but {where} only {people(count)}: "
            "it could never be approved",
        )
