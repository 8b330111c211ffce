"""The pod supervisor with real processes: images built from a scaffolded apps repo, Deployments
rendered from the scaffolded deploy repo, real HTTP probes on 127.0.0.1. No mocks; every wait is
on a condition with a deadline."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import itertools
import os
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from console import kustomize
from console.local.argo.health import Health, HealthStatus, deployment_health
from console.local.ci.images import ImageStore
from console.local.kube.deployment_controller import DeploymentRunner, DeploymentSnapshot
from console.local.kube.deploymentspec import InvalidDeployment, UnsupportedDeployment
from console.local.kube.kubelet import PodSettings
from console.local.kube.pods import (
    EnvError,
    container_env,
    parse_template,
    reap_orphans,
    rewrite_service_links,
)
from console.local.kube.podstatus import PodState
from console.local.kube.rollout import ConditionType, Reason
from console.procs import alive
from tests.helpers import run_git
from tests.world import World as SharedWorld

REGISTRY = "123456789012.dkr.ecr.eu-west-1.amazonaws.com"
NAME = f"{REGISTRY}/backend"
# A container that ignores SIGTERM and leaves a grandchild in its process group.
STUBBORN = (
    "import signal, subprocess, sys, time\n"
    "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
    "child = subprocess.Popen(['sleep', '300'])\n"
    "print('child', child.pid, flush=True)\n"
    "time.sleep(300)\n"
)


@dataclass(frozen=True)
class World:
    store: ImageStore
    first: str  # apps repo commit of image NAME:first
    second: str  # a later commit, image NAME:second
    backend: dict[str, Any]  # the dev overlay's rendered backend Deployment
    frontend: dict[str, Any]

    def image(self, commit: str) -> str:
        return f"{NAME}:{commit}"


def _build_args(sha: str) -> dict[str, str]:
    return {
        "SERVICE_NAME": "backend",
        "SERVICE_KIND": "backend",
        "SERVICE_VERSION": "0.1.0",
        "GIT_SHA": sha,
        "BUILT_AT": "2026-01-01T00:00:00Z",
        "IMAGE": f"{NAME}:{sha}",
    }


@pytest.fixture(scope="module")
def world(shared_world: SharedWorld, tmp_path_factory: pytest.TempPathFactory) -> World:
    """The shared store (NAME:first built) plus NAME:second, from a later commit of a copy."""
    repos = shared_world.renderings_copy(tmp_path_factory.mktemp("supervisor") / "repos")
    apps = repos / "apps-repo"
    first = shared_world.commit
    (apps / "README.md").write_text("# changed\n", encoding="utf-8")
    run_git(apps, "commit", "--quiet", "-am", "docs: change the readme")
    second = run_git(apps, "rev-parse", "HEAD").strip()
    store = shared_world.store
    for sha in (first, second):
        store.build(apps, sha, NAME, sha, _build_args(sha))  # first: already there, a no-op
    rendered = {}
    for service in ("backend", "frontend"):
        stream = kustomize.build(repos / "deploy-repo" / "overlays" / "dev" / service)
        [rendered[service]] = [
            d for d in kustomize.objects(stream, service) if d["kind"] == "Deployment"
        ]
    return World(store, first, second, rendered["backend"], rendered["frontend"])


def deployment(
    world: World,
    image: str,
    *,
    replicas: int = 2,
    env: dict[str, str] | None = None,
    source: str = "backend",
    deadline: int = 3,
    **container: Any,
) -> dict[str, Any]:
    """The rendered Deployment with the image set and timings short enough for a test."""
    manifest = copy.deepcopy(world.backend if source == "backend" else world.frontend)
    spec = manifest["spec"]
    spec.update(replicas=replicas, minReadySeconds=0, progressDeadlineSeconds=deadline)
    spec["template"]["spec"]["terminationGracePeriodSeconds"] = 5
    [main_container] = spec["template"]["spec"]["containers"]
    main_container["image"] = image
    main_container["readinessProbe"].update(periodSeconds=1, timeoutSeconds=1)
    variables = {"GRACEFUL_TIMEOUT_S": "0.5", **(env or {})}
    main_container["env"] += [{"name": k, "value": v} for k, v in variables.items()]
    for key, value in container.items():
        if value is None:
            main_container.pop(key, None)
        else:
            main_container[key] = value
    return manifest


# ---- running things ------------------------------------------------------------------------------


class Watch:
    """Every snapshot a runner publishes, and waiting for one that satisfies a condition."""

    def __init__(self) -> None:
        self.history: list[DeploymentSnapshot] = []
        self._changed = asyncio.Event()

    def __call__(self, snapshot: DeploymentSnapshot) -> None:
        self.history.append(snapshot)
        self._changed.set()

    async def until(
        self,
        runner: DeploymentRunner,
        condition: Callable[[DeploymentSnapshot], bool],
        what: str,
        timeout: float = 20.0,
    ) -> DeploymentSnapshot:
        deadline = time.monotonic() + timeout
        while True:
            snapshot = runner.snapshot()
            if condition(snapshot):
                return snapshot
            left = deadline - time.monotonic()
            if left <= 0:
                pytest.fail(f"timed out waiting for {what}: {describe(snapshot)}")
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), left)


def health_of(snapshot: DeploymentSnapshot) -> Health:
    """Argo CD's health of the Deployment: Argo CD judges its status, the runner only reports it."""
    return deployment_health(snapshot.spec, snapshot.status)


