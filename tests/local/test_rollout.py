"""The rolling-update planner: simulated pods driven through rollouts with an injected clock."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from console.local.argo.health import HealthStatus, deployment_health
from console.local.kube.deploymentspec import (
    DeploymentSpec,
    IntOrPercent,
    InvalidDeployment,
    Strategy,
    UnsupportedDeployment,
    template_hash,
)
from console.local.kube.kubelet import crash_backoff_s
from console.local.kube.rollout import (
    ConditionType,
    DeploymentStatus,
    Plan,
    PodPhase,
    PodView,
    Reason,
    RolloutState,
    plan,
)


@dataclass
class Sim:
    """A stand-in Deployment controller: applies plans to pod views the way the real one will."""

    spec: DeploymentSpec
    pods: dict[str, PodView] = field(default_factory=dict)
    state: RolloutState = field(default_factory=RolloutState)
    seq: int = 0
    last: Plan | None = None

    @classmethod
    def steady(cls, spec: DeploymentSpec) -> Sim:
        """`spec.replicas` pods of the spec's template, long available, and a settled state."""
        sim = cls(spec)
        for i in range(spec.replicas):
            name = f"{spec.template_hash}-{i}"
            sim.pods[name] = PodView(
                name=name,
                template_hash=spec.template_hash,
                phase=PodPhase.RUNNING,
                ready_since=-1000.0,
                created_at=-1000.0 + i,
            )
        first = sim.tick(0.0)
        assert (first.create, first.delete) == (0, ())
        assert _reason(first.status) is Reason.NEW_REPLICA_SET_AVAILABLE
        return sim

    def tick(self, now: float) -> Plan:
        result = plan(self.spec, list(self.pods.values()), self.state, now)
        for name in result.delete:
            assert self.pods[name].active, f"{name} deleted twice"
            self.pods[name] = replace(self.pods[name], phase=PodPhase.TERMINATING, ready_since=None)
        for _ in range(result.create):
            self.seq += 1
            name = f"{self.spec.template_hash}-n{self.seq}"
            self.pods[name] = PodView(
                name=name,
                template_hash=self.spec.template_hash,
                phase=PodPhase.PENDING,
                created_at=now,
            )
        self.state, self.last = result.state, result
        return result

    def roll(self, new_template: str, **changes: Any) -> None:
        self.spec = replace(self.spec, template_hash=new_template, **changes)

    def ready(self, now: float, names: list[str] | None = None) -> None:
        for name in names if names is not None else self.names(new=True, ready=False):
            self.pods[name] = replace(self.pods[name], phase=PodPhase.RUNNING, ready_since=now)

    def crash(self, names: list[str]) -> None:
        for name in names:
            pod = self.pods[name]
            self.pods[name] = replace(
                pod, phase=PodPhase.CRASHLOOP, ready_since=None, restarts=pod.restarts + 1
            )

    def reap(self) -> None:
        """Terminating pods finish exiting."""
        self.pods = {n: p for n, p in self.pods.items() if p.active}

    def names(self, *, new: bool | None = None, ready: bool | None = None) -> list[str]:
        return [
            p.name
            for p in self.pods.values()
            if p.active
            and (new is None or (p.template_hash == self.spec.template_hash) == new)
            and (ready is None or p.ready == ready)
        ]

    def available(self, now: float) -> int:
        return sum(p.active and p.available(self.spec.min_ready_s, now) for p in self.pods.values())


def _reason(status: DeploymentStatus) -> Reason | None:
    cond = status.condition(ConditionType.PROGRESSING)
    return None if cond is None else cond.reason


def _spec(**kw: Any) -> DeploymentSpec:
    return DeploymentSpec(**{"name": "web", "template_hash": "aaaa", "replicas": 3, **kw})


# --- rolling update, step by step ------------------------------------------------------------


