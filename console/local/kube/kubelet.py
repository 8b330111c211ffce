"""The embedded platform's kubelet: runs the pods of one Deployment as local processes, on the
caller's asyncio event loop, and reports them as `PodInfo`. Which pods exist is the Deployment
controller's to say (`console.local.kube.deployment_controller`); how each runs is this module's.

- Pods are processes, one container each (`pods.parse_template` refuses the rest by field). A pod
  gets its own port on 127.0.0.1 (PORT and HOST in its environment; the container's declared
  containerPort stands in for it in probes and Services), its own directory
  `workdir/pods/<namespace>/<pod>/` as working directory, and its log `<container>.log` there,
  kept after the pod is gone; its volumes are directories there too (`console.local.kube.volumes`,
  set up before each container start). Processes are containers of `console.local.kube.containers`.
- The image is `images.resolve(container.image)`; a missing one is an image pull failure
  (ErrImagePull, then ImagePullBackOff; retried with the crash back-off). The pod never turns
  ready, so a rollout halts and the old pods keep serving, as on a cluster.
- Probes: `httpGet` against 127.0.0.1:<pod port> (`console.local.kube.prober`), one in flight per
  probe, a fresh `ProbeState` per container run (see `console.local.kube.probes`). Liveness
  failure kills the container (stop signal, SIGKILL after terminationGracePeriodSeconds); an
  exited container is restarted in place after `crash_backoff_s(n)` (CrashLoopBackOff), `n`
  counting restarts since the container last ran `CRASH_BACKOFF_RESET_S` without exiting.
- A pod's record (`pod.json`) lets a restarted platform adopt the pods a killed one left running.

Every change the controller must see (a container started or exited, readiness changed, a pod
finished terminating) calls `wake()`, synchronously on the loop. Times are the injected `clock`'s
(monotonic seconds).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from console.local.ci.images import Image, ImageStore
from console.local.kube import containers
from console.local.kube.containers import AdoptedProcess, Container
from console.local.kube.deploymentspec import RolloutError
from console.local.kube.pods import (
    EnvError,
    Lookup,
    PodTemplate,
    ServiceResolver,
    container_argv,
    container_env,
    free_port,
    parse_template,
    pod_name,
    write_record,
)
from console.local.kube.podstatus import PodInfo, PodState
from console.local.kube.prober import ProbeKind, Prober
from console.local.kube.probes import (
    ProbeSpec,
    ProbeState,
    due,
    is_ready,
    next_probe_at,
    record,
    should_restart,
)
from console.local.kube.rollout import PodView
from console.local.kube.volumes import DataLookup, VolumeError, host_paths, materialize, tmpdir_env
from console.procs import process_start
from console.timestamps import rfc3339

# kubelet's CrashLoopBackOff: 10 s, doubling, capped at five minutes; kubelet forgets the
# back-off once a container has run for twice the cap.
CRASH_BACKOFF_INITIAL_S = 10.0
CRASH_BACKOFF_MAX_S = 300.0
CRASH_BACKOFF_RESET_S = 600.0


def crash_backoff_s(restarts: int) -> float:
    """Seconds to wait before restarting a container that has already been restarted `restarts`
    times: 10, 20, 40, ... capped at 300 (kubelet's CrashLoopBackOff). Reset `restarts` for the
    back-off once a container has run CRASH_BACKOFF_RESET_S without exiting."""
    if restarts < 0:
        raise ValueError(f"restarts must be >= 0, got {restarts}")
    if restarts >= 5:  # 10 * 2**5 already exceeds the cap; avoids huge powers
        return CRASH_BACKOFF_MAX_S
    return min(CRASH_BACKOFF_MAX_S, CRASH_BACKOFF_INITIAL_S * (1 << restarts))


@dataclass(frozen=True)
class PodSettings:
    """What the node gives every pod of a Deployment besides its template: `lookup(kind,
    namespace, name, key)` reads ConfigMap/Secret keys for `valueFrom` (without it such a
    Deployment is refused); `data(kind, namespace, name)` reads a whole ConfigMap/Secret for a
    volume (without it, such a volume is a FailedMount); `injected_env` is what the platform adds
    to every container's environment (under the container's own `env`); `backoff(n)` is the
    restart and image-pull back-off, reset after `backoff_reset_s` of running."""

    lookup: Lookup | None = None
    data: DataLookup | None = None
    injected_env: Mapping[str, str] = field(default_factory=dict)
    backoff: Callable[[int], float] = crash_backoff_s
    backoff_reset_s: float = CRASH_BACKOFF_RESET_S


# How long a failed pull shows as ErrImagePull before ImagePullBackOff (the kubelet's next sync).
PULL_ERROR_SHOWN_S = 1.0
# Ports handed to pods of every kubelet in this process and not yet given back.
_LEASED_PORTS: set[int] = set()


@dataclass(eq=False)
class Pod:
    """A pod as the kubelet runs it (the controller only hands it back: `start`, `signal`)."""

    name: str
    template: PodTemplate
    created_at: float
    port: int
    dir: Path
    state: PodState = PodState.PENDING
    message: str = ""
    image: Image | None = None
    proc: Container | None = None
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


class Kubelet:
    """The pods of Deployment `owner` in `namespace`; see the module docstring.

    `resolve_service(namespace, service, port)` is the cluster DNS stand-in for env values and
    arguments (see `console.local.kube.pods`); `settings` are what every pod gets besides its
    template (PodSettings). `wake()` tells the controller that something changed.
    """

    def __init__(  # noqa: PLR0917 - the controller names its collaborators in order
        self,
        namespace: str,
        owner: str,
        images: ImageStore,
        workdir: Path,
        resolve_service: ServiceResolver,
        wake: Callable[[], None],
        clock: Callable[[], float] = time.monotonic,
        settings: PodSettings = PodSettings(),
    ) -> None:
        self.namespace = namespace
        self.owner = owner
        self.images = images
        self.workdir = Path(workdir)
        self._resolve_service = resolve_service
        self._wake = wake
        self._clock = clock
        self._settings = settings
        self.epoch = time.time() - clock()  # wall time = epoch + clock time
        self.stopping = False  # set by the controller: exited containers are no longer restarted
        self._pods: dict[str, Pod] = {}
        self._prober = Prober()
        self.adopted: list[int] = []  # pids of the pods taken over from a previous kubelet

    def open(self) -> None:
        """Ready to run pods: the prober's client."""
        self._prober.open()

    def infos(self) -> tuple[PodInfo, ...]:
        """Every pod as the API shows it, oldest first."""
        pods = sorted(self._pods.values(), key=lambda p: (p.created_at, p.name))
        return tuple(p.info(self.namespace) for p in pods)

    def views(self) -> list[PodView]:
        """Every pod as the rollout planner reads it."""
        return [p.info(self.namespace).view() for p in self._pods.values()]

    def wake_times(self, now: float) -> list[float]:
        """When something is due by the clock: kills, ImagePullBackOff, restarts, probes."""
        times: list[float] = []
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
        return times

    def terminate(self, grace_s: float | None = None) -> list[Awaitable[None]]:
        """Stop every pod: the stop signal now, SIGKILL to the process group after the pod's
        terminationGracePeriodSeconds (or `grace_s`). Await what it returns: each pod's end."""
        now = self._clock()
        waits: list[Awaitable[None]] = []
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
                self.signal(pod)
            waits.append(self._reap(pod))
        return waits

    def forget_all(self) -> None:
        """Forget every pod, once `terminate` has ended them."""
        for pod in list(self._pods.values()):
            self._forget(pod)

    async def close(self) -> None:
        """Stop probing: probes in flight are cancelled, the client closed."""
        await self._prober.close()

    def adopt(self, records: Sequence[Mapping[str, Any]]) -> None:
        """Take over the pods a previous (killed) kubelet left running, as a restarted
        kubelet finds its containers still running: each keeps its process, port and log, and
        counts as started now; its probes decide when it is ready. A record that cannot be
        read back (no template, a template this platform refuses now) is left to the caller,
        which reaps what nobody adopted."""
        now = self._clock()
        for saved in records:
            try:
                raw = saved["template"]
                template = parse_template(
                    {"metadata": {"name": self.owner}, "spec": {"template": raw}},
                    lookup=self._settings.lookup is not None,
                )
                name, port, pid = str(saved["pod"]), int(saved["port"]), int(saved["pid"])
            except (RolloutError, KeyError, TypeError, ValueError):
                continue
            proc = AdoptedProcess(pid, saved.get("process_start"))
            if not proc.alive() or name in self._pods:
                continue
            age = max(0.0, time.time() - float(saved.get("created") or time.time()))
            pod = Pod(
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
        self._wake()

    def delete(self, name: str, now: float) -> Pod | None:
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

    def new_pod(self, template: PodTemplate, now: float) -> Pod:
        """A pod of `template`, created (its directory and port), not started yet."""
        name = pod_name(self.owner, template.hash, self._pods)
        directory = self.workdir / "pods" / self.namespace / name
        directory.mkdir(parents=True, exist_ok=True)
        port = free_port(taken=_LEASED_PORTS)
        _LEASED_PORTS.add(port)
        pod = Pod(name=name, template=template, created_at=now, port=port, dir=directory)
        self._pods[name] = pod
        return pod

    def _forget(self, pod: Pod) -> None:
        self._cancel_probes(pod)
        if self._pods.pop(pod.name, None) is not None:
            _LEASED_PORTS.discard(pod.port)

    def _retry_later(self, pod: Pod, state: PodState, message: str) -> None:
        now = self._clock()
        delay = self._settings.backoff(pod.failures)
        pod.failures += 1
        pod.state, pod.message, pod.retry_at = state, message, now + delay
        if state is PodState.ERR_IMAGE_PULL:
            pod.shown_at = now + min(PULL_ERROR_SHOWN_S, delay)

    async def start(self, pod: Pod) -> None:
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
                template.mounts,
                materialize(template.volumes, pod.dir, self.namespace, self._settings.data),
            )
            env = container_env(
                template,
                namespace=self.namespace,
                pod_name=pod.name,
                port=pod.port,
                resolve_service=self._resolve_service,
                lookup=self._settings.lookup,
                paths=paths,
                injected={**self._settings.injected_env, **tmpdir_env(paths)},
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
            proc = await containers.run(argv, pod.dir, image.environ(env), pod.log)
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
            "deployment": self.owner,
            "pod": pod.name,
            "pid": proc.pid,
            "process_start": process_start(proc.pid),
            "port": pod.port,
            "image": template.image,
            "digest": image.digest,
            "started": rfc3339(time.time()),
            # What a restarted platform needs to adopt the pod instead of replacing it.
            "template": template.manifest,
            "created": self.epoch + pod.created_at,
            "ready": pod.ready_since is not None,
        }
        write_record(pod.dir, pod.record)
        pod.watcher = asyncio.get_running_loop().create_task(self._watch(pod, proc, pod.run))
        self._wake()

    async def _watch(self, pod: Pod, proc: Container, run: int) -> None:
        code = await proc.wait()
        containers.kill_group(proc.pid)  # the rest of the container goes with its main process
        with contextlib.suppress(OSError):
            write_record(pod.dir, {**pod.record, "pid": None, "exit_code": code})
        if pod.run != run or pod.proc is not proc:
            return
        pod.proc = None
        exit_code = 128 - code if code < 0 else code
        self._cancel_probes(pod)
        if pod.terminating or self.stopping:
            pod.exit_code = exit_code
            self._forget(pod)
        else:
            self._crashed(pod, exit_code, "failed its liveness probe" if pod.killing else "")
        self._wake()

    def _crashed(self, pod: Pod, exit_code: int, reason: str) -> None:
        now = self._clock()
        if pod.started_at is not None and now - pod.started_at >= self._settings.backoff_reset_s:
            pod.backoff_level = 0  # it ran long enough: the kubelet forgets the back-off
        delay = self._settings.backoff(pod.backoff_level)
        pod.exit_code, pod.ready_since, pod.killing, pod.kill_at = exit_code, None, False, None
        pod.state = PodState.CRASH_LOOP_BACKOFF
        pod.retry_at = now + delay
        detail = f" ({reason})" if reason else f" (exit code {exit_code})"
        pod.message = (
            f"back-off {delay:g}s restarting failed container={pod.template.container_name} "
            f"pod={pod.name}{detail}"
        )

    def signal(self, pod: Pod) -> None:
        """The image's stop signal to the container's main process; SIGKILL at once with no
        grace period."""
        if pod.proc is None:
            return
        if pod.kill_at is not None and pod.kill_at <= self._clock():
            containers.kill_group(pod.proc.pid)
            return
        containers.stop(pod.proc.pid, pod.image.stop_signal if pod.image else "SIGTERM")

    async def _reap(self, pod: Pod) -> None:
        """Wait for a stopping pod's process, SIGKILLing its group at its deadline."""
        proc, watcher = pod.proc, pod.watcher
        if proc is None:
            return
        timeout = max(0.0, (pod.kill_at or self._clock()) - self._clock())
        try:
            await asyncio.wait_for(asyncio.shield(proc.wait()), timeout)
        except TimeoutError:
            containers.kill_group(proc.pid)
            await proc.wait()
        if watcher is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await watcher

    async def timers(self) -> None:
        """What is due by the clock: SIGKILLs, ImagePullBackOff, restarts and pull retries."""
        now = self._clock()
        for pod in list(self._pods.values()):
            if self.stopping:
                return
            if pod.kill_at is not None and now >= pod.kill_at and pod.proc is not None:
                containers.kill_group(pod.proc.pid)
                pod.kill_at = None
            if pod.shown_at is not None and now >= pod.shown_at:
                pod.shown_at = None
                if pod.state is PodState.ERR_IMAGE_PULL:
                    pod.state = PodState.IMAGE_PULL_BACKOFF
                    pod.message = f'Back-off pulling image "{pod.template.image}"'
            idle = pod.proc is None and not pod.terminating
            if idle and pod.retry_at is not None and now >= pod.retry_at:
                await self.start(pod)

    @staticmethod
    def _probes(pod: Pod) -> list[tuple[ProbeKind, ProbeSpec, ProbeState]]:
        out: list[tuple[ProbeKind, ProbeSpec, ProbeState]] = []
        probes = pod.template.probes
        if probes.readiness is not None:
            out.append(("readiness", probes.readiness, pod.readiness))
        if probes.liveness is not None:
            out.append(("liveness", probes.liveness, pod.liveness))
        return out

    def schedule_probes(self) -> None:
        """Start every probe that is due, one in flight per probe of a pod."""
        now = self._clock()
        for pod in self._pods.values():
            if pod.proc is None or pod.state is not PodState.RUNNING or pod.killing:
                continue
            started = pod.started_at if pod.started_at is not None else now
            for kind, spec, state in self._probes(pod):
                if kind not in pod.inflight and due(state, spec, started, now):
                    pod.inflight[kind] = self._prober.spawn(self._probe(pod, pod.run, kind, spec))

    def _cancel_probes(self, pod: Pod) -> None:
        for task in pod.inflight.values():
            task.cancel()
        pod.inflight.clear()

    async def _probe(self, pod: Pod, run: int, kind: ProbeKind, spec: ProbeSpec) -> None:
        try:
            ok = await self._prober.http_get(pod.port, spec)
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
                self.signal(pod)
                self._record_readiness(pod)
        self._wake()

    @staticmethod
    def _record_readiness(pod: Pod) -> None:
        """Keep the readiness verdict in pod.json, for a restarted platform to adopt with it."""
        ready = pod.ready_since is not None
        if pod.record and pod.record.get("ready") is not ready:
            pod.record["ready"] = ready
            with contextlib.suppress(OSError):  # a full disk must not stop the prober
                write_record(pod.dir, pod.record)
