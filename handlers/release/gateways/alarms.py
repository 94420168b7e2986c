"""Amazon CloudWatch: the state of the alarms that guard a release."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .. import aws

_DESCRIBE_BATCH = 100  # DescribeAlarms takes at most 100 names per call


class Alarms:
    def __init__(self, client: Any | None = None) -> None:
        self._client = client or aws.client("cloudwatch")

    def describe(self, names: Sequence[str]) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        for start in range(0, len(names), _DESCRIBE_BATCH):
            pages = aws.pages("cloudwatch:DescribeAlarms", self._client.get_paginator("describe_alarms"),
                              AlarmNames=list(names[start:start + _DESCRIBE_BATCH]),
                              AlarmTypes=["MetricAlarm", "CompositeAlarm"])
            for page in pages:
                found += page.get("MetricAlarms", []) + page.get("CompositeAlarms", [])
        return found
