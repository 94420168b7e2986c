"""Amazon DynamoDB: the release lock of each load balancer."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from .. import aws


class LockStore:
    def __init__(self, table_name: str, client: Any | None = None) -> None:
        self._table = table_name
        self._client = client or aws.client("dynamodb")

    def put_if_free(self, key: str, execution_arn: str, now: int) -> str | None:
        """Take the lock if nobody holds it; otherwise return the holder's execution ARN."""
        def holder(refusal: ClientError) -> str | None:
            returned: Any = refusal.response.get("Item")  # moto may not return the old item: read it then
            old: dict[str, Any] = returned or self._read(key) or {}
            return str(old.get("executionArn", {}).get("S", "")) or None

        def put(**params: Any) -> str | None:
            self._client.put_item(**params)
            return None  # taken: nobody held it

        return aws.call("dynamodb:PutItem", put, on={"ConditionalCheckFailedException": holder},
                        TableName=self._table, Item=self._item(key, execution_arn, now),
                        ConditionExpression="attribute_not_exists(lockKey)",
                        ReturnValuesOnConditionCheckFailure="ALL_OLD")

    def take_over(self, key: str, dead_holder: str, execution_arn: str, now: int) -> bool:
        return aws.conditional_write(
            "dynamodb:PutItem", self._client.put_item, TableName=self._table, Item=self._item(key, execution_arn, now),
            ConditionExpression="executionArn = :dead", ExpressionAttributeValues={":dead": {"S": dead_holder}})

    def release(self, key: str, execution_arn: str) -> bool:
        """Delete the lock if this execution holds it; False if it does not (nothing to release)."""
        return aws.conditional_write(
            "dynamodb:DeleteItem", self._client.delete_item, TableName=self._table, Key={"lockKey": {"S": key}},
            ConditionExpression="executionArn = :me", ExpressionAttributeValues={":me": {"S": execution_arn}})

    def request_abort(self, key: str, execution_arn: str, by: str, reason: str) -> bool:
        """Ask the running release to roll back at its next check; False if it no longer holds the lock."""
        return aws.conditional_write(
            "dynamodb:UpdateItem", self._client.update_item, TableName=self._table, Key={"lockKey": {"S": key}},
            UpdateExpression="SET abortRequestedBy = :by, abortReason = :reason",
            ConditionExpression="executionArn = :me",
            ExpressionAttributeValues={":me": {"S": execution_arn}, ":by": {"S": by}, ":reason": {"S": reason}})

    def abort_request(self, key: str, execution_arn: str) -> str | None:
        """Who asked this execution to abort, and why; None when nobody did."""
        item = self._read(key)
        if not item or item["executionArn"]["S"] != execution_arn or "abortRequestedBy" not in item:
            return None
        return f"aborted by {item['abortRequestedBy']['S']}: {item.get('abortReason', {}).get('S', '')}"

    def _read(self, key: str) -> dict[str, Any] | None:
        item: dict[str, Any] | None = aws.call("dynamodb:GetItem", self._client.get_item, TableName=self._table,
                                               Key={"lockKey": {"S": key}}, ConsistentRead=True).get("Item")
        return item

    @staticmethod
    def _item(key: str, execution_arn: str, now: int) -> dict[str, Any]:
        return {"lockKey": {"S": key}, "executionArn": {"S": execution_arn}, "acquiredAt": {"N": str(now)}}
