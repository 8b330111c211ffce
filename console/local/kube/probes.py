"""Kubernetes probe semantics for the embedded platform's kubelet: what a container's
`readinessProbe`/`livenessProbe` says, when the next probe is due, and what a run of results means.

Pure: no clock, no HTTP. The kubelet's prober performs each `httpGet` (with `timeout_s` as the
request timeout; a timeout or a refused connection is a failure, a status in 200..399 a success, see
`http_ok`), then feeds the result to `record` with the monotonic time it arrived.

Semantics follow the kubelet's prober: a readiness verdict starts "not ready", turns ready after
`success_threshold` consecutive successes and unready after `failure_threshold` consecutive
failures, and otherwise keeps its last value; liveness asks for a restart after
`failure_threshold` consecutive failures. No probe is run before `initial_delay_s` has passed since
the container started, then one every `period_s`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal

ProbeField = Literal["readinessProbe", "livenessProbe"]

# The handlers Kubernetes knows; only httpGet is run here, the others are refused by name.
_HANDLERS = ("httpGet", "exec", "tcpSocket", "grpc")
# (ProbeSpec attribute, manifest key, smallest value Kubernetes accepts)
_TIMINGS = (
    ("initial_delay_s", "initialDelaySeconds", 0),
    ("period_s", "periodSeconds", 1),
    ("timeout_s", "timeoutSeconds", 1),
    ("success_threshold", "successThreshold", 1),
    ("failure_threshold", "failureThreshold", 1),
)


class ProbeError(ValueError):
    """A probe the platform cannot run; the message names the manifest field."""


class UnsupportedProbe(ProbeError):
    """A valid Kubernetes probe the embedded platform does not run (exec, tcpSocket, grpc, ...)."""


class InvalidProbe(ProbeError):
    """A probe Kubernetes itself would reject (bad numbers, no handler, unknown named port)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ProbeSpec:
    """One `httpGet` probe. Defaults are the Kubernetes API defaults."""

    port: int | str  # a number, or the name of one of the container's `ports`
    path: str = "/"
    scheme: Literal["HTTP", "HTTPS"] = "HTTP"
    headers: tuple[tuple[str, str], ...] = ()
    initial_delay_s: int = 0
    period_s: int = 10
    timeout_s: int = 1
    success_threshold: int = 1
    failure_threshold: int = 3

    def __post_init__(self) -> None:
        for attr, key, minimum in _TIMINGS:
            value = getattr(self, attr)
            if not _is_int(value) or value < minimum:
                raise InvalidProbe(f"{key} must be an integer >= {minimum}, got {value!r}")
        if isinstance(self.port, bool) or not isinstance(self.port, int | str):
            raise InvalidProbe(f"httpGet.port must be a number or a port name, got {self.port!r}")
        if isinstance(self.port, int) and not 1 <= self.port <= 65535:
            raise InvalidProbe(f"httpGet.port must be between 1 and 65535, got {self.port}")
        if isinstance(self.port, str) and not self.port:
            raise InvalidProbe("httpGet.port must not be empty")

    @classmethod
    def from_manifest(
        cls, container: Mapping[str, Any], field: ProbeField = "readinessProbe"
    ) -> ProbeSpec | None:
        """The probe `container[field]`, or None when the container has none.

        Raises `UnsupportedProbe` for exec/tcpSocket/grpc probes and for `httpGet.host` (probes
        here always target the pod), and `InvalidProbe` for what Kubernetes would reject.
        """
        probe = container.get(field)
        if probe is None:
            return None
        where = _where(container, field)
        if not isinstance(probe, Mapping):
            raise InvalidProbe(f"{where} must be a mapping")
        handlers = [h for h in _HANDLERS if probe.get(h) is not None]
        if len(handlers) > 1:
            raise InvalidProbe(
                f"{where} may not specify more than one handler ({', '.join(handlers)})"
            )
        if not handlers:
            raise InvalidProbe(f"{where} must specify a handler (httpGet)")
        if handlers[0] != "httpGet":
            raise UnsupportedProbe(
                f"{where}.{handlers[0]} is not supported: "
                "the embedded platform runs httpGet probes only"
            )
        http = _http_get(where, probe["httpGet"])
        timings = {attr: probe[key] for attr, key, _ in _TIMINGS if key in probe}
        # Kubernetes validation: liveness (and startup) probes must use successThreshold 1.
        if field == "livenessProbe" and timings.get("success_threshold", 1) != 1:
            raise InvalidProbe(f"{where}.successThreshold must be 1 for a liveness probe")
        try:
            return cls(**http, **timings)
        except InvalidProbe as exc:
            raise InvalidProbe(f"{where}: {exc}") from None

    def container_port(self, container: Mapping[str, Any]) -> int:
        """The container port this probe targets, resolving a named port through the container's
        `ports` (the kubelet then maps it to the port the pod's process really listens on)."""
        if isinstance(self.port, int):
            return self.port
        for entry in container.get("ports") or ():
            if entry.get("name") == self.port and _is_int(entry.get("containerPort")):
                return int(entry["containerPort"])
        where = _where(container, "probe")
        raise InvalidProbe(f"{where}: httpGet.port {self.port!r} names no port of the container")


