"""Pure judgement of green against blue on the load balancer's per-target-group metrics.

Two questions, each a one-sided statistical test with a tolerance, so that green is called worse only when it is
worse by more than the tolerance *and* the data make chance an unlikely explanation:

- Errors: green's error rate (5XX answers and connection errors) against blue's, over every request in the
  window (Farrington and Manning's two-proportion test of "green's rate exceeds blue's by more than the
  tolerance"). Assumes requests fail independently.
- Latency: green's per-period latency percentile against blue's (a Mann-Whitney rank test of "green's periods
  are slower", normal approximation with tie and continuity correction), and green's median period slower than
  blue's by more than the tolerance. Assumes the periods are independent samples of each side's latency.

Below a minimum sample (requests for errors, periods with traffic for latency) the answer is "not enough
traffic", never pass or fail.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from enum import StrEnum
from typing import TypedDict

from .config import JudgeConfig
from .observed import SideFigures


class Verdict(StrEnum):
    PASS = "pass"  # noqa: S105 - a verdict, not a password
    FAIL = "fail"
    INSUFFICIENT = "insufficient"


class Judgement(TypedDict):
    verdict: str
    metric: str | None  # the metric that failed: "5XX rate" or "latency"
    reason: str
    green: dict[str, float | int | None]
    blue: dict[str, float | int | None]
    errorTest: dict[str, float] | None
    latencyTest: dict[str, float] | None
    window: dict[str, float]


Window = tuple[float, float]  # [start, end), epoch seconds


def judged_windows(phase: str, since: float, first_move_at: float, now: float, period: int, bake_seconds: int,
                   min_periods: int) -> tuple[Window, Window]:
    """(green's window, blue's window), whole periods only.

    While a step runs both sides serve production: both are read over the step's whole periods so far, up to one
    period ago (metrics arrive late: the ALB sends them every minute). During the bake only green serves, so
    blue's figures are its own before green first took traffic, over as long a window.
    """
    def whole(start: float, end: float) -> Window:  # the periods begun at or after start, ended a period ago
        return math.ceil(start / period) * period, (math.floor(end / period) - 1) * period

    green = whole(since, now)
    if phase != "bake":
        return green, green
    end = math.floor(first_move_at / period) * period
    length = max(math.ceil(bake_seconds / period), min_periods) * period
    return green, (end - length, end)


def two_proportion_p(errors_a: int, n_a: int, errors_b: int, n_b: int, margin: float) -> tuple[float, float]:
    """(z, one-sided p) for "rate a exceeds rate b by more than `margin`" (a proportion, 0.01 = 1 point).

    Farrington and Manning's test: the standard error is taken at the rates most likely under "a exceeds b by
    exactly the margin" (a restricted maximum likelihood), not at the pooled rate, which assumes no difference
    and, with blue's rate near 0, would call a green exactly at the tolerance worse one time in five.
    """
    rate_a, rate_b = _restricted_rates(errors_a, n_a, errors_b, n_b, margin)
    spread = math.sqrt(max(rate_a * (1 - rate_a) / n_a + rate_b * (1 - rate_b) / n_b, 1e-12))
    z = (errors_a / n_a - errors_b / n_b - margin) / spread
    return z, 0.5 * math.erfc(z / math.sqrt(2))


def _restricted_rates(errors_a: int, n_a: int, errors_b: int, n_b: int, margin: float) -> tuple[float, float]:
    """The rates (a, b) with a = b + margin that make the observed errors most likely. The log-likelihood is
    concave in b, so a ternary search finds its maximum."""
    def log_likelihood(rate_b: float) -> float:
        total = 0.0
        for errors, n, rate in ((errors_a, n_a, rate_b + margin), (errors_b, n_b, rate_b)):
            rate = min(max(rate, 1e-12), 1 - 1e-12)
            total += errors * math.log(rate) + (n - errors) * math.log(1 - rate)
        return total

    low, high = max(0.0, -margin), min(1.0, 1.0 - margin)
    for _ in range(60):  # (2/3)^60: far below any rate that matters
        left, right = low + (high - low) / 3, high - (high - low) / 3
        if log_likelihood(left) < log_likelihood(right):
            low = left
        else:
            high = right
    rate_b = (low + high) / 2
    return rate_b + margin, rate_b


def mann_whitney_greater_p(a: Sequence[float], b: Sequence[float]) -> tuple[float, float]:
    """(U of a, one-sided p) for "a tends to be greater than b": the normal approximation with the tie correction
    and a continuity correction."""
    n_a, n_b = len(a), len(b)
    pooled = sorted([(value, 0) for value in a] + [(value, 1) for value in b])
    ranks = [0.0] * len(pooled)
    ties = 0.0
    start = 0
    while start < len(pooled):
        end = start
        while end + 1 < len(pooled) and pooled[end + 1][0] == pooled[start][0]:
            end += 1
        for index in range(start, end + 1):
            ranks[index] = (start + end) / 2 + 1
        tied = end - start + 1
        ties += tied ** 3 - tied
        start = end + 1
    rank_sum = sum(rank for rank, (_, side) in zip(ranks, pooled, strict=True) if side == 0)
    u = rank_sum - n_a * (n_a + 1) / 2
    n = n_a + n_b
    variance = n_a * n_b / 12 * ((n + 1) - ties / (n * (n - 1)))
    if variance <= 0:  # every value equal: no evidence either way
        return u, 1.0
    z = (u - n_a * n_b / 2 - 0.5) / math.sqrt(variance)
    return u, 0.5 * math.erfc(z / math.sqrt(2))


def judge(green: SideFigures, blue: SideFigures, config: JudgeConfig, compare_latency: bool = True) -> Judgement:
    """Is green significantly worse than blue? The first failing test names the metric.

    `compare_latency` False: blue's figures are from another time (the bake compares with blue before green took
    traffic), when latency depends on the load of that moment; only error rates are compared then.
    """
    alpha = config["significance"]
    failures: list[tuple[str, str]] = []
    short: list[str] = []
    error_test = latency_test = None

    if min(green.requests, blue.requests) < config["minRequests"]:
        short.append(f"{green.requests} requests to green and {blue.requests} to blue, "
                     f"{config['minRequests']} needed on each side to compare 5XX rates")
    else:
        z, p = two_proportion_p(green.errors, green.requests, blue.errors, blue.requests,
                                config["errorTolerancePercent"] / 100)
        error_test = {"z": round(z, 3), "p": _round_p(p)}
        if p < alpha:
            failures.append(("5XX rate", (
                f"green's 5XX rate {_percent(green.error_rate)} ({green.errors} of {green.requests}) against blue's "
                f"{_percent(blue.error_rate)} ({blue.errors} of {blue.requests}): worse by more than "
                f"{config['errorTolerancePercent']:g} points, two-proportion z = {z:.2f}, p = {_p_text(p)} "
                f"< {alpha:g}")))

    percentile = config["latencyPercentile"]
    if compare_latency and min(len(green.latencies), len(blue.latencies)) < config["minPeriods"]:
        short.append(f"{len(green.latencies)} periods with traffic on green and {len(blue.latencies)} on blue, "
                     f"{config['minPeriods']} needed on each side to compare latency")
    elif compare_latency:
        u, p = mann_whitney_greater_p(green.latencies, blue.latencies)
        green_median, blue_median = statistics.median(green.latencies), statistics.median(blue.latencies)
        allowed = blue_median * (1 + config["latencyTolerancePercent"] / 100) + config["latencyToleranceMs"] / 1000
        latency_test = {"u": u, "p": _round_p(p), "allowedSeconds": round(allowed, 4)}
        if p < alpha and green_median > allowed:
            failures.append(("latency", (
                f"green's {percentile} latency {_ms(green_median)} against blue's {_ms(blue_median)} (median of "
                f"{len(green.latencies)} and {len(blue.latencies)} periods): slower than the {_ms(allowed)} "
                f"allowed, Mann-Whitney U = {u:g}, p = {_p_text(p)} < {alpha:g}")))

    if failures:
        verdict, metric, reason = Verdict.FAIL, failures[0][0], "; ".join(text for _, text in failures)
    elif short:
        verdict, metric, reason = Verdict.INSUFFICIENT, None, "not enough traffic to judge: " + "; ".join(short)
    else:
        verdict, metric = Verdict.PASS, None
        latency = (f"{percentile} latency {_ms(green.median_latency)} against {_ms(blue.median_latency)}"
                   if compare_latency else "latency not compared (blue's figures are from before the move)")
        reason = f"green no worse than blue: 5XX {_percent(green.error_rate)} against {_percent(blue.error_rate)}, " \
                 + latency
    return {"verdict": verdict.value, "metric": metric, "reason": reason,
            "green": _figures(green), "blue": _figures(blue), "errorTest": error_test, "latencyTest": latency_test,
            "window": {}}


def _figures(side: SideFigures) -> dict[str, float | int | None]:
    median = side.median_latency
    return {"requests": side.requests, "errors": side.errors, "errorRate": round(side.error_rate, 5),
            "periods": len(side.latencies), "latencySeconds": None if median is None else round(median, 4)}


def _round_p(p: float) -> float:
    return float(f"{p:.3g}")


def _p_text(p: float) -> str:
    return f"{p:.1e}" if p < 0.001 else f"{p:.3f}"


def _percent(rate: float) -> str:
    return f"{rate * 100:.2f}%"


def _ms(seconds: float | None) -> str:
    return "no data" if seconds is None else f"{seconds * 1000:.0f} ms"
