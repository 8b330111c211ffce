"""What the runtime runs, published into the read model the API serves: each application's live
resource tree (Deployment -> ReplicaSet -> Pod, as Argo CD's application controller builds it from
its cluster cache) and its pods' log lines.

- `tree_for(record, snapshots)` is pure: an Argo CD `v1alpha1ApplicationTree` (JSON) from the
  application's managed resources (`record.status.resources`) and the runtime's
  `DeploymentSnapshot`s of it. Pods are grouped into ReplicaSets by pod-template hash, named as
  Kubernetes names them (`<deployment>-<hash>`, which is also how the kubelet names pods);
  the Deployment's current template always has its ReplicaSet, older templates only while they
  still have pods (the snapshots keep no revision history, so there is no `Revision` info item
  and no empty old ReplicaSet). Pods carry Argo CD's info items (Status Reason, Node,
  Containers, Restart Count), their image, creation time and health by gitops-engine's rules
  for a pod with restartPolicy Always.
- `publish_runtime(runtime, source)` returns a `RuntimePublisher`: started on the runtime's event
  loop (`async with`, or `start()`/`stop()`), it keeps every published application's tree
  current (`InMemorySource.set_resource_tree`) and copies each pod's new log lines from its log
  file into the source (`append_log`), so the API's resource-tree and logs routes show what runs.

A process writing to a file announces nothing, so the publisher tails the pod log files: it runs
a pass every `interval_s` (TAIL_INTERVAL_S, 0.5 s), and at once whenever an application's record
changes (it watches the source) or `notify()` is called. A log line is stamped with the time the
pass read it (the kubelet stamps lines as the runtime receives them; here they are at most one
interval late). Lines are split at `\\n`; a partial last line waits for its end (up to
MAX_LINE_BYTES). A file that grew by more than MAX_READ_BYTES since the last pass is read from
its last MAX_READ_BYTES only: the source keeps a bounded number of lines per pod anyway.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from console.application import Json
from console.lifecycle import Started
from console.local.argo.appstate import ApplicationRecord, resource_tree
from console.local.argo.errors import ApplicationNotFoundError
from console.local.argo.health import Health, HealthStatus, deployment_health
from console.local.argo.inmemory import InMemorySource
from console.local.kube.deployment_controller import DeploymentSnapshot
from console.local.kube.podstatus import PodInfo, PodState

log = logging.getLogger(__name__)

TAIL_INTERVAL_S = 0.5  # how late a log line or a pod-only change may reach the API
MAX_READ_BYTES = 1 << 20  # per log file and pass
MAX_LINE_BYTES = 64 << 10  # a longer line without `\n` is published in pieces of this size
NODE_NAME = "localhost"  # what a pod's `spec.nodeName` is here (see console.local.kube.pods)

# `kubectl get pods` STATUS as Argo CD's "Status Reason" shows it: the container's waiting reason
# (ContainerCreating while it starts), Running, or Terminating once deleted.
_REASONS: dict[PodState, str] = {
    PodState.PENDING: "ContainerCreating",
    PodState.ERR_IMAGE_PULL: "ErrImagePull",
    PodState.IMAGE_PULL_BACKOFF: "ImagePullBackOff",
    PodState.CREATE_CONTAINER_CONFIG_ERROR: "CreateContainerConfigError",
    PodState.RUNNING: "Running",
    PodState.CRASH_LOOP_BACKOFF: "CrashLoopBackOff",
    PodState.TERMINATING: "Terminating",
}
# Waiting reasons gitops-engine calls Degraded (prefix "Err", suffix "Error" or "BackOff").
_FAILING = frozenset(
    {
        PodState.ERR_IMAGE_PULL,
        PodState.IMAGE_PULL_BACKOFF,
        PodState.CREATE_CONTAINER_CONFIG_ERROR,
        PodState.CRASH_LOOP_BACKOFF,
    }
)


# --- the tree (pure) ------------------------------------------------------------------------


def pod_health(pod: PodInfo) -> Health:
    """A pod's health by gitops-engine's rules for restartPolicy Always."""
    if pod.phase is PodState.TERMINATING:
        return Health(HealthStatus.PROGRESSING, "Pending deletion")
    if pod.phase in _FAILING:
        return Health(HealthStatus.DEGRADED, pod.message)
    if pod.ready:
        return Health(HealthStatus.HEALTHY)
    if pod.phase is PodState.RUNNING and pod.restarts > 0:
        # Running but not ready after a container terminated before: Degraded, not Progressing.
        return Health(HealthStatus.DEGRADED, pod.message)
    return Health(HealthStatus.PROGRESSING, pod.message)


def _health(health: Health) -> Json:
    return health.state().to_json()


def _ref(group: str, kind: str, namespace: str, name: str) -> Json:
    out: Json = {"group": group} if group else {}
    return out | {"kind": kind, "namespace": namespace, "name": name}


def _pod_node(snapshot: DeploymentSnapshot, pod: PodInfo) -> Json:
    info = [
        {"name": "Status Reason", "value": _REASONS[pod.phase]},
        {"name": "Node", "value": NODE_NAME},
        {"name": "Containers", "value": f"{int(pod.ready)}/1"},  # one container per pod here
    ]
    if pod.restarts > 0:
        info.append({"name": "Restart Count", "value": str(pod.restarts)})
    replica_set = f"{snapshot.name}-{pod.template_hash}"
    return {
        "version": "v1",
        "kind": "Pod",
        "namespace": pod.namespace,
        "name": pod.name,
        "parentRefs": [_ref("apps", "ReplicaSet", snapshot.namespace, replica_set)],
        "info": info,
        "health": _health(pod_health(pod)),
        "images": [pod.image],
        "createdAt": snapshot.timestamp(pod.created_at),
    }


def pod_manifest(snapshot: DeploymentSnapshot, pod: PodInfo) -> Json:
    """The live v1 Pod as a cluster would have it. The embedded node gives each pod a port of its
    own on 127.0.0.1 instead of an address of its own: `status.podIP` is 127.0.0.1 and the
    container's port is the one the pod listens on, so a client reaching podIP:containerPort (the
    guard's analysis, scraping /metrics) reaches this pod and no other."""
    replica_set = f"{snapshot.name}-{pod.template_hash}"
    running = pod.phase in (PodState.RUNNING, PodState.TERMINATING)
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": pod.name,
            "namespace": pod.namespace,
            "labels": {"pod-template-hash": pod.template_hash},
            "creationTimestamp": snapshot.timestamp(pod.created_at),
            "ownerReferences": [
                {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": replica_set}
            ],
        },
        "spec": {
            "nodeName": NODE_NAME,
            "containers": [
                {"name": snapshot.name, "image": pod.image, "ports": [{"containerPort": pod.port}]}
            ],
        },
        "status": {
            "phase": "Running" if running else "Pending",
            "hostIP": "127.0.0.1",
            "podIP": "127.0.0.1",
            "containerStatuses": [
                {
                    "name": snapshot.name,
                    "image": pod.image,
                    "ready": pod.ready,
                    "restartCount": pod.restarts,
                }
            ],
        },
    }