@pytest.mark.parametrize(
    ("replicas", "surge", "unavailable", "steps"),
    [
        # (created, deleted, old pods left, new pods) after each step
        (3, 1, 0, [(1, 0, 3, 1), (1, 1, 2, 2), (1, 1, 1, 3), (0, 1, 0, 3)]),
        (4, "25%", "25%", [(2, 1, 3, 2), (2, 2, 1, 4), (0, 1, 0, 4)]),
        (3, 0, 1, [(1, 1, 2, 1), (1, 1, 1, 2), (1, 1, 0, 3), (0, 0, 0, 3)]),
        (1, "25%", "25%", [(1, 0, 1, 1), (0, 1, 0, 1)]),
    ],
)
def test_rollout_step_by_step(
    replicas: int, surge: IntOrPercent, unavailable: IntOrPercent, steps: list[tuple[int, ...]]
) -> None:
    sim = Sim.steady(_spec(replicas=replicas, max_surge=surge, max_unavailable=unavailable))
    max_total, min_available = replicas + sim.spec.surge, replicas - sim.spec.unavailable
    sim.roll("bbbb")
    reasons = []
    for i, expected in enumerate(steps):
        now = 10.0 * (i + 1)
        sim.reap()
        sim.ready(now)  # every pod started in the last step turns ready
        result = sim.tick(now)
        got = (
            result.create,
            len(result.delete),
            len(sim.names(new=False)),
            len(sim.names(new=True)),
        )
        assert got == expected, f"step {i}"
        assert len(sim.names()) <= max_total
        assert sim.available(now) >= min_available
        assert result.status.replicas == len(sim.names())
        assert result.status.updated_replicas == len(sim.names(new=True))
        reasons.append(_reason(result.status))
    assert reasons[0] is Reason.NEW_REPLICA_SET_CREATED
    assert set(reasons[1:-1]) <= {Reason.REPLICA_SET_UPDATED}
    assert reasons[-1] is Reason.NEW_REPLICA_SET_AVAILABLE
    final = sim.last
    assert final is not None
    assert (final.status.updated_replicas, final.status.available_replicas) == (replicas,) * 2
    assert final.status.condition(ConditionType.AVAILABLE).status  # type: ignore[union-attr]
    assert final.wake_at is None
    assert deployment_health(sim.spec, final.status).status is HealthStatus.HEALTHY


def test_min_ready_seconds_delay_availability_and_set_the_wake_up() -> None:
    sim = Sim.steady(_spec(replicas=2, max_surge=1, max_unavailable=0, min_ready_s=5))
    sim.roll("bbbb")
    assert sim.tick(10.0).create == 1
    sim.ready(20.0)
    early = sim.tick(20.0)
    assert (early.create, early.delete) == (0, ())
    assert (early.status.ready_replicas, early.status.available_replicas) == (3, 2)
    assert early.wake_at == 25.0
    assert sim.tick(24.9).delete == ()
    on_time = sim.tick(25.0)
    assert (on_time.create, len(on_time.delete)) == (1, 1)
    assert on_time.status.available_replicas == 2


def test_old_pods_are_deleted_oldest_template_first() -> None:
    # A -> B -> C: once C can take over, A's pods go before B's, and B's unready pod goes first
    # of all because deleting it costs no availability.
    sim = Sim.steady(_spec(max_surge=1, max_unavailable=0))
    sim.roll("bbbb")
    sim.tick(10.0)
    sim.ready(11.0)
    step = sim.tick(11.0)
    assert [n[:4] for n in step.delete] == ["aaaa"]
    b_ready, b_pending = sim.names(new=True, ready=True), sim.names(new=True, ready=False)
    assert (len(b_ready), len(b_pending)) == (1, 1)
    sim.reap()
    sim.roll("cccc")
    switch = sim.tick(12.0)
    assert switch.delete == tuple(b_pending)
    assert switch.create == 1
    assert _reason(switch.status) is Reason.NEW_REPLICA_SET_CREATED
    assert switch.state.last_progress_at == 12.0
    deleted: list[str] = []
    for i in range(10):
        now = 13.0 + i
        sim.reap()
        sim.ready(now)
        deleted += sim.tick(now).delete
        if not sim.names(new=False):
            break
    assert [n[:4] for n in deleted] == ["aaaa", "aaaa", "bbbb"]
    assert len(sim.names(new=True)) == 3
    assert sim.last is not None
    assert _reason(sim.last.status) is Reason.NEW_REPLICA_SET_AVAILABLE


