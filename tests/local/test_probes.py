"""Probe semantics: manifest reading, scheduling and the kubelet's threshold rules."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from console.local.kube.probes import (
    InvalidProbe,
    ProbeSpec,
    ProbeState,
    UnsupportedProbe,
    container_probes,
    due,
    http_ok,
    is_ready,
    next_probe_at,
    record,
    should_restart,
)

# The probes of the generated services' Deployment (templates/deploy/base/.../deployment.yaml).
SERVICE_CONTAINER: dict[str, Any] = {
    "name": "web",
    "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"}],
    "readinessProbe": {
        "httpGet": {"path": "/readyz", "port": "http"},
        "periodSeconds": 5,
        "timeoutSeconds": 2,
        "failureThreshold": 3,
    },
    "livenessProbe": {
        "httpGet": {"path": "/healthz", "port": "http"},
        "initialDelaySeconds": 5,
        "periodSeconds": 10,
        "timeoutSeconds": 2,
        "failureThreshold": 3,
    },
}


def test_reads_the_generated_services_probes() -> None:
    probes = container_probes(SERVICE_CONTAINER)
    assert probes.readiness == ProbeSpec(
        port="http", path="/readyz", period_s=5, timeout_s=2, failure_threshold=3
    )
    assert probes.liveness == ProbeSpec(
        port="http", path="/healthz", initial_delay_s=5, period_s=10, timeout_s=2
    )
    assert probes.readiness.container_port(SERVICE_CONTAINER) == 8080


def test_defaults_are_kubernetes_defaults() -> None:
    spec = ProbeSpec.from_manifest({"readinessProbe": {"httpGet": {"port": 80}}})
    assert spec is not None
    assert (spec.path, spec.scheme, spec.headers) == ("/", "HTTP", ())
    assert (spec.initial_delay_s, spec.period_s, spec.timeout_s) == (0, 10, 1)
    assert (spec.success_threshold, spec.failure_threshold) == (1, 3)


def test_reads_scheme_and_headers() -> None:
    container = {
        "livenessProbe": {
            "httpGet": {
                "port": 8443,
                "scheme": "HTTPS",
                "httpHeaders": [{"name": "X-Probe", "value": "1"}],
            }
        }
    }
    spec = ProbeSpec.from_manifest(container, "livenessProbe")
    assert spec is not None
    assert (spec.scheme, spec.headers) == ("HTTPS", (("X-Probe", "1"),))


def test_a_missing_probe_is_none() -> None:
    assert ProbeSpec.from_manifest({"name": "web"}, "readinessProbe") is None
    assert container_probes({"name": "web"}).liveness is None


@pytest.mark.parametrize(
    ("field", "probe", "named"),
    [
        ("readinessProbe", {"exec": {"command": ["true"]}}, "readinessProbe.exec"),
        ("livenessProbe", {"tcpSocket": {"port": 80}}, "livenessProbe.tcpSocket"),
        ("readinessProbe", {"grpc": {"port": 9000}}, "readinessProbe.grpc"),
        ("readinessProbe", {"httpGet": {"port": 80, "host": "10.0.0.1"}}, "httpGet.host"),
    ],
)
def test_unsupported_probe_types_are_refused_by_name(
    field: str, probe: dict[str, Any], named: str
) -> None:
    container = {"name": "web", field: probe}
    with pytest.raises(UnsupportedProbe, match=rf"container 'web': .*{named}") as caught:
        ProbeSpec.from_manifest(container, field)  # type: ignore[arg-type]
    assert "not supported" in str(caught.value)


def test_a_startup_probe_is_refused_rather_than_ignored() -> None:
    container = {**SERVICE_CONTAINER, "startupProbe": {"httpGet": {"port": "http"}}}
    with pytest.raises(UnsupportedProbe, match="startupProbe"):
        container_probes(container)


@pytest.mark.parametrize(
    ("field", "probe", "message"),
    [
        ("readinessProbe", {}, "must specify a handler"),
        ("readinessProbe", {"httpGet": {"port": 80}, "exec": {}}, "more than one handler"),
        ("readinessProbe", {"httpGet": {"path": "/"}}, r"httpGet\.port is required"),
        ("readinessProbe", {"httpGet": {"port": 0}}, "between 1 and 65535"),
        ("readinessProbe", {"httpGet": {"port": True}}, "number or a port name"),
        ("readinessProbe", {"httpGet": {"port": 80}, "periodSeconds": 0}, "periodSeconds"),
        ("readinessProbe", {"httpGet": {"port": 80}, "timeoutSeconds": "2"}, "timeoutSeconds"),
        ("readinessProbe", {"httpGet": {"port": 80}, "failureThreshold": 0}, "failureThreshold"),
        ("readinessProbe", {"httpGet": {"port": 80}, "initialDelaySeconds": -1}, "initialDelay"),
        ("livenessProbe", {"httpGet": {"port": 80}, "successThreshold": 2}, "must be 1"),
        ("readinessProbe", {"httpGet": {"port": 80, "scheme": "FTP"}}, "HTTP or HTTPS"),
        ("readinessProbe", {"httpGet": {"port": 80, "httpHeaders": ["x"]}}, "httpHeaders"),
    ],
)
def test_invalid_probes_are_rejected(field: str, probe: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidProbe, match=message):
        ProbeSpec.from_manifest({field: probe}, field)  # type: ignore[arg-type]


def test_readiness_may_need_several_successes() -> None:
    spec = ProbeSpec.from_manifest(
        {"readinessProbe": {"httpGet": {"port": 80}, "successThreshold": 3}}
    )
    assert spec is not None
    assert spec.success_threshold == 3


def test_an_unknown_named_port_is_an_error() -> None:
    spec = ProbeSpec(port="metrics")
    with pytest.raises(InvalidProbe, match="'metrics' names no port"):
        spec.container_port(SERVICE_CONTAINER)


def _run(spec: ProbeSpec, results: Sequence[bool]) -> Iterator[ProbeState]:
    state = ProbeState()
    for i, ok in enumerate(results):
        state = record(state, spec, ok, float(i * spec.period_s))
        yield state


T, F = True, False


@pytest.mark.parametrize(
    ("success_threshold", "failure_threshold", "results", "ready"),
    [
        (1, 3, [T], [T]),
        (1, 3, [F], [F]),  # starts unready and stays so
        (1, 3, [T, F, F, F], [T, T, T, F]),
        (1, 3, [T, F, F, T, F, F], [T, T, T, T, T, T]),  # a success resets the failure run
        (1, 3, [F, F, F, F, T], [F, F, F, F, T]),
        (1, 1, [T, F, T], [T, F, T]),
        (2, 3, [T, T], [F, T]),
        (2, 3, [T, F, T, T], [F, F, F, T]),
        (3, 2, [T, T, T, F, T, F, F], [F, F, T, T, T, T, F]),
        (2, 2, [T, T, F, T, F, T, T], [F, T, T, T, T, T, T]),  # no two failures in a row
    ],
)
def test_readiness_thresholds(
    success_threshold: int, failure_threshold: int, results: list[bool], ready: list[bool]
) -> None:
    spec = ProbeSpec(
        port=80, success_threshold=success_threshold, failure_threshold=failure_threshold
    )
    assert [is_ready(s, spec) for s in _run(spec, results)] == ready


@pytest.mark.parametrize(
    ("failure_threshold", "results", "restart"),
    [
        (3, [F, F], [F, F]),
        (3, [F, F, F], [F, F, T]),
        (3, [F, F, T, F, F], [F, F, F, F, F]),
        (3, [T, F, F, F, F], [F, F, F, T, T]),
        (1, [T, F], [F, T]),
    ],
)
def test_liveness_thresholds(
    failure_threshold: int, results: list[bool], restart: list[bool]
) -> None:
    spec = ProbeSpec(port=80, failure_threshold=failure_threshold)
    assert [should_restart(s, spec) for s in _run(spec, results)] == restart


def test_no_probe_means_ready_and_never_restarted() -> None:
    assert is_ready(ProbeState(), None)
    assert not should_restart(ProbeState(failures=100), None)
    assert not is_ready(ProbeState(), ProbeSpec(port=80))


def _kubelet_readiness(
    results: Sequence[bool], success_threshold: int, failure_threshold: int
) -> list[bool]:
    # The kubelet prober worker's rule, transcribed: a result is applied only once it has been
    # seen `threshold` times in a row; the initial readiness result is failure.
    verdict, last, run = False, None, 0
    out: list[bool] = []
    for ok in results:
        run = run + 1 if ok == last else 1
        last = ok
        if run >= (success_threshold if ok else failure_threshold):
            verdict = ok
        out.append(verdict)
    return out


@given(st.lists(st.booleans(), max_size=40), st.integers(1, 5), st.integers(1, 5))
def test_readiness_matches_the_kubelet(
    results: list[bool], success_threshold: int, failure_threshold: int
) -> None:
    spec = ProbeSpec(
        port=80, success_threshold=success_threshold, failure_threshold=failure_threshold
    )
    verdicts = [is_ready(s, spec) for s in _run(spec, results)]
    assert verdicts == _kubelet_readiness(results, success_threshold, failure_threshold)


@pytest.mark.parametrize(
    ("initial_delay", "now", "expected"),
    [
        (0, 100.0, True),  # no delay: the first probe goes as the container starts
        (5, 104.9, False),
        (5, 105.0, True),
        (5, 99.0, False),  # a clock reading from before the start
    ],
)
def test_the_first_probe_waits_for_the_initial_delay(
    initial_delay: int, now: float, expected: bool
) -> None:
    spec = ProbeSpec(port=80, initial_delay_s=initial_delay)
    assert due(ProbeState(), spec, started_at=100.0, now=now) is expected


def test_probes_then_run_every_period_from_the_last_result() -> None:
    spec = ProbeSpec(port=80, initial_delay_s=5, period_s=10)
    started = 100.0
    assert next_probe_at(ProbeState(), spec, started) == 105.0
    state = record(ProbeState(), spec, True, 105.5)  # the result arrived half a second later
    assert not due(state, spec, started, 115.4)
    assert due(state, spec, started, 115.5)
    assert next_probe_at(state, spec, started) == 115.5
    state = record(state, spec, False, 116.0)
    assert not due(state, spec, started, 125.9)
    assert due(state, spec, started, 126.0)


@given(
    initial_delay=st.integers(0, 60),
    period=st.integers(1, 60),
    started=st.floats(0, 1e6),
    gaps=st.lists(st.floats(0, 100), max_size=10),
)
def test_never_due_early(
    initial_delay: int, period: int, started: float, gaps: list[float]
) -> None:
    spec = ProbeSpec(port=80, initial_delay_s=initial_delay, period_s=period)
    state, now = ProbeState(), started
    for gap in gaps:
        now += gap
        if due(state, spec, started, now):
            assert now >= started + initial_delay
            assert state.next_due is None or now >= state.next_due
            state = record(state, spec, True, now)
            assert not due(state, spec, started, now + period * 0.999)
            assert due(state, spec, started, now + period)


@pytest.mark.parametrize(
    ("status", "ok"),
    [(199, False), (200, True), (204, True), (302, True), (399, True), (400, False), (503, False)],
)
def test_http_status_success(status: int, ok: bool) -> None:
    assert http_ok(status) is ok
