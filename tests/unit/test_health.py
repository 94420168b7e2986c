from __future__ import annotations

import pytest

from release import observed
from release.health import compute_report, compute_wait_seconds, evaluate_probe, evaluate_service, evaluate_targets
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