def test_an_unready_old_pod_is_replaced_first_and_only_within_the_surge() -> None:
    sim = Sim.steady(_spec(max_surge=1, max_unavailable=0))
    sim.crash(["aaaa-0"])
    sim.roll("bbbb")
    # The surge pod is not available yet, so nothing old may go, not even the crashing pod
    # (Kubernetes counts unavailable new pods against the scale-down).
    first = sim.tick(10.0)
    assert (first.create, first.delete) == (1, ())
    sim.ready(20.0)
    second = sim.tick(20.0)
    assert (second.create, second.delete) == (1, ("aaaa-0",))
    assert second.status.available_replicas == 3


# --- a new version that never becomes ready -------------------------------------------------


@pytest.mark.parametrize("crashing", [False, True], ids=["never-ready", "crash-loop"])
@pytest.mark.parametrize(
    ("strategy", "old_left", "new_started"),
    [((3, 1, 0), 3, 1), ((4, "25%", "25%"), 3, 2), ((3, 0, 1), 2, 1)],
    ids=["surge-1-unavailable-0", "25%-25%", "surge-0-unavailable-1"],
)
def test_a_stuck_rollout_keeps_old_pods_and_exceeds_its_deadline(
    strategy: tuple[int, IntOrPercent, IntOrPercent],
    old_left: int,
    new_started: int,
    crashing: bool,
) -> None:
    replicas, surge, unavailable = strategy
    spec = _spec(
        replicas=replicas, max_surge=surge, max_unavailable=unavailable, progress_deadline_s=60
    )
    sim = Sim.steady(spec)
    sim.roll("bbbb")
    started = sim.tick(10.0)
    assert started.wake_at == 70.0
    sim.reap()
    for now in (15.0, 20.0, 40.0, 69.9, 70.0, 71.0, 500.0):
        if crashing:
            sim.crash(sim.names(new=True))
        result = sim.tick(now)
        assert result.delete == ()
        assert len(sim.names(new=False)) == old_left
        assert len(sim.names(new=True)) == new_started
        available = result.status.condition(ConditionType.AVAILABLE)
        assert available is not None
        assert available.status
        progressing = result.status.condition(ConditionType.PROGRESSING)
        assert progressing is not None
        health = deployment_health(sim.spec, result.status)
        if now < 70.0:
            assert progressing.status, now
            assert health.status is HealthStatus.PROGRESSING
        else:
            assert not progressing.status, now
            assert progressing.reason is Reason.PROGRESS_DEADLINE_EXCEEDED
            assert progressing.message == 'ReplicaSet "web-bbbb" has timed out progressing.'
            assert progressing.last_transition_at == 70.0
            assert health.status is HealthStatus.DEGRADED
            assert health.message == 'Deployment "web" exceeded its progress deadline'


def test_progress_after_the_deadline_resumes_the_rollout() -> None:
    sim = Sim.steady(_spec(max_surge=1, max_unavailable=0, progress_deadline_s=60))
    sim.roll("bbbb")
    sim.tick(10.0)
    assert _reason(sim.tick(80.0).status) is Reason.PROGRESS_DEADLINE_EXCEEDED
    sim.ready(100.0)
    result = sim.tick(100.0)
    progressing = result.status.condition(ConditionType.PROGRESSING)
    assert progressing is not None
    assert (progressing.status, progressing.reason) == (True, Reason.REPLICA_SET_UPDATED)
    assert progressing.last_transition_at == 100.0
    assert len(result.delete) == 1
    assert result.wake_at == 160.0


def test_pods_turning_ready_or_available_count_as_progress() -> None:
    sim = Sim.steady(_spec(max_surge=1, max_unavailable=0, min_ready_s=5, progress_deadline_s=60))
    sim.roll("bbbb")
    sim.tick(10.0)
    sim.crash(["aaaa-0"])
    sim.tick(12.0)
    sim.ready(30.0, ["aaaa-0"])  # the old pod recovers: ready now, available at 35
    assert sim.tick(30.0).state.last_progress_at == 30.0
    assert sim.tick(34.0).state.last_progress_at == 30.0
    on_available = sim.tick(35.0)
    assert on_available.state.last_progress_at == 35.0
    assert on_available.wake_at == 95.0
    assert _reason(sim.tick(94.0).status) is Reason.REPLICA_SET_UPDATED
    assert _reason(sim.tick(95.0).status) is Reason.PROGRESS_DEADLINE_EXCEEDED