def _replica_set_node(
    snapshot: DeploymentSnapshot, template_hash: str, pods: Sequence[PodInfo], revision: int
) -> Json:
    # gitops-engine's ReplicaSet health: Progressing while fewer replicas are available than it
    # wants. What it wants is approximated by its pods that are not terminating (the planner
    # creates and deletes pods at once, as it scales the ReplicaSet).
    active = [p for p in pods if p.phase is not PodState.TERMINATING]
    ready = sum(p.ready for p in active)
    if ready < len(active):
        health = Health(
            HealthStatus.PROGRESSING,
            f"Waiting for rollout to finish: {ready} out of {len(active)} new replicas are "
            "available...",
        )
    else:
        health = Health(HealthStatus.HEALTHY)
    node: Json = {
        "group": "apps",
        "version": "v1",
        "kind": "ReplicaSet",
        "namespace": snapshot.namespace,
        "name": f"{snapshot.name}-{template_hash}",
        "parentRefs": [_ref("apps", "Deployment", snapshot.namespace, snapshot.name)],
        # deployment.kubernetes.io/revision, as Argo CD shows it: the current template's is the
        # highest (a rollback to an earlier template makes it the newest revision again).
        "info": [{"name": "Revision", "value": f"Rev:{revision}"}],
        "health": _health(health),
    }
    if pods:
        node["createdAt"] = snapshot.timestamp(min(p.created_at for p in pods))
    return node