def describe(snapshot: DeploymentSnapshot) -> str:
    pods = [(p.name, p.phase.value, p.ready, p.restarts, p.message) for p in snapshot.pods]
    return f"pods={pods} status={snapshot.status_manifest}"


def no_service(namespace: str, service: str, port: int) -> tuple[str, int] | None:
    return None


async def gone(pids: list[int], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while [p for p in pids if alive(p)]:
        if time.monotonic() > deadline:
            pytest.fail(f"still running: {[p for p in pids if alive(p)]}")
        await asyncio.sleep(0.05)


def run(
    world: World,
    workdir: Path,
    manifest: dict[str, Any],
    scenario: Callable[[DeploymentRunner, Watch], Awaitable[None]],
    **options: Any,
) -> None:
    """Start a runner, play `scenario`, stop it and check that no process is left."""

    async def main_() -> None:
        watch = Watch()
        resolve = options.pop("resolve_service", no_service)
        runner = DeploymentRunner(
            "dev", manifest, world.store, workdir, resolve, watch, settings=PodSettings(**options)
        )
        await runner.start()
        try:
            await scenario(runner, watch)
        finally:
            pids = {p.pid for s in watch.history for p in s.pods if p.pid is not None}
            await runner.stop(grace_s=2)
        assert runner.snapshot().pods == ()
        assert runner.snapshot().endpoints() == ()
        await gone(sorted(pids))

    asyncio.run(main_())


def ready_pods(snapshot: DeploymentSnapshot, template: str | None = None) -> list[str]:
    return [
        p.name
        for p in snapshot.pods
        if p.ready and (template is None or p.template_hash == template)
    ]


def progressing(snapshot: DeploymentSnapshot) -> tuple[bool, Reason] | None:
    condition = snapshot.status.condition(ConditionType.PROGRESSING)
    return None if condition is None else (condition.status, condition.reason)


async def get(port: int, path: str) -> httpx.Response:
    async with httpx.AsyncClient(trust_env=False, timeout=5) as client:
        return await client.get(f"http://127.0.0.1:{port}{path}")


def available(replicas: int) -> Callable[[DeploymentSnapshot], bool]:
    def check(s: DeploymentSnapshot) -> bool:
        return s.status.available_replicas == replicas and progressing(s) == (
            True,
            Reason.NEW_REPLICA_SET_AVAILABLE,
        )

    return check


def halted(s: DeploymentSnapshot) -> bool:
    return progressing(s) == (False, Reason.PROGRESS_DEADLINE_EXCEEDED)


# ---- pods start, serve and stop ------------------------------------------------------------------


@pytest.mark.slow
def test_two_replicas_start_become_ready_and_stop(world: World, tmp_path: Path) -> None:
    manifest = deployment(world, world.image(world.first))
    template = parse_template(manifest).hash

    async def scenario(runner: DeploymentRunner, watch: Watch) -> None:
        snapshot = await watch.until(runner, available(2), "2 available replicas")
        assert len(snapshot.pods) == 2
        assert {p.phase for p in snapshot.pods} == {PodState.RUNNING}
        assert sorted(snapshot.endpoints()) == sorted(("127.0.0.1", p.port) for p in snapshot.pods)
        assert health_of(snapshot).status is HealthStatus.HEALTHY
        assert (snapshot.container_port, snapshot.port_name) == (8080, "http")
        status = snapshot.status_manifest
        assert status["observedGeneration"] == snapshot.generation == 1
        assert (status["replicas"], status["readyReplicas"], status["availableReplicas"]) == (
            2,
        ) * 3
        assert {c["type"]: c["status"] for c in status["conditions"]} == {
            "Available": "True",
            "Progressing": "True",
        }
        assert all(c["lastUpdateTime"].endswith("Z") for c in status["conditions"])
        for pod in snapshot.pods:
            assert re.fullmatch(rf"backend-{template}-[a-z0-9]{{5}}", pod.name)
            assert pod.template_hash == template
            assert pod.image == world.image(world.first)
            ready = await get(pod.port, "/readyz")
            assert ready.status_code == 200, ready.text
            version = (await get(pod.port, "/version")).json()
            assert (version["revision"], version["environment"]) == (world.first, "dev")
            pod_dir = tmp_path / "pods" / "dev" / pod.name
            assert pod.log == pod_dir / "backend.log"
            assert pod.pid is not None
            cwd = Path(os.readlink(f"/proc/{pod.pid}/cwd"))
            assert cwd == pod_dir
            assert world.store.root not in cwd.parents
            assert os.getpgid(pod.pid) == pod.pid  # its own session: the group dies with it
        # The image's ENV under the container's env; PORT and HOST are the pod's.
        environ = dict(
            item.split("=", 1)
            for item in Path(f"/proc/{snapshot.pods[0].pid}/environ").read_text().split("\0")
            if "=" in item
        )
        assert environ["PORT"] == str(snapshot.pods[0].port)
        assert environ["HOST"] == "127.0.0.1"
        assert environ["ENVIRONMENT"] == "dev"
        assert environ["GIT_SHA"] == world.first
        assert environ["HOSTNAME"] == snapshot.pods[0].name
        # A new replica count scales without a rollout: one pod goes, the other stays.
        runner.update({**manifest, "spec": {**manifest["spec"], "replicas": 1}})
        scaled = await watch.until(
            runner, lambda s: len(s.pods) == 1 and available(1)(s), "scaled down to 1"
        )
        assert scaled.generation == scaled.status_manifest["observedGeneration"] == 2
        assert scaled.pods[0].name in {p.name for p in snapshot.pods}
        assert scaled.spec.template_hash == template
        [removed] = [p.pid for p in snapshot.pods if p.name != scaled.pods[0].name]
        assert removed is not None
        await gone([removed])

    run(world, tmp_path, manifest, scenario)
    for pod_dir in (tmp_path / "pods" / "dev").iterdir():
        assert "starting" in (pod_dir / "backend.log").read_text()  # logs are kept per pod


@pytest.mark.slow
def test_a_new_template_rolls_one_pod_at_a_time(world: World, tmp_path: Path) -> None:
    old = deployment(world, world.image(world.first))
    new = deployment(world, world.image(world.second))
    new["spec"]["minReadySeconds"] = 1
    old_hash, new_hash = parse_template(old).hash, parse_template(new).hash

    async def scenario(runner: DeploymentRunner, watch: Watch) -> None:
        before = await watch.until(runner, available(2), "2 available replicas")
        old_pids = [p.pid for p in before.pods]
        mark = len(watch.history)
        runner.update(new)
        after = await watch.until(
            runner,
            lambda s: (
                available(2)(s)
                and len(s.pods) == 2
                and all(p.template_hash == new_hash for p in s.pods)
            ),
            "only new pods, available",
            timeout=30,
        )
        rollout = watch.history[mark:]
        # Published at once, before the loop planned it: the status still describes the old
        # spec, as observedGeneration says, so health reads Progressing rather than judging the
        # new spec by the old rollout's status.
        assert rollout[0].generation == 2, describe(rollout[0])
        assert rollout[0].status_manifest["observedGeneration"] == 1, describe(rollout[0])
        for s in rollout:
            live = [p for p in s.pods if p.phase is not PodState.TERMINATING]
            assert len(live) <= 3, describe(s)  # replicas + maxSurge 1
            assert len(ready_pods(s)) >= 2, describe(s)  # maxUnavailable 0
            assert s.spec.template_hash == new_hash
        # One new pod at a time: the second is created only once the first has been available.
        created = sorted(
            {(p.created_at, p.name) for s in rollout for p in s.pods if p.template_hash == new_hash}
        )
        assert len(created) == 2
        first_new = created[0][1]
        ready_at = min(
            p.ready_since for s in rollout for p in s.pods if p.name == first_new and p.ready_since
        )
        assert created[1][0] >= ready_at + 1  # minReadySeconds
        assert {p.template_hash for s in rollout for p in s.pods} == {old_hash, new_hash}
        assert after.generation == after.status_manifest["observedGeneration"] == 2
        for pod in after.pods:
            assert (await get(pod.port, "/version")).json()["revision"] == world.second
        await gone([p for p in old_pids if p is not None])

    run(world, tmp_path, old, scenario)


# ---- rollouts that cannot finish ---------------------------------------------------------------


@pytest.mark.slow
def test_a_missing_image_halts_the_rollout_while_the_old_pods_serve(
    world: World, tmp_path: Path
) -> None:
    good = deployment(world, world.image(world.first))
    bad = deployment(world, f"{NAME}:does-not-exist", deadline=2)

    async def scenario(runner: DeploymentRunner, watch: Watch) -> None:
        before = await watch.until(runner, available(2), "2 available replicas")
        endpoints = sorted(before.endpoints())
        mark = len(watch.history)
        runner.update(bad)
        await watch.until(
            runner,
            lambda s: any(p.phase is PodState.IMAGE_PULL_BACKOFF for p in s.pods),
            "ImagePullBackOff",
        )
        stuck = await watch.until(runner, halted, "ProgressDeadlineExceeded", timeout=10)
        phases = [p.phase for s in watch.history[mark:] for p in s.pods]
        assert PodState.ERR_IMAGE_PULL in phases
        [pending] = [p for p in stuck.pods if p.template_hash == stuck.spec.template_hash]
        assert pending.pid is None
        assert "does-not-exist" in pending.message
        assert not pending.ready
        assert health_of(stuck).status is HealthStatus.DEGRADED
        assert "exceeded its progress deadline" in health_of(stuck).message
        # Nothing was taken from the old pods, at any moment.
        assert all(sorted(s.endpoints()) == endpoints for s in watch.history[mark:])
        for _, port in endpoints:
            assert (await get(port, "/readyz")).status_code == 200
        # Rolling back to the old template removes the stuck pod and the rollout is complete.
        runner.update(good)
        back = await watch.until(
            runner, lambda s: available(2)(s) and len(s.pods) == 2, "rolled back"
        )
        assert sorted(back.endpoints()) == endpoints
        assert health_of(back).status is HealthStatus.HEALTHY

    run(world, tmp_path, good, scenario)


@pytest.mark.slow
def test_a_pod_that_never_turns_ready_halts_the_rollout(world: World, tmp_path: Path) -> None:
    good = deployment(world, world.image(world.first), replicas=1)
    unready = deployment(
        world,
        world.image(world.first),
        replicas=1,
        env={"REQUIRED_CONFIG": "SOMETHING_MISSING"},
        deadline=2,
    )

    async def scenario(runner: DeploymentRunner, watch: Watch) -> None:
        before = await watch.until(runner, available(1), "1 available replica")
        mark = len(watch.history)
        runner.update(unready)
        stuck = await watch.until(runner, halted, "ProgressDeadlineExceeded", timeout=15)
        [new] = [p for p in stuck.pods if p.template_hash == stuck.spec.template_hash]
        assert (new.phase, new.ready, new.restarts) == (PodState.RUNNING, False, 0)
        readiness = await get(new.port, "/readyz")
        assert readiness.status_code == 503
        assert "SOMETHING_MISSING" in readiness.text
        assert health_of(stuck).status is HealthStatus.DEGRADED
        assert all(s.endpoints() == before.endpoints() for s in watch.history[mark:])

    run(world, tmp_path, good, scenario)


@pytest.mark.slow
def test_a_crashing_container_backs_off_and_halts_the_rollout(world: World, tmp_path: Path) -> None:
    good = deployment(world, world.image(world.first), replicas=1)
    crashing = deployment(
        world,
        world.image(world.first),
        replicas=1,
        command=["python", "-c", "raise SystemExit(3)"],
        deadline=2,
    )

    def backoff(restarts: int) -> float:
        return 0.25 * 2**restarts  # 0.25, 0.5, 1, 2, ...

    async def scenario(runner: DeploymentRunner, watch: Watch) -> None:
        before = await watch.until(runner, available(1), "1 available replica")
        mark = len(watch.history)
        updated_at = time.monotonic()
        runner.update(crashing)

        def new_pod(s: DeploymentSnapshot) -> Any:
            return next((p for p in s.pods if p.template_hash == s.spec.template_hash), None)

        crashed = await watch.until(
            runner,
            lambda s: (p := new_pod(s)) is not None and p.restarts >= 3,
            "three restarts",
        )
        elapsed = time.monotonic() - updated_at
        pod = new_pod(crashed)
        # Back-off respected: restart n waited backoff(n - 1) after the run before it ended,
        # so never more restarts than the back-off allows in the time that passed.
        starts = sorted(
            {
                (p.restarts, p.started_at)
                for s in watch.history[mark:]
                for p in s.pods
                if p.name == pod.name and p.started_at is not None
            }
        )
        assert [r for r, _ in starts] == list(range(len(starts)))
        for (n, at), (_, next_at) in itertools.pairwise(starts):
            assert next_at - at >= backoff(n), starts
        assert pod.restarts <= max(
            n for n in range(12) if sum(backoff(i) for i in range(n)) <= elapsed
        )
        phases = {p.phase for s in watch.history[mark:] for p in s.pods if p.name == pod.name}
        assert PodState.CRASH_LOOP_BACKOFF in phases
        assert pod.exit_code == 3
        stuck = await watch.until(runner, halted, "ProgressDeadlineExceeded", timeout=10)
        assert health_of(stuck).status is HealthStatus.DEGRADED
        assert all(s.endpoints() == before.endpoints() for s in watch.history[mark:])
        assert new_pod(stuck).log.is_file()

    run(world, tmp_path, good, scenario, backoff=backoff)


def test_a_bad_entrypoint_is_a_crash_with_the_kubelet_back_off(
    world: World, tmp_path: Path
) -> None:
    manifest = deployment(
        world, world.image(world.first), replicas=1, command=["/nonexistent/entrypoint"]
    )

    async def scenario(runner: DeploymentRunner, watch: Watch) -> None:
        snapshot = await watch.until(
            runner,
            lambda s: any(p.phase is PodState.CRASH_LOOP_BACKOFF for p in s.pods),
            "CrashLoopBackOff",
        )
        [pod] = snapshot.pods
        assert (pod.restarts, pod.exit_code, pod.pid) == (0, 128, None)
        assert "back-off 10s restarting failed container=backend" in pod.message
        assert "/nonexistent/entrypoint" in pod.log.read_text()

    run(world, tmp_path, manifest, scenario)


@pytest.mark.slow
def test_a_failing_liveness_probe_restarts_the_container_in_place(
    world: World, tmp_path: Path
) -> None:
    # The service answers 404 on this path once it serves: a liveness failure, not a crash.
    probe = {
        "httpGet": {"path": "/missing", "port": "http"},
        "initialDelaySeconds": 2,
        "periodSeconds": 1,
        "failureThreshold": 2,
    }
    manifest = deployment(world, world.image(world.first), replicas=1, livenessProbe=probe)

    async def scenario(runner: DeploymentRunner, watch: Watch) -> None:
        first = await watch.until(runner, available(1), "the pod, ready")
        [pod] = first.pods
        again = await watch.until(
            runner,
            lambda s: any(p.restarts == 1 and p.phase is PodState.RUNNING for p in s.pods),
            "a restart",
        )
        [restarted] = again.pods
        assert restarted.name == pod.name  # restarted in place, not replaced
        assert restarted.pid != pod.pid
        assert restarted.exit_code == 0  # the stop signal, then a graceful exit
        messages = {p.message for s in watch.history for p in s.pods}
        assert any("failed liveness probe" in m for m in messages), messages
        assert any("failed its liveness probe" in m for m in messages), messages
        assert pod.pid is not None
        await gone([pod.pid])

    run(world, tmp_path, manifest, scenario, backoff=lambda n: 0.2)


# ---- environment -------------------------------------------------------------------------------


@pytest.mark.slow
def test_service_links_reach_the_backend_through_resolve_service(
    world: World, tmp_path: Path
) -> None:
    backend = deployment(world, world.image(world.first), replicas=1)
    # The frontend kind runs from the same image: SERVICE_KIND comes from the Deployment's env.
    frontend = deployment(world, world.image(world.first), replicas=1, source="frontend")
    calls: list[tuple[str, str, int]] = []

    async def scenario(runner: DeploymentRunner, watch: Watch) -> None:
        ready = await watch.until(runner, available(1), "the backend")
        [(_, backend_port)] = ready.endpoints()

        def resolve(namespace: str, service: str, port: int) -> tuple[str, int] | None:
            calls.append((namespace, service, port))
            return ("127.0.0.1", backend_port) if (service, port) == ("backend", 8080) else None

        front_watch = Watch()
        front = DeploymentRunner("dev", frontend, world.store, tmp_path, resolve, front_watch)
        await front.start()
        try:
            up = await front_watch.until(front, available(1), "the frontend")
            [(_, port)] = up.endpoints()
            status = (await get(port, "/api/status")).json()
            assert status["backend"]["url"] == f"http://127.0.0.1:{backend_port}"
            assert (status["backend"]["reachable"], status["backend"]["ready"]) == (True, True)
            assert status["backend"]["version"]["revision"] == world.first
        finally:
            pids = [p.pid for s in front_watch.history for p in s.pods if p.pid]
            await front.stop(grace_s=2)
            await gone(pids)
        assert ("dev", "backend", 8080) in calls

    run(world, tmp_path, backend, scenario)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("http://backend:8080", "http://127.0.0.1:31000"),
        ("http://backend:8080/api?x=1", "http://127.0.0.1:31000/api?x=1"),
        ("HTTP://Backend:8080/", "HTTP://127.0.0.1:31000/"),
        ("http://backend", "http://127.0.0.1:31080"),  # port 80 from the scheme
        ("backend:8080", "127.0.0.1:31000"),
        ("backend.dev:8080", "127.0.0.1:31000"),
        ("backend.dev.svc:8080", "127.0.0.1:31000"),
        ("http://backend.dev.svc.cluster.local:8080/x", "http://127.0.0.1:31000/x"),
        ("db.other.svc:5432", "127.0.0.1:32000"),
        ("postgres://u:p@db.other.svc:5432/app", "postgres://u:p@127.0.0.1:32000/app"),
        ("backend:8080,db.other:5432", "127.0.0.1:31000,127.0.0.1:32000"),
        # Not a Service (or not one of its ports): left alone.
        ("http://backend:9999", "http://backend:9999"),
        ("http://example.com:8080", "http://example.com:8080"),
        ("backend.dev.svc.cluster:8080", "backend.dev.svc.cluster:8080"),
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
        ("backend", "backend"),
        ("8080", "8080"),
        ("", ""),
    ],
)
def test_service_link_rewriting(value: str, expected: str) -> None:
    services = {
        ("dev", "backend", 8080): 31000,
        ("dev", "backend", 80): 31080,
        ("other", "db", 5432): 32000,
    }

    def resolve(namespace: str, service: str, port: int) -> tuple[str, int] | None:
        found = services.get((namespace, service, port))
        return None if found is None else ("127.0.0.1", found)

    assert rewrite_service_links(value, "dev", resolve) == expected