def test_a_new_template_restarts_the_deadline() -> None:
    sim = Sim.steady(_spec(max_surge=1, max_unavailable=0, progress_deadline_s=60))
    sim.roll("bbbb")
    sim.tick(10.0)
    assert _reason(sim.tick(80.0).status) is Reason.PROGRESS_DEADLINE_EXCEEDED
    sim.roll("cccc")
    fixed = sim.tick(90.0)
    assert _reason(fixed.status) is Reason.NEW_REPLICA_SET_CREATED
    assert fixed.wake_at == 150.0
    # The B pod is unavailable, so it is replaced by a C pod at once.
    assert [n[:4] for n in fixed.delete] == ["bbbb"]
    assert fixed.create == 1
    assert _reason(sim.tick(149.0).status) is Reason.NEW_REPLICA_SET_CREATED
    assert _reason(sim.tick(150.0).status) is Reason.PROGRESS_DEADLINE_EXCEEDED


def test_rolling_back_at_once_removes_the_unready_new_pod() -> None:
    sim = Sim.steady(_spec(max_surge=1, max_unavailable=0))
    sim.roll("bbbb")
    sim.tick(10.0)
    sim.roll("aaaa")
    back = sim.tick(20.0)
    assert ([n[:4] for n in back.delete], back.create) == (["bbbb"], 0)
    assert sorted(sim.names()) == ["aaaa-0", "aaaa-1", "aaaa-2"]
    assert _reason(back.status) is Reason.NEW_REPLICA_SET_AVAILABLE


def test_rolling_back_mid_rollout_finds_the_old_replica_set() -> None:
    sim = Sim.steady(_spec(max_surge=1, max_unavailable=0))
    sim.roll("bbbb")
    sim.tick(10.0)
    sim.ready(11.0)
    sim.tick(11.0)  # one A pod replaced by a ready B pod, a second B pod starting
    sim.reap()
    sim.roll("aaaa")
    back = sim.tick(20.0)
    assert ([n[:4] for n in back.delete], back.create) == (["bbbb"], 1)
    progressing = back.status.condition(ConditionType.PROGRESSING)
    assert progressing is not None
    assert (progressing.reason, progressing.message) == (
        Reason.FOUND_NEW_REPLICA_SET,
        'Found new replica set "web-aaaa"',
    )


# --- scaling without a template change -----------------------------------------------------


def test_scale_up_creates_pods_and_keeps_the_rollout_complete() -> None:
    sim = Sim.steady(_spec(max_surge=1, max_unavailable=0, progress_deadline_s=60))
    before = sim.state.progressing
    sim.spec = replace(sim.spec, replicas=5)
    result = sim.tick(10.0)
    assert (result.create, result.delete) == (2, ())
    # Kubernetes' Progressing condition only tracks rollouts: a scale-up leaves it alone.
    assert result.status.condition(ConditionType.PROGRESSING) == before
    assert result.wake_at is None
    health = deployment_health(sim.spec, result.status)
    assert health.status is HealthStatus.PROGRESSING
    assert (
        health.message == "Waiting for rollout to finish: 3 of 5 updated replicas are available..."
    )
    available = result.status.condition(ConditionType.AVAILABLE)
    assert available is not None
    assert not available.status  # 3 of 5 with maxUnavailable 0
    sim.ready(20.0)
    done = sim.tick(20.0)
    assert deployment_health(sim.spec, done.status).status is HealthStatus.HEALTHY


def test_scale_down_deletes_the_least_valuable_pods_first() -> None:
    sim = Sim.steady(_spec(replicas=5, max_surge=1, max_unavailable=0))
    sim.pods["aaaa-3"] = replace(sim.pods["aaaa-3"], ready_since=-5.0)  # ready most recently
    sim.crash(["aaaa-1"])
    sim.spec = replace(sim.spec, replicas=2)
    result = sim.tick(10.0)
    assert result.delete == ("aaaa-1", "aaaa-3", "aaaa-4")
    assert result.create == 0
    assert (result.status.replicas, result.status.available_replicas) == (2, 2)


@pytest.mark.parametrize(("before", "after"), [(3, 0), (0, 2), (2, 2)])
def test_scale_to_and_from_zero(before: int, after: int) -> None:
    sim = Sim.steady(_spec(replicas=before))
    sim.spec = replace(sim.spec, replicas=after)
    result = sim.tick(10.0)
    assert result.create == max(0, after - before)
    assert len(result.delete) == max(0, before - after)


