"""The analysis of a new revision's service level, as pure functions: once the revision turns
Healthy, its requests are watched for `analysis-seconds`; too large a share of 5xx answers or too
slow a p95 fails it (and the guard rolls it back by a commit, as for any failed rollout), a whole
window within the thresholds passes it, and too little traffic to judge is "inconclusive": never
a rollback.

Samples are cumulative counters as a pod exports them (Prometheus' `http_requests_total` by
status, `http_request_duration_seconds` buckets), one series per pod (`source`). The window's
requests are the counters' increases since the first sample at or after the analysis started,
summed over pods; a counter that goes down, or a pod whose process start time changed, was reset
(the process restarted) and counts from zero again, as Prometheus' `increase()` does. The p95
is read from the bucket increases by linear interpolation within the bucket, as
`histogram_quantile()` does.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from console.contract import (
    ANALYSIS_MIN_REQUESTS,
    ANALYSIS_PROVIDER,
    ANALYSIS_SECONDS,
    MAX_ERROR_RATIO,
    MAX_P95_LATENCY_MS,
)

PROVIDERS = ("pods", "prometheus")
DEFAULT_MIN_REQUESTS = 50
QUANTILE = 0.95


@dataclass(frozen=True)
class AnalysisPolicy:
    """What the annotations ask. Off unless `analysis-seconds` and at least one threshold are
    set; a value that cannot be read turns it off and says why (`problem`), never guesses."""

    seconds: float = 0.0
    max_error_ratio: float | None = None
    max_p95_ms: float | None = None
    min_requests: int = DEFAULT_MIN_REQUESTS
    provider: str = "pods"
    problem: str = ""

    @property
    def enabled(self) -> bool:
        return not self.problem and self.seconds > 0 and self.thresholds

    @property
    def thresholds(self) -> bool:
        return self.max_error_ratio is not None or self.max_p95_ms is not None

    @classmethod
    def from_annotations(cls, annotations: Mapping[str, str]) -> AnalysisPolicy:
        if ANALYSIS_SECONDS not in annotations:
            return cls()
        try:
            seconds = _number(annotations, ANALYSIS_SECONDS, low=0.0)
            ratio = _optional(annotations, MAX_ERROR_RATIO, low=0.0, high=1.0)
            p95 = _optional(annotations, MAX_P95_LATENCY_MS, low=0.0)
            least = _optional(annotations, ANALYSIS_MIN_REQUESTS, low=1.0)
        except ValueError as exc:
            return cls(problem=str(exc))
        if least is not None and not least.is_integer():
            text = annotations[ANALYSIS_MIN_REQUESTS]
            return cls(problem=f'{ANALYSIS_MIN_REQUESTS}: "{text}" is not a whole number')
        provider = str(annotations.get(ANALYSIS_PROVIDER, "pods")).strip()
        if provider not in PROVIDERS:
            choices = " or ".join(f'"{p}"' for p in PROVIDERS)
            return cls(problem=f'{ANALYSIS_PROVIDER}: "{provider}" is not {choices}')
        if ratio is None and p95 is None:
            return cls(
                problem=f"{ANALYSIS_SECONDS} is set but neither {MAX_ERROR_RATIO} nor "
                f"{MAX_P95_LATENCY_MS}: nothing to measure against"
            )
        return cls(
            seconds,
            ratio,
            p95,
            int(least) if least is not None else DEFAULT_MIN_REQUESTS,
            provider,
        )


def _number(
    annotations: Mapping[str, str], key: str, *, low: float, high: float = math.inf
) -> float:
    text = str(annotations.get(key, "")).strip()
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f'{key}: "{text}" is not a number') from None
    if not math.isfinite(value) or not low <= value <= high:
        bounds = f">= {low:g}" if high == math.inf else f"from {low:g} to {high:g}"
        raise ValueError(f'{key}: "{text}" is not a number {bounds}')
    return value


def _optional(
    annotations: Mapping[str, str], key: str, *, low: float, high: float = math.inf
) -> float | None:
    return _number(annotations, key, low=low, high=high) if key in annotations else None


@dataclass(frozen=True)
class Sample:
    """One scrape of one pod's counters (cumulative since its process started)."""

    at: float  # seconds, the guard's clock
    source: str  # the series: a pod's name
    requests: float
    errors: float  # 5xx answers among them
    buckets: tuple[tuple[float, float], ...] = ()  # (upper bound in seconds, cumulative count)
    # When the pod's process started (process_start_time_seconds), 0 when unknown: a new one
    # is a restart even when the counters already climbed past their old values.
    started: float = 0.0