def test_container_env_from_values_references_and_fields(world: World) -> None:
    manifest = deployment(world, world.image(world.first), replicas=1)
    [container] = manifest["spec"]["template"]["spec"]["containers"]
    container["env"] += [
        {"name": "GREETING", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "greeting"}}},
        {"name": "SHARED", "valueFrom": {"secretKeyRef": {"name": "sec", "key": "shared"}}},
        {
            "name": "OPTIONAL",
            "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "nope", "optional": True}},
        },
        {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {"name": "NS", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
        {"name": "IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
        {
            "name": "APP",
            "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app.kubernetes.io/name']"}},
        },
        {"name": "MESSAGE", "value": "$(GREETING) from $(POD), $(UNSET) costs $$5"},
        {"name": "UPSTREAM", "value": "http://backend:8080"},
    ]
    values = {
        ("ConfigMap", "dev", "cfg", "greeting"): "hello",
        ("Secret", "dev", "sec", "shared"): "s3",
    }

    def lookup(kind: str, namespace: str, name: str, key: str) -> str | None:
        return values.get((kind, namespace, name, key))

    template = parse_template(manifest, lookup=True)
    env = container_env(
        template,
        namespace="dev",
        pod_name="backend-x-y",
        port=40000,
        resolve_service=lambda ns, svc, port: ("127.0.0.1", 1234),
        lookup=lookup,
    )
    assert env["GREETING"] == "hello"
    assert env["SHARED"] == "s3"
    assert "OPTIONAL" not in env
    assert (env["POD"], env["NS"], env["IP"], env["APP"]) == (
        "backend-x-y",
        "dev",
        "127.0.0.1",
        "backend",
    )
    assert env["MESSAGE"] == "hello from backend-x-y, $(UNSET) costs $5"
    assert env["UPSTREAM"] == "http://127.0.0.1:1234"
    assert (env["PORT"], env["HOST"], env["HOSTNAME"]) == ("40000", "127.0.0.1", "backend-x-y")
    del values[("Secret", "dev", "sec", "shared")]
    with pytest.raises(EnvError, match="couldn't find key shared in Secret dev/sec"):
        container_env(
            template,
            namespace="dev",
            pod_name="p",
            port=1,
            resolve_service=no_service,
            lookup=lookup,
        )


