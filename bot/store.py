"""ApprovalStore: DynamoDB, one item per approval, keyed by the opaque approval id.

Every state change is a conditional write, so concurrent deliveries and concurrent clicks
resolve to exactly one winner. The task token is stored (Step Functions needs it to complete
the task) but leaves this module only as a redacted :class:`~bot.models.TaskToken`.

The table (keys, GSIs, TTL) is defined once in ``infra/resources/approvals-table.yml``.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Final, cast

from botocore.exceptions import ClientError

from bot.dynamo import get_s as _get_s
from bot.dynamo import is_condition_failure as _is_condition_failure
from bot.dynamo import millis as _millis
from bot.dynamo import n as _n
from bot.dynamo import s as _s
from bot.dynamo import update_if
from bot.models import (
    Actor,
    Approval,
    ApprovalRequest,
    ApprovalSpec,
    AuditEvent,
    Decision,
    InvalidApprovalRequest,
    MessageCopy,
    Status,
    TaskToken,
    format_time,
    parse_time,
    spec_of_payload,  # the request parser's own: the spec read back is the one that was posted
)

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import AttributeValueTypeDef

BY_STATUS_INDEX: Final = "by-status"
BY_EXECUTION_INDEX: Final = "by-execution"
AUDIT_INDEX: Final = "audit-by-time"
APPROVAL_SK: Final = "APPROVAL"
AUDIT_STREAM: Final = "AUDIT"


class ApprovalNotFound(LookupError):
    """No approval has this id."""


class StateConflict(RuntimeError):
    """The approval is not in the state the write expected; ``current`` is what it is."""

    def __init__(self, current: Approval) -> None:
        super().__init__(f"approval {current.approval_id} is {current.status}")
        self.current = current


class Begin(StrEnum):
    NEW = "new"  # first delivery: post it
    RESUME = "resume"  # an earlier attempt died mid-post: look for its message, then post
    EXISTS = "exists"  # already posted (or finished): a duplicate delivery
    BUSY = "busy"  # another delivery is posting right now: retry later


@dataclass(frozen=True)
class Posting:
    outcome: Begin
    approval: Approval
    lease_owner: str | None = None
    started_at: datetime | None = None


@dataclass(frozen=True)
class Page:
    approvals: list[Approval]
    cursor: str | None


def _key(approval_id: str) -> dict[str, AttributeValueTypeDef]:
    return {"pk": {"S": f"APPROVAL#{approval_id}"}, "sk": {"S": APPROVAL_SK}}


MAX_ITEM_BYTES: Final = 400 * 1024
# The by-status key of a finished approval whose last redraw Slack did not take (rate limited,
# unavailable): the sweep finds it there and draws its messages again. No listing looks there.
REDRAW_MARK: Final = "REDRAW"


def _too_large() -> InvalidApprovalRequest:
    return InvalidApprovalRequest(
        "the request is too large to keep (DynamoDB items are limited to 400 KB): "
        "send a smaller Payload"
    )


def item_size(item: Mapping[str, Any]) -> int:
    """A DynamoDB item's size as DynamoDB counts it: attribute names and values in UTF-8
    bytes, numbers up to 21 bytes, 3 bytes plus 1 per element for maps and lists."""
    return sum(len(name.encode()) + _value_size(value) for name, value in item.items())


def _value_size(value: Mapping[str, Any]) -> int:
    if "S" in value:
        return len(value["S"].encode())
    if "N" in value:
        return min(21, len(value["N"]))
    if "M" in value:
        return 3 + sum(len(k.encode()) + 1 + _value_size(v) for k, v in value["M"].items())
    if "L" in value:
        return 3 + sum(1 + _value_size(v) for v in value["L"])
    return 1


def _is_too_large(exc: ClientError) -> bool:
    error = exc.response.get("Error", {})
    return error.get("Code") == "ValidationException" and "size" in str(error.get("Message"))


def _old_item(exc: ClientError) -> Mapping[str, Any] | None:
    """The item a failed condition saw (``ReturnValuesOnConditionCheckFailure=ALL_OLD``)."""
    return cast("Mapping[str, Any] | None", exc.response.get("Item"))


def _decision_from(item: Mapping[str, Any]) -> Decision | None:
    outcome = _get_s(item, "decision")
    actor_id = _get_s(item, "decided_by_id")
    decided_at = _get_s(item, "decided_at")
    if outcome not in ("approved", "rejected") or actor_id is None or decided_at is None:
        return None
    return Decision(
        outcome=outcome,  # type: ignore[arg-type]  # narrowed by the check above
        actor=Actor(id=actor_id, name=_get_s(item, "decided_by_name") or actor_id),
        decided_at=parse_time(decided_at),
        comment=_get_s(item, "comment"),
    )


def _with_inputs(decision: Decision | None, votes: tuple[Decision, ...]) -> Decision | None:
    """The decision with what its maker filled in (kept with their vote)."""
    if decision is None:
        return None
    for vote in votes:
        if vote.actor.id == decision.actor.id and vote.outcome == decision.outcome:
            return replace(decision, inputs=vote.inputs)
    return decision


def stored_spec(item: Mapping[str, Any]) -> ApprovalSpec:
    """The approval object of a stored approval.

    The item keeps the request's ``payload`` only (one copy keeps a typical item under 1 KB:
    one write unit, not two); the spec is parsed from ``payload.approval`` again, by the parser
    that accepted it when it arrived. Items written before that keep their parsed ``spec`` too:
    it is read as it was stored.
    """
    return _spec(item, json.loads(item["payload"]["S"]))


def _spec(item: Mapping[str, Any], payload: Any) -> ApprovalSpec:
    if "spec" in item:  # the older format
        return ApprovalSpec.from_dict(json.loads(item["spec"]["S"]))
    return spec_of_payload(payload)


def approval_from_item(item: Mapping[str, Any]) -> Approval:
    created = parse_time(item["created_at"]["S"])
    votes = _votes_from(item)
    payload = json.loads(item["payload"]["S"])
    return Approval(
        approval_id=item["approval_id"]["S"],
        status=Status(item["status"]["S"]),
        execution_arn=_get_s(item, "execution_arn"),
        payload=payload,
        spec=_spec(item, payload),
        channel=item["channel"]["S"],
        ts=_get_s(item, "ts"),
        created_at=created,
        updated_at=parse_time(_get_s(item, "updated_at") or item["created_at"]["S"]),
        decision=_with_inputs(_decision_from(item), votes),
        status_reason=_get_s(item, "status_reason"),
        votes=votes,
        reminded_at=_time_or_none(item, "reminded_at"),
        reminders=int(item.get("reminders", {}).get("N", "0")),
        escalated_at=_time_or_none(item, "escalated_at"),
        requester_id=_get_s(item, "requester_id"),
        eligible_approvers=int(item["eligible_approvers"]["N"])
        if "eligible_approvers" in item
        else None,
        copies=_copies_from(item),
    )


def _copies_from(item: Mapping[str, Any]) -> tuple[MessageCopy, ...]:
    """The direct-message copies (``copies``: user id -> {channel, ts}); none on older items."""
    copies = [
        MessageCopy(user=user, channel=value["M"]["channel"]["S"], ts=value["M"]["ts"]["S"])
        for user, value in (item.get("copies", {}).get("M") or {}).items()
    ]
    return tuple(sorted(copies, key=lambda c: (c.ts, c.user)))


def _audit_from(item: Mapping[str, Any]) -> AuditEvent:
    return AuditEvent(
        approval_id=item["approval_id"]["S"],
        event=item["event"]["S"],
        at=parse_time(item["audit_at"]["S"].split("#", 1)[0]),
        actor_id=_get_s(item, "actor_id"),
        actor_name=_get_s(item, "actor_name"),
        title=_get_s(item, "title"),
        detail=json.loads(_get_s(item, "detail") or "{}"),
        channel=_get_s(item, "channel"),
    )


def _time_or_none(item: Mapping[str, Any], name: str) -> datetime | None:
    value = _get_s(item, name)
    return parse_time(value) if value else None


def _vote_value(vote: Decision) -> AttributeValueTypeDef:
    record: dict[str, AttributeValueTypeDef] = {
        "outcome": _s(vote.outcome),
        "name": _s(vote.actor.name),
        "at": _s(format_time(vote.decided_at)),
    }
    if vote.comment:
        record["comment"] = _s(vote.comment)
    if vote.inputs:
        record["inputs"] = _s(json.dumps(dict(vote.inputs), ensure_ascii=False))
    return {"M": record}


def _votes_from(item: Mapping[str, Any]) -> tuple[Decision, ...]:
    votes = []
    for user_id, value in (item.get("votes", {}).get("M") or {}).items():
        record = value["M"]
        inputs = json.loads(record["inputs"]["S"]) if "inputs" in record else {}
        votes.append(
            Decision(
                outcome=record["outcome"]["S"],
                actor=Actor(id=user_id, name=record["name"]["S"]),
                decided_at=parse_time(record["at"]["S"]),
                comment=record.get("comment", {}).get("S"),
                inputs=tuple(inputs.items()),
            )
        )
    return tuple(sorted(votes, key=lambda v: v.decided_at))


class ApprovalStore:
    """DynamoDB adapter. All writes that change state are conditional."""

    def __init__(
        self,
        client: DynamoDBClient,
        table: str,
        *,
        retention_days: int = 90,
        audit_retention_days: int = 365,
    ) -> None:
        self._db = client
        self._table = table
        self._retention = timedelta(days=retention_days)
        self._audit_retention = timedelta(days=audit_retention_days)

    # --- request path ---------------------------------------------------------------------------

    def begin_posting(
        self, request: ApprovalRequest, *, now: datetime, lease_seconds: int
    ) -> Posting:
        """Create the approval as POSTING under a lease, or say why not to post.

        The lease makes a crash between ``chat.postMessage`` and :meth:`mark_posted`
        recoverable: the next delivery takes the expired lease over (``RESUME``) and first
        looks for the message the crashed attempt may have posted.
        """
        owner = uuid.uuid4().hex
        created = format_time(now)
        lease_until = _millis(now) + lease_seconds * 1000  # epoch milliseconds
        item: dict[str, AttributeValueTypeDef] = {
            **_key(request.approval_id),
            "item_type": _s("approval"),
            "approval_id": _s(request.approval_id),
            "status": _s(Status.POSTING),
            "open_status": _s(Status.POSTING),
            "task_token": _s(request.task_token.reveal()),
            # The payload only, as compact JSON: the spec is derived from it on read (stored_spec).
            "payload": _s(json.dumps(request.payload, ensure_ascii=False, separators=(",", ":"))),
            "channel": _s(request.channel),
            "created_at": _s(created),
            "updated_at": _s(created),
            "lease_owner": _s(owner),
            "lease_until": _n(lease_until),
            "post_attempts": _n(1),
            "votes": {"M": {}},
            "approve_count": _n(0),
            "reject_count": _n(0),
        }
        if request.execution_arn:
            item["execution_arn"] = _s(request.execution_arn)
        if request.spec.dms:  # the direct-message copies are recorded into it one by one
            item["copies"] = {"M": {}}
        if item_size(item) > MAX_ITEM_BYTES:  # checked here too: DynamoDB would refuse it
            raise _too_large()
        try:
            self._db.put_item(
                TableName=self._table,
                Item=item,
                ConditionExpression="attribute_not_exists(pk)",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            if _is_too_large(exc):
                raise _too_large() from None
            if not _is_condition_failure(exc):
                raise
            existing = _old_item(exc)
            if existing is None:  # pragma: no cover - DynamoDB always returns it when asked
                raise
            return self._take_over(existing, owner=owner, now=now, lease_until=lease_until)
        return Posting(Begin.NEW, approval_from_item(item), owner, now)

    def _take_over(
        self, existing: Mapping[str, Any], *, owner: str, now: datetime, lease_until: int
    ) -> Posting:
        current = approval_from_item(existing)
        if current.status is not Status.POSTING:
            return Posting(Begin.EXISTS, current)
        taken = self._update_if(
            current.approval_id,
            "SET lease_owner = :owner, lease_until = :until, updated_at = :now "
            "ADD post_attempts :one",
            "#status = :posting AND lease_until < :now_epoch",
            {
                ":owner": _s(owner),
                ":until": _n(lease_until),
                ":now": _s(format_time(now)),
                ":now_epoch": _n(_millis(now)),
                ":posting": _s(Status.POSTING),
                ":one": _n(1),
            },
        )
        if taken is None:
            return Posting(Begin.BUSY, current)
        return Posting(Begin.RESUME, current, owner, current.created_at)

    def mark_posted(
        self,
        approval_id: str,
        *,
        lease_owner: str,
        channel: str,
        ts: str | None,
        now: datetime,
        requester_id: str | None = None,
        eligible_approvers: int | None = None,
    ) -> Approval:
        """POSTING → PENDING with the message's channel and ts, if the lease is still ours;
        with what was resolved before posting (the requester's user id, and how many people
        could approve when fewer than needed). ``ts`` is None for a request posted only as
        direct messages (``notify: dm``).

        Raises :class:`StateConflict` when the approval changed meanwhile (for instance it
        expired while the post was in flight); the caller then re-renders the message.
        """
        update = (
            "SET #status = :pending, open_status = :pending, channel = :channel, updated_at = :now"
        )
        values: dict[str, AttributeValueTypeDef] = {
            ":pending": _s(Status.PENDING),
            ":posting": _s(Status.POSTING),
            ":owner": _s(lease_owner),
            ":channel": _s(channel),
            ":now": _s(format_time(now)),
        }
        if ts is not None:
            update += ", ts = :ts"
            values[":ts"] = _s(ts)
        if requester_id is not None:
            update += ", requester_id = :requester"
            values[":requester"] = _s(requester_id)
        if eligible_approvers is not None:
            update += ", eligible_approvers = :eligible"
            values[":eligible"] = _n(eligible_approvers)
        return self._transition(
            approval_id,
            update + " REMOVE lease_owner, lease_until",
            "#status = :posting AND lease_owner = :owner",
            values,
        )

    def record_copy(
        self, approval_id: str, copy: MessageCopy, *, lease_owner: str | None
    ) -> Approval:
        """Keep one direct-message copy's channel and ts, right after it was posted.

        With ``lease_owner``: only while the approval is POSTING under that lease (raises
        :class:`StateConflict` otherwise), so a copy is recorded by the delivery that posted
        it. Without (a copy posted later, to an escalation target): whatever the status.
        """
        values: dict[str, AttributeValueTypeDef] = {
            ":copy": {"M": {"channel": _s(copy.channel), "ts": _s(copy.ts)}}
        }
        if lease_owner is not None:
            condition = "#status = :posting AND lease_owner = :owner"
            values.update({":posting": _s(Status.POSTING), ":owner": _s(lease_owner)})
        else:
            condition = "attribute_exists(copies) AND attribute_exists(#status)"
        return self._transition(
            approval_id, "SET copies.#user = :copy", condition, values, {"#user": copy.user}
        )

    def release_lease(self, approval_id: str, *, lease_owner: str) -> None:
        """Give up a posting lease after a failed attempt, so a retry need not wait for it.

        The next delivery resumes (``RESUME``) and checks Slack for a post first, because a
        timed-out ``chat.postMessage`` may still have gone through.
        """
        self._update_if(
            approval_id,
            "SET lease_until = :zero",
            "#status = :posting AND lease_owner = :owner",
            {":zero": _n(0), ":posting": _s(Status.POSTING), ":owner": _s(lease_owner)},
        )

    def attach_message(self, approval_id: str, *, channel: str, ts: str, now: datetime) -> None:
        """Record where a message is when the approval left POSTING while it was being posted."""
        self._db.update_item(
            TableName=self._table,
            Key=_key(approval_id),
            UpdateExpression="SET channel = :channel, ts = :ts, updated_at = :now",
            ConditionExpression="attribute_exists(pk) AND attribute_not_exists(ts)",
            ExpressionAttributeValues={
                ":channel": _s(channel),
                ":ts": _s(ts),
                ":now": _s(format_time(now)),
            },
        )

    # --- reads ----------------------------------------------------------------------------------

    def get(self, approval_id: str) -> Approval:
        item = self._db.get_item(
            TableName=self._table, Key=_key(approval_id), ConsistentRead=True
        ).get("Item")
        if item is None:
            raise ApprovalNotFound(approval_id)
        return approval_from_item(item)

    def task_token(self, approval_id: str) -> TaskToken:
        item = self._db.get_item(
            TableName=self._table,
            Key=_key(approval_id),
            ProjectionExpression="task_token",
            ConsistentRead=True,
        ).get("Item")
        if item is None or "task_token" not in item:
            raise ApprovalNotFound(approval_id)
        return TaskToken(item["task_token"]["S"])

    def list_open(self, status: Status, *, limit: int, cursor: str | None = None) -> Page:
        """Open approvals in ``status``, newest first, one GSI query (never a scan)."""
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": BY_STATUS_INDEX,
            "KeyConditionExpression": "open_status = :status",
            "ExpressionAttributeValues": {":status": _s(status)},
            "ScanIndexForward": False,
            "Limit": limit,
        }
        if cursor:
            start = json.loads(base64.urlsafe_b64decode(cursor.encode()))  # ValueError if forged
            if not isinstance(start, dict):
                raise ValueError("invalid cursor")
            kwargs["ExclusiveStartKey"] = start
        try:
            result = self._db.query(**kwargs)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ValidationException" and cursor:
                raise ValueError("invalid cursor") from None
            raise
        last = result.get("LastEvaluatedKey")
        next_cursor = base64.urlsafe_b64encode(json.dumps(last).encode()).decode() if last else None
        return Page([approval_from_item(i) for i in result.get("Items", [])], next_cursor)

    def mark_redraw(self, approval_id: str) -> None:
        """A finished approval whose messages Slack did not all take: list it for the sweep
        (``open_status = REDRAW``). Nothing happens to an open one: its next change redraws."""
        update_if(
            self._db,
            TableName=self._table,
            Key=_key(approval_id),
            UpdateExpression="SET open_status = :redraw",
            ConditionExpression=(
                "attribute_exists(pk) AND NOT #status IN (:posting, :pending, :claimed)"
            ),
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues={
                ":redraw": _s(REDRAW_MARK),
                ":posting": _s(Status.POSTING),
                ":pending": _s(Status.PENDING),
                ":claimed": _s(Status.CLAIMED),
            },
        )

    def redraw_done(self, approval_id: str) -> None:
        """Its messages show its final state: off the sweep's list."""
        update_if(
            self._db,
            TableName=self._table,
            Key=_key(approval_id),
            UpdateExpression="REMOVE open_status",
            ConditionExpression="open_status = :redraw",
            ExpressionAttributeValues={":redraw": _s(REDRAW_MARK)},
        )

    def needs_redraw(self, *, limit: int) -> list[Approval]:
        """Finished approvals whose messages still need drawing (one index query)."""
        result = self._db.query(
            TableName=self._table,
            IndexName=BY_STATUS_INDEX,
            KeyConditionExpression="open_status = :redraw",
            ExpressionAttributeValues={":redraw": _s(REDRAW_MARK)},
            Limit=limit,
        )
        return [approval_from_item(i) for i in result.get("Items", [])]

    def ids_for_execution(self, execution_arn: str) -> list[str]:
        ids: list[str] = []
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": BY_EXECUTION_INDEX,
            "KeyConditionExpression": "execution_arn = :arn",
            "ExpressionAttributeValues": {":arn": _s(execution_arn)},
        }
        while True:
            result = self._db.query(**kwargs)
            ids.extend(i["pk"]["S"].removeprefix("APPROVAL#") for i in result.get("Items", []))
            if "LastEvaluatedKey" not in result:
                return ids
            kwargs["ExclusiveStartKey"] = result["LastEvaluatedKey"]

    # --- decision path --------------------------------------------------------------------------

    def vote(
        self,
        approval_id: str,
        vote: Decision,
        *,
        now: datetime,
        final: bool,
        counts: tuple[int, int] | None = None,
    ) -> Approval:
        """Record one person's vote, atomically: only on a PENDING approval, only once per
        person, and (with ``counts``) only if the approve / reject counts are still the ones the
        caller read — so concurrent votes can neither count someone twice nor pass N.

        With ``final`` the same write claims the approval (PENDING → CLAIMED) with ``vote`` as
        the decision; exactly one concurrent final vote wins.
        """
        approve, reject = (1, 0) if vote.outcome == "approved" else (0, 1)
        names = {"#uid": vote.actor.id}
        values: dict[str, AttributeValueTypeDef] = {
            ":pending": _s(Status.PENDING),
            ":vote": _vote_value(vote),
            ":da": _n(approve),
            ":dr": _n(reject),
            ":now": _s(format_time(now)),
        }
        update = (
            "SET votes.#uid = :vote, approve_count = approve_count + :da, "
            "reject_count = reject_count + :dr, updated_at = :now"
        )
        condition = "#status = :pending AND attribute_not_exists(votes.#uid)"
        if counts is not None:
            condition += " AND approve_count = :a AND reject_count = :r"
            values[":a"], values[":r"] = _n(counts[0]), _n(counts[1])
        if final:
            update += (
                ", #status = :claimed, open_status = :claimed, decision = :decision, "
                "decided_by_id = :by_id, decided_by_name = :by_name, decided_at = :at, "
                "claimed_at = :now"
            )
            values.update(
                {
                    ":claimed": _s(Status.CLAIMED),
                    ":decision": _s(vote.outcome),
                    ":by_id": _s(vote.actor.id),
                    ":by_name": _s(vote.actor.name),
                    ":at": _s(format_time(vote.decided_at)),
                }
            )
            if vote.comment:
                update += ", #comment = :comment"
                names["#comment"] = "comment"
                values[":comment"] = _s(vote.comment)
        return self._transition(approval_id, update, condition, values, names)

    def claim(self, approval_id: str, decision: Decision, *, now: datetime) -> Approval:
        """PENDING → CLAIMED with the decision (a single final vote)."""
        return self.vote(approval_id, decision, now=now, final=True)

    def release(self, approval_id: str, decision: Decision, *, now: datetime) -> Approval:
        """CLAIMED → PENDING, taking the claiming vote back: the decision could not be
        delivered, and the buttons work again."""
        approve, reject = (1, 0) if decision.outcome == "approved" else (0, 1)
        return self._transition(
            approval_id,
            "SET #status = :pending, open_status = :pending, updated_at = :now, "
            "approve_count = approve_count - :da, reject_count = reject_count - :dr "
            "REMOVE votes.#uid, decision, decided_by_id, decided_by_name, decided_at, "
            "claimed_at, #comment",
            "#status = :claimed AND decided_by_id = :uid",
            {
                ":pending": _s(Status.PENDING),
                ":claimed": _s(Status.CLAIMED),
                ":uid": _s(decision.actor.id),
                ":da": _n(approve),
                ":dr": _n(reject),
                ":now": _s(format_time(now)),
            },
            {"#comment": "comment", "#uid": decision.actor.id},
        )

    # --- reminders and escalation ---------------------------------------------------------------

    def mark_reminded(
        self, approval_id: str, *, previous: datetime | None, now: datetime
    ) -> Approval | None:
        """Take the next reminder of a PENDING approval; None if another sweep took it (or it
        is no longer pending). Taken before the reminder is posted: never twice."""
        condition = "#status = :pending AND " + (
            "reminded_at = :previous" if previous else "attribute_not_exists(reminded_at)"
        )
        values: dict[str, AttributeValueTypeDef] = {
            ":pending": _s(Status.PENDING),
            ":now": _s(format_time(now)),
            ":one": _n(1),
        }
        if previous:
            values[":previous"] = _s(format_time(previous))
        return self._update_if(
            approval_id,
            "SET reminded_at = :now ADD reminders :one",
            condition,
            values,
        )

    def mark_escalated(self, approval_id: str, *, now: datetime) -> Approval | None:
        """Escalate a PENDING approval once; None if it already was (or is not pending)."""
        return self._update_if(
            approval_id,
            "SET escalated_at = :now, updated_at = :now",
            "#status = :pending AND attribute_not_exists(escalated_at)",
            {":pending": _s(Status.PENDING), ":now": _s(format_time(now))},
        )

    def _transition(
        self,
        approval_id: str,
        update: str,
        condition: str,
        values: dict[str, AttributeValueTypeDef],
        names: dict[str, str] | None = None,
    ) -> Approval:
        """One conditional update; the new item, or :class:`StateConflict` with the current
        one (:class:`ApprovalNotFound` if there is none)."""
        try:
            result = self._db.update_item(
                TableName=self._table,
                Key=_key(approval_id),
                UpdateExpression=update,
                ConditionExpression=condition,
                ExpressionAttributeNames={"#status": "status", **(names or {})},
                ExpressionAttributeValues=values,
                ReturnValues="ALL_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            raise self._conflict(exc, approval_id) from None
        return approval_from_item(result["Attributes"])

    def _update_if(
        self,
        approval_id: str,
        update: str,
        condition: str,
        values: dict[str, AttributeValueTypeDef],
    ) -> Approval | None:
        """Like :meth:`_transition`, but None when the condition does not hold."""
        try:
            return self._transition(approval_id, update, condition, values)
        except (StateConflict, ApprovalNotFound):
            return None

    def finish(
        self,
        approval_id: str,
        status: Status,
        *,
        now: datetime,
        reason: str | None = None,
        expected: Sequence[Status] = (Status.CLAIMED,),
    ) -> Approval:
        """Move an open approval to a final status (APPROVED, REJECTED, EXPIRED, ERROR).

        ``expected`` lists the statuses it may leave; anything else raises
        :class:`StateConflict` with the current record. Finished items get a TTL.
        """
        if status.is_open:
            raise ValueError(f"{status} is not a final status")
        values: dict[str, AttributeValueTypeDef] = {
            ":status": _s(status),
            ":now": _s(format_time(now)),
            ":ttl": _n(int((now + self._retention).timestamp())),
        }
        allowed = []
        for index, state in enumerate(expected):
            values[f":from{index}"] = _s(state)
            allowed.append(f":from{index}")
        update = "SET #status = :status, updated_at = :now, expires_ttl = :ttl"
        if reason:
            update += ", status_reason = :reason"
            values[":reason"] = _s(reason)
        return self._transition(
            approval_id,
            update + " REMOVE open_status, lease_owner, lease_until",
            f"#status IN ({', '.join(allowed)})",
            values,
        )

    def append_audit(self, event: AuditEvent) -> None:
        """Append to the audit trail (its own item type in the same table; never the token)."""
        at = format_time(event.at)
        item: dict[str, AttributeValueTypeDef] = {
            "pk": _s(f"APPROVAL#{event.approval_id}"),
            "sk": _s(f"AUDIT#{at}#{uuid.uuid4().hex[:8]}"),
            "item_type": _s("audit"),
            "audit_stream": _s(AUDIT_STREAM),
            "audit_at": _s(f"{at}#{uuid.uuid4().hex[:8]}"),
            "approval_id": _s(event.approval_id),
            "event": _s(event.event),
            "detail": _s(json.dumps(event.detail, ensure_ascii=False, default=str)),
            "expires_ttl": _n(int((event.at + self._audit_retention).timestamp())),
        }
        for name, value in (
            ("actor_id", event.actor_id),
            ("actor_name", event.actor_name),
            ("title", event.title),
            ("channel", event.channel),
        ):
            if value:
                item[name] = _s(value)
        self._db.put_item(TableName=self._table, Item=item)

    def audit(
        self,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int | None = None,
        newest_first: bool = False,
    ) -> Iterator[AuditEvent]:
        """Audit events in time order across all approvals (GSI ``audit-by-time``)."""
        low = format_time(since) if since else "0"
        high = (format_time(until) if until else "9") + "~"
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": AUDIT_INDEX,
            "KeyConditionExpression": "audit_stream = :s AND audit_at BETWEEN :low AND :high",
            "ExpressionAttributeValues": {
                ":s": _s(AUDIT_STREAM),
                ":low": _s(low),
                ":high": _s(high),
            },
            "ScanIndexForward": not newest_first,
        }
        left = limit
        while left is None or left > 0:
            if left is not None:
                kwargs["Limit"] = min(left, 1000)
            page = self._db.query(**kwargs)
            for item in page.get("Items", []):
                yield _audit_from(item)
            if left is not None:
                left -= len(page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                return
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def _conflict(self, exc: ClientError, approval_id: str) -> Exception:
        if not _is_condition_failure(exc):
            return exc
        item = _old_item(exc)
        if item is None:
            return ApprovalNotFound(approval_id)
        return StateConflict(approval_from_item(item))
