"""The analysis verdict, pure: table tests for the annotations and the verdicts, hypothesis for
the rules that must hold on any traffic (no verdict on too few requests, counter resets, a
window that spans a pod's restart)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as s

from console.commands.status import with_analyses
from console.contract import (
    ANALYSIS_MIN_REQUESTS,
    ANALYSIS_PROVIDER,
    ANALYSIS_SECONDS,
    MAX_ERROR_RATIO,
    MAX_P95_LATENCY_MS,
)
from console.fleet.display import render_table
from console.fleet.model import Health, Sync
from console.fleet.status import StatusRow
from console.guard import events as ev
from console.guard.analysis import (
    AnalysisPolicy,
    Outcome,
    Sample,
    quantile,
    verdict,
    window,
)
from console.guard.events import EventLog, analysis_of, read_events

INF = float("inf")
POLICY = AnalysisPolicy(seconds=20, max_error_ratio=0.05, max_p95_ms=500, min_requests=50)


@pytest.mark.parametrize(
    ("annotations", "expected"),
    [
        pytest.param({}, AnalysisPolicy(), id="off without analysis-seconds"),
        pytest.param(
            {ANALYSIS_SECONDS: "20", MAX_ERROR_RATIO: "0.05"},
            AnalysisPolicy(20, 0.05, None, 50, "pods"),
            id="an error ratio alone",
        ),
        pytest.param(
            {
                ANALYSIS_SECONDS: "60",
                MAX_P95_LATENCY_MS: "250",
                ANALYSIS_MIN_REQUESTS: "10",
                ANALYSIS_PROVIDER: "prometheus",
            },
            AnalysisPolicy(60, None, 250, 10, "prometheus"),
            id="latency from prometheus",
        ),
    ],
)
def test_the_annotations_say_the_policy(
    annotations: dict[str, str], expected: AnalysisPolicy
) -> None:
    assert AnalysisPolicy.from_annotations(annotations) == expected


@pytest.mark.parametrize(
    ("annotations", "problem"),
    [
        (
            {ANALYSIS_SECONDS: "soon", MAX_ERROR_RATIO: "0.1"},
            f'{ANALYSIS_SECONDS}: "soon" is not a number',
        ),
        (
            {ANALYSIS_SECONDS: "20", MAX_ERROR_RATIO: "1.5"},
            f'{MAX_ERROR_RATIO}: "1.5" is not a number from 0 to 1',
        ),
        (
            {ANALYSIS_SECONDS: "20", MAX_P95_LATENCY_MS: "-1"},
            f'{MAX_P95_LATENCY_MS}: "-1" is not a number >= 0',
        ),
        (
            {ANALYSIS_SECONDS: "20", MAX_ERROR_RATIO: "0.1", ANALYSIS_MIN_REQUESTS: "2.5"},
            f'{ANALYSIS_MIN_REQUESTS}: "2.5" is not a whole number',
        ),
        (
            {ANALYSIS_SECONDS: "20", MAX_ERROR_RATIO: "0.1", ANALYSIS_PROVIDER: "datadog"},
            f'{ANALYSIS_PROVIDER}: "datadog" is not "pods" or "prometheus"',
        ),
        ({ANALYSIS_SECONDS: "20"}, "nothing to measure against"),
    ],
)
def test_a_value_that_cannot_be_read_turns_analysis_off_and_says_why(
    annotations: dict[str, str], problem: str
) -> None:
    policy = AnalysisPolicy.from_annotations(annotations)
    assert not policy.enabled
    assert problem in policy.problem


def pod(
    at: float, requests: float, errors: float = 0, fast: float | None = None, name: str = "p1"
) -> Sample:
    """A scrape; `fast` of the requests took under 0.1 s, the rest between 0.5 s and 1 s."""
    quick = requests if fast is None else fast
    return Sample(
        at, name, requests, errors, ((0.1, quick), (0.5, quick), (1.0, requests), (INF, requests))
    )


@pytest.mark.parametrize(
    ("samples", "now", "outcome", "reason"),
    [
        pytest.param(
            [pod(0, 0), pod(5, 30)], 5, Outcome.RUNNING, "30 requests so far", id="too few yet"
        ),
        pytest.param(
            [pod(0, 0), pod(20, 30)],
            20,
            Outcome.INCONCLUSIVE,
            "30 requests in 20 s, fewer than the 50 a verdict needs",
            id="too few at the end",
        ),
        pytest.param(
            [pod(0, 0), pod(5, 100, errors=21)],
            5,
            Outcome.FAILED,
            "error ratio 0.21 > 0.05 over 5.0 s, 100 requests",
            id="errors fail it at once",
        ),
        pytest.param(
            [pod(0, 0), pod(5, 100, fast=90)],
            5,
            Outcome.FAILED,
            "p95 latency 750 ms > 500 ms over 5.0 s, 100 requests",
            id="slow fails it",
        ),
        pytest.param(
            [pod(0, 0), pod(10, 100, errors=2)],
            10,
            Outcome.RUNNING,
            "within the thresholds",
            id="good so far",
        ),
        pytest.param(
            [pod(0, 0), pod(20, 400, errors=4)],
            21,
            Outcome.PASSED,
            "error ratio 0.01, p95 95 ms over 21 s, 400 requests: within the thresholds",
            id="passed",
        ),
        pytest.param(
            [pod(-5, 1000, errors=900), pod(0, 1000, errors=900), pod(20, 1100, errors=901)],
            20,
            Outcome.PASSED,
            "error ratio 0.01",
            id="what came before the window does not count",
        ),
    ],
)
def test_verdicts(samples: list[Sample], now: float, outcome: Outcome, reason: str) -> None:
    got = verdict(POLICY, samples, 0, now)
    assert got.outcome is outcome
    assert reason in got.reason


def test_the_p95_is_read_as_histogram_quantile_reads_it() -> None:
    buckets = ((0.1, 50.0), (0.2, 100.0), (INF, 100.0))
    assert quantile(0.5, buckets) == pytest.approx(0.1)
    assert quantile(0.95, buckets) == pytest.approx(0.19)
    assert quantile(0.95, ((0.1, 10.0), (INF, 100.0))) == pytest.approx(0.1), "+Inf: highest bound"
    assert quantile(0.95, ((0.1, 0.0), (INF, 0.0))) is None


increments = s.lists(s.integers(0, 50), min_size=1, max_size=12)


@given(increments, s.integers(0, 11), s.floats(0.0, 1.0))
def test_a_restart_mid_window_loses_nothing_counted_after_it(
    steps: list[int], restart_at: int, error_share: float
) -> None:
    """A pod's process restarts between two scrapes: its counters start again from zero. The
    window counts exactly the requests each scrape saw added, before and after the restart."""
    values, total, started = [(0, 1.0)], 0, 1.0
    for i, step in enumerate(steps, start=1):
        if i == restart_at + 1:  # a new process: only what came since its start
            total, started = 0, started + 100.0
        total += step
        values.append((total, started))
    samples = [
        Sample(float(i), "p1", float(v), float(int(v * error_share)), ((INF, float(v)),), since)
        for i, (v, since) in enumerate(values)
    ]
    w = window(samples, 0.0)
    assert w.requests == sum(steps)
    assert 0 <= w.errors <= w.requests
    assert w.buckets[-1][1] == sum(steps)


@given(
    s.lists(s.tuples(s.integers(0, 40), s.integers(0, 40)), min_size=1, max_size=10),
    s.integers(1, 200),
    s.floats(0.0, 60.0),
)
def test_never_a_verdict_on_fewer_requests_than_the_minimum(
    steps: list[tuple[int, int]], least: int, now: float
) -> None:
    policy = AnalysisPolicy(seconds=20, max_error_ratio=0.0, max_p95_ms=0.0, min_requests=least)
    requests = list(itertools.accumulate(r for r, _ in steps))
    errors = list(itertools.accumulate(min(e, r) for r, e in steps))
    samples = [
        pod(float(i), float(r), float(e))
        for i, (r, e) in enumerate(zip(requests, errors, strict=True))
    ]
    got = verdict(policy, samples, 0.0, now)
    if got.requests < least:
        assert got.outcome in (Outcome.RUNNING, Outcome.INCONCLUSIVE)
    assert got.requests == requests[-1] - requests[0]


@given(s.lists(s.integers(1, 40), min_size=2, max_size=10), s.integers(2, 4))
def test_pods_are_summed_and_none_fails_a_release_that_answers_well(
    steps: list[int], pods: int
) -> None:
    samples = [
        pod(float(i), float(sum(steps[: i + 1])), 0, name=f"p{k}")
        for k in range(pods)
        for i in range(len(steps))
    ]
    got = verdict(POLICY, samples, 0.0, 100.0)
    assert got.requests == pods * sum(steps[1:])
    assert got.outcome is not Outcome.FAILED


def test_the_state_of_a_revisions_analysis_is_its_newest_event(tmp_path: Path) -> None:
    """What `gitops status` and the console show, from the guard's events file: the newest
    analysis event of that app on that revision."""
    log = EventLog(tmp_path / "events.jsonl")
    log.emit(ev.ANALYSIS, "web-dev", "watching", revision="r1")
    log.emit(ev.ANALYSIS_PASSED, "api-dev", "api passed", revision="r1")
    log.emit(ev.ANALYSIS_FAILED, "web-dev", "error ratio 0.30 > 0.05", revision="r1")
    log.emit(ev.ANALYSIS, "web-dev", "watching r2", revision="r2")
    events = read_events(tmp_path / "events.jsonl")
    assert analysis_of(events, "web-dev", "r1") == ("failed", "error ratio 0.30 > 0.05")
    assert analysis_of(events, "web-dev", "r2") == ("running", "watching r2")
    assert analysis_of(events, "api-dev", "r2") is None

    rows = [
        StatusRow(
            "web-dev",
            "argocd",
            "",
            "web",
            "dev",
            Sync.SYNCED,
            Health.HEALTHY,
            "r1",
            (),
            None,
            None,
            True,
            0,
        ),
        StatusRow(
            "api-dev",
            "argocd",
            "",
            "api",
            "dev",
            Sync.SYNCED,
            Health.HEALTHY,
            "r9",
            (),
            None,
            None,
            True,
            0,
        ),
    ]
    shown = with_analyses(rows, tmp_path / "events.jsonl")
    assert [r.analysis for r in shown] == ["failed", None]
    table = render_table(shown, datetime.now(UTC)).splitlines()
    assert table[0].split()[-1] == "ANALYSIS"
    assert table[1].split()[-1] == "failed"
    assert "ANALYSIS" not in render_table(rows, datetime.now(UTC)), "no column when none ran"
