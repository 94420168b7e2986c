"""Bootstrap, update and teardown of the whole system: observe, plan, execute."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import observe, package, partitions, plan, templates
from .console import Console
from .errors import DeployError
from .execute import AwsExecutor, DisplayExecutor, Executor, Results
from .settings import Settings, validate
from .target import Target

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / ".build"


@dataclass
class UpResult:
    settings: Settings
    results: Results
    outputs: dict[str, str] = field(default_factory=dict)
    steps: list[plan.Step] = field(default_factory=list)


def build(target: Target, bucket: str) -> plan.Artifacts:
    """The Lambda package and the packaged templates: local work, nothing is sent anywhere."""
    # On AWS the handlers' dependencies travel in the zip; the sandbox runs them with this machine's packages.
    dependencies = package.install_dependencies(ROOT / "handlers" / "requirements.txt", BUILD) \
        if target.bundles_dependencies else None
    code = package.build_zip(dependencies)
    code_key = templates.content_key("code", code, ".zip")
    packaged = templates.package(bucket, target.region)
    return plan.Artifacts(bucket, {**packaged.objects, code_key: code}, packaged.parent_key, packaged.service_key,
                          code_key, plan.s3_url_base(bucket, target.region, partitions.of(target.region).dns_suffix))


def up(target: Target, asked: Mapping[str, Any], console: Console, dry_run: bool = False) -> UpResult:
    """Deploy or update everything; with `dry_run`, print the plan and change nothing."""
    defaults = target.defaults(str(asked.get("name", Settings.name)))
    account = target.account()  # a missing-credentials error is the first thing said
    name = Settings(name=defaults.name)
    current = observe.system(target, name)
    settings = plan.resolve(defaults, asked, current)
    validate(settings)
    problems = target.check(settings, frozenset(asked), new_system=current.parent is None)
    if problems:
        raise DeployError("Cannot deploy:\n  - " + "\n  - ".join(problems) + "\nNothing was changed.")
    bucket = plan.bucket_name(settings, account, target.region, current)
    console.step(f"{'planning' if dry_run else 'deploying'} {settings.name} to {target.where}")
    artifacts = build(target, bucket)
    # Read again after the (possibly long) build: the live side and the releases in progress as they are now.
    observed = observe.with_bucket(target, observe.system(target, settings, for_update=True), bucket,
                                   artifacts.objects)
    steps = plan.plan_up(settings, artifacts, observed, target.tls_only_bucket)
    executor: Executor = DisplayExecutor(console) if dry_run else AwsExecutor(target, console, artifacts.objects)
    results = executor.run(steps)
    outputs = dict(results.stacks[settings.stack].outputs or observed.outputs) if not dry_run else {}
    if not dry_run:
        target.after_up(settings, outputs, console)
    return UpResult(settings, results, outputs, steps)


def set_images(target: Target, settings: Settings, console: Console, images: Mapping[str, str]) -> Results:
    """Update the service pair to run `images` (by side); everything else keeps its deployed value."""
    observed = observe.system(target, settings)
    return AwsExecutor(target, console).run(plan.plan_images(settings, observed, images))


def destroy(target: Target, settings: Settings, console: Console, dry_run: bool = False) -> Results:
    observed = observe.with_owned_buckets(target, observe.system(target, settings))
    default_bucket = plan.bucket_name(Settings(name=settings.name), target.account(), target.region, None)
    steps = plan.plan_destroy(settings, observed, default_bucket)
    executor: Executor = DisplayExecutor(console) if dry_run else AwsExecutor(target, console)
    return executor.run(steps)
