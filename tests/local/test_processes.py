"""ProcessRuntime with real processes: images built from a scaffolded apps repo, the deploy repo's
dev overlays rendered with Kustomize and applied as two applications, traffic through the Service
proxies. No mocks; every wait is on a condition with a deadline."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import copy
import json
import select
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from console import kustomize
from console.local.argo.health import NO_HEALTH_KINDS, HealthStatus, live_health
from console.local.ci.images import ImageStore
from console.local.kube.objects import ObjectKey, fingerprint, key_of
from console.local.kube.pods import free_port
from console.local.kube.processes import ProcessRuntime
from console.local.kube.runtime import ApplyResult, LiveResource
from console.procs import alive
from tests.world import World as SharedWorld
from tests.world import build_args

REGISTRY = "123456789012.dkr.ecr.eu-west-1.amazonaws.com"
SERVICES = ("backend", "frontend")
OVERLAY_KINDS = {"Deployment", "Service", "ServiceAccount", "PodDisruptionBudget", "NetworkPolicy"}

pytestmark = pytest.mark.slow  # pods as real processes behind real Service proxies


@dataclass(frozen=True)
class World:
    store: ImageStore
    commit: str
    rendered: dict[str, list[dict[str, Any]]]  # the dev overlay of each service, as rendered

    def image(self, service: str, tag: str | None = None) -> str:
        return f"{REGISTRY}/{service}:{tag or self.commit}"

    def objects(
        self, service: str, *, tag: str | None = None, replicas: int = 1
    ) -> list[dict[str, Any]]:
        """The service's overlay with its image built and timings short enough for a test."""
        objects = copy.deepcopy(self.rendered[service])
        for obj in objects:
            if obj["kind"] == "Deployment":
                shorten(obj, self.image(service, tag), replicas)
        return objects


def shorten(deployment: dict[str, Any], image: str, replicas: int) -> None:
    spec = deployment["spec"]
    spec.update(replicas=replicas, minReadySeconds=0, progressDeadlineSeconds=10)
    pod = spec["template"]["spec"]
    pod["terminationGracePeriodSeconds"] = 5
    [container] = pod["containers"]
    container["image"] = image
    container["readinessProbe"].update(periodSeconds=1, timeoutSeconds=1)
    container["env"].append({"name": "GRACEFUL_TIMEOUT_S", "value": "0.5"})


@pytest.fixture(scope="module")
def world(shared_world: SharedWorld) -> World:
    """The shared store (both services at the first commit) plus the same builds tagged v2: a new
    pod template, nothing to build again."""
    repos, commit, store = shared_world.renderings, shared_world.commit, shared_world.store
    for service in SERVICES:
        store.build(
            repos / "apps-repo", commit, f"{REGISTRY}/{service}", "v2", build_args(service, commit)
        )
    rendered = {
        service: kustomize.objects(
            kustomize.build(repos / "deploy-repo" / "overlays" / "dev" / service), service
        )
        for service in SERVICES
    }
    return World(store, commit, rendered)


# ---- watching ------------------------------------------------------------------------------------


class Changes:
    """The runtime's listener: which apps changed, every pod pid seen, and waiting on a condition
    re-checked at each change."""

    def __init__(self, runtime: ProcessRuntime) -> None:
        self.runtime = runtime
        self.apps: list[str] = []
        self.pids: set[int] = set()
        self._changed = asyncio.Event()
        runtime.set_listener(self)

    def __call__(self, app: str) -> None:
        self.apps.append(app)
        self.pids |= {p.pid for p in self.runtime.pods(app) if p.pid is not None}
        self._changed.set()

    async def until(self, condition: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            left = deadline - time.monotonic()
            if left <= 0:
                pytest.fail(f"timed out waiting for {what}")
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), left)