def test_a_missing_config_key_holds_the_pod_until_it_appears(world: World, tmp_path: Path) -> None:
    command = [
        "python",
        "-c",
        "import os, time; print('greeting', os.environ['GREETING'], flush=True); time.sleep(300)",
    ]
    manifest = deployment(
        world,
        world.image(world.first),
        replicas=1,
        command=command,
        readinessProbe=None,
        livenessProbe=None,
    )
    [container] = manifest["spec"]["template"]["spec"]["containers"]
    container["env"].append(
        {"name": "GREETING", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "greeting"}}}
    )
    config: dict[str, str] = {}

    def lookup(kind: str, namespace: str, name: str, key: str) -> str | None:
        return config.get(key) if (kind, namespace, name) == ("ConfigMap", "dev", "cfg") else None

    async def scenario(runner: DeploymentRunner, watch: Watch) -> None:
        held = await watch.until(
            runner,
            lambda s: any(p.phase is PodState.CREATE_CONTAINER_CONFIG_ERROR for p in s.pods),
            "CreateContainerConfigError",
        )
        assert "couldn't find key greeting in ConfigMap dev/cfg" in held.pods[0].message
        assert held.endpoints() == ()
        config["greeting"] = "hello"
        up = await watch.until(runner, available(1), "the pod, once the key exists")
        [pod] = up.pods
        assert pod.restarts == 0  # configuration errors are not container restarts
        deadline = time.monotonic() + 10
        while "greeting hello" not in pod.log.read_text():
            assert time.monotonic() < deadline, pod.log.read_text()
            await asyncio.sleep(0.05)

    run(world, tmp_path, manifest, scenario, lookup=lookup, backoff=lambda n: 0.2)


