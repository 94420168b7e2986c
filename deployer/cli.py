"""`python3 deploy.py`: bootstrap and operate the release system, in the sandbox (default) or on AWS (--aws)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError
from botocore.parsers import ResponseParserError

from release import defaults
from release.config import JUDGE_MODES, parse_request
from release.deciding import Delivery
from release.exceptions import InvalidInput, ReleaseError
from release.hooks import NO_HOOK, parse_hook_option

from . import history, pipelines, releases, system
from .aws_errors import explain
from .console import Console, table
from .errors import DeployError
from .plan import describe
from .settings import Settings
from .target import Target, aws_target


class Sandbox(Protocol):
    """The local sandbox as `deploy.py` provides it: the deployer knows it only through this interface and
    `Target`, and the sandbox depends on the deployer, never the other way round."""

    def open(self, console: Console, start: bool) -> Target:
        """The running sandbox as a target; `start`: start it first if it is not running."""

    def stop(self, console: Console) -> bool:
        """Stop it and remove its state; False when it was not running."""


# `deploy.py up` flags -> Settings fields; a flag left out is not asked for (the target's default, or what is
# deployed, applies).
DEPLOY_FLAGS = {
    "approver_email": "approver_emails", "test_cidr": "test_cidr", "production_cidr": "production_cidr",
    "production_port": "production_port", "test_port": "test_port", "launch_type": "launch_type",
    "task_subnets": "task_subnets", "certificate_arn": "certificate_arn", "image": "image",
    "container_port": "container_port", "health_check_path": "health_check_path",
    "connection_arn": "connection_arn", "repository": "repository", "branch": "branch", "bucket": "bucket",
    "strategy": "strategy", "bake_seconds": "bake_seconds", "alarm": "alarm_names", "name": "name",
    "health_deadline_seconds": "health_deadline_seconds", "judge": "judge"}

REQUEST_FLAGS = {  # the release request's fields, as `deploy.py release` spells them
    "traffic.strategy": "--strategy", "traffic.bakeSeconds": "--bake", "traffic.alarms": "--alarm",
    "traffic.checkIntervalSeconds": "--check-interval", "health.pollIntervalSeconds": "--health-interval",
    "health.deadlineSeconds": "--health-deadline", "approval.timeoutSeconds": "--approval-timeout",
    "expectedImage": "--image", "traffic.judge.enabled": "--judge"}

DELIVERY_WORDS = {
    Delivery.DELIVERED: "decision delivered",
    Delivery.ALREADY_DECIDED: "already decided by someone else: nothing changed",
    Delivery.EXPIRED: "the approval expired: nothing changed",
    Delivery.UNKNOWN: "no such approval: nothing changed",
    Delivery.NO_LONGER_PENDING: "the release stopped waiting before the decision arrived: nothing changed",
    Delivery.TRY_AGAIN: "AWS did not answer: nothing changed, try again",
}


def _common(given_only: bool) -> argparse.ArgumentParser:
    """The options every command takes. On a subcommand they are kept only when given there: otherwise its
    defaults would overwrite what was given before the command (`deploy.py --aws status`)."""
    common = argparse.ArgumentParser(add_help=False)
    keep: dict[str, Any] = {"default": argparse.SUPPRESS} if given_only else {}
    common.add_argument("--aws", action="store_true", help="act on AWS instead of the local sandbox", **keep)
    common.add_argument("--region", help="AWS region (with --aws; default: your AWS configuration)", **keep)
    common.add_argument("--profile", help="AWS profile (with --aws)", **keep)
    common.add_argument("--name", help="system name (default: shop)", **keep)
    common.add_argument("--json", action="store_true", help="machine-readable output on stdout", **keep)
    return common


def parser() -> argparse.ArgumentParser:
    """Each command's own options belong to that command only; `deploy.py [OPTIONS]` with no command is `up`
    (see `main`), so an option can never be taken by one command and then ignored by another."""
    common = _common(given_only=True)
    top = argparse.ArgumentParser(prog="python3 deploy.py", parents=[_common(given_only=False)], description=__doc__,
                                  epilog="With no COMMAND: up.")
    commands = top.add_subparsers(dest="command", metavar="COMMAND")
    up = commands.add_parser("up", parents=[common], help="bootstrap or update everything (the default)")
    add = up.add_argument
    add("--dry-run", action="store_true",
        help="show what would be created, uploaded and updated, change nothing")
    add("--approver-email", action="append", metavar="EMAIL",
        help="receives approval requests and outcomes (repeatable, up to 3)")
    add("--test-cidr", help="who may reach the test port (required with --aws)")
    add("--production-cidr", help="who may reach production (default: 0.0.0.0/0)")
    add("--production-port", type=int, help=f"listener port of production (default: "
        f"{defaults.PRODUCTION_PORT}, sandbox 8000; an update keeps the deployed one)")
    add("--test-port", type=int, help=f"listener port of green (default: "
        f"{defaults.TEST_PORT}; an update keeps the deployed one)")
    add("--launch-type", choices=["FARGATE", "EC2"], help="default: FARGATE")
    add("--task-subnets", choices=["private", "public"],
        help="private (default), or public: no NAT gateways (cheaper), tasks get public IPs")
    add("--certificate-arn", help="ACM certificate: HTTPS on production")
    add("--image", help="initial image of both sides (first deployment only)")
    add("--container-port", type=int,
        help=f"port the container listens on (default: {defaults.CONTAINER_PORT})")
    add("--health-check-path", help="the target groups' health check (default: /)")
    add("--connection-arn", help="CodeConnections ARN: enables the pipeline")
    add("--repository", help="owner/name of the application repository")
    add("--branch", help="the pipeline's branch (default: main)")
    add("--bucket", help="existing artifact bucket (default: one is created)")
    add("--strategy", help="releases' default: all-at-once (default), canary:P:N or "
        "linear:S:N (N minutes)")
    add("--bake-seconds", type=int, help="releases' default watch after all traffic is "
        f"on green (default: {defaults.BAKE_SECONDS})")
    add("--alarm", action="append", metavar="ALARM_NAME",
        help="CloudWatch alarm that rolls a release back (repeatable)")
    add("--health-deadline-seconds", type=int, help="releases' default: how long green may take to become "
        f"healthy (default: {defaults.HEALTH_DEADLINE_SECONDS})")
    add("--judge", choices=JUDGE_MODES, help="releases' default: judge green against blue on the load balancer's "
        "metrics and roll back when it is significantly worse (auto, the default: canary and linear releases)")
    add("--hook", action="append", metavar="STAGE=FUNCTION",
        help="releases' default lifecycle hook (repeatable; stages: after-test-traffic, after-production-shift, "
        "on-rollback; functions named NAME-hook-*, e.g. NAME-hook-smoke-test, which the stack ships)")
    commands.add_parser("status", parents=[common],
                        help="which side is live, images, health, releases running, the pipeline's latest runs")
    pipeline = commands.add_parser("pipeline", parents=[common], help="the release pipeline")
    pipeline.add_argument("action", choices=["retry"],
                          help='retry: run the pipeline again on the latest commit ("Release change")')
    release = commands.add_parser("release", parents=[common], help="put IMAGE on green and release it")
    release.add_argument("--image", required=True)
    decided = release.add_mutually_exclusive_group()
    decided.add_argument("--approve", action="store_true", help="approve as soon as approval is asked")
    decided.add_argument("--reject", action="store_true", help="reject as soon as approval is asked")
    release.add_argument("--reason", default="", help="reason recorded with --approve/--reject")
    release.add_argument("--health-deadline", type=int, help="seconds green may take to become healthy")
    release.add_argument("--health-interval", type=int, help="seconds between health checks (doubles up to 60)")
    release.add_argument("--approval-timeout", type=int, help="seconds to wait for a decision")
    release.add_argument("--strategy", help="all-at-once, canary:P:N or linear:S:N (N minutes); default: the stack's")
    release.add_argument("--bake", type=int, help="seconds to watch production after all traffic is on green")
    release.add_argument("--alarm", action="append", metavar="ALARM_NAME",
                         help="CloudWatch alarm that rolls the release back (repeatable; default: the stack's)")
    release.add_argument("--check-interval", type=int, help="seconds between alarm checks while shifting/baking")
    release.add_argument("--judge", choices=["on", "off"], help="judge green against blue on the load balancer's "
                         "metrics while traffic moves and during the bake; default: the stack's (auto: on for "
                         "canary and linear)")
    release.add_argument("--hook", action="append", metavar="STAGE=FUNCTION",
                         help="run FUNCTION at STAGE (repeatable; stages: after-test-traffic, after-production-shift, "
                         "on-rollback; FUNCTION=none for no hook at that stage); default: the stack's hooks")
    abort = commands.add_parser("abort", parents=[common],
                                help="roll the running release back to blue now (during a shift or the bake)")
    abort.add_argument("--reason", default="aborted from the command line")
    approve = commands.add_parser("approve", parents=[common], help="approve the release waiting for approval")
    approve.add_argument("--reason", default="")
    reject = commands.add_parser("reject", parents=[common], help="reject the release waiting for approval")
    reject.add_argument("--reason", default="")
    rollback = commands.add_parser("rollback", parents=[common], help="put the previous version back into production")
    rollback.add_argument("--require-approval", action="store_true")
    history = commands.add_parser("history", parents=[common], help="the latest releases: images, strategy, "
                                  "outcome and why, who decided, time in each stage, the pipeline run")
    history.add_argument("--limit", type=int, default=20, help="how many releases, newest first (default: 20)")
    commands.add_parser("inbox", parents=[common], help="sandbox: the messages sent to operators")
    commands.add_parser("down", parents=[common], help="sandbox: stop it and remove its state")
    destroy = commands.add_parser("destroy", parents=[common], help="AWS: delete everything deploy.py created")
    destroy.add_argument("--dry-run", action="store_true", help="show what would be deleted and kept, and stop")
    destroy.add_argument("--bucket", help="the artifact bucket given at deploy time: kept, never deleted")
    return top


def parse(argv: list[str]) -> argparse.Namespace:
    """The arguments; with no command, those of `up` (the default command)."""
    return parser().parse_args(argv if _names_a_command(argv) else ["up", *argv])


def _names_a_command(argv: list[str]) -> bool:
    """Whether the first word that is not an option (nor the value of an option every command takes) is a command."""
    valued = {"--region", "--profile", "--name"}
    words = iter(argv)
    for word in words:
        if word in valued:
            next(words, None)
        elif not word.startswith("-"):
            return word in COMMANDS
    return False


def main(argv: list[str] | None = None, sandbox: Sandbox | None = None) -> int:
    args = parse(sys.argv[1:] if argv is None else argv)
    args.sandbox = sandbox
    console = Console(as_json=args.json)
    command = args.command or "up"
    try:
        return COMMANDS[command](args, console)
    except DeployError as exc:
        console.error(f"error: {exc}")
        return 2
    except ReleaseError as exc:
        console.error(f"error: {type(exc).__name__}: {exc}")
        return 1
    except (ClientError, BotoCoreError, ResponseParserError) as exc:
        console.error(f"error: {explain(exc)}")
        return 1
    except KeyboardInterrupt:
        console.error("interrupted: a release already started keeps running; `python3 deploy.py status` shows it")
        return 130


def _target(args: argparse.Namespace, console: Console, start: bool = False) -> Target:
    if args.aws:
        return aws_target(args.region, args.profile)
    given = [flag for flag, value in (("--region", args.region), ("--profile", args.profile)) if value]
    if given:
        raise DeployError(f"{' and '.join(given)} go with --aws: the sandbox is one local region with no "
                          "profiles. Add --aws to act on AWS, or leave them out. Nothing was changed.")
    if args.sandbox is None:
        raise DeployError("The sandbox is started by `python3 deploy.py`; pass --aws to act on AWS.")
    target: Target = args.sandbox.open(console, start)
    return target


def _system(args: argparse.Namespace, console: Console) -> releases.System:
    target = _target(args, console)
    return releases.System.load(target, Settings(name=args.name or Settings.name))


def _asked(args: argparse.Namespace) -> dict[str, Any]:
    """The deploy settings given on the command line, and only those."""
    asked: dict[str, Any] = {}
    for flag, field in DEPLOY_FLAGS.items():
        value = getattr(args, flag, None)
        if value is not None:
            asked[field] = tuple(value) if isinstance(value, list) else value
    if getattr(args, "hook", None) is not None:  # the stack's Hooks parameter: STAGE=FUNCTION,...
        asked["hooks"] = ",".join(h for h in args.hook if not h.endswith(f"={NO_HOOK}"))  # STAGE=none: no hook
    return asked


def cmd_up(args: argparse.Namespace, console: Console) -> int:
    dry_run = bool(getattr(args, "dry_run", False))
    target = _target(args, console, start=not dry_run)
    result = system.up(target, _asked(args), console, dry_run=dry_run)
    settings = result.settings
    outcomes = {name: r.outcome.value for name, r in result.results.stacks.items()}
    if dry_run:
        console.result({"dryRun": True, "stacks": outcomes,
                        "steps": [line for step in result.steps for line in describe(step)]},
                       ["", "dry run: nothing was changed"])
        return 0
    data = {"outputs": result.outputs, "stack": outcomes.get(settings.stack),
            "serviceStack": outcomes.get(settings.service_stack)}
    unchanged = set(outcomes.values()) == {"unchanged"} and result.results.uploaded == 0
    lines = ["", "Nothing changed: everything was already up to date." if unchanged else "Deployed."]
    lines += table(_summary(target, settings, result.outputs))
    lines += ["", f"Next: {target.release_hint}"]
    console.result(data, lines)
    return 0


def _summary(target: Target, settings: Settings, out: dict[str, str]) -> list[tuple[str, str]]:
    state = releases.status(releases.System.load(target, settings))
    rows = [(f"{s['role']} ({s['targetGroup']})", f"{', '.join(s['images'])}  {s['url']}  "
             f"{s['healthyTargets']}/{s['targets']} healthy") for s in state["sides"]]
    source = [("repository", f"{target.repository(settings.repository)} (branch {settings.branch})")] \
        if settings.repository else []
    return [*rows, ("state machine", out.get("StateMachineArn", "")), ("pipeline", out.get("PipelineName", "")),
            *source, *target.links(out)]


def cmd_status(args: argparse.Namespace, console: Console) -> int:
    system_ = _system(args, console)
    state = releases.status(system_)
    lines = [f"{s['role']:<5} {s['targetGroup']:<14} {', '.join(s['images']):<28} "
             f"{s['healthyTargets']}/{s['targets']} healthy  {s['productionShare']:>3}% of production  {s['url']}"
             for s in state["sides"]]
    lines += [f"release in progress: {r['name']} at '{r['step']}'" for r in state["releases"]] or \
             ["no release in progress"]
    lines += [f"tag problem (repaired by the next swap): {p}" for p in state["tagProblems"]]
    state["pipeline"] = pipelines.status(system_, state["releases"])
    lines += pipelines.lines(state["pipeline"])
    console.result(state, lines)
    return 0


def cmd_pipeline(args: argparse.Namespace, console: Console) -> int:
    system_ = _system(args, console)
    execution = pipelines.retry(system_)
    console.result({"pipelineExecutionId": execution},
                   [f"started pipeline execution {execution} on the latest commit; `python3 deploy.py status` "
                    "follows it"])
    return 0


def cmd_release(args: argparse.Namespace, console: Console) -> int:
    system_ = _system(args, console)
    running = releases.running_releases(system_)
    if running:  # checked before green is touched: the engine's lock would refuse the release anyway
        raise DeployError(f"ReleaseInProgress: {running[0]['name']} is running (at '{running[0]['step']}'). Wait for "
                          "it, or decide it (`python3 deploy.py approve` / `reject`). Nothing was changed.")
    request: dict[str, Any] = {**system_.base_request(), "expectedImage": args.image,
                               "description": f"deploy.py release --image {args.image}"}
    traffic = system_.traffic_defaults()  # the stack's policy, then what this release asks
    asked = {"strategy": args.strategy, "bakeSeconds": args.bake, "alarms": args.alarm}
    traffic.update({key: value for key, value in asked.items() if value is not None})
    if args.check_interval is not None:
        traffic["checkIntervalSeconds"] = args.check_interval
    if args.judge is not None:
        traffic["judge"] = {**traffic.get("judge", {}), "enabled": args.judge == "on"}
    request["traffic"] = traffic
    hooks = system_.hook_defaults()
    for option in args.hook or []:
        try:
            stage, function = parse_hook_option(option)
        except ValueError as exc:
            raise DeployError(f"Cannot release: --hook: {exc}. Nothing was changed.") from exc
        if function == NO_HOOK:
            hooks.pop(stage, None)
        else:
            hooks[stage] = function
    if hooks:
        request["hooks"] = hooks
    deadline = system_.settings.health_deadline_seconds if args.health_deadline is None else args.health_deadline
    health = {key: value for key, value in (("deadlineSeconds", deadline),
                                            ("pollIntervalSeconds", args.health_interval)) if value is not None}
    if health:
        request["health"] = health
    if args.approval_timeout is not None:
        request["approval"] = {"required": True, "timeoutSeconds": args.approval_timeout}
    try:  # the engine's own validation, before green is touched: bad input changes nothing
        config = parse_request(request)
    except InvalidInput as exc:
        message = str(exc).replace("Invalid release request: ", "Cannot release: ")
        for field, flag in REQUEST_FLAGS.items():
            message = message.replace(f"'{field}'", flag)
        raise DeployError(message) from exc
    releases.verify_hooks_exist(system_, config["hooks"])
    releases.put_image_on_green(system_, console, args.image)
    execution = releases.start(system_, request, "release")
    console.step(f"release started: {execution.split(':')[-1]}")
    run = releases.follow(system_, console, execution, _on_approval(args, console, system_, execution))
    return _finish(console, system_, run, args.image)


def _on_approval(args: argparse.Namespace, console: Console, system_: releases.System, execution: str) -> Any:
    def ask() -> None:
        if args.approve or args.reject:
            delivery = releases.decide(system_, args.approve, args.reason or ("" if args.approve else "rejected "
                                                                              "from the command line"), execution)
            console.step(f"{'approved' if args.approve else 'rejected'} from the command line: "
                         f"{DELIVERY_WORDS[delivery]}")
            return
        console.step(f"waiting for approval: open {system_.target.approval_hint()}, or run "
                     "`python3 deploy.py approve` / `reject`")

    return ask


def _finish(console: Console, system_: releases.System, run: releases.ReleaseRun, image: str | None) -> int:
    outcome = (run.output or {}).get("outcome", {})
    state = releases.status(system_)
    live = state["sides"][0]
    ok = run.status == "SUCCEEDED" and (image is None or image in live["images"])
    message = outcome.get("message") or run.cause or run.status
    data = {"execution": run.execution_arn, "status": run.status, "error": run.error, "message": message,
            "live": live, "steps": run.steps, "seconds": round(run.seconds, 2),
            "engineSeconds": round(run.seconds - run.waited_seconds, 2)}
    lines = ["", ("Released: " if ok else f"Not released ({run.error or run.status}): ") + str(message),
             f"production: {', '.join(live['images'])} at {live['url']}"]
    console.result(data, lines)
    return 0 if ok else 1


def cmd_decide(approve: bool) -> Any:
    def run(args: argparse.Namespace, console: Console) -> int:
        delivery = releases.decide(_system(args, console), approve, args.reason)
        console.result({"delivery": delivery.value}, [DELIVERY_WORDS[delivery]])
        return 0 if delivery is Delivery.DELIVERED else 1

    return run


def cmd_rollback(args: argparse.Namespace, console: Console) -> int:
    system_ = _system(args, console)
    before = releases.status(system_)
    previous = before["sides"][1]["images"]
    console.step(f"rolling back: {', '.join(previous)} (on the test side) goes back into production")
    request = {**system_.base_request(), "action": "rollback", "description": "deploy.py rollback",
               "approval": {"required": bool(args.require_approval)}}
    execution = releases.start(system_, request, "rollback")
    run = releases.follow(system_, console, execution, _on_approval(argparse.Namespace(
        approve=False, reject=False), console, system_, execution))
    return _finish(console, system_, run, previous[0] if previous else None)


def cmd_abort(args: argparse.Namespace, console: Console) -> int:
    system_ = _system(args, console)
    outcome = releases.abort(system_, args.reason)
    console.result({"abort": outcome}, [outcome])
    return 0


def cmd_history(args: argparse.Namespace, console: Console) -> int:
    if not 1 <= args.limit <= 1000:
        raise DeployError(f"--limit must be from 1 to 1000, got {args.limit}. Nothing was read.")
    system_ = _system(args, console)
    records = releases.history_reader(system_, pipelines.name(system_)).releases(args.limit)
    console.result({"releases": records}, history.lines(records))
    return 0


def cmd_inbox(args: argparse.Namespace, console: Console) -> int:
    messages = _target(args, console).inbox()
    lines = [f"{m['time']}  {m['topic']:<14} {m['subject']}" + "".join(f"\n    to {to}" for to in m.get("to", []))
             + "".join(f"\n    {link}" for link in m["links"]) for m in messages] or ["(no messages)"]
    console.result({"messages": messages}, lines)
    return 0


def cmd_down(args: argparse.Namespace, console: Console) -> int:
    if args.aws or args.sandbox is None:
        raise DeployError("`down` stops the sandbox. To remove the system from AWS: python3 deploy.py destroy --aws")
    stopped = args.sandbox.stop(console)
    console.result({"stopped": stopped}, ["sandbox stopped and its state removed" if stopped
                                          else "the sandbox was not running"])
    return 0


def cmd_destroy(args: argparse.Namespace, console: Console) -> int:
    if not args.aws:
        raise DeployError("`destroy` is for AWS (--aws). To stop the sandbox: python3 deploy.py down")
    target = aws_target(args.region, args.profile)
    settings = Settings(name=args.name or Settings.name, bucket=args.bucket)
    result = system.destroy(target, settings, console, dry_run=args.dry_run)
    if args.dry_run:
        console.result({"dryRun": True, "kept": result.kept}, ["", "dry run: nothing was changed"])
        return 0
    lines = ["Deleted:"] + [f"  {d}" for d in result.deleted or ["(nothing)"]] + ["Kept:"] + \
        [f"  {k}" for k in result.kept]
    console.result({"deleted": result.deleted, "kept": result.kept}, lines)
    return 0


COMMANDS: dict[str, Callable[[argparse.Namespace, Console], int]] = {
            "up": cmd_up, "status": cmd_status, "pipeline": cmd_pipeline, "release": cmd_release,
            "approve": cmd_decide(True), "reject": cmd_decide(False), "rollback": cmd_rollback, "abort": cmd_abort,
            "inbox": cmd_inbox, "history": cmd_history,
            "down": cmd_down, "destroy": cmd_destroy}


if __name__ == "__main__":
    sys.exit(main())