def test_recreate_stops_every_old_pod_before_starting_new_ones() -> None:
    sim = Sim.steady(_spec(replicas=2, strategy=Strategy.RECREATE))
    sim.roll("bbbb")
    first = sim.tick(10.0)
    assert (first.create, sorted(first.delete)) == (0, ["aaaa-0", "aaaa-1"])
    assert sim.tick(11.0).create == 0  # the old pods are still terminating
    sim.reap()
    second = sim.tick(12.0)
    assert second.create == 2
    sim.ready(13.0)
    assert _reason(sim.tick(13.0).status) is Reason.NEW_REPLICA_SET_AVAILABLE


# --- invariants over random histories --------------------------------------------------------

_COUNT_OR_PERCENT = st.one_of(
    st.integers(0, 3), st.sampled_from(["0%", "10%", "25%", "50%", "100%"])
)
_EVENTS = st.lists(
    st.tuples(
        st.sampled_from(
            ["ready", "crash", "start", "reap", "template", "rollback", "scale", "tick"]
        ),
        st.integers(0, 20),  # which pod, template or replica count
        st.floats(0, 20, allow_nan=False),  # time passing
    ),
    max_size=40,
)


def _apply_event(sim: Sim, kind: str, index: int, now: float, templates: list[str]) -> None:
    live = sim.names()
    pod = live[index % len(live)] if live else None
    if kind == "ready" and pod:
        sim.ready(now, [pod])
    elif kind == "crash" and pod:
        sim.crash([pod])
    elif kind == "start" and pod:
        sim.pods[pod] = replace(sim.pods[pod], phase=PodPhase.RUNNING, ready_since=None)
    elif kind == "reap":
        sim.reap()
    elif kind == "template":
        templates.append(f"t{len(templates):03d}")
        sim.roll(templates[-1])
    elif kind == "rollback":
        sim.roll(templates[index % len(templates)])
    elif kind == "scale":
        sim.spec = replace(sim.spec, replicas=index % 7)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    replicas=st.integers(1, 6),
    surge=_COUNT_OR_PERCENT,
    unavailable=_COUNT_OR_PERCENT,
    min_ready=st.sampled_from([0, 5]),
    events=_EVENTS,
)
def test_plans_respect_surge_and_availability(
    replicas: int,
    surge: IntOrPercent,
    unavailable: IntOrPercent,
    min_ready: int,
    events: list[tuple[str, int, float]],
) -> None:
    try:
        spec = _spec(
            replicas=replicas, max_surge=surge, max_unavailable=unavailable, min_ready_s=min_ready
        )
    except InvalidDeployment:
        return  # both zero: rejected, as Kubernetes does (tested on its own)
    sim = Sim.steady(spec)
    now, templates, scaled = 0.0, [spec.template_hash], False
    for kind, index, elapsed in events:
        now += elapsed
        _apply_event(sim, kind, index, now, templates)
        scaled = scaled or kind == "scale"
        spec = sim.spec
        max_total = spec.replicas + spec.surge
        available_before = sim.available(now)
        before = {n: p for n, p in sim.pods.items() if p.active}
        result = sim.tick(now)
        after = sim.names()
        assert set(result.delete) <= set(before), "deletes only live pods"
        assert len(set(result.delete)) == len(result.delete)
        # Never above replicas + maxSurge (a scale-down may leave more, but never adds to them).
        assert len(after) <= max(max_total, len(before)), "surge exceeded"
        assert result.create == 0 or len(after) <= max_total, "created beyond the surge"
        if not scaled:
            assert len(after) <= max_total
        # Its own deletions never take availability below replicas - maxUnavailable.
        assert sim.available(now) >= min(available_before, spec.min_available), "availability"
        if sim.names(new=False):
            assert not any(
                before[n].template_hash == spec.template_hash
                and before[n].available(spec.min_ready_s, now)
                for n in result.delete
            ), "an available new pod was deleted while old ones remain"
        assert result.status.replicas == len(after)
        assert result.status.updated_replicas == len(sim.names(new=True))
        assert result.status.available_replicas == sim.available(now)
        assert result.status.unavailable_replicas == len(after) - sim.available(now)
        assert result.wake_at is None or result.wake_at > now
    # And the rollout always completes once every pod it starts turns ready.
    for _ in range(3 * sim.spec.replicas + 5):
        now += min_ready + 1
        sim.reap()
        sim.ready(now, sim.names(ready=False))
        result = sim.tick(now)
        if not sim.names(new=False) and result.status.available_replicas == sim.spec.replicas:
            break
    else:
        pytest.fail(f"rollout did not complete: {sim.pods}")
    assert len(sim.names(new=True)) == sim.spec.replicas
    assert deployment_health(sim.spec, result.status).status is HealthStatus.HEALTHY