def _full_name(node: Json) -> str:
    # Argo CD's ResourceNode.FullName: ApplicationTree.Normalize sorts the nodes by it.
    return "/".join(str(node.get(key, "")) for key in ("group", "kind", "namespace", "name"))


def tree_for(record: ApplicationRecord, snapshots: Sequence[DeploymentSnapshot]) -> Json:
    """The application's `v1alpha1ApplicationTree` JSON: its managed resources, with the live
    health of each Deployment that runs, and below each Deployment its ReplicaSets and Pods."""
    nodes: list[Json] = list(resource_tree(record).get("nodes", []))
    deployments = {
        (n.get("namespace", ""), n.get("name", "")): n
        for n in nodes
        if n.get("group") == "apps" and n.get("kind") == "Deployment"
    }
    for snapshot in snapshots:
        live = _health(deployment_health(snapshot.spec, snapshot.status))
        managed = deployments.get((snapshot.namespace, snapshot.name))
        if managed is not None:
            managed["health"] = live  # the tree shows the live state, as Argo CD's cache does
        else:
            # Runs but is not (yet) among status.resources: still the parent of its pods.
            nodes.append(
                _ref("apps", "Deployment", snapshot.namespace, snapshot.name)
                | {"version": "v1", "health": live}
            )
        current = snapshot.spec.template_hash
        by_hash: dict[str, list[PodInfo]] = {current: []}
        for pod in snapshot.pods:
            by_hash.setdefault(pod.template_hash, []).append(pod)
        older = sorted(
            (h for h in by_hash if h != current),
            key=lambda h: (min(p.created_at for p in by_hash[h]), h),
        )
        for revision, template_hash in enumerate([*older, current], start=1):
            pods = by_hash[template_hash]
            nodes.append(_replica_set_node(snapshot, template_hash, pods, revision))
            nodes.extend(_pod_node(snapshot, pod) for pod in pods)
    nodes.sort(key=_full_name)
    return {"nodes": nodes} if nodes else {}


# --- the publisher ----------------------------------------------------------------------------


class RuntimeView(Protocol):
    """What the publisher reads of the runtime (ProcessRuntime has it)."""

    def snapshots(self, app: str) -> list[DeploymentSnapshot]: ...


@dataclass(eq=False)
class _Tail:
    """How far one pod's log file has been published."""

    app: str
    pod: str
    container: str
    path: Path
    offset: int = 0
    partial: bytes = b""  # the last line's start, waiting for its `\n`
    lines: list[str] = field(default_factory=list)  # read by the last pass, not yet published


def _decode(raw: bytes) -> str:
    return raw.decode("utf-8", errors="replace").removesuffix("\r")


def _read(tail: _Tail, final: bool) -> None:
    """Read what `tail`'s file gained since the last pass into `tail.lines` (in a worker
    thread). `final`: the pod is gone, so a partial last line is complete."""
    try:
        size = os.stat(tail.path).st_size
    except OSError:
        size = 0
    if size < tail.offset:  # truncated or replaced: start again
        tail.offset, tail.partial = 0, b""
    start = max(tail.offset, size - MAX_READ_BYTES)
    data = b""
    if size > start:
        try:
            with tail.path.open("rb") as fh:
                fh.seek(start)
                data = fh.read(size - start)
        except OSError:
            data = b""
    skipped = start > tail.offset
    tail.offset = start + len(data)
    if skipped:
        # What was skipped ends somewhere in the first piece: drop up to the first line break.
        tail.partial = b""
        data = data.partition(b"\n")[2] if b"\n" in data else b""
    pieces = (tail.partial + data).split(b"\n")
    rest = pieces.pop()
    while len(rest) > MAX_LINE_BYTES:
        pieces.append(rest[:MAX_LINE_BYTES])
        rest = rest[MAX_LINE_BYTES:]
    if final and rest:
        pieces.append(rest)
        rest = b""
    tail.partial = rest
    tail.lines += (_decode(p) for p in pieces)  # added to: a cancelled pass may have left some


def _read_all(current: Sequence[_Tail], gone: Sequence[_Tail]) -> None:
    for tail in current:
        _read(tail, final=False)
    for tail in gone:
        _read(tail, final=True)


