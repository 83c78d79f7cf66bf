"""DynamoDB attribute values and errors, in the low-level client's shapes: what the stores
(``bot.store``, ``bot.group_store``, ``bot.home_store``) share."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import AttributeValueTypeDef


def s(value: str) -> AttributeValueTypeDef:
    return {"S": value}


def n(value: int) -> AttributeValueTypeDef:
    return {"N": str(value)}


def millis(moment: datetime) -> int:
    """Epoch milliseconds, as the stores keep times they compare."""
    return int(moment.timestamp() * 1000)


def get_s(item: Mapping[str, Any], name: str) -> str | None:
    """A string attribute of an item, or None when it is absent (or not a string)."""
    value = item.get(name)
    return value["S"] if value and "S" in value else None


def is_condition_failure(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


def update_if(db: DynamoDBClient, **kwargs: Any) -> bool:
    """``UpdateItem`` with a condition: False when the condition did not hold (nothing
    changed), True when it was written. Any other error is raised."""
    try:
        db.update_item(**kwargs)
    except ClientError as exc:
        if is_condition_failure(exc):
            return False
        raise
    return True