# --- spec, hashes, back-off ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("replicas", "surge", "unavailable", "expected"),
    [
        (4, "25%", "25%", (1, 1)),
        (10, "25%", "25%", (3, 2)),  # surge rounds up, unavailable down
        (1, "25%", "25%", (1, 0)),
        (3, 1, 0, (1, 0)),
        (3, "0%", "10%", (0, 1)),  # both round to 0: unavailable becomes 1
        (5, "100%", 0, (5, 0)),
        (0, "25%", "25%", (0, 0)),  # nothing to keep available
        (2, 0, 5, (0, 2)),  # at most all of them
    ],
)
def test_surge_and_unavailable_resolve_as_kubernetes_does(
    replicas: int, surge: IntOrPercent, unavailable: IntOrPercent, expected: tuple[int, int]
) -> None:
    spec = _spec(replicas=replicas, max_surge=surge, max_unavailable=unavailable)
    assert (spec.surge, spec.unavailable) == expected


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"max_surge": 0, "max_unavailable": 0}, "may not be 0 when maxSurge is 0"),
        ({"max_surge": "0%", "max_unavailable": 0}, "may not be 0 when maxSurge is 0"),
        ({"max_surge": -1}, "greater than or equal to 0"),
        ({"max_surge": "25"}, "integer or a percentage"),
        ({"max_unavailable": "150%"}, "not be greater than 100%"),
        ({"max_unavailable": True}, "integer or a percentage"),
        ({"replicas": -1}, "spec.replicas"),
        ({"min_ready_s": "10"}, "spec.minReadySeconds must be an integer"),
        ({"progress_deadline_s": 1.5}, "spec.progressDeadlineSeconds must be an integer"),
        ({"min_ready_s": 10, "progress_deadline_s": 10}, "greater than minReadySeconds"),
    ],
)
def test_invalid_specs_are_rejected(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidDeployment, match=message):
        _spec(**changes)


def test_recreate_ignores_rolling_parameters() -> None:
    spec = _spec(strategy=Strategy.RECREATE, max_surge=0, max_unavailable=0)
    assert (spec.surge, spec.unavailable) == (0, 0)


TEMPLATE: dict[str, Any] = {
    "metadata": {"labels": {"app": "web"}},
    "spec": {"containers": [{"name": "web", "image": "web:1"}]},
}
SELECTOR = {"matchLabels": {"app": "web"}}


def test_from_manifest_applies_the_api_defaults() -> None:
    spec = DeploymentSpec.from_manifest(
        {"metadata": {"name": "web"}, "spec": {"selector": SELECTOR, "template": TEMPLATE}}
    )
    assert spec == DeploymentSpec(name="web", template_hash=template_hash(TEMPLATE))
    assert (spec.replicas, spec.max_surge, spec.max_unavailable) == (1, "25%", "25%")
    assert (spec.min_ready_s, spec.progress_deadline_s) == (0, 600)


def test_from_manifest_reads_the_generated_services_strategy() -> None:
    manifest = {
        "metadata": {"name": "web"},
        "spec": {
            "replicas": 2,
            "progressDeadlineSeconds": 120,
            "minReadySeconds": 10,
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1},
            },
            "selector": SELECTOR,
            "template": TEMPLATE,
        },
    }
    spec = DeploymentSpec.from_manifest(manifest)
    assert (spec.replicas, spec.surge, spec.unavailable) == (2, 1, 0)
    assert (spec.min_ready_s, spec.progress_deadline_s) == (10, 120)