async def eventually(condition: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    """For conditions no listener call announces (a file's content): checked every 50 ms."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


def by_kind(resources: list[LiveResource]) -> dict[str, LiveResource]:
    found = {r.key.kind: r for r in resources}
    assert len(found) == len(resources), resources
    return found


def deployment_health(runtime: ProcessRuntime, app: str) -> HealthStatus | None:
    health = live_health(by_kind(runtime.resources(app))["Deployment"])
    return None if health is None else health.status


def healthy(runtime: ProcessRuntime, *apps: str) -> Callable[[], bool]:
    return lambda: all(deployment_health(runtime, app) is HealthStatus.HEALTHY for app in apps)


async def gone(pids: set[int], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while left := sorted(p for p in pids if alive(p)):
        if time.monotonic() > deadline:
            pytest.fail(f"still running: {left}")
        await asyncio.sleep(0.05)


async def get_json(url: str) -> Any:
    async with httpx.AsyncClient(trust_env=False, timeout=5) as client:
        response = await client.get(url)
    assert response.status_code == 200, response.text
    return response.json()


def refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except ConnectionRefusedError:
        return True
    return False


def ok(results: list[ApplyResult]) -> dict[str, ApplyResult]:
    assert all(r.ok for r in results), results
    return {r.key.kind: r for r in results}


# ---- two applications, end to end ----------------------------------------------------------------


def running(
    world: World,
    tmp_path: Path,
    scenario: Callable[[ProcessRuntime, Changes], Awaitable[None]],
    service_ports: dict[tuple[str, str], int] | None = None,
) -> None:
    """A runtime with a listener, `scenario` played on it, then `close()`: nothing may be left,
    neither a pod process nor a proxy port."""

    async def main_() -> None:
        runtime = ProcessRuntime(tmp_path, world.store, service_ports=service_ports)
        changes = Changes(runtime)
        ports: list[int] = []
        try:
            await scenario(runtime, changes)
        finally:
            pids = set(changes.pids)
            ports = list(runtime.service_ports().values())
            await runtime.close()
        assert runtime.service_urls() == {}
        assert all(refused(port) for port in ports)
        await gone(pids)

    asyncio.run(main_())


def test_two_apps_serve_through_their_proxies_roll_out_and_prune(
    world: World, tmp_path: Path
) -> None:
    frontend_port = free_port()

    async def scenario(runtime: ProcessRuntime, changes: Changes) -> None:
        await deploy_both(world, runtime, changes)
        await frontend_reaches_backend(world, runtime, frontend_port)
        check_resources(world, runtime)
        await roll_backend(world, runtime, changes)
        await prune_frontend_service(world, runtime, changes, frontend_port)
        assert changes.pids

    running(world, tmp_path, scenario, {("dev", "frontend"): frontend_port})


async def deploy_both(world: World, runtime: ProcessRuntime, changes: Changes) -> None:
    results = ok(await runtime.apply("backend", "dev", world.objects("backend", replicas=2), True))
    # ServiceAccount first, then the recorded kinds, the Service, the Deployment.
    assert list(results) == [
        "ServiceAccount",
        "PodDisruptionBudget",
        "NetworkPolicy",
        "Service",
        "Deployment",
    ]
    assert results["Deployment"].message == "deployment.apps/backend created"
    assert results["Deployment"].version == "v1"
    assert "recorded, not enforced" in results["NetworkPolicy"].message
    ok(await runtime.apply("frontend", "dev", world.objects("frontend"), prune=True))
    await changes.until(healthy(runtime, "backend", "frontend"), "both Deployments Healthy")
    assert {"backend", "frontend"} <= set(changes.apps)


async def frontend_reaches_backend(
    world: World, runtime: ProcessRuntime, frontend_port: int
) -> None:
    urls = runtime.service_urls()
    assert set(urls) == {("dev", "backend"), ("dev", "frontend")}
    assert urls[("dev", "frontend")] == f"http://127.0.0.1:{frontend_port}"  # as given
    assert runtime.service_ports()[("dev", "frontend")] == frontend_port
    backend_port = runtime.service_ports()[("dev", "backend")]
    assert urls[("dev", "backend")] == f"http://127.0.0.1:{backend_port}"
    assert runtime.resolve_service("dev", "backend", 8080) == ("127.0.0.1", backend_port)
    assert runtime.resolve_service("dev", "backend", 9999) is None
    assert runtime.resolve_service("prod", "backend", 8080) is None
    # The frontend reaches its backend through the backend's proxy: BACKEND_URL was rewritten
    # from http://backend:8080 when its pod started.
    status = await get_json(urls[("dev", "frontend")] + "/api/status")
    assert status["backend"]["url"] == urls[("dev", "backend")]
    assert (status["backend"]["reachable"], status["backend"]["ready"]) == (True, True)
    assert status["backend"]["version"]["revision"] == world.commit


def check_resources(world: World, runtime: ProcessRuntime) -> None:
    for app, other in (("backend", "frontend"), ("frontend", "backend")):
        resources = runtime.resources(app)
        assert [r.key for r in resources] == sorted(r.key for r in resources)
        assert set(by_kind(resources)) == OVERLAY_KINDS
        manifests = {
            key_of(o, "dev"): o for o in world.objects(app, replicas=len(runtime.pods(app)))
        }
        for resource in resources:
            assert resource.fingerprint == fingerprint(manifests[resource.key])
            if resource.key.kind in NO_HEALTH_KINDS:
                assert live_health(resource) is None, resource
            else:
                assert live_health(resource) is not None
                assert live_health(resource).status is HealthStatus.HEALTHY, resource
        found = by_kind(resources)
        assert found["Deployment"].images == (world.image(app),)
        assert found["Service"].images == ()
        assert found["Deployment"].live["status"]["observedGeneration"] == 1
        assert found["Deployment"].live["metadata"]["generation"] == 1
        pods = runtime.pods(app)
        assert len(pods) == (2 if app == "backend" else 1)
        for pod in pods:
            assert pod.ready
            assert runtime.pod_log(app, "dev", pod.name) == pod.log
            assert pod.log.is_file()
        assert runtime.pod_log(other, "dev", pods[0].name) is None


async def roll_backend(world: World, runtime: ProcessRuntime, changes: Changes) -> None:
    """A new image tag rolls the backend over to new pods, and it turns Healthy again."""
    old_pods = {p.name for p in runtime.pods("backend")}
    new_backend = world.objects("backend", tag="v2", replicas=2)
    results = ok(await runtime.apply("backend", "dev", new_backend, prune=True))
    assert results["Deployment"].message == "deployment.apps/backend configured"
    assert results["Service"].message == "service/backend unchanged"

    def rolled() -> bool:
        pods = runtime.pods("backend")
        return (
            healthy(runtime, "backend")()
            and len(pods) == 2
            and all(p.image == world.image("backend", "v2") and p.ready for p in pods)
        )

    await changes.until(rolled, "the backend rolled out to v2", timeout=30)
    assert not old_pods & {p.name for p in runtime.pods("backend")}
    deployment = by_kind(runtime.resources("backend"))["Deployment"]
    [new_manifest] = [o for o in new_backend if o["kind"] == "Deployment"]
    assert deployment.fingerprint == fingerprint(new_manifest)
    assert deployment.images == (world.image("backend", "v2"),)
    assert deployment.live["status"]["observedGeneration"] == 2
    status = await get_json(runtime.service_urls()[("dev", "frontend")] + "/api/status")
    assert status["backend"]["reachable"] is True


async def prune_frontend_service(
    world: World, runtime: ProcessRuntime, changes: Changes, port: int
) -> None:
    """Without prune, what the app no longer names keeps running; with prune it goes, and
    comes back on its port."""
    without_service = [o for o in world.objects("frontend") if o["kind"] != "Service"]
    results = ok(await runtime.apply("frontend", "dev", without_service, prune=False))
    assert not any(r.pruned for r in results.values())
    assert "Service" in by_kind(runtime.resources("frontend"))
    [pruned] = [
        r for r in await runtime.apply("frontend", "dev", without_service, True) if r.pruned
    ]
    assert (pruned.key, pruned.ok, pruned.message) == (
        ObjectKey("", "Service", "dev", "frontend"),
        True,
        "pruned",
    )
    assert refused(port)
    assert ("dev", "frontend") not in runtime.service_urls()
    assert runtime.resolve_service("dev", "frontend", 8081) is None
    assert set(by_kind(runtime.resources("frontend"))) == OVERLAY_KINDS - {"Service"}
    # Its port stays recorded (platform.json names it as the Service's stable URL), and the
    # Service created again listens there again.
    assert runtime.service_ports()[("dev", "frontend")] == port
    results = ok(await runtime.apply("frontend", "dev", world.objects("frontend"), prune=True))
    assert results["Service"].message == f"service/frontend created (port {port})"
    assert runtime.service_urls()[("dev", "frontend")] == f"http://127.0.0.1:{port}"
    await changes.until(healthy(runtime, "frontend"), "the frontend Service back", timeout=30)
    status = await get_json(f"http://127.0.0.1:{port}/api/status")
    assert status["backend"]["reachable"] is True


# ---- what is recorded, shared, refused, and read from ConfigMaps and Secrets ---------------------

PRINT_ENV = (
    "import os, time\n"
    "print('env', os.environ['GREETING'], os.environ['TOKEN'], os.environ['PLAIN'],"
    " os.environ['UPSTREAM'], flush=True)\n"
    "time.sleep(300)\n"
)


def printer(world: World) -> dict[str, Any]:
    """A one-pod Deployment without probes that prints values it reads from a ConfigMap and a
    Secret, and exits only when told."""
    [deployment] = [o for o in world.objects("backend") if o["kind"] == "Deployment"]
    deployment["metadata"]["name"] = "printer"
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    for probe in ("readinessProbe", "livenessProbe"):
        del container[probe]
    container["command"] = ["python", "-c", PRINT_ENV]
    container["env"] += [
        {"name": "GREETING", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "greeting"}}},
        {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "sec", "key": "token"}}},
        {"name": "PLAIN", "valueFrom": {"secretKeyRef": {"name": "sec", "key": "plain"}}},
        # Not a Service that exists: left as it is.
        {"name": "UPSTREAM", "value": "http://nowhere:8080"},
    ]
    return deployment


def config_map(data: dict[str, str]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg"}, "data": data}


SECRET = {
    "apiVersion": "v1",
    "kind": "Secret",
    "metadata": {"name": "sec"},
    "data": {
        "token": base64.b64encode(b"s3cret").decode(),
        "plain": base64.b64encode(b"x").decode(),
    },
    "stringData": {"plain": "in the clear"},
}
ROLE = {
    "apiVersion": "rbac.authorization.k8s.io/v1",
    "kind": "Role",
    "metadata": {"name": "reader", "namespace": "dev"},
    "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}],
}
ROLE_BINDING = {
    "apiVersion": "rbac.authorization.k8s.io/v1",
    "kind": "RoleBinding",
    "metadata": {"name": "reader", "namespace": "dev"},
    "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "reader"},
    "subjects": [{"kind": "ServiceAccount", "name": "default", "namespace": "dev"}],
}
JOB = {
    "apiVersion": "batch/v1",
    "kind": "Job",
    "metadata": {"name": "migrate", "namespace": "dev"},
    "spec": {"template": {"spec": {"containers": [{"name": "m", "image": "migrate:1"}]}}},
}


def test_recorded_kinds_shared_resources_config_and_refusals(world: World, tmp_path: Path) -> None:
    async def scenario(runtime: ProcessRuntime, changes: Changes) -> None:
        deployment = printer(world)
        await record_and_read_config(world, runtime, changes, deployment)
        await refuse_shared_and_invalid(world, runtime)
        await keep_what_runs_on_a_refused_update(runtime, deployment)
        await remove_frees_everything(runtime, changes)

    running(world, tmp_path, scenario)


async def record_and_read_config(
    world: World, runtime: ProcessRuntime, changes: Changes, deployment: dict[str, Any]
) -> None:
    # Deployment first in the list: it is still applied after what it reads.
    objects = [deployment, JOB, config_map({"greeting": "hello"}), SECRET, ROLE, ROLE_BINDING]
    results = ok(await runtime.apply("a", "dev", objects, prune=True))
    assert list(results) == ["ConfigMap", "Secret", "Role", "RoleBinding", "Job", "Deployment"]
    # RBAC is recorded, not enforced, and has no health (Argo CD has no health check for it).
    assert results["Role"].message == (
        "role.rbac.authorization.k8s.io/reader created (recorded, not enforced)"
    )
    assert results["Job"].message == "kind Job is not run by the embedded platform: recorded only"
    assert (results["Job"].key, results["Job"].version) == (
        ObjectKey("batch", "Job", "dev", "migrate"),
        "v1",
    )
    found = by_kind(runtime.resources("a"))
    assert set(found) == {"ConfigMap", "Secret", "Role", "RoleBinding", "Job", "Deployment"}
    assert (live_health(found["Role"]), live_health(found["RoleBinding"])) == (None, None)
    job_health = live_health(found["Job"])
    assert job_health is not None
    assert job_health.status is HealthStatus.UNKNOWN
    assert "not run by the embedded platform" in job_health.message
    assert found["Job"].images == ("migrate:1",)
    assert (live_health(found["ConfigMap"]), live_health(found["Secret"])) == (None, None)
    assert runtime.lookup("ConfigMap", "dev", "cfg", "greeting") == "hello"
    assert runtime.lookup("Secret", "dev", "sec", "token") == "s3cret"
    assert runtime.lookup("Secret", "dev", "sec", "plain") == "in the clear"  # stringData wins
    assert runtime.lookup("Secret", "dev", "sec", "missing") is None
    assert runtime.lookup("ConfigMap", "other", "cfg", "greeting") is None
    # The pod's environment was read from them when it started.
    await changes.until(healthy(runtime, "a"), "the printer Healthy")
    [pod] = runtime.pods("a")
    expected = "env hello s3cret in the clear http://nowhere:8080"
    await eventually(lambda: expected in pod.log.read_text(), "the pod printing its env")


async def refuse_shared_and_invalid(world: World, runtime: ProcessRuntime) -> None:
    # Another app applying the same ConfigMap is refused; it stays app a's, as it was.
    [shared] = await runtime.apply("b", "dev", [config_map({"greeting": "hijacked"})], True)
    assert (shared.ok, shared.message) == (False, "shared resource: owned by app a")
    assert runtime.resources("b") == []
    assert runtime.lookup("ConfigMap", "dev", "cfg", "greeting") == "hello"
    # Objects the API server would refuse, and a Deployment the platform cannot run.
    bad_secret = {**SECRET, "metadata": {"name": "bad"}, "data": {"k": "not base64!"}}
    unsupported = printer(world)
    unsupported["metadata"]["name"] = "with-init"
    unsupported["spec"]["template"]["spec"]["initContainers"] = [{"name": "i", "image": "x:1"}]
    nameless = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {}}
    results = await runtime.apply("b", "dev", [bad_secret, unsupported, nameless], True)
    assert not any(r.ok for r in results)
    named = {r.key.name: r.message for r in results}
    assert "data[k]: illegal base64 data" in named["bad"]
    assert "initContainers" in named["with-init"]
    assert "metadata.name is required" in named[""]
    assert runtime.resources("b") == []


async def keep_what_runs_on_a_refused_update(
    runtime: ProcessRuntime, deployment: dict[str, Any]
) -> None:
    [pod] = runtime.pods("a")
    before = by_kind(runtime.resources("a"))["Deployment"]
    broken = copy.deepcopy(deployment)
    broken["spec"]["template"]["spec"]["initContainers"] = [{"name": "i", "image": "x:1"}]
    objects = [broken, JOB, config_map({"greeting": "hello"}), SECRET]
    results = {r.key.kind: r for r in await runtime.apply("a", "dev", objects, prune=True)}
    assert not results["Deployment"].ok
    assert "initContainers" in results["Deployment"].message
    assert results["ConfigMap"].message == "configmap/cfg unchanged"
    after = by_kind(runtime.resources("a"))["Deployment"]
    assert after.fingerprint == before.fingerprint == fingerprint(deployment)
    assert runtime.pods("a") == [pod]


async def remove_frees_everything(runtime: ProcessRuntime, changes: Changes) -> None:
    [pod] = runtime.pods("a")
    mark = len(changes.apps)
    await runtime.remove("a")
    assert "a" in changes.apps[mark:]
    assert (runtime.resources("a"), runtime.pods("a")) == ([], [])
    assert runtime.lookup("ConfigMap", "dev", "cfg", "greeting") is None
    assert pod.pid is not None
    await gone({pod.pid})
    # Now free, the ConfigMap can be app b's.
    ok(await runtime.apply("b", "dev", [config_map({"greeting": "hi"})], prune=True))
    assert runtime.lookup("ConfigMap", "dev", "cfg", "greeting") == "hi"


# ---- ports ---------------------------------------------------------------------------------------


def services(world: World) -> list[dict[str, Any]]:
    return [o for s in SERVICES for o in world.objects(s) if o["kind"] == "Service"]


def test_service_ports_are_honoured_and_a_port_in_use_is_a_failed_apply(
    world: World, tmp_path: Path
) -> None:
    backend_port = free_port()

    async def scenario() -> None:
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            busy = taken.getsockname()[1]
            runtime = ProcessRuntime(
                tmp_path,
                world.store,
                service_ports={("dev", "backend"): backend_port, ("dev", "frontend"): busy},
            )
            try:
                results = {
                    r.key.name: r for r in await runtime.apply("x", "dev", services(world), True)
                }
                assert results["backend"].ok
                assert (
                    results["backend"].message == f"service/backend created (port {backend_port})"
                )
                assert runtime.service_urls() == {
                    ("dev", "backend"): f"http://127.0.0.1:{backend_port}"
                }
                assert not results["frontend"].ok
                assert str(busy) in results["frontend"].message
                assert "already in use" in results["frontend"].message
                assert [r.key.name for r in runtime.resources("x")] == ["backend"]
                # No pods behind it yet: the proxy answers 503.
                async with httpx.AsyncClient(trust_env=False, timeout=5) as client:
                    response = await client.get(f"http://127.0.0.1:{backend_port}/")
                assert response.status_code == 503
            except BaseException:
                await runtime.close()
                raise
        try:
            # Once the port is free, the next sync takes it.
            results = {
                r.key.name: r for r in await runtime.apply("x", "dev", services(world), True)
            }
            assert results["frontend"].ok
            assert results["backend"].message == "service/backend unchanged"
            ports = runtime.service_ports()
            assert ports == {("dev", "backend"): backend_port, ("dev", "frontend"): busy}
        finally:
            await runtime.close()
        assert refused(backend_port)
        # A restarted platform gets the same ports back.
        again = ProcessRuntime(tmp_path, world.store, service_ports=ports)
        try:
            ok(await again.apply("x", "dev", services(world), True))
            assert again.service_ports() == ports
        finally:
            await again.close()

    asyncio.run(scenario())


# A platform in a process of its own: it applies the apps it is given, prints each app's pod
# pids once every pod is ready, then runs until it is killed.
FIRST_PLATFORM = """
import asyncio, json, sys
from pathlib import Path
from console.local.ci.images import ImageStore
from console.local.kube.processes import ProcessRuntime

async def main():
    workdir, store, spec = (Path(a) for a in sys.argv[1:4])
    apps = json.loads(spec.read_text())
    runtime = ProcessRuntime(workdir, ImageStore(store))
    changed = asyncio.Event()
    runtime.set_listener(lambda app: changed.set())
    for app, objects in apps.items():
        results = await runtime.apply(app, "dev", objects, True)
        assert all(r.ok for r in results), results

    def ready():
        return all(runtime.pods(a) and all(p.ready for p in runtime.pods(a)) for a in apps)

    while not ready():
        changed.clear()
        await changed.wait()
    print(json.dumps({a: [p.pid for p in runtime.pods(a)] for a in apps}), flush=True)
    await asyncio.Event().wait()

asyncio.run(main())
"""


def killed_platform(
    world: World, tmp_path: Path, apps: dict[str, list[dict[str, Any]]]
) -> dict[str, list[int]]:
    """Run `apps` on a runtime in a real process on `tmp_path / "run"` until every pod is ready,
    then kill it with SIGKILL; the pids of each app's pods, which keep running, as containers
    outlive a kubelet."""
    spec = tmp_path / "apps.json"
    spec.write_text(json.dumps(apps))
    errors = tmp_path / "first.err"
    with errors.open("w") as err:
        first = subprocess.Popen(
            [sys.executable, "-c", FIRST_PLATFORM, str(tmp_path / "run"), str(world.store.root),
             str(spec)],
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
            start_new_session=True,
        )  # fmt: skip
    try:
        assert first.stdout is not None
        ready, _, _ = select.select([first.stdout], [], [], 60)
        line = first.stdout.readline() if ready else ""
        assert line, f"the first platform never reported its pods: {errors.read_text()}"
        pids: dict[str, list[int]] = json.loads(line)
    finally:
        first.kill()  # kill -9: its pods keep running, as containers outlive a kubelet
        first.wait()
    return pids


def test_a_new_runtime_adopts_the_pods_a_killed_one_left_and_reaps_the_rest(
    world: World, tmp_path: Path
) -> None:
    """As a restarted kubelet finds its containers running: the platform before was a real
    process killed with SIGKILL; a runtime on the same workdir takes over the pod of the
    Deployment it applies again (the same process, port and readiness, no new pod) and kills
    the pods of one nobody applies again. Closing it stops the adopted pod as its own."""
    apps = {"a": [printer(world), config_map({"greeting": "hello"}), SECRET]}
    other = printer(world)
    other["metadata"]["name"] = "printer-b"
    apps["b"] = [other]  # it reads the ConfigMap and Secret app "a" applies
    pids = killed_platform(world, tmp_path, apps)
    assert all(alive(pid) for pid in pids["a"] + pids["b"])

    async def scenario() -> None:
        second = ProcessRuntime(tmp_path / "run", world.store)
        changes = Changes(second)
        try:
            assert second.reaped == []
            results = ok(await second.apply("a", "dev", apps["a"], prune=True))
            assert results["Deployment"].message == (
                "deployment.apps/printer created (adopted 1 running pods)"
            )
            await changes.until(healthy(second, "a"), "the adopted printer Healthy")
            assert [p.pid for p in second.pods("a")] == pids["a"], "the same process"
            assert second.adopted() == pids["a"]
            assert second.reap_unclaimed() == pids["b"]
            await gone(set(pids["b"]))
            assert all(alive(pid) for pid in pids["a"])
        finally:
            await second.close()
        await gone(set(pids["a"]))

    asyncio.run(scenario())


def test_a_pod_adopted_ready_serves_before_any_probe(world: World, tmp_path: Path) -> None:
    """A pod with a readiness probe that was ready when its platform was killed is ready again
    the moment its Deployment is applied, and its Service routes to it before a single probe
    ran: on a cluster the Endpoints live in the API server, so a kubelet restart does not take
    ready pods out of their Services. Its first probe still runs at once to confirm it."""
    apps = {"a": world.objects("backend")}
    pids = killed_platform(world, tmp_path, apps)

    async def scenario() -> None:
        second = ProcessRuntime(tmp_path / "run", world.store)
        try:
            ok(await second.apply("a", "dev", apps["a"], prune=True))
            [pod] = second.pods("a")
            assert (pod.pid, pod.ready) == (pids["a"][0], True)
            url = second.service_urls()[("dev", "backend")]
            async with httpx.AsyncClient(trust_env=False) as client:
                response = await client.get(f"{url}/readyz", timeout=5)
            assert response.status_code == 200, response.text
        finally:
            await second.close()
        await gone(set(pids["a"]))

    asyncio.run(scenario())
