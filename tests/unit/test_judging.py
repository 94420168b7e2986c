"""The judge: its statistical tests against scipy's, its verdicts, its windows, and its false-rollback rate."""

from __future__ import annotations

import random
from typing import Any

import pytest
from scipy import stats

from release.config import JudgeConfig, parse_request
from release.judging import Verdict, judge, judged_windows, mann_whitney_greater_p, two_proportion_p
from release.observed import SideFigures
from release.shifting import compute_watch


def config(**judge: Any) -> JudgeConfig:
    request = {"loadBalancer": "a", "cluster": "c", "traffic": {"strategy": "canary:10:1", "judge": judge}}
    return parse_request(request)["traffic"]["judge"]


@pytest.mark.parametrize(("a", "b"), [
    ([0.31, 0.35, 0.33, 0.40, 0.38], [0.01, 0.02, 0.015, 0.012, 0.011]),
    ([1, 2, 3, 4, 5, 6], [1, 2, 3, 4, 5, 6]),
    ([2, 2, 3, 3, 3, 9], [1, 2, 2, 3, 4, 4, 4]),  # ties
    ([0.010, 0.012, 0.011, 0.013, 0.012, 0.010, 0.011], [0.011, 0.010, 0.012, 0.011, 0.013, 0.012, 0.010]),
])
def test_the_rank_test_agrees_with_scipy(a: list[float], b: list[float]) -> None:
    u, p = mann_whitney_greater_p(a, b)
    expected = stats.mannwhitneyu(a, b, alternative="greater", method="asymptotic", use_continuity=True)
    assert u == pytest.approx(expected.statistic)
    assert p == pytest.approx(expected.pvalue, rel=1e-6)


@pytest.mark.parametrize(("errors_a", "n_a", "errors_b", "n_b"), [(30, 600, 2, 2400), (5, 500, 20, 2000),
                                                                  (0, 100, 0, 900)])
def test_without_a_margin_the_proportion_test_is_the_pooled_z_test(errors_a: int, n_a: int, errors_b: int,
                                                                   n_b: int) -> None:
    """With no margin the most likely equal rates are the pooled rate: Farrington and Manning's test is then the
    classic pooled z-test."""
    z, p = two_proportion_p(errors_a, n_a, errors_b, n_b, 0.0)
    pooled = (errors_a + errors_b) / (n_a + n_b)
    spread = (max(pooled * (1 - pooled), 1e-12) * (1 / n_a + 1 / n_b)) ** 0.5
    assert z == pytest.approx((errors_a / n_a - errors_b / n_b) / spread, rel=1e-6)
    assert p == pytest.approx(stats.norm.sf(z), rel=1e-5)


@pytest.mark.parametrize(("green_rate", "blue_rate", "n_green", "n_blue"), [
    (0.010, 0.0, 2000, 18000), (0.011, 0.001, 500, 4500), (0.02, 0.01, 500, 2000)])
def test_green_exactly_at_the_tolerance_is_called_worse_about_as_often_as_the_significance(
        green_rate: float, blue_rate: float, n_green: int, n_blue: int) -> None:
    """The pooled standard error would reject the first case about one time in five (blue's rate near 0)."""
    rng = random.Random(3)  # noqa: S311 - simulated traffic, seeded to be repeatable
    trials, rejected = 1000, 0
    for _ in range(trials):
        errors_green = sum(rng.random() < green_rate for _ in range(n_green))
        errors_blue = sum(rng.random() < blue_rate for _ in range(n_blue))
        rejected += two_proportion_p(errors_green, n_green, errors_blue, n_blue, 0.01)[1] < 0.01
    assert rejected / trials <= 0.025


def test_green_failing_5_percent_of_requests_fails_on_its_5xx_rate_with_both_sides_figures() -> None:
    judgement = judge(SideFigures(400, 20, (0.01,) * 10), SideFigures(3600, 1, (0.01,) * 10), config())
    assert judgement["verdict"] == Verdict.FAIL and judgement["metric"] == "5XX rate"
    assert "5.00% (20 of 400)" in judgement["reason"] and "0.03% (1 of 3600)" in judgement["reason"]
    assert judgement["errorTest"] is not None and judgement["errorTest"]["p"] < 0.01


