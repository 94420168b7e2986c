"""Amazon DynamoDB: pending approvals, keyed by a hash of the approval id in the link.

The table holds the task token; the link holds only a random id. Storing the id's hash means
that reading the table is not enough to build a working link.

Two kinds of item: the release's approval record (keyed by the hash of an id that is never sent), which holds
the task token and the decision; and one link per approver (keyed by the hash of the id in that approver's
link), which names the approver and the record.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from .. import aws
from ..approval import ApprovalLink, ApprovalRecord, ApprovalStatus, Decision


@dataclass(frozen=True)
class Claim:
    """The outcome of claiming an approval for a decision, and the record as the claim found or left it."""

    won: bool
    record: ApprovalRecord | None  # None: no approval has this key


class ApprovalStore:
    def __init__(self, table_name: str, client: Any | None = None) -> None:
        self._table = table_name
        self._client = client or aws.client("dynamodb")

    def create(self, record: ApprovalRecord) -> None:
        item = {
            "approvalKey": {"S": record.key},
            "taskToken": {"S": record.task_token},
            "executionArn": {"S": record.execution_arn},
            "summary": {"S": record.summary_json},
            "status": {"S": record.status.value},
            "createdAt": {"N": str(record.created_at)},
            "expiresAt": {"N": str(record.expires_at)},
        }
        self._put_new(item)

    def create_link(self, link: ApprovalLink) -> None:
        item = {
            "approvalKey": {"S": link.key},
            "approvalRef": {"S": link.record_key},
            "approver": {"S": link.approver},
            "executionArn": {"S": link.execution_arn},
            "createdAt": {"N": str(link.created_at)},
            "expiresAt": {"N": str(link.expires_at)},
        }
        self._put_new(item)

    def _put_new(self, item: dict[str, Any]) -> None:
        """Write an item that must not exist yet: a random key that is taken is never overwritten."""
        aws.call("dynamodb:PutItem", self._client.put_item, TableName=self._table, Item=item,
                 ConditionExpression="attribute_not_exists(approvalKey)")

    def open(self, key: str) -> tuple[ApprovalRecord | None, str]:
        """The approval a link's key leads to, and the approver the link was sent to."""
        item = self._item(key)
        if item is None:
            return None, ""
        if "approvalRef" not in item:  # the record itself (a link made before links had items of their own)
            return _record(key, item), ""
        return self.get(item["approvalRef"]["S"]), item["approver"]["S"]

    def _item(self, key: str) -> dict[str, Any] | None:
        item: dict[str, Any] | None = aws.call("dynamodb:GetItem", self._client.get_item, TableName=self._table,
                                               Key={"approvalKey": {"S": key}}, ConsistentRead=True).get("Item")
        return item

    def get(self, key: str) -> ApprovalRecord | None:
        item = self._item(key)
        return _record(key, item) if item else None

    def claim(self, key: str, decision: Decision) -> Claim:
        """Record the decision if the approval is still pending and unexpired, in one conditional write that
        also answers with the record: as the claim left it, or as it stood when another decision, the
        deadline or an unknown key (no record; none is created) refused the claim."""
        def refused(exc: ClientError) -> Claim:
            item: dict[str, Any] | None = exc.response.get("Item")  # type: ignore[assignment]
            return Claim(False, _record(key, item) if item else None)

        answer = aws.call(
            "dynamodb:UpdateItem", self._client.update_item,
            on={"ConditionalCheckFailedException": refused},
            TableName=self._table, Key={"approvalKey": {"S": key}},
            UpdateExpression="SET #s = :decided, decision = :d, decidedBy = :by, decidedAt = :at, "
                             "reason = :reason, sourceIp = :ip, approver = :approver",
            # a link's item has no status: only the release's record can be claimed
            ConditionExpression="#s = :pending AND expiresAt > :at",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={
                ":decided": {"S": ApprovalStatus.DECIDED.value}, ":pending": {"S": ApprovalStatus.PENDING.value},
                ":d": {"S": "approve" if decision.approved else "reject"}, ":by": {"S": decision.by},
                ":at": {"N": str(decision.at)}, ":reason": {"S": decision.reason},
                ":ip": {"S": decision.source_ip}, ":approver": {"S": decision.approver},
            },
            ReturnValues="ALL_NEW", ReturnValuesOnConditionCheckFailure="ALL_OLD")
        return answer if isinstance(answer, Claim) else Claim(True, _record(key, answer["Attributes"]))

    def release(self, key: str, decision: Decision) -> None:
        """Undo our own claim (the decision could not be delivered), so the approver can try again."""
        self._settle_claim(key, decision, ApprovalStatus.PENDING,
                           " REMOVE decision, decidedBy, decidedAt, reason, sourceIp, approver")

    def end(self, key: str, decision: Decision) -> None:
        """Close our own claim for good: the release stopped waiting before the decision could reach it."""
        self._settle_claim(key, decision, ApprovalStatus.ENDED)

    def _settle_claim(self, key: str, decision: Decision, status: ApprovalStatus, also: str = "") -> None:
        """Move our own claim (decided by this decision, at its time) to `status`; anyone else's is left alone."""
        aws.conditional_write(
            "dynamodb:UpdateItem", self._client.update_item,
            TableName=self._table, Key={"approvalKey": {"S": key}},
            UpdateExpression=f"SET #s = :status{also}",
            ConditionExpression="#s = :decided AND decidedAt = :at AND decidedBy = :by",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={":status": {"S": status.value},
                                       ":decided": {"S": ApprovalStatus.DECIDED.value},
                                       ":at": {"N": str(decision.at)}, ":by": {"S": decision.by}})

    def pending_keys(self, now: int, execution_arn: str | None = None) -> list[str]:
        """Keys of the approvals still waiting for a decision at `now` (epoch seconds), of one execution or all.

        A consistent scan: a decision just recorded must not be offered again. Only the attributes the
        filter needs are read, so task tokens stay in the table.
        """
        pages = aws.pages("dynamodb:Scan", self._client.get_paginator("scan"), TableName=self._table,
                          ConsistentRead=True, ProjectionExpression="approvalKey, #s, expiresAt, executionArn",
                          ExpressionAttributeNames={"#s": "status"})
        return [item["approvalKey"]["S"] for page in pages for item in page["Items"]
                if _is_pending(item, now, execution_arn)]


def _is_pending(item: dict[str, Any], now: int, execution_arn: str | None) -> bool:
    return ("status" in item and item["status"]["S"] == ApprovalStatus.PENDING.value  # a link has no status
            and int(item["expiresAt"]["N"]) > now and execution_arn in (None, item["executionArn"]["S"]))


def _record(key: str, item: dict[str, Any]) -> ApprovalRecord:
    decision = None
    if "decision" in item:
        decision = Decision(approved=item["decision"]["S"] == "approve", by=item["decidedBy"]["S"],
                            reason=item.get("reason", {}).get("S", ""),
                            at=int(item["decidedAt"]["N"]), source_ip=item.get("sourceIp", {}).get("S", ""),
                            approver=item.get("approver", {}).get("S", ""))
    return ApprovalRecord(
        key=key, task_token=item["taskToken"]["S"], execution_arn=item["executionArn"]["S"],
        summary_json=item["summary"]["S"], status=ApprovalStatus(item["status"]["S"]),
        created_at=int(item["createdAt"]["N"]), expires_at=int(item["expiresAt"]["N"]), decision=decision)
