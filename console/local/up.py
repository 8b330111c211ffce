"""`gitops up`: the embedded platform assembled on one machine, in the foreground.

A new workspace is scaffolded from repos.yaml into bare "remote" repositories on the local Git
host, the apps CI runs once (test, build, promote into the first environment), the build is
promoted through every later environment, and the controller deploys every Application. An
existing workspace resumes: Git holds the desired state, so the controller re-derives what must
run (pods a killed platform left behind are adopted, the rest stopped). One asyncio loop runs
the API server, the controller and the runtime; CI runs in a worker thread on pushes to the apps
repo.

The platform delivers its own rollback controller: the `gitops-guard` Application runs the
guard's Deployment from the platform's image, which the image store builds from this source
(console.local.ci.platform_image), with the Secrets and the Service to the API that a cluster's
bootstrap provides (console.local.bootstrap).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import shutil
import socket
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from console.config import GUARD_APP, PlatformConfig
from console.git import git
from console.guard.run import EVENTS_ENV
from console.local import bootstrap
from console.local.argo.api import create_api
from console.local.argo.appstore import SqliteAppStore
from console.local.argo.controller import Controller
from console.local.argo.inmemory import InMemorySource
from console.local.argo.kubeconfig import new_token, write_kubeconfig, write_token_file
from console.local.argo.publish import RuntimePublisher, publish_runtime
from console.local.argo.reposerver import RepoServer
from console.local.ci import platform_image
from console.local.ci.images import ImageError, ImageStore
from console.local.ci.runner import CIRunner, repo_name
from console.local.citrigger import CITrigger, repo_url
from console.local.git.githost import GitHost
from console.local.kube.dataplane_client import DataPlane
from console.local.kube.processes import ProcessRuntime
from console.local.last_workspace import remember
from console.local.state import State
from console.local.workspace import Workspace
from console.platforminfo import PlatformInfo
from console.promote.promote import PromoteRequest, promote_all
from console.scaffold.render import scaffold
from console.scaffold.template_source import resolve
from console.serving import bind_socket, serve, socket_url

log = logging.getLogger("gitops.up")
Progress = Callable[[str], None]
PodEnv = Callable[[str, str], dict[str, str]]
READY_TIMEOUT_S = 300.0
VERSION = "v3.1.0+gitops-local"


def _token(ws: Workspace) -> str:
    if ws.token_file.is_file():
        return ws.token_file.read_text(encoding="utf-8").strip()
    token = new_token()
    write_token_file(ws.token_file, token)
    return token


def _bootstrap(config: PlatformConfig, host: GitHost, ws: Workspace, progress: Progress) -> None:
    """Scaffold the three repos and push each as the first commit of its remote. Repos an
    interrupted bootstrap already pushed are kept as they are."""
    for _, repo in config.repos.items():
        host.create(repo.name, repo.template, repo_url=repo_url(config, repo.name))
    empty = [repo for _, repo in config.repos.items() if host.head(repo.name) is None]
    if not empty:
        return
    with tempfile.TemporaryDirectory(prefix="gitops-seed-") as tmp:
        progress("scaffolding the infra, apps and deploy repos from repos.yaml")
        scaffold(config, resolve(None, None), Path(tmp) / "seed", progress)
        for repo in empty:
            host.seed(repo.name, repo.template, Path(tmp) / "seed" / repo.destination)
            progress(f"pushed {repo.name} to {host.url(repo.name)}")


def _promoted(state: State, repo: str, commit: str) -> bool:
    return any(
        r.stage == "promote" and r.result == "succeeded" for r in state.runs(repo, commit=commit)
    )


def _first_ci_and_promotions(
    config: PlatformConfig, host: GitHost, ci: CIRunner, state: State, progress: Progress
) -> None:
    """CI for the apps repo's head, then promotion through every environment. Each step is
    skipped when done already (CI recorded a successful promote; `promote` makes no commit when
    the target is up to date), so an interrupted bootstrap finishes where it stopped."""
    apps, deploy = config.repos.apps.name, config.repos.deploy.name
    head = host.head(apps)
    if head is None:
        return
    if not _promoted(state, repo_name(host.url(apps)), head):
        progress(f"CI: testing, building and promoting {head[:7]} (the first run takes a while)")
        runs = ci.run(host.url(apps), head)
        for run in runs:
            progress(f"CI {run.stage}: {run.result} ({run.duration_s or 0:.1f}s)")
    envs = config.environment_names
    for previous, env in itertools.pairwise(envs):
        requests = [
            PromoteRequest(svc.name, env, from_env=previous)
            for svc in config.services
            if env in (svc.environments or envs) and previous in (svc.environments or envs)
        ]
        if not requests:
            continue
        # One commit per environment: one push, one check by the deploy repo's gate.
        for out in promote_all(host.url(deploy), requests, push=True):
            progress(f"promoted {out.service} {out.tag[:7]} to {env}")


def _root_application(host: GitHost, deploy: str) -> dict[str, Any]:
    text = git(["show", "HEAD:argocd/root.yaml"], host.path(deploy))
    for doc in YAML(typ="safe").load_all(text):
        if isinstance(doc, dict) and doc.get("kind") == "Application":
            return doc
    raise RuntimeError(f"{host.url(deploy)}: argocd/root.yaml holds no Application")


def _service_apps(config: PlatformConfig) -> list[str]:
    return [
        f"{svc.name}-{env}"
        for svc in config.services
        for env in (svc.environments or config.environment_names)
    ]


def _healthy(source: InMemorySource, names: list[str]) -> list[str]:
    """The apps among `names` that are not yet Synced and Healthy."""
    waiting = []
    for name in names:
        record = source.get(name)
        if (
            record is None
            or record.status.sync.status != "Synced"
            or record.status.health.status != "Healthy"
        ):
            waiting.append(name)
    return waiting


async def _wait_healthy(
    source: InMemorySource, names: list[str], stop: asyncio.Event, progress: Progress
) -> list[str]:
    """Wait (on the read model's changes) until every app in `names` is Synced and Healthy, the
    deadline passes or `stop` is set; the apps still waiting."""
    changed = asyncio.Event()

    async def pump() -> None:
        async for _ in source.watch(source.version()):
            changed.set()

    pumping = asyncio.create_task(pump())
    deadline = time.monotonic() + READY_TIMEOUT_S
    waiting = _healthy(source, names)
    try:
        while waiting and not stop.is_set() and time.monotonic() < deadline:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), timeout=1.0)  # 1 s: notice `stop`
            changed.clear()
            now_waiting = _healthy(source, names)
            if now_waiting != waiting:
                progress(f"healthy: {len(names) - len(now_waiting)}/{len(names)} apps")
            waiting = now_waiting
    finally:
        pumping.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await pumping
    return waiting


def _guard_url(runtime: ProcessRuntime) -> str | None:
    """The guard pod's endpoint (/metrics, /events), while one is ready."""
    ready = [pod for pod in runtime.pods(GUARD_APP) if pod.ready]
    return f"http://127.0.0.1:{ready[0].port}" if ready else None


def _pod_env(config: PlatformConfig, ws: Workspace, host: GitHost) -> PodEnv:
    """What the platform adds around a pod: the network's Git names for every pod, and for the
    guard's, where the platform collects its events (platform.json's `guard_events`)."""
    network = bootstrap.network_env(
        {name: host.url(name) for name in host.repos()}, config.git_host, config.org
    )

    def env(namespace: str, deployment: str) -> dict[str, str]:
        if (namespace, deployment) == (config.guard.namespace, GUARD_APP):
            return {**network, EVENTS_ENV: str(ws.guard_events)}
        return dict(network)

    return env


async def _platform_image(
    config: PlatformConfig, ws: Workspace, images: ImageStore, progress: Progress
) -> None:
    """The guard's image, built from this source unless the store has it; a failure is told,
    and the guard's pod then reports the image pull failure as on a cluster."""
    try:
        await asyncio.to_thread(
            platform_image.ensure,
            images,
            config.guard_image,
            progress=progress,
            log=ws.root / "logs" / "platform-image.log",
        )
    except (platform_image.PlatformImageError, ImageError) as exc:
        progress(f"cannot build the platform image, so the guard will not run: {exc}")


def _ready(
    ws: Workspace,
    api_url: str,
    config: PlatformConfig,
    host: GitHost,
    *,
    runtime: ProcessRuntime,
    guard: bool,
) -> None:
    """Write platform.json (what clients read to find the platform) and the Service ports."""
    ws.save_service_ports(runtime.service_ports())
    services = {f"{svc}-{ns}": url for (ns, svc), url in sorted(runtime.service_urls().items())}
    PlatformInfo(
        argocd_url=api_url,
        token_file=ws.token_file,
        kubeconfig=ws.kubeconfig,
        remotes={role.value: host.url(repo.name) for role, repo in config.repos.items()},
        services=services,
        pid=os.getpid(),
        guard_url=(_guard_url(runtime) or "") if guard else "",
        guard_events=str(ws.guard_events) if guard else "",
    ).write(ws.root)


async def up(
    config: PlatformConfig,
    workspace: Path,
    stop: asyncio.Event,
    *,
    poll_s: float = 180.0,
    port: int = 0,
    guard: bool = True,
    progress: Progress = print,
) -> None:
    """Run the platform on `workspace` until `stop` is set. Raises WorkspaceBusyError when
    another platform runs on it."""
    ws = Workspace(workspace.resolve())
    ws.make()
    with ws.lock():
        remember(ws.root)  # `gitops status` defaults to this workspace
        ws.platform_json.unlink(missing_ok=True)  # a stale one from a killed run
        await _run(config, ws, stop, poll_s=poll_s, port=port, guard=guard, progress=progress)


def _repo_server(config: PlatformConfig, ws: Workspace, host: GitHost) -> RepoServer:
    """The renderer, reading the deploy repo by the URL its Applications name it by."""
    repos = RepoServer(ws.root / "cache")
    deploy = config.repos.deploy.name
    repos.register(repo_url(config, deploy), host.path(deploy))
    return repos


async def _bootstrap_once(
    config: PlatformConfig,
    ws: Workspace,
    *,
    host: GitHost,
    ci: CIRunner,
    state: State,
    progress: Progress,
) -> None:
    """Bootstrap a new workspace, or finish one an interrupted start left half done."""
    if ws.bootstrapped.exists():
        progress(f"resuming the workspace {ws.root}")
        return
    await asyncio.to_thread(_bootstrap, config, host, ws, progress)
    await asyncio.to_thread(_first_ci_and_promotions, config, host, ci, state, progress)
    ws.bootstrapped.write_text(f"{os.getpid()}\n", encoding="utf-8")


async def _data_plane(ws: Workspace, progress: Progress) -> DataPlane:
    """The Service proxies run in a process of their own that outlives this one (killed, it
    leaves them routing to the pods it also leaves running): adopted when it is still there."""
    dataplane = await DataPlane.attach(ws.root / "dataplane")
    if dataplane.adopted:
        count = len(dataplane.adopted)
        progress(f"adopted the data plane (pid {dataplane.pid}): {count} Services routing")
    return dataplane


@dataclass(frozen=True)
class _Ground:
    """What the control plane is assembled on: the workspace, its Git host, image store, CI and
    state, and how this run was asked to go."""

    config: PlatformConfig
    ws: Workspace
    host: GitHost
    images: ImageStore
    state: State
    ci: CIRunner
    guard: bool
    progress: Progress


@dataclass(frozen=True)
class _Parts:
    source: InMemorySource
    runtime: ProcessRuntime
    controller: Controller
    trigger: CITrigger
    publisher: RuntimePublisher


async def _assemble(ground: _Ground, poll_s: float) -> _Parts:
    """The read model, the runtime on the data plane, the controller over them, CI's trigger and
    the publisher."""
    config, ws, host, progress = ground.config, ground.ws, ground.host, ground.progress
    source = InMemorySource()
    dataplane = await _data_plane(ws, progress)
    runtime = ProcessRuntime(
        ws.root / "runtime",
        ground.images,
        service_ports=ws.load_service_ports(),
        routes=dataplane,
        pod_env=_pod_env(config, ws, host),
    )
    controller = Controller(
        _repo_server(config, ws, host),
        runtime,
        source,
        _root_application(host, config.repos.deploy.name),
        poll_s=poll_s,
        store=SqliteAppStore(ground.state),
        # --no-guard: the guard's Application is held, not synced (OutOfSync, nothing runs).
        hold=frozenset() if ground.guard else frozenset({GUARD_APP}),
    )
    trigger = CITrigger(config, host, ground.ci, ground.state, progress)
    controller.push_listeners.append(trigger.on_push)
    # Pod logs and resource trees for the API.
    return _Parts(source, runtime, controller, trigger, publish_runtime(runtime, source))


async def _restore(
    config: PlatformConfig,
    parts: _Parts,
    *,
    api: tuple[str, int],
    token: str,
    key: Path,
    progress: Progress,
) -> None:
    """The bootstrap's objects, then every application as the store saved it (what still runs
    adopted, the rest of a killed platform's pods stopped)."""
    # Before any app's pods start: the guard's mount its Secrets and reach the API by name.
    objects = bootstrap.objects(config, api_host=api[0], api_port=api[1], token=token, key=key)
    await bootstrap.apply(parts.runtime, objects)
    restored = await parts.controller.restore()
    if restored:
        adopted = parts.runtime.adopted()
        reaped = parts.runtime.reap_unclaimed()
        progress(
            f"restored {restored} applications; adopted {len(adopted)} running pods"
            + (f", stopped {len(reaped)} that no app runs any more" if reaped else "")
        )


async def _serve_once_synced(
    api: Any,
    sock: socket.socket,
    stop: asyncio.Event,
    controller: Controller,
    reconciling: asyncio.Task[None],
) -> asyncio.Task[None] | None:
    """Serve the API once the controller has published every app it restored (clients that
    connect before wait in the socket's backlog, as on a starting Argo CD); None when the
    platform stops first. Raises what the controller raised if it ended first."""
    waiting = asyncio.create_task(controller.synced.wait())
    try:
        await asyncio.wait({waiting, reconciling}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        waiting.cancel()
    if not controller.synced.is_set():
        await reconciling  # its error, or it ended because the platform is stopping
        return None
    return asyncio.create_task(serve(api, shutdown_event=stop, sock=sock))


async def _announce_ready(
    ground: _Ground, parts: _Parts, api_url: str, stop: asyncio.Event
) -> None:
    """Say where the API is, wait (with progress) for every app to turn Healthy, then write
    platform.json: what `gitops up`'s callers wait for."""
    config, ws, guard, progress = ground.config, ground.ws, ground.guard, ground.progress
    progress(f"Argo CD API on {api_url}; syncing every Application")
    if not guard:
        progress(f"--no-guard: {GUARD_APP} is not synced; run `gitops guard --workspace`")
    apps = _service_apps(config) + ([GUARD_APP] if guard else [])
    waiting = await _wait_healthy(parts.source, apps, stop, progress)
    if waiting:
        progress(f"not healthy yet: {', '.join(waiting)}; see `gitops status`")
    _ready(ws, api_url, config, ground.host, runtime=parts.runtime, guard=guard)
    progress(f"ready: {ws.platform_json}")


async def _run(
    config: PlatformConfig,
    ws: Workspace,
    stop: asyncio.Event,
    *,
    poll_s: float,
    port: int,
    guard: bool,
    progress: Progress,
) -> None:
    sock = bind_socket("127.0.0.1", port)  # first: a taken port fails before any work
    token = _token(ws)
    api_url = socket_url(sock)
    api_address = sock.getsockname()[:2]  # the socket is the server's once it serves
    host = GitHost(ws.remotes, api_url, ws.token_file)
    deploy = config.repos.deploy.name
    images = ImageStore(ws.root / "images")
    state = State(ws.root / "state.db")
    state.fail_running()  # runs a killed platform left `running`
    ci = CIRunner(ws.root, images, state, host.url(deploy), config.environment_names[0])
    # The guard's image builds while the workspace is bootstrapped (nothing, when unchanged).
    image = asyncio.create_task(_platform_image(config, ws, images, progress)) if guard else None
    await _bootstrap_once(config, ws, host=host, ci=ci, state=state, progress=progress)
    host.connect(api_url, ws.token_file)  # the hooks notify this run's API
    write_kubeconfig(ws.kubeconfig, api_url, token)
    key = await asyncio.to_thread(bootstrap.deploy_key, ws.secrets)
    if image is not None:
        await image
    ground = _Ground(config, ws, host, images, state, ci, guard, progress)
    parts = await _assemble(ground, poll_s)
    runtime, controller, publisher = parts.runtime, parts.controller, parts.publisher
    api = create_api(parts.source, token, VERSION, ci_runs=state)
    api_stop = asyncio.Event()
    server: asyncio.Task[None] | None = None
    loops: list[asyncio.Task[None]] = []
    try:
        await publisher.start()
        await _restore(config, parts, api=api_address, token=token, key=key, progress=progress)
        loops.append(asyncio.create_task(controller.run(stop)))
        loops.append(asyncio.create_task(parts.trigger.poll_forever(poll_s, stop)))
        server = await _serve_once_synced(api, sock, api_stop, controller, loops[0])
        if server is None:
            return
        await _announce_ready(ground, parts, api_url, stop)
        await stop.wait()
    finally:
        progress("stopping: draining the proxies, stopping pods")
        ws.platform_json.unlink(missing_ok=True)  # nothing may trust it from here on
        stop.set()
        for task in loops:
            await task
        await runtime.close()
        await publisher.stop()  # after the runtime: its last pass has what stopping pods wrote
        api_stop.set()
        if server is not None:
            await server
        sock.close()
        state.close()
        shutil.rmtree(ws.root / "cache", ignore_errors=True)