def test_green_300_ms_slower_fails_on_latency() -> None:
    green = SideFigures(400, 0, (0.31, 0.32, 0.30, 0.33, 0.31, 0.35))
    blue = SideFigures(3600, 0, (0.010, 0.012, 0.011, 0.009, 0.010, 0.013))
    judgement = judge(green, blue, config())
    assert judgement["verdict"] == Verdict.FAIL and judgement["metric"] == "latency"
    assert "p90 latency 315 ms against blue's 10 ms" in judgement["reason"]


def test_a_small_difference_within_the_tolerance_passes() -> None:
    green = SideFigures(400, 2, (0.012, 0.013, 0.012, 0.014, 0.013, 0.012))  # 0.5% errors, 2 ms slower
    blue = SideFigures(3600, 4, (0.010, 0.011, 0.010, 0.011, 0.010, 0.011))
    assert judge(green, blue, config())["verdict"] == Verdict.PASS


def test_too_few_requests_or_periods_is_not_enough_traffic_never_a_pass_or_a_fail() -> None:
    judgement = judge(SideFigures(30, 3, (0.3,) * 2), SideFigures(300, 0, (0.01,) * 2), config())
    assert judgement["verdict"] == Verdict.INSUFFICIENT
    assert "30 requests to green" in judgement["reason"] and "2 periods with traffic on green" in judgement["reason"]


def test_a_clear_failure_is_not_hidden_by_too_few_periods_for_latency() -> None:
    judgement = judge(SideFigures(1000, 100, (0.01,) * 2), SideFigures(1000, 0, (0.01,) * 2), config())
    assert judgement["verdict"] == Verdict.FAIL and judgement["metric"] == "5XX rate"


def test_the_false_rollback_rate_of_identical_versions_stays_under_the_significance() -> None:
    """Both sides draw from the same distributions (0.5% errors, lognormal latency); the judge looks as often as a
    one-minute canary with 1 s periods does, on the growing window. It may roll back at most ~alpha of them."""
    rng = random.Random(7)  # noqa: S311 - simulated traffic, seeded to be repeatable
    rollbacks, releases = 0, 300
    for _ in range(releases):
        green_periods: list[tuple[int, int, float]] = []
        blue_periods: list[tuple[int, int, float]] = []
        failed = False
        for _second in range(60):
            for periods, share in ((green_periods, 0.1), (blue_periods, 0.9)):
                requests = max(1, round(50 * share))
                errors = sum(rng.random() < 0.005 for _ in range(requests))
                periods.append((requests, errors, rng.lognormvariate(-4.6, 0.3)))
            green, blue = (SideFigures(sum(r for r, _, _ in side), sum(e for _, e, _ in side),
                                       tuple(lat for _, _, lat in side)) for side in (green_periods, blue_periods))
            if judge(green, blue, config())["verdict"] == Verdict.FAIL:
                failed = True
                break
        rollbacks += failed
    assert rollbacks / releases <= 0.01


def test_windows_are_whole_periods_of_the_step_up_to_one_period_ago() -> None:
    assert judged_windows("shift", 1000.4, 1000.4, 1030.7, 1, 60, 5) == ((1001, 1029), (1001, 1029))
    assert judged_windows("shift", 960, 960, 1260, 60, 60, 5) == ((960, 1200), (960, 1200))  # aligned: kept
    assert judged_windows("shift", 1000, 1000, 1260, 60, 60, 5) == ((1020, 1200), (1020, 1200))


def test_the_bake_compares_green_with_blue_before_green_took_traffic() -> None:
    green, blue = judged_windows("bake", 2000.2, 1000.5, 2030.0, 1, 120, 5)
    assert green == (2001, 2029) and blue == (880, 1000)


def test_a_judged_step_lasts_until_its_last_period_can_be_read() -> None:
    judgement = judge(SideFigures(400, 0, (0.01,) * 10), SideFigures(3600, 0, (0.01,) * 10), config())
    started = compute_watch({}, "shift", 10, 300, 10, [], None, 1000, judgement, config())
    assert not compute_watch(started, "shift", 10, 300, 10, [], None, 1300, judgement, config())["done"]
    assert compute_watch(started, "shift", 10, 300, 10, [], None, 1420, judgement, config())["done"]


def test_a_failing_judge_fails_the_watch_and_says_why() -> None:
    judgement = judge(SideFigures(400, 20, ()), SideFigures(3600, 1, ()), config())
    watch = compute_watch({}, "shift", 10, 60, 5, [], None, 1000, judgement, config())
    assert not watch["ok"] and "the judge found green worse than blue on 5XX rate" in watch["reason"]
    assert watch["judge"] == judgement