class Outcome(StrEnum):
    RUNNING = "Running"  # the window is not over and nothing failed yet
    PASSED = "Passed"
    FAILED = "Failed"
    INCONCLUSIVE = "Inconclusive"  # the window ended on too little traffic: no verdict


@dataclass(frozen=True)
class Verdict:
    outcome: Outcome
    reason: str
    requests: int = 0
    error_ratio: float | None = None
    p95_ms: float | None = None
    window_s: float = 0.0


@dataclass(frozen=True)
class Window:
    """The increases over the window, summed over pods."""

    requests: float = 0.0
    errors: float = 0.0
    buckets: tuple[tuple[float, float], ...] = ()  # (upper bound, increase), ascending


def _increase(values: Sequence[tuple[float, float]]) -> float:
    """A counter's increase over consecutive (value, process start) pairs: a drop, or a new
    process, is a reset to zero, after which the whole new value is new."""
    total = 0.0
    for (before, was), (after, now) in itertools.pairwise(values):
        total += after if after < before or now != was else after - before
    return total


def window(samples: Iterable[Sample], since: float) -> Window:
    """The increases of every series from its first sample at or after `since`."""
    series: dict[str, list[Sample]] = {}
    for s in sorted(samples, key=lambda s: s.at):
        if s.at >= since:
            series.setdefault(s.source, []).append(s)
    requests = errors = 0.0
    buckets: dict[float, float] = {}
    for points in series.values():
        requests += _increase([(p.requests, p.started) for p in points])
        errors += _increase([(p.errors, p.started) for p in points])
        for bound in {b for p in points for b, _ in p.buckets}:
            counts = [(dict(p.buckets).get(bound, 0.0), p.started) for p in points]
            buckets[bound] = buckets.get(bound, 0.0) + _increase(counts)
    return Window(requests, min(errors, requests), tuple(sorted(buckets.items())))


def quantile(q: float, buckets: Sequence[tuple[float, float]]) -> float | None:
    """The q-quantile of a cumulative histogram's increases (seconds), as histogram_quantile()
    reads it: linear within the bucket it falls in; the highest finite bound when it falls in
    the +Inf bucket. None without observations."""
    if not buckets or buckets[-1][1] <= 0:
        return None
    total = buckets[-1][1]
    rank = q * total
    lower_bound, lower_count = 0.0, 0.0
    for bound, count in buckets:
        if count >= rank:
            if math.isinf(bound):
                return lower_bound
            if count == lower_count:
                return bound
            return lower_bound + (bound - lower_bound) * (rank - lower_count) / (
                count - lower_count
            )
        lower_bound, lower_count = bound, count
    return lower_bound


def _secs(value: float) -> str:
    """Seconds as a reason says them: tenths under 10 s (a fast failure), whole ones above."""
    return f"{value:.1f}" if value < 10 else f"{value:.0f}"


def verdict(
    policy: AnalysisPolicy, samples: Iterable[Sample], started_at: float, now: float
) -> Verdict:
    """The analysis of the window from `started_at` (the revision turned Healthy) to `now`."""
    w = window(samples, started_at)
    elapsed = max(0.0, now - started_at)
    over = elapsed >= policy.seconds
    n = round(w.requests)
    if n < policy.min_requests:
        if over:
            return Verdict(
                Outcome.INCONCLUSIVE,
                f"{n} requests in {_secs(elapsed)} s, fewer than the {policy.min_requests} a "
                "verdict needs: not judged",
                n,
                window_s=elapsed,
            )
        return Verdict(Outcome.RUNNING, f"{n} requests so far", n, window_s=elapsed)
    ratio = w.errors / w.requests
    p95 = quantile(QUANTILE, w.buckets)
    p95_ms = p95 * 1000 if p95 is not None else None
    over_what = f"over {_secs(elapsed)} s, {n} requests"

    def judged(outcome: Outcome, reason: str) -> Verdict:
        return Verdict(outcome, reason, n, ratio, p95_ms, elapsed)

    if policy.max_error_ratio is not None and ratio > policy.max_error_ratio:
        return judged(
            Outcome.FAILED, f"error ratio {ratio:.2f} > {policy.max_error_ratio:g} {over_what}"
        )
    if policy.max_p95_ms is not None and p95_ms is not None and p95_ms > policy.max_p95_ms:
        return judged(
            Outcome.FAILED,
            f"p95 latency {p95_ms:.0f} ms > {policy.max_p95_ms:g} ms {over_what}",
        )
    if not over:
        return judged(Outcome.RUNNING, f"{n} requests so far, within the thresholds")
    latency = f", p95 {p95_ms:.0f} ms" if p95_ms is not None else ""
    return judged(
        Outcome.PASSED, f"error ratio {ratio:.2f}{latency} {over_what}: within the thresholds"
    )
