"""The embedded platform's kubelet and Deployment controller in one: a `DeploymentRunner` runs one
Deployment's pods as local processes on the caller's asyncio event loop.

- Pods are processes, one container each (`pods.parse_template` refuses the rest by field). A pod
  gets its own port on 127.0.0.1 (PORT and HOST in its environment; the container's declared
  containerPort stands in for it in probes and Services), its own directory
  `workdir/pods/<namespace>/<pod>/` as working directory, and its log `<container>.log` there,
  kept after the pod is gone; its volumes are directories there too (`console.local.kube.volumes`,
  set up before each container start). Each process leads its own session: the image's
  STOPSIGNAL goes to it, SIGKILL to its whole group, and the group is killed when its leader
  exits, as a container's cgroup would be.
- The image is `images.resolve(container.image)`; a missing one is an image pull failure
  (ErrImagePull, then ImagePullBackOff; retried with the crash back-off). The pod never turns
  ready, so a rollout halts and the old pods keep serving, as on a cluster.
- Probes: `httpGet` against 127.0.0.1:<pod port>, one in flight per probe, a fresh `ProbeState`
  per container run (see `console.local.kube.probes`). Liveness failure kills the container (stop
  signal, SIGKILL after terminationGracePeriodSeconds); an exited container is restarted in place
  after `crash_backoff_s(n)` (CrashLoopBackOff), `n` counting restarts since the container last
  ran `CRASH_BACKOFF_RESET_S` without exiting.
- `rollout.plan` decides what to create and delete and the Deployment's status. It is called
  after every pod event (started, exited, readiness changed, finished terminating), on `update`,
  and at `Plan.wake_at`; the runner's loop sleeps on an event, not on a poll.

Every change of the runner's `DeploymentSnapshot` (pods, readiness, status) is passed to
`on_change`, synchronously on the loop: the Service proxy takes `snapshot.endpoints()` from it and
the reconciler the Deployment's status and health. Pods being deleted leave the endpoints before
their process gets the stop signal.

Times are the injected `clock`'s (monotonic seconds; it must advance like `time.monotonic`, as the
runner sleeps in real time).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal, Protocol

import httpx

from console.local.argo.health import Health, deployment_health
from console.local.ci.images import Image, ImageStore
from console.local.kube.pods import (
    EnvError,
    Lookup,
    PodTemplate,
    ServiceResolver,
    container_argv,
    container_env,
    free_port,
    parse_signal,
    parse_template,
    pod_name,
    write_record,
)
from console.local.kube.probes import (
    ProbeSpec,
    ProbeState,
    due,
    http_ok,
    is_ready,
    next_probe_at,
    record,
    should_restart,
)
from console.local.kube.rollout import (
    CRASH_BACKOFF_RESET_S,
    DeploymentSpec,
    DeploymentStatus,
    InvalidDeployment,
    PodPhase,
    PodView,
    RolloutError,
    RolloutState,
    crash_backoff_s,
    plan,
)
from console.local.kube.volumes import DataLookup, VolumeError, host_paths, materialize, tmpdir_env
from console.procs import process_start, process_state
from console.timestamps import rfc3339

log = logging.getLogger(__name__)

# A safety net only: the loop wakes on events and on the times it computes.
MAX_WAIT_S = 5.0
MIN_WAIT_S = 0.005
# How long a failed pull shows as ErrImagePull before ImagePullBackOff (the kubelet's next sync).
PULL_ERROR_SHOWN_S = 1.0
PROBE_USER_AGENT = "kube-probe/1.31"
# Ports handed to pods of every runner in this process and not yet given back.
_LEASED_PORTS: set[int] = set()

ProbeKind = Literal["readiness", "liveness"]


class PodState(StrEnum):
    """A pod's STATUS as `kubectl get pods` shows it."""

    PENDING = "Pending"
    ERR_IMAGE_PULL = "ErrImagePull"
    IMAGE_PULL_BACKOFF = "ImagePullBackOff"
    CREATE_CONTAINER_CONFIG_ERROR = "CreateContainerConfigError"
    RUNNING = "Running"
    CRASH_LOOP_BACKOFF = "CrashLoopBackOff"
    TERMINATING = "Terminating"