@pytest.mark.parametrize(("on_short", "held", "ok", "done"), [
    ("proceed", 0, True, True), ("rollback", 0, False, False), ("hold", 10, True, False), ("hold", 31, False, False),
])
def test_not_enough_traffic_when_the_step_ends_does_what_was_asked(on_short: str, held: int, ok: bool,
                                                                  done: bool) -> None:
    judge_config = config(onInsufficientTraffic=on_short, holdSeconds=30)
    short = judge(SideFigures(0, 0, ()), SideFigures(0, 0, ()), judge_config)
    started = compute_watch({}, "shift", 10, 60, 5, [], None, 1000, short, judge_config)
    assert started["ok"] and not started["done"]  # before the step's end nothing is decided
    ended = compute_watch(started, "shift", 10, 60, 5, [], None, 1060 + 120 + held, short, judge_config)
    assert (ended["ok"], ended["done"]) == (ok, done)
    if not ok:
        assert "not enough traffic to judge" in ended["reason"]


def test_the_judge_is_on_for_canary_and_linear_only_unless_asked_and_never_for_a_rollback() -> None:
    def enabled(traffic: dict[str, Any], action: str = "release") -> bool:
        request = {"loadBalancer": "a", "cluster": "c", "action": action, "traffic": traffic}
        return parse_request(request)["traffic"]["judge"]["enabled"]

    assert enabled({"strategy": "canary:10:1"}) and enabled({"strategy": "linear:25:1"})
    assert not enabled({}) and enabled({"judge": {"enabled": True}})
    assert not enabled({"strategy": "canary:10:1", "judge": {"enabled": False}})
    assert not enabled({}, "rollback")
    with pytest.raises(Exception, match="a rollback is not judged"):
        enabled({"judge": {"enabled": True}}, "rollback")


@pytest.mark.parametrize(("judge_request", "words"), [
    ({"significance": 0.5}, "'traffic.judge.significance' must be a number from 0.0001 to 0.2"),
    ({"latencyPercentile": "p100"}, "'traffic.judge.latencyPercentile' must be a percentile"),
    ({"onInsufficientTraffic": "ask"}, "'traffic.judge.onInsufficientTraffic' must be one of proceed, hold, rollback"),
    ({"minPeriods": 1}, "'traffic.judge.minPeriods' must be a whole number from 3"),
    ({"periodSeconds": 45}, "'traffic.judge.periodSeconds' must be 1, 5, 10, 30 or a multiple of 60"),
    ({"sensitivity": 1}, "unknown field 'traffic.judge.sensitivity'"),
])
def test_a_bad_judge_setting_is_refused_by_name(judge_request: dict[str, Any], words: str) -> None:
    with pytest.raises(Exception, match="Invalid release request") as raised:
        config(**judge_request)
    assert words in str(raised.value)


class FixedMetrics:
    """The metrics gateway's answer, the same for every window asked."""

    def __init__(self, figures: dict[str, SideFigures]) -> None:
        self.figures = figures
        self.windows: list[tuple[float, float]] = []

    def target_groups(self, load_balancer_arn: str, target_group_arns: list[str], start: float, end: float,
                      period: int, percentile: str) -> dict[str, SideFigures]:
        self.windows.append((start, end))
        return {arn: self.figures[arn] for arn in target_group_arns}


def test_during_the_bake_latency_is_not_compared_with_blue_from_another_time() -> None:
    """Blue's figures in the bake are from before the move, under another load: only error rates compare."""
    from release.checks import judge_green
    from tests.unit.test_shifting import TOPOLOGY

    green, blue = TOPOLOGY["green"]["targetGroupArn"], TOPOLOGY["blue"]["targetGroupArn"]
    slower = FixedMetrics({green: SideFigures(400, 0, (0.040,) * 10), blue: SideFigures(400, 0, (0.004,) * 10)})
    baked = judge_green(TOPOLOGY, config(periodSeconds=1), "bake", 2000, 1000, 2030, 20, slower)  # type: ignore[arg-type]
    assert baked["verdict"] == Verdict.PASS and "latency not compared" in baked["reason"]
    assert slower.windows == [(980, 1000), (2000, 2029)]  # blue before the move, then green in the bake
    shifted = judge_green(TOPOLOGY, config(periodSeconds=1), "shift", 2000, 1000, 2030, 20, slower)  # type: ignore[arg-type]
    assert shifted["verdict"] == Verdict.FAIL and shifted["metric"] == "latency"
