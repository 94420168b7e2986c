"""Amazon CloudWatch: the state of the alarms that guard a release."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from .. import aws


class Alarms:
    def __init__(self, client: Any | None = None) -> None:
        self._client = client or aws.client("cloudwatch")

    def describe(self, names: Sequence[str]) -> list[dict[str, Any]]:
        if not names:
            return []
        found: list[dict[str, Any]] = []
        try:
            for start in range(0, len(names), 100):  # DescribeAlarms takes at most 100 names
                pages = self._client.get_paginator("describe_alarms").paginate(
                    AlarmNames=list(names[start:start + 100]), AlarmTypes=["MetricAlarm", "CompositeAlarm"])
                for page in pages:
                    found += page.get("MetricAlarms", []) + page.get("CompositeAlarms", [])
        except (ClientError, BotoCoreError) as exc:
            raise aws.translate(exc, "cloudwatch:DescribeAlarms") from exc
        return found
