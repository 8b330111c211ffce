"""Argo CD health: the order, per-kind checks and an application's aggregate."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from console.local.argo.health import (
    ORDER,
    Health,
    HealthStatus,
    app_health,
    is_worse,
    pod_health,
    resource_health,
    worst,
)
from console.local.kube.deploymentspec import DeploymentSpec
from console.local.kube.rollout import PodPhase, PodView, RolloutState, plan

H = HealthStatus


def test_the_strings_are_argo_cds() -> None:
    assert [s.value for s in ORDER] == [
        "Healthy",
        "Suspended",
        "Progressing",
        "Missing",
        "Degraded",
        "Unknown",
    ]
    assert set(ORDER) == set(HealthStatus)


@pytest.mark.parametrize(
    ("statuses", "expected"),
    [
        ([], H.HEALTHY),
        ([H.HEALTHY], H.HEALTHY),
        ([H.HEALTHY, H.SUSPENDED], H.SUSPENDED),
        ([H.SUSPENDED, H.PROGRESSING], H.PROGRESSING),
        ([H.PROGRESSING, H.MISSING, H.HEALTHY], H.MISSING),
        ([H.DEGRADED, H.MISSING], H.DEGRADED),
        ([H.DEGRADED, H.UNKNOWN, H.HEALTHY], H.UNKNOWN),
        ([H.PROGRESSING, H.DEGRADED, H.PROGRESSING], H.DEGRADED),
    ],
)
def test_worst(statuses: list[HealthStatus], expected: HealthStatus) -> None:
    assert worst(statuses) is expected


_STATUSES = st.lists(st.sampled_from(list(HealthStatus)), max_size=8)


@given(_STATUSES, _STATUSES)
def test_worst_is_an_order_independent_maximum(
    a: list[HealthStatus], b: list[HealthStatus]
) -> None:
    combined = worst(a + b)
    assert combined == worst(reversed(a + b)) == worst([worst(a), worst(b)])
    assert all(not is_worse(combined, s) for s in a + b)
    assert combined in [*a, *b] or combined is H.HEALTHY


@pytest.mark.parametrize(
    ("children", "expected"),
    [
        ([], Health(H.HEALTHY)),
        ([None, None], Health(H.HEALTHY)),  # nothing counted: Healthy, as in Argo CD
        ([Health(H.HEALTHY), None], Health(H.HEALTHY)),
        (
            [Health(H.HEALTHY), Health(H.PROGRESSING, "rolling"), Health(H.DEGRADED, "deadline")],
            Health(H.DEGRADED, "deadline"),
        ),
        (
            [Health(H.DEGRADED, "first"), Health(H.DEGRADED, "second")],
            Health(H.DEGRADED, "first"),
        ),
        (
            [None, Health(H.UNKNOWN, "Ingress is not supported")],
            Health(H.UNKNOWN, "Ingress is not supported"),
        ),
        ([Health(H.MISSING), Health(H.PROGRESSING, "x")], Health(H.MISSING)),
        ([Health(H.SUSPENDED, "paused"), Health(H.HEALTHY)], Health(H.SUSPENDED, "paused")),
    ],
)
def test_app_health(children: list[Health | None], expected: Health) -> None:
    assert app_health(children) == expected


@given(
    st.lists(
        st.one_of(
            st.none(), st.builds(Health, st.sampled_from(list(HealthStatus)), st.text(max_size=3))
        )
    )
)
def test_app_health_is_the_worst_counted_child(children: list[Health | None]) -> None:
    result = app_health(children)
    counted = [c for c in children if c is not None]
    assert result.status is worst(c.status for c in counted)
    if counted and result.status is not H.HEALTHY:
        assert result == next(c for c in counted if c.status is result.status)


def _deployment(status: dict[str, Any], **spec: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": "web", "generation": 2},
        "spec": {"replicas": 3, **spec},
        "status": {"observedGeneration": 2, **status},
    }


_DEADLINE = {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"}
_COMPLETE = {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"}


@pytest.mark.parametrize(
    ("live", "expected"),
    [
        (
            _deployment(
                {
                    "replicas": 3,
                    "updatedReplicas": 3,
                    "availableReplicas": 3,
                    "conditions": [_COMPLETE],
                }
            ),
            Health(H.HEALTHY),
        ),
        (
            _deployment(
                {
                    "replicas": 4,
                    "updatedReplicas": 1,
                    "availableReplicas": 3,
                    "conditions": [_DEADLINE],
                }
            ),
            Health(H.DEGRADED, 'Deployment "web" exceeded its progress deadline'),
        ),
        (
            _deployment({"replicas": 4, "updatedReplicas": 1, "availableReplicas": 3}),
            Health(
                H.PROGRESSING,
                "Waiting for rollout to finish: 1 out of 3 new replicas have been updated...",
            ),
        ),
        (
            _deployment({"replicas": 4, "updatedReplicas": 3, "availableReplicas": 3}),
            Health(
                H.PROGRESSING,
                "Waiting for rollout to finish: 1 old replicas are pending termination...",
            ),
        ),
        (
            _deployment({"replicas": 3, "updatedReplicas": 3, "availableReplicas": 2}),
            Health(
                H.PROGRESSING,
                "Waiting for rollout to finish: 2 of 3 updated replicas are available...",
            ),
        ),
        (
            _deployment({"replicas": 3, "updatedReplicas": 3, "availableReplicas": 3}, paused=True),
            Health(H.SUSPENDED, "Deployment is paused"),
        ),
        (
            {**_deployment({}), "status": {"observedGeneration": 1, "replicas": 3}},
            Health(
                H.PROGRESSING,
                "Waiting for rollout to finish: observed deployment generation less than desired "
                "generation",
            ),
        ),
        (
            {
                **_deployment({}),
                "metadata": {"name": "web", "deletionTimestamp": "2024-01-01T00:00:00Z"},
            },
            Health(H.PROGRESSING, "Pending deletion"),
        ),
        (_deployment({"replicas": 0}, replicas=0), Health(H.HEALTHY)),
    ],
    ids=[
        "healthy",
        "deadline",
        "updating",
        "old-pending",
        "unavailable",
        "paused",
        "generation",
        "deleting",
        "zero",
    ],
)
def test_deployment_health(live: dict[str, Any], expected: Health) -> None:
    assert resource_health("Deployment", live) == expected


@pytest.mark.parametrize(
    ("kind", "live", "expected"),
    [
        ("Service", {"spec": {"type": "ClusterIP"}}, Health(H.HEALTHY)),
        ("Service", {"spec": {"type": "LoadBalancer"}}, Health(H.HEALTHY)),
        ("Service", None, Health(H.MISSING)),
        ("Deployment", None, Health(H.MISSING)),
        ("ConfigMap", {}, None),
        ("Secret", {}, None),
        ("ServiceAccount", {}, None),
        ("PodDisruptionBudget", {}, None),
        ("NetworkPolicy", {}, None),
        ("NetworkPolicy", None, None),  # missing, but without a health check it never counts
        ("Application", {}, None),
        ("Ingress", {}, Health(H.UNKNOWN, "Ingress is not supported by the embedded platform")),
        ("CronJob", None, Health(H.UNKNOWN, "CronJob is not supported by the embedded platform")),
    ],
)
def test_resource_health_by_kind(
    kind: str, live: dict[str, Any] | None, expected: Health | None
) -> None:
    assert resource_health(kind, live) == expected


def test_the_kinds_without_health_can_be_extended() -> None:
    assert resource_health("StatefulSet", {}, no_health=frozenset({"StatefulSet"})) is None
    # A kind Argo CD has a health check for, that the platform does not run: Unknown, and why.
    assert resource_health("StatefulSet", {}) == Health(
        H.UNKNOWN, "StatefulSet is not supported by the embedded platform"
    )


@pytest.mark.parametrize("kind", ["Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding"])
def test_rbac_has_no_health_as_in_argo_cd(kind: str) -> None:
    """gitops-engine has no health check for RBAC: such a resource has no health and does not
    count in the app's (it was Unknown here, and made the guard's own app Unknown)."""
    assert resource_health(kind, {}) is None


def test_an_app_with_a_stuck_deployment_is_degraded_and_says_why() -> None:
    spec = DeploymentSpec(
        name="web",
        template_hash="new",
        replicas=1,
        max_surge=1,
        max_unavailable=0,
        progress_deadline_s=30,
    )
    old = PodView(name="web-old-1", template_hash="old", phase=PodPhase.RUNNING, ready_since=-100.0)
    new = PodView(name="web-new-1", template_hash="new", phase=PodPhase.CRASHLOOP, restarts=3)
    state = plan(spec, [old, new], RolloutState(), 0.0).state
    stuck = plan(spec, [old, new], state, 30.0)
    children = [
        resource_health("ConfigMap", {}),
        resource_health("Service", {"spec": {}}),
        resource_health(
            "Deployment",
            {
                "metadata": {"name": "web"},
                "spec": {"replicas": 1},
                "status": stuck.status.to_manifest(),
            },
        ),
    ]
    assert app_health(children) == Health(
        H.DEGRADED, 'Deployment "web" exceeded its progress deadline'
    )
    assert pod_health(new) == Health(H.DEGRADED, "back-off 80s restarting failed container")


@pytest.mark.parametrize(
    ("pod", "expected"),
    [
        (dict(phase=PodPhase.PENDING), H.PROGRESSING),
        (dict(phase=PodPhase.RUNNING), H.PROGRESSING),
        (dict(phase=PodPhase.RUNNING, ready_since=1.0), H.HEALTHY),
        (dict(phase=PodPhase.RUNNING, restarts=2), H.DEGRADED),
        (dict(phase=PodPhase.CRASHLOOP, restarts=0), H.DEGRADED),
        (dict(phase=PodPhase.TERMINATING), H.PROGRESSING),
    ],
)
def test_pod_health(pod: dict[str, Any], expected: HealthStatus) -> None:
    assert pod_health(PodView(name="p", template_hash="h", **pod)).status is expected
