"""What the controller applies to: the runtime that runs an application's objects.

The controller (Argo CD's application controller) decides *what* should run; a Runtime makes it so
and reports back what runs: each object as a cluster would return it, `status` included. How
healthy that is, is Argo CD's judgement (`console.local.argo.health`), not the runtime's, as on a
cluster Kubernetes knows nothing of Argo CD. `ProcessRuntime` (in `processes.py`) runs
Deployments as supervised processes behind Service proxies; the protocol keeps the controller
testable against any runtime that honours it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from console.local.kube.objects import ObjectKey

# Kinds the embedded platform runs or records; anything else is recorded only (`not_run` says so).
SUPPORTED_KINDS = frozenset(
    {
        "Deployment",
        "Service",
        "ConfigMap",
        "Secret",
        "ServiceAccount",
        "PodDisruptionBudget",
        "NetworkPolicy",
        "Role",
        "RoleBinding",
        "EndpointSlice",
    }
)


@dataclass(frozen=True)
class ApplyResult:
    """One object's outcome in a sync (`syncResult.resources[]`)."""

    key: ObjectKey
    version: str  # the API version part, e.g. "v1" of apps/v1
    ok: bool
    message: str
    pruned: bool = False


@dataclass(frozen=True)
class LiveResource:
    """One object as it runs: what was applied (its fingerprint) and the live object."""

    key: ObjectKey
    version: str
    fingerprint: str  # console.local.kube.objects.fingerprint of the applied manifest
    live: Mapping[str, Any] = field(default_factory=dict)  # manifest with `status`
    images: tuple[str, ...] = ()
    # Why the object is recorded but not run (a kind or API group the platform does not run);
    # "" when it runs. A cluster would refuse such an object; here it is kept and said so.
    not_run: str = ""


class Runtime(Protocol):
    def set_listener(self, listener: Callable[[str], None]) -> None:
        """`listener(app)` is called (on the event loop, must not block) whenever what runs for
        `app` changes: a pod turned ready, a rollout stalled, a process crashed."""
        ...

    async def apply(
        self, app: str, namespace: str, objects: Sequence[Mapping[str, Any]], prune: bool
    ) -> list[ApplyResult]:
        """Make `objects` (rendered from Git, in `namespace` unless they say otherwise) what runs
        for `app`; with `prune`, remove what the app ran that is no longer among them. Never
        raises for one bad object: its ApplyResult says why."""
        ...

    def resources(self, app: str) -> list[LiveResource]:
        """What runs for `app` now, sorted by key."""
        ...

    async def remove(self, app: str) -> None:
        """Stop and forget everything `app` runs (the resources finalizer)."""
        ...

    async def close(self) -> None:
        """Stop everything: drain the Service proxies, then stop pods within their grace."""
        ...
