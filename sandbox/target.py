"""The embedded sandbox as a deploy target: the same deployer, templates and handlers, on loopback.

What differs from AWS is said here and only here: the defaults that suit one machine, the flags the sandbox
cannot honour (refused with the reason, never ignored), and where listeners and approval links are.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config

from deployer.console import Console
from deployer.settings import Settings
from deployer.target import Target, account_of

from . import control
from .pipeline import source

REGION = "us-east-1"
_CONFIG = Config(retries={"mode": "standard", "max_attempts": 8}, user_agent_extra="ecs-bluegreen-deploy")
_LOOPBACK = ipaddress.ip_network("127.0.0.0/8")

# Flags the sandbox cannot honour, and why: each is refused when given, so none is silently ignored.
UNSUPPORTED = {
    "certificate_arn": "--certificate-arn: the sandbox's load balancer serves plain HTTP on loopback; HTTPS with "
                       "an ACM certificate needs AWS (--aws)",
    "connection_arn": "--connection-arn: the sandbox's pipeline reads local git repositories through the sandbox's "
                      "own connection; choose the repository with --repository owner/name",
    "launch_type": "--launch-type: the sandbox runs every task as a local process; there is no Fargate or EC2 "
                   "capacity to choose",
    "task_subnets": "--task-subnets: the sandbox's tasks get loopback addresses; there are no subnets to choose",
}


def defaults(name: str = "shop") -> Settings:
    """What suits one machine: loopback only, a short bake, fast health checks, the judge reading the local load
    balancer's per-second metrics, the sample app, and a pipeline from a local git repository of the sample
    app's source (sandbox/<name> under the state folder). The health deadline is the product's: a broken
    version is stopped by the fast gate, not the deadline."""
    return Settings(
        name=name, connection_arn=source.CONNECTION_ARN, repository=f"sandbox/{name}",
        approver_emails=("operators@sandbox.invalid",), test_cidr="127.0.0.1/32",
        production_cidr="127.0.0.1/32", production_port=8000, test_port=8080, container_port=8080,
        health_check_path="/health", image="sample-app:v1", bake_seconds=10, judge_period_seconds=1,
        # The smoke-test hook checks the sample app's page, health and API.
        extra_parameters={"HealthCheckIntervalSeconds": "5", "SmokeTestChecks": "/,/health=ok,/api/status=ok"})


@dataclass
class SandboxTarget:
    info: control.SandboxInfo

    region = REGION
    where = "the sandbox"
    deploy_hint = "python3 deploy.py"
    release_hint = "python3 deploy.py release --image sample-app:v2"
    bundles_dependencies = False  # the handlers run with this machine's packages
    tls_only_bucket = False  # the sandbox's S3 is plain HTTP on loopback, where a TLS-only policy refuses all

    def __post_init__(self) -> None:
        # One session for every client (a session loads the service models once); the sandbox accepts any
        # credentials, and fixed ones keep a user's real keys out of it.
        self._session = boto3.Session(aws_access_key_id="sandbox", aws_secret_access_key="sandbox",  # noqa: S106
                                      region_name=REGION)
        self._account: str | None = None

    def client(self, service: str) -> Any:
        return self._session.client(service, endpoint_url=self.info.endpoint,  # type: ignore[call-overload]
                                    config=_CONFIG)

    def account(self) -> str:
        if self._account is None:
            self._account = account_of(self.client("sts"))
        return self._account

    def defaults(self, name: str) -> Settings:
        return defaults(name)

    def repository(self, repository_id: str) -> str:
        return str(source.repository_path(control.STATE, repository_id))

    def check(self, settings: Settings, asked: frozenset[str], new_system: bool) -> list[str]:
        problems = [why for field, why in UNSUPPORTED.items() if field in asked]
        for field, flag in (("test_cidr", "--test-cidr"), ("production_cidr", "--production-cidr")):
            if field in asked and not _loopback(getattr(settings, field)):
                problems.append(f"{flag}: the sandbox's listeners answer on 127.0.0.1 only and it enforces no "
                                "security groups, so only a loopback CIDR (127.0.0.0/8) means what it says")
        if new_system:  # every listener is a local port: refuse taken ones before creating anything
            taken = [port for port in (settings.production_port, settings.test_port) if not control.port_free(port)]
            if taken:
                problems.append(f"port{'s' if len(taken) > 1 else ''} {' and '.join(map(str, taken))} "
                                f"{'are' if len(taken) > 1 else 'is'} taken (by another system in the sandbox, or "
                                f"another program), and every listener of {settings.name!r} is a local port. "
                                "Choose free ones with --production-port and --test-port")
        return problems

    def after_up(self, settings: Settings, outputs: dict[str, str], console: Console) -> None:
        control.after_deploy(self, settings, self.info, console)
        if settings.repository:  # the sandbox's CodeConnections creates it when it first sees the pipeline
            control.wait_for_repository(source.repository_path(control.STATE, settings.repository), console)

    def url(self, outputs: dict[str, str], port: int) -> str:
        return f"http://127.0.0.1:{port}/"

    def links(self, outputs: dict[str, str]) -> list[tuple[str, str]]:
        return [("approvals", f"{self.info.web_url}/approvals/"), ("inbox", f"{self.info.web_url}/inbox"),
                ("releases", f"{self.info.web_url}/history")]

    def approval_hint(self) -> str:
        return f"the link in the inbox: {self.info.web_url}/inbox"

    def inbox(self) -> list[dict[str, Any]]:
        return control.inbox(self.info)


class Sandbox:
    """`deploy.py`'s handle on the local sandbox process."""

    def open(self, console: Console, start: bool) -> Target:
        return SandboxTarget(control.ensure_running(console) if start else control.require_running())

    def stop(self, console: Console) -> bool:
        return control.stop(console)


def _loopback(cidr: str | None) -> bool:
    try:
        return cidr is not None and ipaddress.ip_network(cidr, strict=False).subnet_of(_LOOPBACK)  # type: ignore[arg-type]
    except ValueError:
        return True  # not a CIDR at all: the shared validation names that problem
