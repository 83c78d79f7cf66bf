"""GroupStore: the channel messages of grouped requests (``approval.group``), in DynamoDB.

One item per group message, in the approvals table beside the approvals, keyed
``GROUP#<group id>``. It has neither ``open_status``, ``execution_arn`` nor ``audit_stream``, so
it is in none of the table's indexes: listings, the sweep and the audit never see it.

What it keeps: the members (a string set of approval ids, at most :data:`MAX_GROUP_ITEMS`; the
next request of the group opens the next *part*, a continuation message), the message's channel
and ts once posted, a posting lease (the message is posted exactly once across crashes, as a
request's is), and a ``version`` that every change of the group or of a member bumps: whoever
re-renders the message re-reads it afterwards and renders again if it moved; and a draw lease,
so that one writer at a time draws while the others only bump.
"""

from __future__ import annotations

import base64
import hashlib
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
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
from bot.models import Approval, format_time, parse_time
from bot.store import APPROVAL_SK, approval_from_item

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import AttributeValueTypeDef

GROUP_SK: Final = "GROUP"
MAX_GROUP_ITEMS: Final = 50  # members of one group message; the next ones open a continuation
GROUP_ID_DOMAIN: Final = b"sfn-approvals/group/v1\x00"
# A group item outlives its longest member: a task may wait a year, then the approvals'
# retention. Every join pushes it further.
GROUP_RETENTION: Final = timedelta(days=366 + 90)


def group_id_for(channel: str, key: str, part: int = 0) -> str:
    """The opaque id of the group message ``part`` of group ``key`` in ``channel``:
    ``g`` + 26 base32 characters (the workflow's key itself never goes into a button)."""
    raw = f"{channel}\x00{key}\x00{part}".encode()
    digest = hashlib.sha256(GROUP_ID_DOMAIN + raw).digest()
    return "g" + base64.b32encode(digest).decode().rstrip("=").lower()[:26]


class GroupBegin(StrEnum):
    NEW = "new"  # nobody posted the message yet: post it
    RESUME = "resume"  # an earlier attempt died mid-post: look for its message, then post
    POSTED = "posted"  # the message exists
    BUSY = "busy"  # another delivery is posting it right now


@dataclass(frozen=True)
class Group:
    group_id: str
    channel: str  # as the requests name it (the message's own channel id is ``message_channel``)
    key: str
    part: int
    members: frozenset[str]
    version: int
    created_at: datetime
    message_channel: str | None = None
    ts: str | None = None
    post_started_at: datetime | None = None


@dataclass(frozen=True)
class GroupPosting:
    outcome: GroupBegin
    group: Group
    lease_owner: str | None = None


class GroupFull(RuntimeError):
    """This part of the group holds :data:`MAX_GROUP_ITEMS` members already."""


def _key(group_id: str) -> dict[str, AttributeValueTypeDef]:
    return {"pk": {"S": f"GROUP#{group_id}"}, "sk": {"S": GROUP_SK}}


def group_from_item(item: Mapping[str, Any]) -> Group:
    started = _get_s(item, "post_started_at")
    return Group(
        group_id=item["group_id"]["S"],
        channel=item["channel"]["S"],
        key=item["group_key"]["S"],
        part=int(item["part"]["N"]),
        members=frozenset(item.get("members", {}).get("SS", [])),
        version=int(item.get("version", {}).get("N", "0")),
        created_at=parse_time(item["created_at"]["S"]),
        message_channel=_get_s(item, "message_channel"),
        ts=_get_s(item, "ts"),
        post_started_at=parse_time(started) if started else None,
    )


