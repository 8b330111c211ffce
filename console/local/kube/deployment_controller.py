"""The embedded platform's Deployment controller: a `DeploymentRunner` keeps one Deployment's pods
what its spec asks for, on the caller's asyncio event loop, through a kubelet that runs them.

- `rollout.plan` decides what to create and delete and the Deployment's status (the
  ReplicaSets' rolling update, pods standing in for ReplicaSets). It is called after every pod
  event the kubelet reports (started, exited, readiness changed, finished terminating), on
  `update`, and at `Plan.wake_at`; the runner's loop sleeps on an event, not on a poll.
- The kubelet (`console.local.kube.kubelet`) runs each pod: its container, probes, restarts and
  back-off. On a cluster the two are separate processes talking through the API server; here the
  controller owns its Deployment's kubelet, so a pod's change reaches the planner at once.

Every change of the runner's `DeploymentSnapshot` (pods, readiness, status) is passed to
`on_change`, synchronously on the loop: the Service proxy takes `snapshot.endpoints()` from it and
Argo CD the Deployment's status (it judges health itself: `console.local.argo.health`). Pods being
deleted leave the endpoints before their process gets the stop signal.

Times are the injected `clock`'s (monotonic seconds; it must advance like `time.monotonic`, as the
runner sleeps in real time).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from console.local.ci.images import ImageStore
from console.local.kube.deploymentspec import DeploymentSpec, InvalidDeployment
from console.local.kube.kubelet import Kubelet, PodSettings
from console.local.kube.pods import PodTemplate, ServiceResolver, parse_template
from console.local.kube.podstatus import PodInfo
from console.local.kube.rollout import DeploymentStatus, RolloutState, plan
from console.timestamps import rfc3339

log = logging.getLogger(__name__)

# A safety net only: the loop wakes on events and on the times it computes.
MAX_WAIT_S = 5.0
MIN_WAIT_S = 0.005


@dataclass(frozen=True, slots=True, kw_only=True)
class DeploymentSnapshot:
    """A Deployment as it runs now. Compare two snapshots with ==."""

    namespace: str
    name: str
    generation: int  # metadata.generation: bumped by every update that changes the spec
    observed_generation: int = 0  # the generation the status was planned for (lags after update)
    spec: DeploymentSpec
    status: DeploymentStatus
    pods: tuple[PodInfo, ...]
    container_port: int | None  # the declared containerPort each pod's `port` stands in for
    port_name: str | None  # its name, for Services whose targetPort names it
    # apps/v1 DeploymentStatus JSON (observedGeneration, counts, conditions with RFC 3339 times)
    status_manifest: dict[str, Any] = field(compare=False, hash=False)
    epoch: float = field(compare=False, default=0.0)  # wall time = epoch + clock time

    def endpoints(self) -> tuple[tuple[str, int], ...]:
        """(host, port) of every ready pod that is not terminating, oldest first."""
        return tuple(("127.0.0.1", p.port) for p in self.pods if p.ready)

    def timestamp(self, clock_time: float) -> str:
        """An RFC 3339 UTC timestamp for a time of the runner's clock."""
        return rfc3339(self.epoch + clock_time)


