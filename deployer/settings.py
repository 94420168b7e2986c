"""What the user asked for, validated before anything talks to AWS."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field

from release import defaults
from release.config import JUDGE_MODES, parse_strategy
from release.hooks import hooks_request

from .errors import DeployError

NAME = re.compile(r"^[a-z][a-z0-9-]{1,19}$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
ALB_NAME_LIMIT = 32


@dataclass(frozen=True)
class Settings:
    name: str = "shop"
    approver_emails: tuple[str, ...] = ()
    test_cidr: str | None = None
    production_cidr: str = "0.0.0.0/0"
    production_port: int = defaults.PRODUCTION_PORT
    test_port: int = defaults.TEST_PORT
    launch_type: str = "FARGATE"
    task_subnets: str = "private"
    certificate_arn: str = ""
    container_port: int = defaults.CONTAINER_PORT
    health_check_path: str = "/"
    image: str = "public.ecr.aws/nginx/nginx:stable"
    connection_arn: str = ""
    repository: str = ""
    branch: str = "main"
    bucket: str | None = None
    strategy: str = defaults.STRATEGY
    bake_seconds: int = defaults.BAKE_SECONDS
    health_deadline_seconds: int = defaults.HEALTH_DEADLINE_SECONDS
    alarm_names: tuple[str, ...] = ()
    judge: str = "auto"  # release.config.JUDGE_MODES
    judge_period_seconds: int = defaults.JUDGE_PERIOD_SECONDS
    hooks: str = ""  # STAGE=FUNCTION,... : the releases' default lifecycle hooks (the stack's Hooks)
    extra_parameters: dict[str, str] = field(default_factory=dict)

    @property
    def stack(self) -> str:
        return self.name

    @property
    def service_stack(self) -> str:
        return f"{self.name}-service"


def validate(settings: Settings) -> None:
    """Raise DeployError naming every problem and its fix."""
    problems = []
    if not NAME.match(settings.name):
        alb = f"{settings.name}-alb"
        why = (f" (the load balancer would be named {alb!r}, {len(alb)} characters; AWS allows {ALB_NAME_LIMIT})"
               if len(alb) > ALB_NAME_LIMIT else "")
        problems.append(f"--name {settings.name!r} must be 2 to 20 lower-case letters, digits or hyphens, "
                        f"starting with a letter, so that every name made from it fits AWS's limits{why}")
    if not settings.approver_emails:
        problems.append("--approver-email is required: approval requests and outcomes are mailed there")
    for email in settings.approver_emails:
        if not EMAIL.match(email):
            problems.append(f"--approver-email {email!r} is not an email address (expected name@example.com)")
    if len(settings.approver_emails) > 3:
        problems.append("at most three --approver-email (add more subscribers to the topic later)")
    for flag, cidr in (("--test-cidr", settings.test_cidr), ("--production-cidr", settings.production_cidr)):
        if cidr is None:
            problems.append(f"{flag} is required: who may reach the test port (e.g. your office, 203.0.113.0/24)")
            continue
        try:
            ipaddress.ip_network(cidr)
        except ValueError:
            problems.append(f"{flag} {cidr!r} is not a CIDR block such as 203.0.113.0/24")
    if settings.test_cidr in ("0.0.0.0/0", "::/0"):
        problems.append("--test-cidr must not be the whole internet: the test port serves unreleased versions")
    for flag, port in (("--production-port", settings.production_port), ("--test-port", settings.test_port)):
        if not 1 <= port <= 65535:
            problems.append(f"{flag} {port} is not a TCP port (1 to 65535)")
    if settings.production_port == settings.test_port:
        problems.append("--production-port and --test-port must differ")
    if bool(settings.connection_arn) != bool(settings.repository):
        problems.append("--connection-arn and --repository go together (the pipeline needs both)")
    if settings.certificate_arn and not settings.certificate_arn.startswith("arn:"):
        problems.append("--certificate-arn must be an ACM certificate ARN")
    try:
        parse_strategy(settings.strategy)
    except ValueError as exc:
        problems.append(f"--strategy: {exc}")
    if settings.judge not in JUDGE_MODES:
        problems.append(f"--judge must be one of {', '.join(JUDGE_MODES)}, got {settings.judge!r}")
    try:
        hooks_request(settings.hooks)
    except ValueError as exc:
        problems.append(f"--hook: {exc}")
    if problems:
        raise DeployError("Cannot deploy:\n  - " + "\n  - ".join(problems) + "\nNothing was changed.")
