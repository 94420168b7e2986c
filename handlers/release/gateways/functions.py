"""AWS Lambda: whether a hook named in a release request exists, read before the release changes anything."""

from __future__ import annotations

from typing import Any

from .. import aws


class Functions:
    def __init__(self, client: Any | None = None) -> None:
        self._client = client or aws.client("lambda")

    def arn(self, function: str) -> str | None:
        """The function's ARN (as named: a version or alias stays), or None when there is no such function."""
        answer = aws.call("lambda:GetFunction", self._client.get_function, on={"ResourceNotFoundException":
                                                                                lambda _: {}},
                          FunctionName=function)
        configuration = answer.get("Configuration") or {}
        return configuration.get("FunctionArn")
