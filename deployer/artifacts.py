"""The artifact bucket: created private and encrypted, or given; objects uploaded once per content."""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError

from .console import Console
from .errors import DeployError


def bucket_name(system: str, account: str, region: str) -> str:
    return f"{system}-artifacts-{account}-{region}"


def ensure_bucket(s3: Any, name: str, region: str, console: Console, create: bool, tls_only: bool = True) -> bool:
    """Make sure the bucket exists in `region`; True when this call created it."""
    try:
        s3.head_bucket(Bucket=name)
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code")
        if code in {"403", "AccessDenied", "Forbidden"}:
            raise DeployError(f"Bucket {name} exists but is not yours (or you may not read it). "
                              "Pass --bucket with a bucket of your own.") from exc
        if code not in {"404", "NoSuchBucket", "NotFound"}:
            raise
        if not create:
            raise DeployError(f"Bucket {name} (--bucket) does not exist. Create it first, or leave out --bucket "
                              "and deploy.py creates one.") from exc
        _create(s3, name, region, tls_only)
        console.step(f"created artifact bucket {name} (private, encrypted{', TLS only' if tls_only else ''})")
        return True
    location = s3.get_bucket_location(Bucket=name).get("LocationConstraint") or "us-east-1"
    if location != region:
        raise DeployError(f"Bucket {name} is in {location}, but you deploy to {region}: CloudFormation and Lambda "
                          f"need the bucket in the same region. Use --region {location}, or a bucket in {region}.")
    return False


def _create(s3: Any, name: str, region: str, tls_only: bool) -> None:
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
    s3.put_bucket_policy(Bucket=name, Policy=json.dumps({"Version": "2012-10-17", "Statement": [{
        "Sid": "TlsOnly", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
        "Resource": [f"arn:aws:s3:::{name}", f"arn:aws:s3:::{name}/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]}))


def upload(s3: Any, bucket: str, objects: dict[str, bytes], console: Console) -> int:
    """Upload what is not there yet (keys are content hashes); returns how many were uploaded."""
    uploaded = 0
    for key, body in sorted(objects.items()):
        try:
            s3.head_object(Bucket=bucket, Key=key)
            continue
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") not in {"404", "NoSuchKey", "NotFound"}:
                raise
        s3.put_object(Bucket=bucket, Key=key, Body=body, ServerSideEncryption="AES256")
        uploaded += 1
    console.step(f"uploaded {uploaded} new object(s) to s3://{bucket} ({len(objects) - uploaded} unchanged)")
    return uploaded


def empty_and_delete(s3: Any, name: str) -> None:
    paginator = s3.get_paginator("list_object_versions")
    for page in paginator.paginate(Bucket=name):
        items = [{"Key": v["Key"], "VersionId": v["VersionId"]}
                 for v in page.get("Versions", []) + page.get("DeleteMarkers", [])]
        if items:
            s3.delete_objects(Bucket=name, Delete={"Objects": items, "Quiet": True})
    s3.delete_bucket(Bucket=name)
