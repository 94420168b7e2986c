"""Where `deploy.py` deploys: an AWS account, or the embedded sandbox (the same APIs on loopback)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, ProfileNotFound

from .errors import DeployError

_CONFIG = Config(retries={"mode": "standard", "max_attempts": 8}, user_agent_extra="ecs-bluegreen-deploy")


@dataclass
class Target:
    session: boto3.Session
    endpoint_url: str | None = None  # the sandbox; None for AWS

    @property
    def is_sandbox(self) -> bool:
        return self.endpoint_url is not None

    @property
    def region(self) -> str:
        return str(self.session.region_name)

    def client(self, service: str) -> Any:
        return self.session.client(service, endpoint_url=self.endpoint_url, config=_CONFIG)  # type: ignore[call-overload]

    def account(self) -> str:
        """The account id; fails with what to do when there are no usable credentials."""
        try:
            return str(self.client("sts").get_caller_identity()["Account"])
        except NoCredentialsError as exc:
            raise DeployError("No AWS credentials found. Run `aws configure` or `aws sso login`, pass --profile, "
                              "or set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY. Nothing was changed.") from exc
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code")
            raise DeployError(f"AWS rejected the credentials ({code}). Refresh them (e.g. `aws sso login`) "
                              "and try again. Nothing was changed.") from exc
        except BotoCoreError as exc:
            raise DeployError(f"Could not reach AWS STS: {exc}. Check the network and --region.") from exc


def aws_target(region: str | None, profile: str | None) -> Target:
    try:
        session = boto3.Session(region_name=region, profile_name=profile)
    except ProfileNotFound as exc:
        raise DeployError(f"AWS profile {profile!r} was not found in ~/.aws/config. Check --profile.") from exc
    if not session.region_name:
        raise DeployError("No AWS region: pass --region (e.g. --region eu-west-1) or set AWS_REGION.")
    return Target(session)


def sandbox_target(endpoint_url: str, region: str = "us-east-1") -> Target:
    # The sandbox accepts any credentials; fixed ones keep a user's real keys out of it.
    session = boto3.Session(aws_access_key_id="sandbox", aws_secret_access_key="sandbox",  # noqa: S106
                            region_name=region)
    return Target(session, endpoint_url)
