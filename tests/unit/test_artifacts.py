"""Emptying a versioned bucket: every object version and delete marker, page after page, in requests S3 accepts."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from deployer import artifacts
from deployer.errors import DeployError


def versions(prefix: str, count: int) -> list[dict[str, str]]:
    return [{"Key": f"{prefix}/{n}", "VersionId": f"v{n}"} for n in range(count)]


class PagedS3:
    """list_object_versions answered in the given pages; DeleteObjects recorded, and failing as told."""

    def __init__(self, pages: list[dict[str, Any]], errors: list[dict[str, str]] | None = None,
                 missing: bool = False) -> None:
        self.pages, self.errors, self.missing = pages, errors or [], missing
        self.requests: list[list[dict[str, str]]] = []

    def get_paginator(self, operation: str) -> PagedS3:
        assert operation == "list_object_versions"
        return self

    def paginate(self, Bucket: str) -> Iterator[dict[str, Any]]:
        if self.missing:
            raise ClientError({"Error": {"Code": "NoSuchBucket", "Message": "gone"}}, "ListObjectVersions")
        yield from self.pages

    def delete_objects(self, Bucket: str, Delete: dict[str, Any]) -> dict[str, Any]:
        assert Delete["Quiet"] is True
        self.requests.append(Delete["Objects"])
        return {"Errors": self.errors} if self.errors else {}


def test_every_version_and_delete_marker_of_every_page_is_deleted_at_most_1000_per_request() -> None:
    s3 = PagedS3([{"Versions": versions("a", 1000), "DeleteMarkers": versions("m", 500)},
                  {"Versions": versions("b", 3)}, {}])
    assert artifacts.empty(s3, "store") == 1503
    assert [len(request) for request in s3.requests] == [1000, 500, 3]
    assert {"Key": "m/499", "VersionId": "v499"} in s3.requests[1]


def test_a_version_s3_would_not_delete_stops_the_teardown_naming_it() -> None:
    s3 = PagedS3([{"Versions": versions("a", 2)}],
                 errors=[{"Key": "a/1", "VersionId": "v1", "Code": "AccessDenied", "Message": "denied"}])
    with pytest.raises(DeployError, match=r"1 object version\(s\) not deleted, e\.g\. a/1: AccessDenied"):
        artifacts.empty(s3, "store")


def test_a_bucket_already_gone_has_nothing_to_empty() -> None:
    assert artifacts.empty(PagedS3([], missing=True), "store") == 0
