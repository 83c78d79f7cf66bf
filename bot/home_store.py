"""Who opened their App Home tab recently: one small item per person, in the approvals table.

The Home tab is republished when something its owner sees changes, but only for people who
opened it lately (``bot.service.home``). Each ``app_home_opened`` event writes
``pk = "HOME"``, ``sk = "USER#<user id>"`` with ``opened_at``, the event's id and
``expires_ttl`` (DynamoDB's TTL attribute of the table: the item goes away by itself).

These items carry none of the attributes the table's indexes are keyed on (``open_status``,
``execution_arn``, ``audit_stream``), so they never appear in ``by-status`` (the listings),
``by-execution`` or the audit trail; and their ``pk`` is no ``APPROVAL#…`` key.

One partition holds every visit: :meth:`HomeStore.recent` is one bounded ``Query`` of it
(``Limit``: the most items it reads), never a scan.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Final

from bot.dynamo import update_if
from bot.models import format_time

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

HOME_PK: Final = "HOME"
HOME_SK_PREFIX: Final = "USER#"
VISIT_TTL_HOURS: Final = 24  # an item outlives the refresh window (bot.service.home) by far


class HomeStore:
    """:class:`bot.ports.HomeVisits` on DynamoDB."""

    def __init__(
        self, client: DynamoDBClient, table: str, *, ttl_hours: int = VISIT_TTL_HOURS
    ) -> None:
        self._db = client
        self._table = table
        self._ttl = timedelta(hours=ttl_hours)

    def opened(self, user_id: str, *, event_id: str | None, now: datetime) -> bool:
        """Remember that ``user_id`` opened their Home now. False when this very event
        (``event_id``, Slack's ``event_id``) was already recorded: a retried delivery."""
        values: dict[str, Any] = {
            ":at": {"S": format_time(now)},
            ":ttl": {"N": str(int((now + self._ttl).timestamp()))},
            ":event": {"S": event_id or ""},
        }
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "Key": {"pk": {"S": HOME_PK}, "sk": {"S": f"{HOME_SK_PREFIX}{user_id}"}},
            "UpdateExpression": "SET opened_at = :at, event_id = :event, expires_ttl = :ttl",
            "ExpressionAttributeValues": values,
        }
        if event_id:
            kwargs["ConditionExpression"] = "attribute_not_exists(event_id) OR event_id <> :event"
        return update_if(self._db, **kwargs)

    def recent(self, *, since: datetime, limit: int) -> list[str]:
        """Users who opened their Home at ``since`` or later: one query reading at most
        ``limit`` visits (so at most ``limit`` users, maybe fewer)."""
        result = self._db.query(
            TableName=self._table,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :prefix)",
            FilterExpression="opened_at >= :since",
            ExpressionAttributeValues={
                ":pk": {"S": HOME_PK},
                ":prefix": {"S": HOME_SK_PREFIX},
                ":since": {"S": format_time(since)},
            },
            ProjectionExpression="sk",
            Limit=limit,
        )
        return [item["sk"]["S"].removeprefix(HOME_SK_PREFIX) for item in result.get("Items", [])]