def _utcnow() -> datetime:
    return datetime.now(UTC)


class RuntimePublisher(Started):
    """Keeps an `InMemorySource`'s resource trees and pod logs in step with a runtime; see the
    module docstring. Runs on the runtime's event loop (it calls `runtime.snapshots`, which is
    not thread-safe). Use `async with`, or `start()` and `stop()`; `refresh()` runs one pass now
    and returns when it is done."""

    def __init__(
        self,
        runtime: RuntimeView,
        source: InMemorySource,
        *,
        interval_s: float = TAIL_INTERVAL_S,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        if interval_s <= 0:
            raise ValueError(f"interval_s must be positive, got {interval_s}")
        self.runtime = runtime
        self.source = source
        self.interval_s = interval_s
        self._clock = clock
        self._tails: dict[Path, _Tail] = {}
        self._pass_lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        """Publish now, then keep publishing until `stop()`."""
        if self._tasks:
            return
        since = self.source.version()  # before the first pass: no change in between is missed
        await self.refresh()
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._run(), name="publish runtime"),
            loop.create_task(self._watch(since), name="publish runtime: watch the source"),
        ]

    async def stop(self) -> None:
        """Stop, after one last pass: call it after the runtime stopped its pods, so that what
        they wrote last is published too."""
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if tasks:
            await self.refresh()

    def notify(self) -> None:
        """Something changed (e.g. the runtime's listener fired): publish without waiting for
        the next interval. Call it on the publisher's event loop."""
        self._wake.set()

    async def refresh(self) -> None:
        """One pass: every published application's tree, and the log lines written since the
        last pass."""
        async with self._pass_lock:
            records = self.source.list()
            current: dict[Path, _Tail] = {}
            for record in records:
                snapshots = self.runtime.snapshots(record.name)
                live = {
                    ("Pod", pod.namespace, pod.name): pod_manifest(snapshot, pod)
                    for snapshot in snapshots
                    for pod in snapshot.pods
                }
                with contextlib.suppress(ApplicationNotFoundError):  # deleted meanwhile
                    self.source.set_resource_tree(record.name, tree_for(record, snapshots))
                    self.source.set_live_objects(record.name, live)
                for pod in (p for s in snapshots for p in s.pods):
                    tail = self._tails.get(pod.log)
                    if tail is None:
                        tail = _Tail(record.name, pod.name, pod.log.stem, pod.log)
                    current[pod.log] = tail
            gone = [t for path, t in self._tails.items() if path not in current]
            self._tails = current
            reading = asyncio.ensure_future(
                asyncio.to_thread(_read_all, list(current.values()), gone)
            )
            try:
                await asyncio.shield(reading)
            finally:
                # Even when cancelled (stop()): the thread moves the offsets, so its lines must
                # be published, and no other pass may read the files until it is done.
                if not reading.done():
                    await reading
                self._append([*current.values(), *gone])

    def _append(self, tails: Sequence[_Tail]) -> None:
        now = self._clock()
        for tail in tails:
            for line in tail.lines:
                self.source.append_log(
                    tail.app, tail.pod, line, container=tail.container, timestamp=now
                )
            tail.lines = []

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.interval_s)
            self._wake.clear()  # before the pass: a change during it brings another
            try:
                await self.refresh()
            except Exception:  # a failed pass must not stop publishing (nor the platform)
                log.exception("publishing the runtime's trees and logs failed")

    async def _watch(self, since: int) -> None:
        """A changed record (its resources, their health) changes its tree: publish at once."""
        async for _ in self.source.watch(since):
            self._wake.set()


def publish_runtime(
    runtime: RuntimeView,
    source: InMemorySource,
    *,
    interval_s: float = TAIL_INTERVAL_S,
) -> RuntimePublisher:
    """A publisher of `runtime`'s trees and pod logs into `source`, not yet started: `async with
    publish_runtime(runtime, source): ...`, or `await p.start()` ... `await p.stop()`."""
    return RuntimePublisher(runtime, source, interval_s=interval_s)


__all__ = [
    "MAX_LINE_BYTES",
    "MAX_READ_BYTES",
    "TAIL_INTERVAL_S",
    "RuntimePublisher",
    "RuntimeView",
    "pod_health",
    "publish_runtime",
    "tree_for",
]
