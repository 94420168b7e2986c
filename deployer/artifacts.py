"""The artifact bucket: created private, encrypted and versioned; objects put under content-addressed keys."""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError

from . import partitions
from .errors import DeployError


def create_bucket(s3: Any, name: str, region: str, tls_only: bool) -> None:
    kwargs: dict[str, Any] = {"Bucket": name}
    if region != "us-east-1":
        kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
    s3.create_bucket(**kwargs)
    s3.put_public_access_block(Bucket=name, PublicAccessBlockConfiguration={
        "BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True, "RestrictPublicBuckets": True})
    s3.put_bucket_encryption(Bucket=name, ServerSideEncryptionConfiguration={
        "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]})
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    if not tls_only:
        return
    arn = f"arn:{partitions.of(region).name}:s3:::{name}"
    s3.put_bucket_policy(Bucket=name, Policy=json.dumps({"Version": "2012-10-17", "Statement": [{
        "Sid": "TlsOnly", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
        "Resource": [arn, f"{arn}/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]}))


def upload(s3: Any, bucket: str, objects: dict[str, bytes]) -> None:
    for key, body in sorted(objects.items()):
        s3.put_object(Bucket=bucket, Key=key, Body=body, ServerSideEncryption="AES256")


DELETE_OBJECTS_LIMIT = 1000  # keys per DeleteObjects request


def empty(s3: Any, name: str) -> int:
    """Delete every object version and delete marker, page by page; how many there were (0: no such bucket).

    A versioned bucket is empty only then: deleting an object just adds a delete marker.
    """
    removed = 0
    try:
        for page in s3.get_paginator("list_object_versions").paginate(Bucket=name):
            items = [{"Key": v["Key"], "VersionId": v["VersionId"]}
                     for v in page.get("Versions", []) + page.get("DeleteMarkers", [])]
            for start in range(0, len(items), DELETE_OBJECTS_LIMIT):
                chunk = items[start:start + DELETE_OBJECTS_LIMIT]
                errors = s3.delete_objects(Bucket=name, Delete={"Objects": chunk, "Quiet": True}).get("Errors", [])
                if errors:
                    first = errors[0]
                    raise DeployError(f"Could not empty bucket {name}: {len(errors)} object version(s) not deleted, "
                                      f"e.g. {first.get('Key')}: {first.get('Code')} ({first.get('Message')}). "
                                      "Allow s3:DeleteObjectVersion on it, then run the command again.")
                removed += len(chunk)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "NoSuchBucket":
            return removed
        raise
    return removed


def empty_and_delete(s3: Any, name: str) -> None:
    empty(s3, name)
    s3.delete_bucket(Bucket=name)