class DeploymentRunner:
    """One Deployment's pods, kept as its spec asks on the running event loop.

    `resolve_service(namespace, service, port)` is the cluster DNS stand-in for env values and
    arguments (see `console.local.kube.pods`); `settings` (the ConfigMap and Secret reads, the
    injected env, the back-off) go to its kubelet. Raises `RolloutError` subclasses
    (`UnsupportedDeployment`, `InvalidDeployment`) for a manifest it cannot run, naming the field.
    """

    def __init__(  # noqa: PLR0917 - the platform's call sites name the six collaborators in order
        self,
        namespace: str,
        manifest: Mapping[str, Any],
        images: ImageStore,
        workdir: Path,
        resolve_service: ServiceResolver,
        on_change: Callable[[DeploymentSnapshot], None],
        clock: Callable[[], float] = time.monotonic,
        *,
        settings: PodSettings = PodSettings(),  # noqa: B008 - frozen: one shared default is safe
        state: RolloutState | None = None,
        adopt: Sequence[Mapping[str, Any]] = (),
    ) -> None:
        self.namespace = namespace
        self.images = images
        self.workdir = Path(workdir)
        self._on_change = on_change
        self._clock = clock
        self._lookup = settings.lookup
        self._spec, self._template = self._parse(manifest)
        self.manifest: Mapping[str, Any] = manifest
        self.name = self._spec.name
        self._generation = 1
        # The generation the last plan was made for: behind `_generation` from an update until
        # the loop plans again, as a Deployment's status.observedGeneration lags its
        # metadata.generation, so Argo CD reads the rollout as Progressing meanwhile instead of
        # judging the new spec by the old status.
        self._observed = 1
        self._state = state or RolloutState()
        self._status = DeploymentStatus() if self._state.status is None else self._state.status
        self._wake_at: float | None = None
        self._event = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._snapshot: DeploymentSnapshot | None = None
        self._adopt_records = list(adopt)
        self._kubelet = Kubelet(
            namespace,
            self.name,
            images,
            self.workdir,
            resolve_service,
            self._event.set,
            clock,
            settings,
        )

    # ---- public ------------------------------------------------------------------------------

    @property
    def spec(self) -> DeploymentSpec:
        return self._spec

    @property
    def state(self) -> RolloutState:
        """The planner's bookkeeping, to persist with the Deployment."""
        return self._state

    @property
    def adopted(self) -> list[int]:
        """Pids of the pods taken over from a previous platform's kubelet."""
        return self._kubelet.adopted

    async def start(self) -> None:
        """Create the pods and start supervising them."""
        if self._task is not None:
            return
        self._kubelet.open()
        self._kubelet.adopt(self._adopt_records)
        await self._sync()
        self._task = asyncio.get_running_loop().create_task(
            self._loop(), name=f"deployment {self.namespace}/{self.name}"
        )

    def update(self, manifest: Mapping[str, Any]) -> None:
        """Apply a new version of the Deployment: a new pod template rolls out, a new replica
        count scales. Raises like the constructor, leaving the running version untouched."""
        spec, template = self._parse(manifest)
        if spec.name != self.name:
            raise InvalidDeployment(
                f"Deployment {self.name!r}: cannot be updated from Deployment {spec.name!r}"
            )
        self.manifest = manifest
        bumped = spec != self._spec or template.hash != self._template.hash
        if bumped:
            self._generation += 1
        self._spec, self._template = spec, template
        self._event.set()
        if bumped and self._snapshot is not None:
            self._publish()  # the new generation, not yet observed

    async def stop(self, grace_s: float | None = None) -> None:
        """Stop every pod: the stop signal now, SIGKILL to the process group after the pod's
        terminationGracePeriodSeconds (or `grace_s`). Returns when no process is left; the last
        snapshot published has no pods. A stopped runner does not start again."""
        self._kubelet.stopping = True
        self._event.set()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        waits = self._kubelet.terminate(grace_s)
        self._publish()
        await asyncio.gather(*waits)
        self._kubelet.forget_all()
        self._status = replace(
            self._status,
            replicas=0,
            updated_replicas=0,
            ready_replicas=0,
            available_replicas=0,
            unavailable_replicas=0,
        )
        self._publish()
        await self._kubelet.close()

    def snapshot(self) -> DeploymentSnapshot:
        """The Deployment as it runs now."""
        return self._build_snapshot()

    # ---- the loop ----------------------------------------------------------------------------

    def _parse(self, manifest: Mapping[str, Any]) -> tuple[DeploymentSpec, PodTemplate]:
        spec = DeploymentSpec.from_manifest(manifest)
        namespace = (manifest.get("metadata") or {}).get("namespace")
        if namespace and namespace != self.namespace:
            raise InvalidDeployment(
                f"Deployment {spec.name!r}: metadata.namespace {namespace!r} is not "
                f"{self.namespace!r}"
            )
        template = parse_template(manifest, lookup=self._lookup is not None)
        return spec, template

    async def _loop(self) -> None:
        while not self._kubelet.stopping:
            timeout = self._next_wake() - self._clock()
            # A floor, so that a wake-up time that stays in the past cannot spin the loop.
            timeout = min(max(timeout, MIN_WAIT_S), MAX_WAIT_S)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._event.wait(), timeout)
            if self._kubelet.stopping:
                return
            self._event.clear()
            try:
                await self._sync()
            except Exception:  # keep supervising; the next event retries
                log.exception("deployment %s/%s: sync failed", self.namespace, self.name)
                await asyncio.sleep(0.5)

    def _next_wake(self) -> float:
        now = self._clock()
        times = [now + MAX_WAIT_S, *self._kubelet.wake_times(now)]
        if self._wake_at is not None:
            times.append(self._wake_at)
        return min(times)

    async def _sync(self) -> None:
        """One reconciliation: what the kubelet has due (restarts, kills), then the plan, then
        probes."""
        await self._kubelet.timers()
        if self._kubelet.stopping:
            return
        now = self._clock()
        views = self._kubelet.views()
        result = plan(self._spec, views, self._state, now)
        self._state, self._status, self._wake_at = result.state, result.status, result.wake_at
        self._observed = self._generation
        signalled = [pod for name in result.delete if (pod := self._kubelet.delete(name, now))]
        created = [self._kubelet.new_pod(self._template, now) for _ in range(result.create)]
        # Off the endpoints first, then the signal: the proxy stops routing to a pod before it
        # begins shutting down.
        self._publish()
        for pod in signalled:
            self._kubelet.signal(pod)
        for pod in created:
            if self._kubelet.stopping:
                break
            await self._kubelet.start(pod)
        if result.create or result.delete:
            self._event.set()  # plan again with what the changes made
        self._kubelet.schedule_probes()
        self._publish()

    # ---- snapshots ---------------------------------------------------------------------------

    def _build_snapshot(self) -> DeploymentSnapshot:
        return DeploymentSnapshot(
            namespace=self.namespace,
            name=self.name,
            generation=self._generation,
            observed_generation=self._observed,
            spec=self._spec,
            status=self._status,
            pods=self._kubelet.infos(),
            container_port=self._template.container_port,
            port_name=self._template.port_name,
            status_manifest=self._status.to_manifest(
                observed_generation=self._observed,
                timestamp=lambda t: rfc3339(self._kubelet.epoch + t),
            ),
            epoch=self._kubelet.epoch,
        )

    def _publish(self) -> None:
        snapshot = self._build_snapshot()
        if snapshot == self._snapshot:
            return
        self._snapshot = snapshot
        try:
            self._on_change(snapshot)
        except Exception:  # a subscriber's failure must not stop the pods' supervision
            log.exception("deployment %s/%s: on_change failed", self.namespace, self.name)