def test_a_secret_volume_is_mounted_where_args_and_env_say(world: World, tmp_path: Path) -> None:
    """The pod waits (FailedMount) until its Secret exists, then reads it through the path its
    args name, with HOME and TMPDIR in its emptyDir and a Service name in an argument resolved."""
    script = (
        "import os, stat, sys, tempfile, time\n"
        "token, upstream = sys.argv[1], sys.argv[2]\n"
        "mode = oct(stat.S_IMODE(os.stat(token).st_mode))\n"
        "print('token', open(token).read(), mode, upstream, flush=True)\n"
        "print('home', os.environ['HOME'], 'tmp', tempfile.gettempdir(), flush=True)\n"
        "time.sleep(300)\n"
    )
    manifest = deployment(
        world,
        world.image(world.first),
        replicas=1,
        command=["python", "-c", script],
        args=["/var/run/secrets/argocd/token", "--upstream=http://backend:8080"],
        readinessProbe=None,
        livenessProbe=None,
        volumeMounts=[
            {"name": "tmp", "mountPath": "/tmp"},
            {"name": "token", "mountPath": "/var/run/secrets/argocd", "readOnly": True},
        ],
    )
    pod = manifest["spec"]["template"]["spec"]
    pod["volumes"] = [
        {"name": "tmp", "emptyDir": {}},
        {"name": "token", "secret": {"secretName": "argocd-token", "defaultMode": 0o400}},
    ]
    pod["containers"][0]["env"].append({"name": "HOME", "value": "/tmp"})
    secrets: dict[str, dict[str, str]] = {}

    def data(kind: str, namespace: str, name: str) -> dict[str, str] | None:
        return secrets.get(name) if (kind, namespace) == ("Secret", "dev") else None

    def resolve(namespace: str, service: str, port: int) -> tuple[str, int] | None:
        return (
            ("127.0.0.1", 31000) if (namespace, service, port) == ("dev", "backend", 8080) else None
        )

    async def scenario(runner: DeploymentRunner, watch: Watch) -> None:
        held = await watch.until(
            runner, lambda s: any("MountVolume" in p.message for p in s.pods), "FailedMount"
        )
        assert held.pods[0].message == (
            'MountVolume.SetUp failed for volume "token" : secret "argocd-token" not found'
        )
        assert held.pods[0].phase is PodState.PENDING
        secrets["argocd-token"] = {"token": "s3cret"}
        up = await watch.until(runner, available(1), "the pod, once its Secret exists")
        [started] = up.pods
        volumes = tmp_path / "pods" / "dev" / started.name / "volumes"
        deadline = time.monotonic() + 10
        while "home" not in started.log.read_text():
            assert time.monotonic() < deadline, started.log.read_text()
            await asyncio.sleep(0.05)
        lines = started.log.read_text().splitlines()
        assert "token s3cret 0o400 --upstream=http://127.0.0.1:31000" in lines
        assert f"home {volumes / 'tmp'} tmp {volumes / 'tmp'}" in lines

    run(
        world,
        tmp_path,
        manifest,
        scenario,
        data=data,
        resolve_service=resolve,
        backoff=lambda n: 0.2,
    )