_PLANNER_PHASE = {
    PodState.PENDING: PodPhase.PENDING,
    PodState.ERR_IMAGE_PULL: PodPhase.PENDING,
    PodState.IMAGE_PULL_BACKOFF: PodPhase.PENDING,
    PodState.CREATE_CONTAINER_CONFIG_ERROR: PodPhase.PENDING,
    PodState.RUNNING: PodPhase.RUNNING,
    PodState.CRASH_LOOP_BACKOFF: PodPhase.CRASHLOOP,
    PodState.TERMINATING: PodPhase.TERMINATING,
}


@dataclass(frozen=True, slots=True, kw_only=True)
class PodInfo:
    """One pod as the API shows it. Times are the runner's clock (monotonic seconds)."""

    name: str
    namespace: str
    template_hash: str
    phase: PodState
    ready: bool
    restarts: int
    port: int  # where the process listens, on 127.0.0.1
    pid: int | None  # None while no process runs
    log: Path
    image: str  # the reference the container names
    image_digest: str | None  # None until the image resolved
    created_at: float
    started_at: float | None  # the current container run's start
    ready_since: float | None
    exit_code: int | None  # of the last container run that ended (128+n: killed by signal n)
    message: str = ""  # why it is not running, in kubelet's words

    def view(self) -> PodView:
        """The pod as `rollout.plan` and `health.pod_health` read it."""
        return PodView(
            name=self.name,
            template_hash=self.template_hash,
            phase=_PLANNER_PHASE[self.phase],
            ready_since=self.ready_since,
            restarts=self.restarts,
            created_at=self.created_at,
        )


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

    def health(self) -> Health:
        """Argo CD's health of the Deployment."""
        return deployment_health(self.spec, self.status)

    def timestamp(self, clock_time: float) -> str:
        """An RFC 3339 UTC timestamp for a time of the runner's clock."""
        return rfc3339(self.epoch + clock_time)


class _Running(Protocol):
    """A container's main process: a child this supervisor started (asyncio's Process), or one
    a previous supervisor started that this one adopted."""

    @property
    def pid(self) -> int: ...

    @property
    def returncode(self) -> int | None: ...

    async def wait(self) -> int: ...


ADOPTED_EXIT_CODE = 255  # the exit status of a process that is not our child is not ours to read
ADOPTED_POLL_S = 0.25  # where pidfd_open is missing: how often an adopted process is looked at


class AdoptedProcess:
    """A pod's process a previous (killed) supervisor started and left running, adopted by its
    identity (pid and start time): it is not this process's child, so its end is seen through a
    pidfd (Linux) or by looking, and its exit status is unknown."""

    def __init__(self, pid: int, identity: str | None) -> None:
        self._pid, self._identity = pid, identity
        self._code: int | None = None

    @property
    def pid(self) -> int:
        return self._pid

    @property
    def returncode(self) -> int | None:
        return self._code

    def alive(self) -> bool:
        state = process_state(self._pid)
        return state not in (None, "Z", "X") and (
            self._identity is None or process_start(self._pid) == self._identity
        )

    async def wait(self) -> int:
        if self._code is None:
            loop = asyncio.get_running_loop()
            readable = asyncio.Event()
            pidfd = _pidfd(self._pid)
            if pidfd is not None:
                loop.add_reader(pidfd, readable.set)  # readable once the process has ended
            try:
                while self.alive():  # a zombie (its parent has not reaped it) has ended too
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(readable.wait(), ADOPTED_POLL_S)
            finally:
                if pidfd is not None:
                    loop.remove_reader(pidfd)
                    os.close(pidfd)
            self._code = ADOPTED_EXIT_CODE
        return self._code


def _pidfd(pid: int) -> int | None:
    opener = getattr(os, "pidfd_open", None)
    if opener is None:
        return None
    try:
        fd: int = opener(pid)
    except OSError:
        return None
    return fd


