"""Argo CD's health assessment for the kinds the embedded platform runs, and an application's
health as the worst of its resources'.

Pure. Resources are read in their Kubernetes JSON shape (`metadata`, `spec`, `status`), as Argo CD
reads live objects, so a Deployment's status written by `rollout.DeploymentStatus.to_manifest` is
judged exactly as Argo CD would judge it on a cluster. Kubernetes reports, Argo CD judges: the
runtime (`console.local.kube`) knows nothing of this module, as a cluster knows nothing of Argo CD.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from console.application import Health as _ModelHealth
from console.application import HealthState
from console.local.kube.deploymentspec import DeploymentSpec
from console.local.kube.kubelet import crash_backoff_s
from console.local.kube.rollout import DeploymentStatus, PodPhase, PodView
from console.local.kube.runtime import LiveResource

# The Application model's enum, under gitops-engine's name for it (this module's `Health` is an
# assessment: a status and its message).
HealthStatus = _ModelHealth

# Argo CD's order, best to worst (gitops-engine's healthOrder).
ORDER = (
    HealthStatus.HEALTHY,
    HealthStatus.SUSPENDED,
    HealthStatus.PROGRESSING,
    HealthStatus.MISSING,
    HealthStatus.DEGRADED,
    HealthStatus.UNKNOWN,
)
_RANK = {status: rank for rank, status in enumerate(ORDER)}

# Kinds Argo CD has no health check for: they never count towards an application's health.
# Application is among them since Argo CD 1.8 (an app-of-apps parent ignores its children's
# health unless a health customization restores it).
NO_HEALTH_KINDS = frozenset(
    {
        "ConfigMap",
        "Secret",
        "ServiceAccount",
        "PodDisruptionBudget",
        "NetworkPolicy",
        "Application",
        # No health check in Argo CD (gitops-engine) for RBAC either: no health, not Unknown.
        "Role",
        "RoleBinding",
        "ClusterRole",
        "ClusterRoleBinding",
        "EndpointSlice",
    }
)


@dataclass(frozen=True, slots=True)
class Health:
    status: HealthStatus
    message: str = ""

    def state(self) -> HealthState:
        """As an Application's status writes it."""
        return HealthState(status=self.status.value, message=self.message)


def is_worse(current: HealthStatus, new: HealthStatus) -> bool:
    return _RANK[new] > _RANK[current]


def worst(statuses: Iterable[HealthStatus]) -> HealthStatus:
    """The worst status in Argo CD's order; Healthy when there is none."""
    return max(statuses, key=_RANK.__getitem__, default=HealthStatus.HEALTHY)


def app_health(resources: Iterable[Health | None]) -> Health:
    """An application's health: the worst of its resources' (None: not counted), with the
    message of the first resource in that state."""
    result = Health(HealthStatus.HEALTHY)
    for health in resources:
        if health is not None and is_worse(result.status, health.status):
            result = health
    return result


def resource_health(
    kind: str,
    live: Mapping[str, Any] | None,
    *,
    no_health: frozenset[str] = NO_HEALTH_KINDS,
) -> Health | None:
    """The health of one resource, or None when it does not count (a kind without a health
    check). `live` is the object as it runs, None when it should run but does not (Missing).
    Kinds the platform does not run are Unknown, with a message saying so."""
    if kind in no_health:
        return None
    if kind not in ("Deployment", "Service"):
        return Health(HealthStatus.UNKNOWN, f"{kind} is not supported by the embedded platform")
    if live is None:
        return Health(HealthStatus.MISSING)
    if (live.get("metadata") or {}).get("deletionTimestamp"):
        return Health(HealthStatus.PROGRESSING, "Pending deletion")
    if kind == "Service":
        # Every Service type gets its proxy port at once, so none waits for a load balancer.
        return Health(HealthStatus.HEALTHY)
    return _deployment_from_manifest(live)


def live_health(resource: LiveResource) -> Health | None:
    """The health of an object the runtime reports: judged from its live object, or Unknown
    with the runtime's reason when it records the object without running it."""
    if resource.not_run:
        return Health(HealthStatus.UNKNOWN, resource.not_run)
    return resource_health(resource.key.kind, resource.live)


def deployment_health(spec: DeploymentSpec, status: DeploymentStatus) -> Health:
    """A Deployment's health straight from the planner's output."""
    return resource_health(
        "Deployment",
        {
            "metadata": {"name": spec.name, "generation": 1},
            "spec": {"replicas": spec.replicas},
            "status": status.to_manifest(observed_generation=1),
        },
    ) or Health(HealthStatus.UNKNOWN)


def pod_health(pod: PodView) -> Health:
    """A supervised pod's health, as Argo CD judges a pod with restartPolicy Always (for the
    resource tree; pods are not an application's own resources and never count)."""
    if pod.phase is PodPhase.TERMINATING:
        return Health(HealthStatus.PROGRESSING, "Pending deletion")
    if pod.phase is PodPhase.CRASHLOOP:
        backoff = crash_backoff_s(pod.restarts)
        return Health(HealthStatus.DEGRADED, f"back-off {backoff:g}s restarting failed container")
    if pod.ready:
        return Health(HealthStatus.HEALTHY)
    if pod.phase is PodPhase.RUNNING and pod.restarts > 0:
        # Running, not ready, and it has terminated before: Argo CD calls that Degraded.
        return Health(HealthStatus.DEGRADED, f"container restarted {pod.restarts} times")
    return Health(HealthStatus.PROGRESSING)


def _deployment_from_manifest(live: Mapping[str, Any]) -> Health:
    # gitops-engine's getAppsv1DeploymentHealth (after `kubectl rollout status`): the first check
    # that holds decides.
    metadata = live.get("metadata") or {}
    spec = live.get("spec") or {}
    status = live.get("status") or {}
    name = metadata.get("name", "")
    deadline_exceeded = any(
        c.get("type") == "Progressing" and c.get("reason") == "ProgressDeadlineExceeded"
        for c in status.get("conditions") or ()
    )
    desired = spec.get("replicas", 1)
    replicas = status.get("replicas", 0)
    updated = status.get("updatedReplicas", 0)
    available = status.get("availableReplicas", 0)
    waiting = "Waiting for rollout to finish: "
    checks = (
        (bool(spec.get("paused")), HealthStatus.SUSPENDED, "Deployment is paused"),
        (
            metadata.get("generation", 0) > status.get("observedGeneration", 0),
            HealthStatus.PROGRESSING,
            f"{waiting}observed deployment generation less than desired generation",
        ),
        (
            deadline_exceeded,
            HealthStatus.DEGRADED,
            f'Deployment "{name}" exceeded its progress deadline',
        ),
        (
            updated < desired,
            HealthStatus.PROGRESSING,
            f"{waiting}{updated} out of {desired} new replicas have been updated...",
        ),
        (
            replicas > updated,
            HealthStatus.PROGRESSING,
            f"{waiting}{replicas - updated} old replicas are pending termination...",
        ),
        (
            available < updated,
            HealthStatus.PROGRESSING,
            f"{waiting}{available} of {updated} updated replicas are available...",
        ),
    )
    return next(
        (Health(verdict, message) for holds, verdict, message in checks if holds),
        Health(HealthStatus.HEALTHY),
    )
