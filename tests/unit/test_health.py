from __future__ import annotations

from dataclasses import replace

import pytest

from release import observed
from release.health import (
    compute_report,
    compute_wait_seconds,
    describe_stopped,
    evaluate_definite,
    evaluate_probe,
    evaluate_service,
    evaluate_targets,
)
from tests.unit.helpers import GREEN, service

POLICY = {"deadlineSeconds": 60, "pollIntervalSeconds": 5, "maxPollIntervalSeconds": 20, "probe": None}


@pytest.mark.parametrize(("svc", "ok", "words"), [
    (service("g", GREEN), True, "2/2 running, steady"),
    (service("g", GREEN, running=1), False, "1 of 2 tasks running"),
    (service("g", GREEN, desired=0, running=0), False, "desired count is 0"),
    (service("g", GREEN, rollout="IN_PROGRESS"), False, "rollout is IN_PROGRESS"),
    (service("g", GREEN, rollout="FAILED"), False, "rollout is FAILED"),
])
def test_service_steady_state(svc: observed.Service, ok: bool, words: str) -> None:
    result = evaluate_service(svc)
    assert result["ok"] is ok and words in result["detail"]


def test_a_draining_older_deployment_is_not_steady() -> None:
    svc = service("g", GREEN)
    older = observed.Deployment("ACTIVE", "td:0", 2, 1, "COMPLETED")
    svc = observed.Service(**{**svc.__dict__, "deployments": (*svc.deployments, older)})
    assert not evaluate_service(svc)["ok"]


@pytest.mark.parametrize(("targets", "ok", "words"), [
    ([], False, "no targets registered"),
    ([observed.TargetHealth("10.0.0.1", 80, "healthy")], True, "1 of 1 targets healthy"),
    ([observed.TargetHealth("10.0.0.1", 80, "healthy"),
      observed.TargetHealth("10.0.0.2", 80, "unhealthy", "Target.Timeout")], False,
     "1 of 2 targets not healthy: 10.0.0.2:80 unhealthy (Target.Timeout)"),
    ([observed.TargetHealth("10.0.0.1", 80, "initial")], False, "initial"),
])
def test_every_registered_target_must_be_healthy(targets: list[observed.TargetHealth], ok: bool, words: str) -> None:
    result = evaluate_targets("green", targets)
    assert result["ok"] is ok and words in result["detail"]


def test_probe_compares_status() -> None:
    assert evaluate_probe(observed.ProbeResult("http://x/health", 200), 200)["ok"]
    failed = evaluate_probe(observed.ProbeResult("http://x/health", None, "connection refused"), 200)
    assert not failed["ok"] and "no response (connection refused)" in failed["detail"]
    assert not evaluate_probe(observed.ProbeResult("http://x/health", 302), 200)["ok"]


def test_report_is_healthy_only_if_every_check_passes() -> None:
    good = {"check": "a", "ok": True, "detail": ""}
    bad = {"check": "b", "ok": False, "detail": ""}
    assert compute_report([good])["healthy"]  # type: ignore[list-item]
    assert not compute_report([good, bad])["healthy"]  # type: ignore[list-item]
    assert not compute_report([])["healthy"]


@pytest.mark.parametrize(("attempt", "elapsed", "wait"), [
    (0, 0, 5), (1, 5, 10), (2, 15, 20), (5, 30, 20),  # backoff doubles, capped at the max interval
    (3, 55, 5),  # never waits past the deadline: one last check at the deadline
    (4, 60, None), (4, 75, None),  # deadline reached: give up
])
def test_backoff_is_capped_by_interval_and_deadline(attempt: int, elapsed: float, wait: int | None) -> None:
    assert compute_wait_seconds(attempt, elapsed, POLICY) == wait  # type: ignore[arg-type]


def _failed(count: int, rollout: str = "IN_PROGRESS", desired: int = 2) -> observed.Service:
    svc = service("g", GREEN, desired=desired, running=1, rollout=rollout)
    return replace(svc, deployments=(replace(svc.deployments[0], failed_tasks=count),))


def _target(state: str, reason: str | None = None) -> observed.TargetHealth:
    return observed.TargetHealth("10.0.0.1", 80, state, reason, "Health checks failed with these codes: [500]")


HEALTHY_OLD_TASK = _target("healthy")  # the old deployment's task still serves while the new one fails


@pytest.mark.parametrize(("svc", "targets", "definite", "conclusive"), [
    (service("g", GREEN), [_target("unhealthy", "Target.ResponseCodeMismatch")] * 2, "all 2 target(s) unhealthy",
     False),
    (service("g", GREEN), [_target("unhealthy", "Target.ResponseCodeMismatch"), _target("initial")], None, False),
    (service("g", GREEN), [_target("draining", "Target.DeregistrationInProgress")], None, False),
    (service("g", GREEN, rollout="IN_PROGRESS"), [_target("initial", "Elb.RegistrationInProgress")], None, False),
    (_failed(2), [HEALTHY_OLD_TASK], None, False),  # below ECS's circuit breaker threshold (3): may still settle
    (_failed(3), [HEALTHY_OLD_TASK], "3 task(s) of the new deployment stopped", True),
    (_failed(5, desired=10), [HEALTHY_OLD_TASK], "5 task(s) of the new deployment stopped", True),
    (_failed(4, desired=10), [HEALTHY_OLD_TASK], None, False),  # half of 10
    (_failed(3, rollout="COMPLETED"), [HEALTHY_OLD_TASK], None, False),  # replacements made it: not failing
    (_failed(1, rollout="FAILED"), [], "ECS gave the deployment up", True),
])
def test_a_definite_failure_is_one_waiting_will_not_fix(svc: observed.Service, targets: list[observed.TargetHealth],
                                                         definite: str | None, conclusive: bool) -> None:
    found = evaluate_definite(svc, targets, svc.task_definition)
    if definite is None:
        assert found is None
    else:
        assert found is not None and definite in found[0] and found[1] is conclusive


def test_a_failed_deployment_that_ecs_rolled_back_is_conclusive() -> None:
    """ECS's circuit breaker with rollback: the failed deployment is no longer primary, the service runs the old
    task definition again."""
    svc = service("g", GREEN, task_definition="td:1")
    failed = observed.Deployment("ACTIVE", "td:2", 2, 0, "FAILED", failed_tasks=3)
    rolled_back = replace(svc, deployments=(*svc.deployments, failed))
    found = evaluate_definite(rolled_back, [HEALTHY_OLD_TASK], "td:2")
    assert found is not None and "ECS gave the deployment up" in found[0] and found[1]
    found = evaluate_definite(svc, [HEALTHY_OLD_TASK], "td:2")  # rolled back, the failed deployment already gone
    assert found is not None and "not the released td:2: ECS rolled it back" in found[0] and found[1]


def test_a_healthy_report_has_no_definite_failure() -> None:
    good = {"check": "x", "ok": True, "detail": "fine"}
    assert compute_report([good], ("all targets unhealthy", True))["definite"] is None  # type: ignore[list-item]


def test_stopped_tasks_are_described_with_their_reasons() -> None:
    tasks = [observed.StoppedTask("abc", "Task failed ELB health checks in (target-group tg)"),
             observed.StoppedTask("def", "Essential container in task exited", ("app: exit code 3",)),
             observed.StoppedTask("ghi", "Task failed ELB health checks in (target-group tg)")]
    assert describe_stopped(tasks) == ("Task failed ELB health checks in (target-group tg): tasks abc, ghi; "
                                       "Essential container in task exited (app: exit code 3): task def")
    assert describe_stopped([]) == "no stopped task listed"