# ---- refusing what it does not run -------------------------------------------------------------


def _with(world: World, change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    manifest = deployment(world, world.image(world.first))
    change(manifest["spec"]["template"]["spec"])
    return manifest


def _container(pod: dict[str, Any]) -> dict[str, Any]:
    container: dict[str, Any] = pod["containers"][0]
    return container


REFUSED: list[tuple[str, Callable[[dict[str, Any]], None], type[Exception], str]] = [
    (
        "second container",
        lambda pod: pod["containers"].append({"name": "sidecar", "image": "x:1"}),
        UnsupportedDeployment,
        r"spec\.template\.spec\.containers\[1\] \('sidecar'\)",
    ),
    (
        "init container",
        lambda pod: pod.update(initContainers=[{"name": "init", "image": "x:1"}]),
        UnsupportedDeployment,
        r"spec\.template\.spec\.initContainers",
    ),
    (
        "ConfigMap ref without a lookup",
        lambda pod: _container(pod)["env"].append(
            {"name": "X", "valueFrom": {"configMapKeyRef": {"name": "c", "key": "k"}}}
        ),
        UnsupportedDeployment,
        r"containers\[0\]\.env\[\d+\]\.valueFrom\.configMapKeyRef",
    ),
    (
        "envFrom",
        lambda pod: _container(pod).update(envFrom=[{"configMapRef": {"name": "c"}}]),
        UnsupportedDeployment,
        r"containers\[0\]\.envFrom",
    ),
    (
        "exec probe",
        lambda pod: _container(pod).update(livenessProbe={"exec": {"command": ["true"]}}),
        UnsupportedDeployment,
        r"livenessProbe\.exec",
    ),
    (
        "hostPath volume",
        lambda pod: pod["volumes"].append({"name": "h", "hostPath": {"path": "/var/log"}}),
        UnsupportedDeployment,
        r"spec\.template\.spec\.volumes\[1\]\.hostPath",
    ),
    (
        "a mount of no volume",
        lambda pod: _container(pod).update(volumeMounts=[{"name": "nope", "mountPath": "/x"}]),
        InvalidDeployment,
        r"containers\[0\]\.volumeMounts\[0\]\.name: Not found: 'nope'",
    ),
    (
        "subPath",
        lambda pod: _container(pod).update(
            volumeMounts=[{"name": pod["volumes"][0]["name"], "mountPath": "/x", "subPath": "y"}]
        ),
        UnsupportedDeployment,
        r"containers\[0\]\.volumeMounts\[0\]\.subPath",
    ),
    (
        "second port",
        lambda pod: _container(pod)["ports"].append({"containerPort": 9090, "name": "metrics"}),
        UnsupportedDeployment,
        r"containers\[0\]\.ports\[1\]",
    ),
    (
        "restartPolicy",
        lambda pod: pod.update(restartPolicy="Never"),
        InvalidDeployment,
        r"restartPolicy must be Always",
    ),
    (
        "an env value that is not a string",
        lambda pod: _container(pod)["env"].append({"name": "WORKERS", "value": 4}),
        InvalidDeployment,
        r"containers\[0\]\.env\[\d+\]\.value: Invalid value: 4: must be a string",
    ),
]


@pytest.mark.parametrize(
    ("change", "error", "field"), [r[1:] for r in REFUSED], ids=[r[0] for r in REFUSED]
)
def test_refuses_what_it_cannot_run_naming_the_field(
    world: World,
    tmp_path: Path,
    change: Callable[[dict[str, Any]], None],
    error: type[Exception],
    field: str,
) -> None:
    manifest = _with(world, change)
    with pytest.raises(error, match=field):
        DeploymentRunner("dev", manifest, world.store, tmp_path, no_service, lambda s: None)
    # An update is refused the same way, and the running version stays.
    runner = DeploymentRunner(
        "dev",
        deployment(world, world.image(world.first)),
        world.store,
        tmp_path,
        no_service,
        lambda s: None,
    )
    before = runner.spec
    with pytest.raises(error, match=field):
        runner.update(manifest)
    assert runner.spec == before


# ---- stopping ----------------------------------------------------------------------------------


def _stubborn(world: World, grace: int) -> dict[str, Any]:
    manifest = deployment(
        world,
        world.image(world.first),
        replicas=1,
        command=["python", "-c", STUBBORN],
        readinessProbe=None,
        livenessProbe=None,
    )
    manifest["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] = grace
    return manifest


async def _child_of(pod_log: Path) -> int:
    deadline = time.monotonic() + 10
    while not (match := re.search(r"^child (\d+)$", pod_log.read_text(), re.MULTILINE)):
        assert time.monotonic() < deadline, "the container did not report its child"
        await asyncio.sleep(0.05)
    return int(match.group(1))


@pytest.mark.slow
def test_stop_sigkills_a_pod_that_ignores_sigterm_after_its_grace_period(
    world: World, tmp_path: Path
) -> None:
    async def main_() -> None:
        runners, watches = [], []
        for grace, where in ((1, "manifest"), (30, "override")):
            watch = Watch()
            runner = DeploymentRunner(
                "dev", _stubborn(world, grace), world.store, tmp_path / where, no_service, watch
            )
            await runner.start()
            runners.append(runner)
            watches.append(watch)
        pids = []
        for runner, watch in zip(runners, watches, strict=True):
            up = await watch.until(runner, available(1), "the stubborn pod")
            [pod] = up.pods
            assert pod.ready  # no readiness probe: ready once running
            assert pod.pid is not None
            pids += [pod.pid, await _child_of(pod.log)]
        started = time.monotonic()
        await asyncio.gather(runners[0].stop(), runners[1].stop(grace_s=1))
        elapsed = time.monotonic() - started
        assert 1.0 <= elapsed < 5.0  # SIGTERM ignored: SIGKILL after one second, not 30
        await gone(pids)  # the container's main process and its child
        terminating = [p.phase for w in watches for s in w.history for p in s.pods]
        assert PodState.TERMINATING in terminating
        for watch in watches:
            assert watch.history[-1].pods == ()
            assert watch.history[-1].endpoints() == ()

    asyncio.run(main_())


def test_reap_orphans_kills_the_pods_a_killed_supervisor_left(world: World, tmp_path: Path) -> None:
    async def main_() -> None:
        watch = Watch()
        runner = DeploymentRunner(
            "dev", _stubborn(world, 30), world.store, tmp_path, no_service, watch
        )
        await runner.start()
        up = await watch.until(runner, available(1), "the pod")
        [pod] = up.pods
        assert pod.pid is not None
        child = await _child_of(pod.log)
        # As if the platform had been killed: a new one finds and kills what it left.
        assert reap_orphans(tmp_path) == [pod.pid]
        await gone([pod.pid, child])
        assert reap_orphans(tmp_path) == []
        await runner.stop(grace_s=0)

    asyncio.run(main_())
