"""Amazon SNS: messages to approvers and operators."""

from __future__ import annotations

from typing import Any

from .. import aws

SUBJECT_LIMIT = 100  # SNS rejects longer subjects


class Topic:
    def __init__(self, topic_arn: str, client: Any | None = None) -> None:
        self._arn = topic_arn
        self._client = client or aws.client("sns")

    def publish(self, subject: str, message: str) -> str:
        subject = "".join(ch if 32 <= ord(ch) < 127 else "?" for ch in subject)[:SUBJECT_LIMIT]
        published = aws.call("sns:Publish", self._client.publish, TopicArn=self._arn, Subject=subject, Message=message)
        return str(published["MessageId"])
