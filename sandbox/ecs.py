"""ECS, emulated: each service's tasks run as local processes of the sample web app.

A task gets its own loopback address (127.0.x.y, as awsvpc gives each task its own IP) and listens
on the container port; it is registered in the service's target groups. When the task definition
changes, new tasks start first; the old ones are deregistered and stopped once the new ones are
healthy (ECS's rolling update with minimum healthy 100%). A task that exits, or whose target fails the load
balancer's health checks, is stopped and replaced as ECS's service scheduler does; it is kept as a STOPPED task
with ECS's stopped reason (ListTasks/DescribeTasks), and counted in the deployment's failedTasks.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from moto.core.utils import utcnow
from moto.ecr.models import ecr_backends
from moto.ecs.models import ecs_backends
from moto.elbv2.models import elbv2_backends

from . import moto_ext, owners
from .pipeline.images import Registry

ACCOUNT, REGION = "123456789012", "us-east-1"
ROOT = Path(__file__).resolve().parent.parent
COLOURS = {"code1": "#2563eb", "code2": "#16a34a"}
_ECR_IMAGE = re.compile(r"^(\d{12})\.dkr\.ecr\.([a-z0-9-]+)\.amazonaws\.com/([^:@]+):(.+)$")
CRASH_BACKOFF = 5.0  # seconds before a service whose task crashed starts another (ECS backs off too)
STOPPED_KEPT = 20  # stopped tasks kept per service (ECS shows them for at least an hour)
_addresses = (f"127.0.{a}.{b}" for a, b in itertools.product(range(1, 250), range(2, 250)))


@dataclass
class Task:
    address: str
    port: int
    task_definition: str
    image: str
    process: subprocess.Popen[bytes]
    started: float = field(default_factory=time.monotonic)
    pull_error: str | None = None  # CannotPullContainerError: the task stops at once

    @property
    def target(self) -> dict[str, Any]:
        return {"Id": self.address, "Port": self.port}


class EcsEmulator:
    def __init__(self, log_dir: Path) -> None:
        self.tasks: dict[str, list[Task]] = {}  # service ARN -> tasks
        self.log_dir = log_dir
        self.registry = Registry(log_dir / "registry")
        self.backoff: dict[str, float] = {}  # service ARN -> when it may start a task again
        self.failed: dict[tuple[str, str], int] = {}  # (service ARN, task definition) -> tasks that failed
        self.stopped: dict[str, list[str]] = {}  # service ARN -> its stopped tasks' ARNs in moto, oldest first
        self.lock = threading.Lock()
        self.closed = False  # after shutdown, a reconcile already waiting for the lock must start nothing
        self.on_change: Callable[[], None] = lambda: None  # told when what ECS reports changed (for snapshots)

    def reconcile(self) -> None:
        backend = ecs_backends[ACCOUNT][REGION]
        with self.lock:
            if self.closed:
                return
            live = {s.arn: s for s in list(backend.services.values()) if s.status == "ACTIVE"}
            for arn in list(self.tasks):
                if arn not in live:
                    self._stop(self.tasks.pop(arn), live.get(arn))
            for service in live.values():
                self._reconcile_service(backend, service)

    def _reconcile_service(self, backend: Any, service: Any) -> None:
        tasks = self.tasks.setdefault(service.arn, [])
        current = [t for t in tasks if t.task_definition == service.task_definition]
        old = [t for t in tasks if t.task_definition != service.task_definition]
        for task, reason in self._failing(service, tasks):  # stopped by ECS's scheduler: replace it
            tasks.remove(task)
            self._stop([task], service)
            self._record_stopped(backend, service, task, reason)
            current = [t for t in current if t is not task]
            self.backoff[service.arn] = time.monotonic() + CRASH_BACKOFF
        while len(current) < service.desired_count and time.monotonic() >= self.backoff.get(service.arn, 0):
            task = self._start(backend, service)
            tasks.append(task)
            current.append(task)
        for task in current[service.desired_count:]:
            tasks.remove(task)
            self._stop([task], service)
            current.remove(task)
        if any(self._healthy(service, t) for t in current):  # as ECS's breaker: a task that made it resets the count
            self.failed.pop((service.arn, service.task_definition), None)
        # the old tasks go only once the desired number of new ones are healthy (ECS's minimum healthy 100%):
        # new tasks that keep crashing leave the old ones serving
        if old and len(current) >= service.desired_count and all(self._healthy(service, t) for t in current):
            for task in old:
                tasks.remove(task)
            self._stop(old, service)
            old = []
        self._report(service, current, old)

    def _start(self, backend: Any, service: Any) -> Task:
        definition = backend.describe_task_definition(service.task_definition)
        container = definition.container_definitions[0]
        image = container["image"]
        port = int((service.load_balancers or [{}])[0].get("containerPort") or
                   (container.get("portMappings") or [{}])[0].get("containerPort") or 8080)
        address = next(_addresses)
        if _ECR_IMAGE.match(image):
            command, cwd, env = self._from_image(image, container, address, port)
        else:  # an image the sandbox has not built (sample-app:v1): the built-in sample app stands for it
            colour = COLOURS.get(service.name.rsplit("-", 1)[-1], "#6b7280")
            command = [sys.executable, "-m", "sandbox.webapp", "--host", address, "--port", str(port),
                       "--version", image.rsplit(":", 1)[-1] if ":" in image else image, "--colour", colour]
            cwd, env = ROOT, dict(os.environ)
        # Each task carries its sandbox's state folder: a sandbox that died leaves tasks `deploy.py` can find.
        env = {**env, owners.OWNER_VARIABLE: owners.owner_mark(self.log_dir)}
        with (self.log_dir / f"task-{address}.log").open("ab") as log:  # the task keeps its own descriptor
            process = subprocess.Popen(command, cwd=cwd, env=env, stdout=log, stderr=log,  # noqa: S603 - the image's command
                                       start_new_session=True)
        task = Task(address, port, service.task_definition, image, process,
                    pull_error=env.get("PULL_ERROR"))
        self.on_change()
        for group in self._groups(service):
            moto_ext.set_target_health(group.arn, address, "initial", "Elb.RegistrationInProgress",
                                       "Target registration is in progress")
            group.register([task.target])
        return task

    def _from_image(self, image: str, container: dict[str, Any], address: str,
                    port: int) -> tuple[list[str], Path, dict[str, str]]:
        """The image's command over its files, as a container would run it: pulled from the sandbox's ECR.

        Its own interpreter stands in for the image's `python`; HOST is the task's address (awsvpc gives each
        task its own), PORT the container port. An image ECR does not have starts a task that stops at once
        with ECS's CannotPullContainerError, as on AWS.
        """
        match = _ECR_IMAGE.match(image)
        assert match is not None
        account, region, repository, tag = match.groups()
        try:
            found = ecr_backends[account][region].batch_get_image(repository, image_ids=[{"imageTag": tag}])
            manifest = json.loads(found["images"][0].image_manifest)
            # one folder per image: its config and its layers (two builds may share a config, not their files)
            identity = hashlib.sha256(json.dumps([manifest["config"], manifest["layers"]], sort_keys=True).encode())
            rootfs = self.log_dir / "images" / identity.hexdigest()
            config = self.registry.unpack(manifest, rootfs)
            workdir = rootfs / str(config.get("WorkingDir") or "/").lstrip("/")
            if not workdir.is_dir():
                raise FileNotFoundError(f"the image has no folder {config.get('WorkingDir')}")
        except Exception as exc:  # noqa: BLE001 - any failure to pull is the task's CannotPullContainerError, as on ECS
            reason = f"CannotPullContainerError: {image}: {type(exc).__name__}: {exc}"
            return [sys.executable, "-c", f"import sys; sys.exit({reason!r})"], ROOT, {"PATH": os.defpath,
                                                                                      "PULL_ERROR": reason}
        argv = [*(config.get("Entrypoint") or []), *(config.get("Cmd") or [])]
        if argv and argv[0] in ("python", "python3"):
            argv[0] = sys.executable
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8"}
        env.update(item.split("=", 1) for item in config.get("Env") or [] if "=" in item)
        env.update({e["name"]: e["value"] for e in container.get("environment") or []})
        env.update(HOST=address, PORT=str(port))
        return argv, workdir, env

    def _failing(self, service: Any, tasks: list[Task]) -> list[tuple[Task, str]]:
        """The tasks ECS's scheduler would stop now, with its stopped reason: exited, or failing the load
        balancer's health checks."""
        failing = []
        for task in tasks:
            code = task.process.poll()
            if code is not None:
                failing.append((task, task.pull_error or f"Essential container in task exited (exit code {code})"))
                continue
            unhealthy = [g.arn for g in self._groups(service)
                         if moto_ext.TARGET_HEALTH.get((g.arn, task.address), ("initial",))[0] == "unhealthy"]
            if unhealthy:
                failing.append((task, f"Task failed ELB health checks in (target-group {unhealthy[0]})"))
        return failing

    def _record_stopped(self, backend: Any, service: Any, task: Task, reason: str) -> None:
        """The stopped task as ECS lists it (group service:NAME, desired and last status STOPPED), and one more
        failed task for the deployment."""
        key = (service.arn, task.task_definition)
        self.failed[key] = self.failed.get(key, 0) + 1
        try:
            cluster = backend._get_cluster(service.cluster_name)
            definition = backend.describe_task_definition(task.task_definition)
        except Exception:  # noqa: BLE001 - the service is being deleted: nothing to list the task in
            return
        stopped = moto_ext.stopped_task(backend, cluster, definition, service, reason, task.process.poll())
        self.on_change()
        kept = self.stopped.setdefault(service.arn, [])
        kept.append(stopped)
        for arn in kept[:-STOPPED_KEPT]:
            backend.tasks.get(cluster.name, {}).pop(arn, None)
        del kept[:-STOPPED_KEPT]

    def _groups(self, service: Any) -> list[Any]:
        backend = elbv2_backends[ACCOUNT][REGION]
        return [backend.target_groups[lb["targetGroupArn"]] for lb in service.load_balancers or []
                if lb.get("targetGroupArn") in backend.target_groups]

    def _healthy(self, service: Any, task: Task) -> bool:
        groups = self._groups(service)
        return bool(groups) and all(
            moto_ext.TARGET_HEALTH.get((g.arn, task.address), ("initial",))[0] == "healthy" for g in groups)

    def _deregister(self, service: Any, tasks: list[Task]) -> None:
        for group in self._groups(service) if service else []:
            group.deregister([t.target for t in tasks])
            for task in tasks:
                moto_ext.TARGET_HEALTH.pop((group.arn, task.address), None)

    def _stop(self, tasks: list[Task], service: Any) -> None:
        self.on_change()
        self._deregister(service, tasks)
        for task in tasks:
            task.process.terminate()

    def _report(self, service: Any, current: list[Task], old: list[Task]) -> None:
        """What DescribeServices says: running tasks, and deployments until the old tasks are gone."""
        running = sum(1 for t in current if t.process.poll() is None)
        healthy = sum(1 for t in current if t.process.poll() is None and self._healthy(service, t))
        pending = max(service.desired_count - running, 0)
        primary = {"id": f"ecs-svc/{abs(hash(service.task_definition)) % 10**12}", "status": "PRIMARY",
                   "taskDefinition": service.task_definition, "desiredCount": service.desired_count,
                   "runningCount": running, "pendingCount": pending,
                   "failedTasks": self.failed.get((service.arn, service.task_definition), 0),
                   "rolloutState": "COMPLETED" if healthy >= service.desired_count and not old else "IN_PROGRESS",
                   "launchType": "FARGATE"}
        deployments = [primary]
        if old:
            deployments.append({**primary, "id": "ecs-svc/previous", "status": "ACTIVE",
                                "taskDefinition": old[0].task_definition, "runningCount": len(old),
                                "desiredCount": 0, "rolloutState": "COMPLETED"})
        before = [{k: v for k, v in d.items() if k not in ("createdAt", "updatedAt")}
                  for d in service.deployments or []]
        if (before, service.running_count, service.pending_count) == (deployments, running, pending):
            return  # as on ECS, a deployment's updatedAt moves only when it changes
        now = utcnow()
        created = {d.get("id"): d.get("createdAt") for d in service.deployments or []}
        for deployment in deployments:
            deployment.update(createdAt=created.get(deployment["id"]) or now, updatedAt=now)
        service.running_count, service.pending_count, service.deployments = running, pending, deployments
        self.on_change()

    def saved(self) -> dict[str, Any]:
        with self.lock:
            return {"failed": dict(self.failed), "stopped": {k: list(v) for k, v in self.stopped.items()}}

    def restore(self, saved: dict[str, Any]) -> None:
        """The counts and stopped tasks ECS reports; the tasks themselves start anew from each service."""
        with self.lock:
            self.failed, self.stopped = saved["failed"], saved["stopped"]

    def shutdown(self) -> None:
        with self.lock:
            self.closed = True
            for tasks in self.tasks.values():
                for task in tasks:
                    task.process.terminate()
            for tasks in self.tasks.values():
                for task in tasks:
                    try:
                        task.process.wait(timeout=5)
                    except subprocess.TimeoutExpired:
                        task.process.kill()
            self.tasks.clear()

    def describe(self) -> list[dict[str, Any]]:
        with self.lock:
            return [{"service": arn.rsplit("/", 1)[-1], "address": f"{t.address}:{t.port}", "image": t.image,
                     "pid": t.process.pid, "alive": t.process.poll() is None}
                    for arn, tasks in self.tasks.items() for t in tasks]