@dataclass(eq=False)
class _Pod:
    name: str
    template: PodTemplate
    created_at: float
    port: int
    dir: Path
    state: PodState = PodState.PENDING
    message: str = ""
    image: Image | None = None
    proc: _Running | None = None
    run: int = 0  # container runs started; results of an older run are dropped
    started_at: float | None = None
    ready_since: float | None = None
    restarts: int = 0
    backoff_level: int = 0  # restarts since the container last ran long enough to reset
    failures: int = 0  # consecutive pull / config failures
    retry_at: float | None = None  # next start or pull attempt
    shown_at: float | None = None  # ErrImagePull turns ImagePullBackOff
    exit_code: int | None = None
    readiness: ProbeState = field(default_factory=ProbeState)
    liveness: ProbeState = field(default_factory=ProbeState)
    inflight: dict[ProbeKind, asyncio.Task[None]] = field(default_factory=dict)
    killing: bool = False  # the liveness probe failed: stopping this run
    kill_at: float | None = None  # SIGKILL the group at this time
    watcher: asyncio.Task[None] | None = None
    record: dict[str, Any] = field(default_factory=dict)  # pod.json: what a restart must find

    @property
    def log(self) -> Path:
        return self.dir / f"{self.template.container_name}.log"

    @property
    def terminating(self) -> bool:
        return self.state is PodState.TERMINATING

    @property
    def ready(self) -> bool:
        return self.state is PodState.RUNNING and self.ready_since is not None

    def info(self, namespace: str) -> PodInfo:
        return PodInfo(
            name=self.name,
            namespace=namespace,
            template_hash=self.template.hash,
            phase=self.state,
            ready=self.ready,
            restarts=self.restarts,
            port=self.port,
            pid=None if self.proc is None else self.proc.pid,
            log=self.log,
            image=self.template.image,
            image_digest=None if self.image is None else self.image.digest,
            created_at=self.created_at,
            started_at=self.started_at,
            ready_since=self.ready_since if self.ready else None,
            exit_code=self.exit_code,
            message=self.message,
        )


