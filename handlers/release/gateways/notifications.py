"""Amazon SNS: messages to approvers and operators."""

from __future__ import annotations

from typing import Any

from .. import aws

SUBJECT_LIMIT = 100  # SNS rejects longer subjects


class Topic:
    def __init__(self, topic_arn: str, client: Any | None = None) -> None:
        self._arn = topic_arn
        self._client = client or aws.client("sns")

    def publish(self, subject: str, message: str, attributes: dict[str, str] | None = None) -> str:
        """Publish; `attributes` (String message attributes) let subscriptions' filter policies pick recipients."""
        subject = "".join(ch if 32 <= ord(ch) < 127 else "?" for ch in subject)[:SUBJECT_LIMIT]
        extra: dict[str, Any] = {"MessageAttributes": {name: {"DataType": "String", "StringValue": value}
                                                 for name, value in attributes.items()}} if attributes else {}
        published = aws.call("sns:Publish", self._client.publish, TopicArn=self._arn, Subject=subject, Message=message,
                             **extra)
        return str(published["MessageId"])