class GroupStore:
    """DynamoDB adapter for group messages (the approvals table, its own item type)."""

    def __init__(self, client: DynamoDBClient, table: str) -> None:
        self._db = client
        self._table = table

    def join(self, channel: str, key: str, part: int, approval_id: str, *, now: datetime) -> Group:
        """Add ``approval_id`` to part ``part`` of the group (creating it), bumping its version.

        Idempotent (a set); raises :class:`GroupFull` when the part is full and does not hold
        the approval already.
        """
        group_id = group_id_for(channel, key, part)
        try:
            result = self._db.update_item(
                TableName=self._table,
                Key=_key(group_id),
                UpdateExpression=(
                    "SET item_type = :type, group_id = :gid, channel = :channel, "
                    "group_key = :key, part = :part, "
                    "created_at = if_not_exists(created_at, :now), expires_ttl = :ttl "
                    "ADD members :ids, version :one"
                ),
                ConditionExpression=(
                    "attribute_not_exists(members) OR contains(members, :aid) "
                    "OR size(members) < :cap"
                ),
                ExpressionAttributeValues={
                    ":type": _s("group"),
                    ":gid": _s(group_id),
                    ":channel": _s(channel),
                    ":key": _s(key),
                    ":part": _n(part),
                    ":now": _s(format_time(now)),
                    ":ttl": _n(int((now + GROUP_RETENTION).timestamp())),
                    ":ids": {"SS": [approval_id]},
                    ":aid": _s(approval_id),
                    ":one": _n(1),
                    ":cap": _n(MAX_GROUP_ITEMS),
                },
                ReturnValues="ALL_NEW",
            )
        except ClientError as exc:
            if _is_condition_failure(exc):
                raise GroupFull(group_id) from None
            raise
        return group_from_item(result["Attributes"])

    def get(self, group_id: str) -> Group | None:
        item = self._db.get_item(
            TableName=self._table, Key=_key(group_id), ConsistentRead=True
        ).get("Item")
        return None if item is None else group_from_item(item)

    def approvals(self, approval_ids: Iterable[str]) -> list[Approval]:
        """The members as they are now (strongly consistent reads), in the order they were
        created; ids without an approval are left out. One GetItem each: the functions' roles
        allow GetItem on the table, not BatchGetItem (infra/resources/iam.yml)."""
        found: list[Approval] = []
        for approval_id in sorted(set(approval_ids)):
            item = self._db.get_item(
                TableName=self._table,
                Key={"pk": _s(f"APPROVAL#{approval_id}"), "sk": _s(APPROVAL_SK)},
                ConsistentRead=True,
            ).get("Item")
            if item is not None:
                found.append(approval_from_item(item))
        return sorted(found, key=lambda a: (a.created_at, a.approval_id))

    def version(self, group_id: str) -> int:
        item = self._db.get_item(
            TableName=self._table,
            Key=_key(group_id),
            ProjectionExpression="version",
            ConsistentRead=True,
        ).get("Item")
        return int(item["version"]["N"]) if item and "version" in item else 0

    def bump(self, group_id: str) -> int:
        """A member changed: the message must be drawn again. The new version (0: no group)."""
        try:
            result = self._db.update_item(
                TableName=self._table,
                Key=_key(group_id),
                UpdateExpression="ADD version :one",
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeValues={":one": _n(1)},
                ReturnValues="UPDATED_NEW",
            )
        except ClientError as exc:
            if not _is_condition_failure(exc):
                raise
            return 0
        return int(result["Attributes"]["version"]["N"])

    def take_draw(self, group_id: str, owner: str, *, now: datetime, lease_seconds: int) -> bool:
        """Become the one who draws the message now (False: someone else does, and will see
        every bump made meanwhile). A drawer that died is replaced after ``lease_seconds``."""
        return update_if(
            self._db,
            TableName=self._table,
            Key=_key(group_id),
            UpdateExpression="SET drawer = :owner, drawer_until = :until",
            ConditionExpression=(
                "attribute_exists(pk) AND "
                "(attribute_not_exists(drawer_until) OR drawer_until < :now_epoch)"
            ),
            ExpressionAttributeValues={
                ":owner": _s(owner),
                ":until": _n(_millis(now) + lease_seconds * 1000),
                ":now_epoch": _n(_millis(now)),
            },
        )

    def release_draw(self, group_id: str, owner: str) -> None:
        update_if(
            self._db,
            TableName=self._table,
            Key=_key(group_id),
            UpdateExpression="REMOVE drawer, drawer_until",
            ConditionExpression="drawer = :owner",
            ExpressionAttributeValues={":owner": _s(owner)},
        )

    def begin_post(self, group_id: str, *, now: datetime, lease_seconds: int) -> GroupPosting:
        """Take the lease to post the group's message, or say why not to post."""
        owner = uuid.uuid4().hex
        try:
            result = self._db.update_item(
                TableName=self._table,
                Key=_key(group_id),
                UpdateExpression=(
                    "SET lease_owner = :owner, lease_until = :until, "
                    "post_started_at = if_not_exists(post_started_at, :now)"
                ),
                ConditionExpression=(
                    "attribute_exists(pk) AND attribute_not_exists(ts) AND "
                    "(attribute_not_exists(lease_until) OR lease_until < :now_epoch)"
                ),
                ExpressionAttributeValues={
                    ":owner": _s(owner),
                    ":until": _n(_millis(now) + lease_seconds * 1000),
                    ":now": _s(format_time(now)),
                    ":now_epoch": _n(_millis(now)),
                },
                ReturnValues="ALL_OLD",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            if not _is_condition_failure(exc):
                raise
            old = cast("Mapping[str, Any] | None", exc.response.get("Item"))
            if old is None:
                raise LookupError(group_id) from None
            current = group_from_item(old)
            return GroupPosting(
                GroupBegin.POSTED if current.ts is not None else GroupBegin.BUSY, current
            )
        old_item = result["Attributes"]
        before = group_from_item(old_item)
        outcome = GroupBegin.RESUME if before.post_started_at is not None else GroupBegin.NEW
        return GroupPosting(outcome, before, owner)

    def mark_posted(
        self, group_id: str, *, lease_owner: str, channel: str, ts: str
    ) -> Group | None:
        """Keep where the message is, if the lease is still ours (None: it is not)."""
        try:
            result = self._db.update_item(
                TableName=self._table,
                Key=_key(group_id),
                UpdateExpression=(
                    "SET message_channel = :channel, ts = :ts REMOVE lease_owner, lease_until"
                ),
                ConditionExpression="lease_owner = :owner AND attribute_not_exists(ts)",
                ExpressionAttributeValues={
                    ":channel": _s(channel),
                    ":ts": _s(ts),
                    ":owner": _s(lease_owner),
                },
                ReturnValues="ALL_NEW",
            )
        except ClientError as exc:
            if _is_condition_failure(exc):
                return None
            raise
        return group_from_item(result["Attributes"])

    def release_lease(self, group_id: str, *, lease_owner: str) -> None:
        """Give the posting lease up after a failed attempt (nothing was posted)."""
        update_if(
            self._db,
            TableName=self._table,
            Key=_key(group_id),
            UpdateExpression="SET lease_until = :zero",
            ConditionExpression="lease_owner = :owner AND attribute_not_exists(ts)",
            ExpressionAttributeValues={":zero": _n(0), ":owner": _s(lease_owner)},
        )