class DeploymentRunner:
    """One Deployment's pods, supervised on the running event loop.

    `resolve_service(namespace, service, port)` is the cluster DNS stand-in for env values and
    arguments (see `console.local.kube.pods`); `lookup(kind, namespace, name, key)` reads
    ConfigMap/Secret keys for `valueFrom` (without it such a Deployment is refused); `data(kind,
    namespace, name)` reads a whole ConfigMap/Secret for a volume (without it, such a volume is
    a FailedMount); `injected_env` is what the platform adds to every container's environment
    (under the container's own `env`); `backoff(n)` is the restart and image-pull back-off.
    Raises `RolloutError` subclasses (`UnsupportedDeployment`, `InvalidDeployment`) for a
    manifest it cannot run, naming the field.
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
        lookup: Lookup | None = None,
        data: DataLookup | None = None,
        injected_env: Mapping[str, str] | None = None,
        backoff: Callable[[int], float] = crash_backoff_s,
        backoff_reset_s: float = CRASH_BACKOFF_RESET_S,
        state: RolloutState | None = None,
        adopt: Sequence[Mapping[str, Any]] = (),
    ) -> None:
        self.namespace = namespace
        self.images = images
        self.workdir = Path(workdir)
        self._resolve_service = resolve_service
        self._on_change = on_change
        self._clock = clock
        self._lookup = lookup
        self._data = data
        self._injected_env = dict(injected_env or {})
        self._backoff = backoff
        self._backoff_reset_s = backoff_reset_s
        self._epoch = time.time() - clock()
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
        self._pods: dict[str, _Pod] = {}
        self._event = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._client: httpx.AsyncClient | None = None
        self._snapshot: DeploymentSnapshot | None = None
        self._probe_tasks: set[asyncio.Task[None]] = set()
        self._adopt_records = list(adopt)
        self.adopted: list[int] = []  # pids of the pods taken over from a previous supervisor

    # ---- public ------------------------------------------------------------------------------

    @property
    def spec(self) -> DeploymentSpec:
        return self._spec

    @property
    def state(self) -> RolloutState:
        """The planner's bookkeeping, to persist with the Deployment."""
        return self._state

    async def start(self) -> None:
        """Create the pods and start supervising them."""
        if self._task is not None:
            return
        self._client = httpx.AsyncClient(
            trust_env=False,
            verify=False,  # noqa: S501 - the kubelet does not verify HTTPS probe certificates
            follow_redirects=False,
            limits=httpx.Limits(max_keepalive_connections=0),  # probes do not keep connections
            headers={"User-Agent": PROBE_USER_AGENT},
        )
        self._adopt(self._adopt_records)
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
        self._stopping = True
        self._event.set()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        now = self._clock()
        waits = []
        for pod in list(self._pods.values()):
            self._cancel_probes(pod)
            if pod.proc is None:
                self._forget(pod)
                continue
            grace = pod.template.grace_s if grace_s is None else grace_s
            deadline = now + grace
            signalled = pod.terminating or pod.killing
            pod.state, pod.ready_since = PodState.TERMINATING, None
            pod.kill_at = deadline if pod.kill_at is None else min(pod.kill_at, deadline)
            if not signalled or pod.kill_at <= now:
                self._signal(pod)
            waits.append(self._reap(pod))
        self._publish()
        await asyncio.gather(*waits)
        for pod in list(self._pods.values()):
            self._forget(pod)
        self._status = replace(
            self._status,
            replicas=0,
            updated_replicas=0,
            ready_replicas=0,
            available_replicas=0,
            unavailable_replicas=0,
        )
        self._publish()
        for task in list(self._probe_tasks):
            task.cancel()
        await asyncio.gather(*self._probe_tasks, return_exceptions=True)
        if self._client is not None:
            await self._client.aclose()
            self._client = None

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
        while not self._stopping:
            timeout = self._next_wake() - self._clock()
            # A floor, so that a wake-up time that stays in the past cannot spin the loop.
            timeout = min(max(timeout, MIN_WAIT_S), MAX_WAIT_S)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._event.wait(), timeout)
            if self._stopping:
                return
            self._event.clear()
            try:
                await self._sync()
            except Exception:  # keep supervising; the next event retries
                log.exception("deployment %s/%s: sync failed", self.namespace, self.name)
                await asyncio.sleep(0.5)

    def _next_wake(self) -> float:
        now = self._clock()
        times = [now + MAX_WAIT_S]
        if self._wake_at is not None:
            times.append(self._wake_at)
        for pod in self._pods.values():
            times += [t for t in (pod.kill_at, pod.shown_at) if t is not None]
            if pod.proc is None and not pod.terminating and pod.retry_at is not None:
                times.append(pod.retry_at)
            if pod.proc is not None and pod.state is PodState.RUNNING and not pod.killing:
                times += [
                    next_probe_at(state, spec, pod.started_at or now)
                    for kind, spec, state in self._probes(pod)
                    if kind not in pod.inflight
                ]
        return min(times)

    async def _sync(self) -> None:
        """One reconciliation: due restarts and kills, then the plan, then probes."""
        await self._timers()
        if self._stopping:
            return
        now = self._clock()
        views = [p.info(self.namespace).view() for p in self._pods.values()]
        result = plan(self._spec, views, self._state, now)
        self._state, self._status, self._wake_at = result.state, result.status, result.wake_at
        self._observed = self._generation
        signalled = [pod for name in result.delete if (pod := self._delete(name, now))]
        created = [self._new_pod(now) for _ in range(result.create)]
        # Off the endpoints first, then the signal: the proxy stops routing to a pod before it
        # begins shutting down.
        self._publish()
        for pod in signalled:
            self._signal(pod)
        for pod in created:
            if self._stopping:
                break
            await self._start(pod)
        if result.create or result.delete:
            self._event.set()  # plan again with what the changes made
        self._schedule_probes()
        self._publish()

    async def _timers(self) -> None:
        """What is due by the clock: SIGKILLs, ImagePullBackOff, restarts and pull retries."""
        now = self._clock()
        for pod in list(self._pods.values()):
            if self._stopping:
                return
            if pod.kill_at is not None and now >= pod.kill_at and pod.proc is not None:
                _killpg(pod.proc.pid)
                pod.kill_at = None
            if pod.shown_at is not None and now >= pod.shown_at:
                pod.shown_at = None
                if pod.state is PodState.ERR_IMAGE_PULL:
                    pod.state = PodState.IMAGE_PULL_BACKOFF
                    pod.message = f'Back-off pulling image "{pod.template.image}"'
            idle = pod.proc is None and not pod.terminating
            if idle and pod.retry_at is not None and now >= pod.retry_at:
                await self._start(pod)

    def _adopt(self, records: Sequence[Mapping[str, Any]]) -> None:
        """Take over the pods a previous (killed) supervisor left running, as a restarted
        kubelet finds its containers still running: each keeps its process, port and log, and
        counts as started now; its probes decide when it is ready. A record that cannot be
        read back (no template, a template this platform refuses now) is left to the caller,
        which reaps what nobody adopted."""
        now = self._clock()
        for saved in records:
            try:
                raw = saved["template"]
                template = parse_template(
                    {"metadata": {"name": self.name}, "spec": {"template": raw}},
                    lookup=self._lookup is not None,
                )
                name, port, pid = str(saved["pod"]), int(saved["port"]), int(saved["pid"])
            except (RolloutError, KeyError, TypeError, ValueError):
                continue
            proc = AdoptedProcess(pid, saved.get("process_start"))
            if not proc.alive() or name in self._pods:
                continue
            age = max(0.0, time.time() - float(saved.get("created") or time.time()))
            pod = _Pod(
                name=name,
                template=template,
                created_at=now - age,
                port=port,
                dir=self.workdir / "pods" / self.namespace / name,
            )
            pod.image = self.images.resolve(template.image)
            pod.proc, pod.run, pod.started_at = proc, 1, now
            pod.state = PodState.RUNNING
            pod.record = dict(saved)
            if template.probes.readiness is None:
                pod.ready_since = now
            elif saved.get("ready") is True:
                # Ready as it was last seen, and probed at once to confirm: the endpoints of a
                # cluster live in the API server, so a kubelet restart does not take a ready pod
                # out of its Services (and here the data plane routes to it meanwhile).
                pod.ready_since = now
                pod.readiness = ProbeState(passing=True, next_due=now)
            self._pods[name] = pod
            _LEASED_PORTS.add(port)
            pod.watcher = asyncio.get_running_loop().create_task(self._watch(pod, proc, 1))
            self.adopted.append(pid)
        self._event.set()

    def _delete(self, name: str, now: float) -> _Pod | None:
        """Mark a pod terminating; the pod if its process still has to be signalled."""
        pod = self._pods[name]
        self._cancel_probes(pod)
        signalled = pod.killing  # the liveness probe's kill is already under way
        pod.state, pod.ready_since = PodState.TERMINATING, None
        pod.retry_at = pod.shown_at = None
        self._record_readiness(pod)
        if pod.proc is None:
            self._forget(pod)
            return None
        if pod.kill_at is None:
            pod.kill_at = now + pod.template.grace_s
        return None if signalled else pod

    # ---- pods --------------------------------------------------------------------------------

    def _new_pod(self, now: float) -> _Pod:
        template = self._template
        name = pod_name(self.name, template.hash, self._pods)
        directory = self.workdir / "pods" / self.namespace / name
        directory.mkdir(parents=True, exist_ok=True)
        port = free_port(taken=_LEASED_PORTS)
        _LEASED_PORTS.add(port)
        pod = _Pod(name=name, template=template, created_at=now, port=port, dir=directory)
        self._pods[name] = pod
        return pod

    def _forget(self, pod: _Pod) -> None:
        self._cancel_probes(pod)
        if self._pods.pop(pod.name, None) is not None:
            _LEASED_PORTS.discard(pod.port)

    def _retry_later(self, pod: _Pod, state: PodState, message: str) -> None:
        now = self._clock()
        delay = self._backoff(pod.failures)
        pod.failures += 1
        pod.state, pod.message, pod.retry_at = state, message, now + delay
        if state is PodState.ERR_IMAGE_PULL:
            pod.shown_at = now + min(PULL_ERROR_SHOWN_S, delay)

    async def _start(self, pod: _Pod) -> None:
        """Start the pod's container (first run or restart), or record why it cannot."""
        template = pod.template
        restarting = pod.run > 0
        pod.retry_at = None
        # imagePullPolicy Always: every container start pulls, so a restart runs what the tag
        # names now (only the platform's own image ever moves its tag: console.local.platform).
        if pod.image is None or template.container.get("imagePullPolicy") == "Always":
            pod.image = self.images.resolve(template.image)
            if pod.image is None:
                self._retry_later(
                    pod,
                    PodState.ERR_IMAGE_PULL,
                    f'Failed to pull image "{template.image}": not found in the image store',
                )
                return
            pod.failures = 0
        try:
            # Volumes first, as the kubelet mounts them before it creates the container.
            paths = host_paths(
                template.mounts, materialize(template.volumes, pod.dir, self.namespace, self._data)
            )
            env = container_env(
                template,
                namespace=self.namespace,
                pod_name=pod.name,
                port=pod.port,
                resolve_service=self._resolve_service,
                lookup=self._lookup,
                paths=paths,
                injected={**self._injected_env, **tmpdir_env(paths)},
            )
        except VolumeError as exc:
            self._retry_later(pod, PodState.PENDING, str(exc))
            return
        except EnvError as exc:
            self._retry_later(pod, PodState.CREATE_CONTAINER_CONFIG_ERROR, str(exc))
            return
        pod.failures = 0
        image = pod.image
        command, args = container_argv(
            template,
            env,
            namespace=self.namespace,
            resolve_service=self._resolve_service,
            paths=paths,
        )
        argv = image.argv(command, args)
        if restarting:
            pod.restarts += 1
            pod.backoff_level += 1
        now = self._clock()
        pod.run += 1
        pod.readiness, pod.liveness = ProbeState(), ProbeState()
        pod.killing, pod.kill_at = False, None
        pod.dir.mkdir(parents=True, exist_ok=True)
        try:
            if not argv:
                raise OSError("no command specified: the image has no ENTRYPOINT or CMD")
            with pod.log.open("ab") as out:
                proc = await asyncio.create_subprocess_exec(
                    *argv,
                    cwd=pod.dir,
                    env=image.environ(env),
                    stdin=asyncio.subprocess.DEVNULL,
                    stdout=out,
                    stderr=asyncio.subprocess.STDOUT,
                    start_new_session=True,
                )
        except OSError as exc:
            # The kubelet's StartError: counted as a failed run, restarted with back-off.
            with pod.log.open("a", encoding="utf-8") as out:
                out.write(f"failed to start container {template.container_name!r}: {exc}\n")
            pod.started_at = now
            self._crashed(pod, 128, f"StartError: {exc}")
            return
        pod.proc, pod.started_at = proc, now
        pod.state, pod.message = PodState.RUNNING, ""
        pod.ready_since = now if template.probes.readiness is None else None
        pod.record = {
            "namespace": self.namespace,
            "deployment": self.name,
            "pod": pod.name,
            "pid": proc.pid,
            "process_start": process_start(proc.pid),
            "port": pod.port,
            "image": template.image,
            "digest": image.digest,
            "started": rfc3339(time.time()),
            # What a restarted platform needs to adopt the pod instead of replacing it.
            "template": template.manifest,
            "created": self._epoch + pod.created_at,
            "ready": pod.ready_since is not None,
        }
        write_record(pod.dir, pod.record)
        pod.watcher = asyncio.get_running_loop().create_task(self._watch(pod, proc, pod.run))
        self._event.set()

    async def _watch(self, pod: _Pod, proc: _Running, run: int) -> None:
        code = await proc.wait()
        _killpg(proc.pid)  # the rest of the container goes with its main process
        with contextlib.suppress(OSError):
            write_record(pod.dir, {**pod.record, "pid": None, "exit_code": code})
        if pod.run != run or pod.proc is not proc:
            return
        pod.proc = None
        exit_code = 128 - code if code < 0 else code
        self._cancel_probes(pod)
        if pod.terminating or self._stopping:
            pod.exit_code = exit_code
            self._forget(pod)
        else:
            self._crashed(pod, exit_code, "failed its liveness probe" if pod.killing else "")
        self._event.set()

    def _crashed(self, pod: _Pod, exit_code: int, reason: str) -> None:
        now = self._clock()
        if pod.started_at is not None and now - pod.started_at >= self._backoff_reset_s:
            pod.backoff_level = 0  # it ran long enough: the kubelet forgets the back-off
        delay = self._backoff(pod.backoff_level)
        pod.exit_code, pod.ready_since, pod.killing, pod.kill_at = exit_code, None, False, None
        pod.state = PodState.CRASH_LOOP_BACKOFF
        pod.retry_at = now + delay
        detail = f" ({reason})" if reason else f" (exit code {exit_code})"
        pod.message = (
            f"back-off {delay:g}s restarting failed container={pod.template.container_name} "
            f"pod={pod.name}{detail}"
        )

    def _signal(self, pod: _Pod) -> None:
        """The image's stop signal to the container's main process; SIGKILL at once with no
        grace period."""
        if pod.proc is None:
            return
        if pod.kill_at is not None and pod.kill_at <= self._clock():
            _killpg(pod.proc.pid)
            return
        sig = parse_signal(pod.image.stop_signal if pod.image else "SIGTERM")
        with contextlib.suppress(ProcessLookupError):
            os.kill(pod.proc.pid, sig)

    async def _reap(self, pod: _Pod) -> None:
        """Wait for a stopping pod's process, SIGKILLing its group at its deadline."""
        proc, watcher = pod.proc, pod.watcher
        if proc is None:
            return
        timeout = max(0.0, (pod.kill_at or self._clock()) - self._clock())
        try:
            await asyncio.wait_for(asyncio.shield(proc.wait()), timeout)
        except TimeoutError:
            _killpg(proc.pid)
            await proc.wait()
        if watcher is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await watcher

    # ---- probes ------------------------------------------------------------------------------

    @staticmethod
    def _probes(pod: _Pod) -> list[tuple[ProbeKind, ProbeSpec, ProbeState]]:
        out: list[tuple[ProbeKind, ProbeSpec, ProbeState]] = []
        probes = pod.template.probes
        if probes.readiness is not None:
            out.append(("readiness", probes.readiness, pod.readiness))
        if probes.liveness is not None:
            out.append(("liveness", probes.liveness, pod.liveness))
        return out

    def _schedule_probes(self) -> None:
        now = self._clock()
        loop = asyncio.get_running_loop()
        for pod in self._pods.values():
            if pod.proc is None or pod.state is not PodState.RUNNING or pod.killing:
                continue
            started = pod.started_at if pod.started_at is not None else now
            for kind, spec, state in self._probes(pod):
                if kind not in pod.inflight and due(state, spec, started, now):
                    task = loop.create_task(self._probe(pod, pod.run, kind, spec))
                    pod.inflight[kind] = task
                    self._probe_tasks.add(task)
                    task.add_done_callback(self._probe_tasks.discard)

    def _cancel_probes(self, pod: _Pod) -> None:
        for task in pod.inflight.values():
            task.cancel()
        pod.inflight.clear()

    async def _probe(self, pod: _Pod, run: int, kind: ProbeKind, spec: ProbeSpec) -> None:
        try:
            ok = await self._http_probe(pod.port, spec)
        finally:
            if pod.inflight.get(kind) is asyncio.current_task():
                del pod.inflight[kind]
        if pod.run != run or pod.proc is None or pod.state is not PodState.RUNNING:
            return
        now = self._clock()
        if kind == "readiness":
            pod.readiness = record(pod.readiness, spec, ok, now)
            ready = is_ready(pod.readiness, spec) and not pod.killing
            if ready and pod.ready_since is None:
                pod.ready_since = now
            elif not ready:
                pod.ready_since = None
            self._record_readiness(pod)
        else:
            pod.liveness = record(pod.liveness, spec, ok, now)
            if should_restart(pod.liveness, spec) and not pod.killing:
                pod.killing, pod.ready_since = True, None
                pod.message = (
                    f"Container {pod.template.container_name} failed liveness probe, "
                    "will be restarted"
                )
                self._cancel_probes(pod)
                pod.kill_at = now + pod.template.grace_s
                self._signal(pod)
                self._record_readiness(pod)
        self._event.set()

    @staticmethod
    def _record_readiness(pod: _Pod) -> None:
        """Keep the readiness verdict in pod.json, for a restarted platform to adopt with it."""
        ready = pod.ready_since is not None
        if pod.record and pod.record.get("ready") is not ready:
            pod.record["ready"] = ready
            with contextlib.suppress(OSError):  # a full disk must not stop the prober
                write_record(pod.dir, pod.record)

    async def _http_probe(self, port: int, spec: ProbeSpec) -> bool:
        client = self._client
        if client is None:
            return False
        path = spec.path if spec.path.startswith("/") else "/" + spec.path
        url = f"{spec.scheme.lower()}://127.0.0.1:{port}{path}"
        try:
            response = await client.get(
                url, headers=dict(spec.headers), timeout=float(spec.timeout_s)
            )
        except (httpx.HTTPError, OSError):
            return False
        return http_ok(response.status_code)

    # ---- snapshots ---------------------------------------------------------------------------

    def _build_snapshot(self) -> DeploymentSnapshot:
        pods = sorted(self._pods.values(), key=lambda p: (p.created_at, p.name))
        return DeploymentSnapshot(
            namespace=self.namespace,
            name=self.name,
            generation=self._generation,
            observed_generation=self._observed,
            spec=self._spec,
            status=self._status,
            pods=tuple(p.info(self.namespace) for p in pods),
            container_port=self._template.container_port,
            port_name=self._template.port_name,
            status_manifest=self._status.to_manifest(
                observed_generation=self._observed,
                timestamp=lambda t: rfc3339(self._epoch + t),
            ),
            epoch=self._epoch,
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


def _killpg(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