@pytest.mark.parametrize(
    ("spec", "error", "message"),
    [
        ({"paused": True, "template": TEMPLATE}, UnsupportedDeployment, "spec.paused"),
        ({"strategy": {"type": "BlueGreen"}, "template": TEMPLATE}, InvalidDeployment, "BlueGreen"),
        ({}, InvalidDeployment, "spec.template"),
        (
            {
                "strategy": {"rollingUpdate": {"maxSurge": 0, "maxUnavailable": 0}},
                "template": TEMPLATE,
            },
            InvalidDeployment,
            "Deployment 'web': .*maxSurge",
        ),
        # What the API server refuses (apps/v1 validation), refused here as a failed sync too.
        ({"template": TEMPLATE, "selector": None}, InvalidDeployment, "spec.selector: Required"),
        (
            {"template": TEMPLATE, "selector": {"matchLabels": {"app": "api"}}},
            InvalidDeployment,
            r"spec.template.metadata.labels: Invalid value: \{'app': 'web'\}: `selector` does "
            "not match template `labels`",
        ),
        (
            {
                "template": TEMPLATE,
                "selector": {
                    "matchExpressions": [{"key": "app", "operator": "NotIn", "values": ["web"]}]
                },
            },
            InvalidDeployment,
            "`selector` does not match template `labels`",
        ),
        (
            {"template": TEMPLATE, "selector": {"matchLabels": {"app": "web"}, "x": 1}},
            None,
            "",
        ),
    ],
)
def test_from_manifest_refuses_what_it_cannot_run(
    spec: dict[str, Any], error: type[Exception] | None, message: str
) -> None:
    spec = {"selector": SELECTOR, **spec}
    if spec["selector"] is None:
        del spec["selector"]
    manifest = {"metadata": {"name": "web"}, "spec": spec}
    if error is None:
        DeploymentSpec.from_manifest(manifest)  # accepted
        return
    with pytest.raises(error, match=message):
        DeploymentSpec.from_manifest(manifest)


def test_from_manifest_reads_recreate() -> None:
    manifest = {
        "metadata": {"name": "g"},
        "spec": {"strategy": {"type": "Recreate"}, "selector": SELECTOR, "template": TEMPLATE},
    }
    assert DeploymentSpec.from_manifest(manifest).strategy is Strategy.RECREATE


def test_template_hash_is_stable_short_and_content_addressed() -> None:
    reordered = {"spec": TEMPLATE["spec"], "metadata": TEMPLATE["metadata"]}
    changed = {**TEMPLATE, "spec": {"containers": [{"name": "web", "image": "web:2"}]}}
    assert template_hash(TEMPLATE) == template_hash(reordered)
    assert template_hash(TEMPLATE) != template_hash(changed)
    assert len(template_hash(TEMPLATE)) == 10
    assert set(template_hash(TEMPLATE)) <= set("bcdfghjklmnpqrstvwxz2456789")


@pytest.mark.parametrize(
    ("restarts", "seconds"),
    [(0, 10), (1, 20), (2, 40), (3, 80), (4, 160), (5, 300), (6, 300), (10_000, 300)],
)
def test_crash_loop_back_off(restarts: int, seconds: float) -> None:
    assert crash_backoff_s(restarts) == seconds


def test_crash_loop_back_off_rejects_negative_counts() -> None:
    with pytest.raises(ValueError, match="restarts"):
        crash_backoff_s(-1)


def test_status_renders_as_kubernetes_json() -> None:
    sim = Sim.steady(_spec())
    assert sim.last is not None
    body = sim.last.status.to_manifest(observed_generation=4, timestamp=lambda t: f"T{t:g}")
    assert body["observedGeneration"] == 4
    assert (body["replicas"], body["updatedReplicas"], body["availableReplicas"]) == (3, 3, 3)
    assert body["unavailableReplicas"] == 0
    assert body["conditions"] == [
        {
            "type": "Available",
            "status": "True",
            "reason": "MinimumReplicasAvailable",
            "message": "Deployment has minimum availability.",
            "lastUpdateTime": "T0",
            "lastTransitionTime": "T0",
        },
        {
            "type": "Progressing",
            "status": "True",
            "reason": "NewReplicaSetAvailable",
            "message": 'ReplicaSet "web-aaaa" has successfully progressed.',
            "lastUpdateTime": "T0",
            "lastTransitionTime": "T0",
        },
    ]
    assert "lastUpdateTime" not in sim.last.status.to_manifest()["conditions"][0]
