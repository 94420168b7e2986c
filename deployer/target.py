"""Where `deploy.py` deploys: the `Target` interface, and its AWS implementation.

The sandbox's implementation lives in `sandbox/target.py`: the sandbox depends on the deployer, never the
other way round, and nothing outside a target's own code asks which target it is.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, ProfileNotFound

from .console import Console
from .errors import DeployError
from .settings import Settings

_CONFIG = Config(retries={"mode": "standard", "max_attempts": 8}, user_agent_extra="ecs-bluegreen-deploy")


class Target(Protocol):
    """An AWS-compatible place to deploy to, and what differs between such places."""

    @property
    def region(self) -> str: ...

    @property
    def where(self) -> str:
        """'account 123456789012', 'the sandbox': for progress lines."""

    @property
    def deploy_hint(self) -> str:
        """The command that deploys to this target, for messages."""

    @property
    def release_hint(self) -> str:
        """The command that releases a new version on this target, for the summary's last line."""

    @property
    def bundles_dependencies(self) -> bool:
        """Whether the Lambda package carries the handlers' dependencies (else the runtime provides them)."""

    @property
    def tls_only_bucket(self) -> bool:
        """Whether the artifact bucket may refuse plain HTTP."""

    def client(self, service: str) -> Any: ...

    def account(self) -> str: ...

    def defaults(self, name: str) -> Settings:
        """Every deploy setting's value when the user does not give it, for the system `name`."""

    def repository(self, repository_id: str) -> str:
        """Where the pipeline's source repository is, for a user who wants to commit to it."""

    def check(self, settings: Settings, asked: frozenset[str], new_system: bool) -> list[str]:
        """Problems with what was asked that only this target has (a flag it cannot honour, a port taken)."""

    def after_up(self, settings: Settings, outputs: dict[str, str], console: Console) -> None:
        """Anything the target needs once the stacks are deployed, before the system is used."""

    def url(self, outputs: dict[str, str], port: int) -> str:
        """Where a listener port of the system is reached."""

    def links(self, outputs: dict[str, str]) -> list[tuple[str, str]]:
        """Where operators approve and read messages, for summaries."""

    def approval_hint(self) -> str:
        """Where the approval link of a waiting release is found."""

    def inbox(self) -> list[dict[str, Any]]:
        """The messages sent to operators, where the target keeps them."""


@dataclass
class AwsTarget:
    session: boto3.Session
    _account: str | None = None

    deploy_hint = "python3 deploy.py --aws"
    release_hint = "python3 deploy.py release --aws --image <your image, e.g. an ECR repository URI:tag>"
    bundles_dependencies = True
    tls_only_bucket = True

    @property
    def region(self) -> str:
        return str(self.session.region_name)

    @property
    def where(self) -> str:
        return f"account {self.account()} in {self.region}"

    def client(self, service: str) -> Any:
        return self.session.client(service, config=_CONFIG)  # type: ignore[call-overload]

    def account(self) -> str:
        if self._account is None:
            self._account = account_of(self.client("sts"))
        return self._account

    def defaults(self, name: str) -> Settings:
        return Settings(name=name)

    def repository(self, repository_id: str) -> str:
        return repository_id

    def check(self, settings: Settings, asked: frozenset[str], new_system: bool) -> list[str]:
        return []

    def after_up(self, settings: Settings, outputs: dict[str, str], console: Console) -> None:
        return None

    def url(self, outputs: dict[str, str], port: int) -> str:
        host = outputs["ProductionUrl"].split("//", 1)[1].split("/", 1)[0].split(":")[0]
        return f"http://{host}:{port}/"

    def links(self, outputs: dict[str, str]) -> list[tuple[str, str]]:
        return [("approvals", outputs.get("ApprovalEndpoint", ""))]

    def approval_hint(self) -> str:
        return "the link mailed to the approvers"

    def inbox(self) -> list[dict[str, Any]]:
        raise DeployError("The inbox is the sandbox's; on AWS the messages go to the approvers' email.")


def account_of(sts: Any) -> str:
    """The account id; fails with what to do when there are no usable credentials."""
    try:
        return str(sts.get_caller_identity()["Account"])
    except NoCredentialsError as exc:
        raise DeployError("No AWS credentials found. Run `aws configure` or `aws sso login`, pass --profile, "
                          "or set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY. Nothing was changed.") from exc
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code")
        raise DeployError(f"AWS rejected the credentials ({code}). Refresh them (e.g. `aws sso login`) "
                          "and try again. Nothing was changed.") from exc
    except BotoCoreError as exc:
        raise DeployError(f"Could not reach AWS STS: {exc}. Check the network and --region.") from exc


def aws_target(region: str | None, profile: str | None) -> AwsTarget:
    try:
        session = boto3.Session(region_name=region, profile_name=profile)
    except ProfileNotFound as exc:
        raise DeployError(f"AWS profile {profile!r} was not found in ~/.aws/config. Check --profile.") from exc
    if not session.region_name:
        raise DeployError("No AWS region: pass --region (e.g. --region eu-west-1) or set AWS_REGION.")
    return AwsTarget(session)