@dataclass(frozen=True, slots=True)
class ContainerProbes:
    readiness: ProbeSpec | None
    liveness: ProbeSpec | None


def container_probes(container: Mapping[str, Any]) -> ContainerProbes:
    """Both probes of a container. A `startupProbe` is refused rather than silently ignored: it
    would change when the other two start."""
    if container.get("startupProbe") is not None:
        raise UnsupportedProbe(
            f"{_where(container, 'startupProbe')} is not supported by the embedded platform"
        )
    return ContainerProbes(
        readiness=ProbeSpec.from_manifest(container, "readinessProbe"),
        liveness=ProbeSpec.from_manifest(container, "livenessProbe"),
    )


@dataclass(frozen=True, slots=True)
class ProbeState:
    """The prober's memory of one probe on one container run. Start each run (including every
    restart) from `ProbeState()`."""

    successes: int = 0  # consecutive
    failures: int = 0  # consecutive
    last_ok: bool | None = None  # None: never probed
    next_due: float | None = None  # None: first probe waits only for the initial delay
    # The sticky verdict: it changes only when a threshold is reached. Starts False, which is the
    # readiness starting point; liveness reads the failure count instead (see should_restart).
    passing: bool = False


def next_probe_at(state: ProbeState, spec: ProbeSpec, started_at: float) -> float:
    """When the next probe is due (a time to sleep until)."""
    first = started_at + spec.initial_delay_s
    return first if state.next_due is None else state.next_due


def due(state: ProbeState, spec: ProbeSpec, started_at: float, now: float) -> bool:
    """Whether a probe should be sent now. The caller keeps at most one probe in flight: `due`
    stays true until its result is recorded."""
    return now >= next_probe_at(state, spec, started_at)


def record(state: ProbeState, spec: ProbeSpec, ok: bool, now: float) -> ProbeState:
    """The state after a probe result that arrived at `now`. The next probe is due `period_s`
    after this result, so a slow probe never overlaps the next one."""
    if ok:
        successes, failures = state.successes + 1, 0
        passing = state.passing or successes >= spec.success_threshold
    else:
        successes, failures = 0, state.failures + 1
        passing = state.passing and failures < spec.failure_threshold
    return replace(
        state,
        successes=successes,
        failures=failures,
        last_ok=ok,
        next_due=now + spec.period_s,
        passing=passing,
    )


def is_ready(state: ProbeState, spec: ProbeSpec | None) -> bool:
    """The readiness verdict. With no readiness probe a running container is ready at once, as in
    Kubernetes."""
    return True if spec is None else state.passing


def should_restart(state: ProbeState, spec: ProbeSpec | None) -> bool:
    """The liveness verdict: restart after `failure_threshold` consecutive failures. A liveness
    probe's success threshold is always 1, so any success resets the count."""
    return spec is not None and state.failures >= spec.failure_threshold


def http_ok(status: int) -> bool:
    """An HTTP probe succeeds on any status from 200 to 399, as the kubelet's does."""
    return 200 <= status < 400


def _http_get(where: str, http: object) -> dict[str, Any]:
    """ProbeSpec's fields from an `httpGet` block."""
    if not isinstance(http, Mapping):
        raise InvalidProbe(f"{where}.httpGet must be a mapping")
    if http.get("host"):
        raise UnsupportedProbe(
            f"{where}.httpGet.host is not supported: probes always target the pod itself"
        )
    if "port" not in http:
        raise InvalidProbe(f"{where}.httpGet.port is required")
    scheme = str(http.get("scheme", "HTTP")).upper()
    if scheme not in ("HTTP", "HTTPS"):
        raise InvalidProbe(f"{where}.httpGet.scheme must be HTTP or HTTPS, got {scheme!r}")
    raw_headers = http.get("httpHeaders") or ()
    if not all(isinstance(h, Mapping) and h.get("name") for h in raw_headers):
        raise InvalidProbe(f"{where}.httpGet.httpHeaders must be a list of {{name, value}}")
    return {
        "port": http["port"],
        "path": str(http.get("path") or "/"),
        "scheme": scheme,
        "headers": tuple((str(h["name"]), str(h.get("value", ""))) for h in raw_headers),
    }


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _where(container: Mapping[str, Any], field: str) -> str:
    name = container.get("name")
    return f"container {name!r}: {field}" if name else field
