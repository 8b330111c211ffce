"""Publishing what the runtime runs into the read model: the resource tree built from hand-made
snapshots (table tests, each tree validated against Argo CD's swagger), the log tail over real
files, and a real ProcessRuntime whose pods' lines and tree reach the source. No sleeps: every
wait is on a condition with a deadline."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from console.application import API_VERSION, KIND, ApplicationStatus, HealthState, ResourceStatus
from console.fleet.logs import LogQuery
from console.fleet.tree import failing_pods
from console.local.argo.appstate import ApplicationRecord
from console.local.argo.inmemory import InMemorySource
from console.local.argo.podlogs import LogEntry
from console.local.argo.publish import (
    MAX_LINE_BYTES,
    MAX_READ_BYTES,
    RuntimePublisher,
    pod_health,
    publish_runtime,
    tree_for,
)
from console.local.ci.images import ImageStore
from console.local.kube.deployment_controller import DeploymentSnapshot
from console.local.kube.deploymentspec import DeploymentSpec
from console.local.kube.podstatus import PodInfo, PodState
from console.local.kube.processes import ProcessRuntime
from console.local.kube.rollout import DeploymentStatus
from tests.helpers import GIT_IDENTITY as IDENTITY
from tests.helpers import run_git
from tests.local.test_api import SCHEMAS

NOW = datetime(2026, 8, 1, 12, 0, tzinfo=UTC)
EPOCH = NOW.timestamp()  # snapshot wall time = EPOCH + the runner's clock time
OLD, NEW = "7f9c8d6b5z", "5d8f7c9b4x"
APP = "backend-dev"
LOG = Path("/nonexistent/backend.log")


def pod(
    template: str,
    suffix: str,
    phase: PodState = PodState.RUNNING,
    *,
    ready: bool = False,
    restarts: int = 0,
    created: float = 0.0,
    message: str = "",
    deployment: str = "backend",
    log: Path = LOG,
) -> PodInfo:
    return PodInfo(
        name=f"{deployment}-{template}-{suffix}",
        namespace="dev",
        template_hash=template,
        phase=phase,
        ready=ready,
        restarts=restarts,
        port=0,
        pid=None,
        log=log,
        image=f"{deployment}:{template}",
        image_digest=None,
        created_at=created,
        started_at=created,
        ready_since=created if ready else None,
        exit_code=None,
        message=message,
    )


def snapshot(
    pods: list[PodInfo],
    *,
    name: str = "backend",
    current: str = NEW,
    replicas: int = 1,
    status: DeploymentStatus | None = None,
) -> DeploymentSnapshot:
    if status is None:
        ready = sum(p.ready for p in pods)
        status = DeploymentStatus(
            replicas=len(pods),
            updated_replicas=len(pods),
            ready_replicas=ready,
            available_replicas=ready,
            unavailable_replicas=len(pods) - ready,
        )
    return DeploymentSnapshot(
        namespace="dev",
        name=name,
        generation=1,
        spec=DeploymentSpec(name=name, template_hash=current, replicas=replicas),
        status=status,
        pods=tuple(pods),
        container_port=8080,
        port_name=None,
        status_manifest=status.to_manifest(observed_generation=1),
        epoch=EPOCH,
    )


def record(*resources: ResourceStatus, name: str = APP) -> ApplicationRecord:
    manifest = {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": {"name": name, "namespace": "argocd"},
        "spec": {
            "project": "default",
            "source": {"repoURL": "https://github.com/acme/deploy.git", "path": "dev"},
            "destination": {"server": "https://kubernetes.default.svc", "namespace": "dev"},
        },
    }
    return ApplicationRecord(manifest, ApplicationStatus(resources=resources))


def _resource(group: str, kind: str, name: str, health: HealthState | None) -> ResourceStatus:
    return ResourceStatus(
        group=group,
        version="v1",
        kind=kind,
        namespace="dev",
        name=name,
        status="Synced",
        health_state=health,
    )


MANAGED = (
    _resource("", "ConfigMap", "backend-config", None),
    _resource("", "Service", "backend", HealthState(status="Healthy")),
    _resource("apps", "Deployment", "backend", HealthState(status="Healthy")),
)


Row = tuple[str, str, str, str]  # kind, name, health, parent


def rows(tree: dict[str, Any]) -> list[Row]:
    """Each node as (kind, name, health status, parent name), in the tree's order."""
    return [
        (
            n["kind"],
            n["name"],
            n.get("health", {}).get("status", ""),
            ",".join(p["name"] for p in n.get("parentRefs", [])),
        )
        for n in tree.get("nodes", [])
    ]


def info(tree: dict[str, Any], name: str) -> dict[str, str]:
    [node] = [n for n in tree["nodes"] if n["name"] == name]
    return {item["name"]: item["value"] for item in node.get("info", [])}


def node(tree: dict[str, Any], name: str) -> dict[str, Any]:
    [found] = [n for n in tree["nodes"] if n["name"] == name]
    return found


# Argo CD sorts nodes by group/kind/namespace/name: core kinds first, Pods among them.
CONFIG: Row = ("ConfigMap", "backend-config", "", "")
SERVICE: Row = ("Service", "backend", "Healthy", "")

TREES: list[tuple[str, list[DeploymentSnapshot], list[Row]]] = [
    (
        "nothing runs: the managed resources, sorted as Argo CD sorts them",
        [],
        [CONFIG, SERVICE, ("Deployment", "backend", "Healthy", "")],
    ),
    (
        "two ready pods under the current ReplicaSet",
        [
            snapshot(
                [pod(NEW, "aaaaa", ready=True), pod(NEW, "bbbbb", ready=True, created=1)],
                replicas=2,
            )
        ],
        [
            CONFIG,
            ("Pod", f"backend-{NEW}-aaaaa", "Healthy", f"backend-{NEW}"),
            ("Pod", f"backend-{NEW}-bbbbb", "Healthy", f"backend-{NEW}"),
            SERVICE,
            ("Deployment", "backend", "Healthy", ""),
            ("ReplicaSet", f"backend-{NEW}", "Healthy", "backend"),
        ],
    ),
    (
        "a rolling update: the old ReplicaSet serves, the new pod is starting",
        [
            snapshot(
                [pod(OLD, "ooooo", ready=True), pod(NEW, "nnnnn", PodState.PENDING, created=5)],
                status=DeploymentStatus(
                    replicas=2, updated_replicas=1, ready_replicas=1, available_replicas=1
                ),
            )
        ],
        [
            CONFIG,
            ("Pod", f"backend-{NEW}-nnnnn", "Progressing", f"backend-{NEW}"),
            ("Pod", f"backend-{OLD}-ooooo", "Healthy", f"backend-{OLD}"),
            SERVICE,
            ("Deployment", "backend", "Progressing", ""),
            ("ReplicaSet", f"backend-{NEW}", "Progressing", "backend"),
            ("ReplicaSet", f"backend-{OLD}", "Healthy", "backend"),
        ],
    ),
    (
        "the old pod terminating does not hold its ReplicaSet back",
        [
            snapshot(
                [
                    pod(OLD, "ooooo", PodState.TERMINATING),
                    pod(NEW, "nnnnn", ready=True, created=5),
                ],
                status=DeploymentStatus(
                    replicas=1, updated_replicas=1, ready_replicas=1, available_replicas=1
                ),
            )
        ],
        [
            CONFIG,
            ("Pod", f"backend-{NEW}-nnnnn", "Healthy", f"backend-{NEW}"),
            ("Pod", f"backend-{OLD}-ooooo", "Progressing", f"backend-{OLD}"),
            SERVICE,
            ("Deployment", "backend", "Healthy", ""),
            ("ReplicaSet", f"backend-{NEW}", "Healthy", "backend"),
            ("ReplicaSet", f"backend-{OLD}", "Healthy", "backend"),
        ],
    ),
    (
        "a crash-looping pod is Degraded, and so is its ReplicaSet's rollout Progressing",
        [
            snapshot(
                [
                    pod(
                        NEW,
                        "ccccc",
                        PodState.CRASH_LOOP_BACKOFF,
                        restarts=3,
                        message="back-off 40s restarting failed container=backend",
                    )
                ]
            )
        ],
        [
            CONFIG,
            ("Pod", f"backend-{NEW}-ccccc", "Degraded", f"backend-{NEW}"),
            SERVICE,
            ("Deployment", "backend", "Progressing", ""),
            ("ReplicaSet", f"backend-{NEW}", "Progressing", "backend"),
        ],
    ),
    (
        "scaled to zero: the current ReplicaSet stays, empty",
        [snapshot([], replicas=0)],
        [
            CONFIG,
            SERVICE,
            ("Deployment", "backend", "Healthy", ""),
            ("ReplicaSet", f"backend-{NEW}", "Healthy", "backend"),
        ],
    ),
    (
        "a Deployment that runs but is not among status.resources still parents its pods",
        [snapshot([pod(NEW, "wwwww", ready=True, deployment="worker")], name="worker")],
        [
            CONFIG,
            ("Pod", f"worker-{NEW}-wwwww", "Healthy", f"worker-{NEW}"),
            SERVICE,
            ("Deployment", "backend", "Healthy", ""),
            ("Deployment", "worker", "Healthy", ""),
            ("ReplicaSet", f"worker-{NEW}", "Healthy", "worker"),
        ],
    ),
]


@pytest.mark.parametrize(
    ("snapshots", "expected"), [t[1:] for t in TREES], ids=[t[0] for t in TREES]
)
def test_tree(snapshots: list[DeploymentSnapshot], expected: list[Row]) -> None:
    tree = tree_for(record(*MANAGED), snapshots)
    SCHEMAS.check(tree, "v1alpha1ApplicationTree")
    assert rows(tree) == expected
    assert tree == tree_for(record(*MANAGED), snapshots)  # pure: same input, same tree


def test_tree_nodes_carry_argo_cd_fields() -> None:
    running = pod(NEW, "aaaaa", ready=True, restarts=2, created=30)
    tree = tree_for(record(*MANAGED), [snapshot([running])])
    SCHEMAS.check(tree, "v1alpha1ApplicationTree")
    assert node(tree, running.name) == {
        "version": "v1",
        "kind": "Pod",
        "namespace": "dev",
        "name": running.name,
        "parentRefs": [
            {"group": "apps", "kind": "ReplicaSet", "namespace": "dev", "name": f"backend-{NEW}"}
        ],
        "info": [
            {"name": "Status Reason", "value": "Running"},
            {"name": "Node", "value": "localhost"},
            {"name": "Containers", "value": "1/1"},
            {"name": "Restart Count", "value": "2"},
        ],
        "health": {"status": "Healthy"},
        "images": [f"backend:{NEW}"],
        "createdAt": "2026-08-01T12:00:30Z",
    }
    assert node(tree, f"backend-{NEW}") == {
        "group": "apps",
        "version": "v1",
        "kind": "ReplicaSet",
        "namespace": "dev",
        "name": f"backend-{NEW}",
        "parentRefs": [
            {"group": "apps", "kind": "Deployment", "namespace": "dev", "name": "backend"}
        ],
        "info": [{"name": "Revision", "value": "Rev:1"}],
        "health": {"status": "Healthy"},
        "createdAt": "2026-08-01T12:00:30Z",
    }
    # No runtime, no tree beyond the record; no resources at all: Argo CD's empty tree.
    assert tree_for(record(), []) == {}


PODS: list[tuple[PodInfo, str, str, str, str]] = [
    # pod, health, health message, Status Reason, Containers
    (pod(NEW, "a", ready=True), "Healthy", "", "Running", "1/1"),
    (pod(NEW, "b", PodState.PENDING), "Progressing", "", "ContainerCreating", "0/1"),
    (pod(NEW, "c"), "Progressing", "", "Running", "0/1"),  # running, readiness not yet passed
    (pod(NEW, "d", restarts=1, message="x"), "Degraded", "x", "Running", "0/1"),
    (
        pod(NEW, "e", PodState.CRASH_LOOP_BACKOFF, restarts=4, message="back-off 80s"),
        "Degraded",
        "back-off 80s",
        "CrashLoopBackOff",
        "0/1",
    ),
    (
        pod(NEW, "f", PodState.ERR_IMAGE_PULL, message='Failed to pull image "x"'),
        "Degraded",
        'Failed to pull image "x"',
        "ErrImagePull",
        "0/1",
    ),
    (
        pod(NEW, "g", PodState.IMAGE_PULL_BACKOFF, message='Back-off pulling image "x"'),
        "Degraded",
        'Back-off pulling image "x"',
        "ImagePullBackOff",
        "0/1",
    ),
    (
        pod(NEW, "h", PodState.CREATE_CONTAINER_CONFIG_ERROR, message="no key"),
        "Degraded",
        "no key",
        "CreateContainerConfigError",
        "0/1",
    ),
    (pod(NEW, "i", PodState.TERMINATING), "Progressing", "Pending deletion", "Terminating", "0/1"),
]


@pytest.mark.parametrize(
    ("info_", "health", "message", "reason", "containers"), PODS, ids=[p[0].name for p in PODS]
)
def test_pod_health_and_info(
    info_: PodInfo, health: str, message: str, reason: str, containers: str
) -> None:
    assert (str(pod_health(info_).status), pod_health(info_).message) == (health, message)
    tree = tree_for(record(), [snapshot([info_])])
    SCHEMAS.check(tree, "v1alpha1ApplicationTree")
    items = info(tree, info_.name)
    assert (items["Status Reason"], items["Containers"]) == (reason, containers)
    assert ("Restart Count" in items) == (info_.restarts > 0)
    assert node(tree, info_.name)["health"].get("message", "") == message


# --- the log tail, over real files -----------------------------------------------------------


class FakeRuntime:
    """Hand-made snapshots per app: what ProcessRuntime.snapshots would return."""

    def __init__(self) -> None:
        self.apps: dict[str, list[DeploymentSnapshot]] = {}

    def snapshots(self, app: str) -> list[DeploymentSnapshot]:
        return list(self.apps.get(app, []))


def all_lines(pod: str | None) -> LogQuery:
    """Every line the pod (every pod, for None) wrote so far, not followed."""
    return LogQuery(pod, tail_lines=None, follow=False)


def lines_of(source: InMemorySource, pod_name: str | None = None) -> list[str]:
    async def collect() -> list[str]:
        return [e.content async for e in source.pod_logs(APP, all_lines(pod_name))]

    return asyncio.run(collect())


def test_the_tail_publishes_whole_lines_and_follows_the_file(tmp_path: Path) -> None:
    log = tmp_path / "backend.log"
    log.write_bytes(b"")
    first = pod(NEW, "aaaaa", ready=True, log=log)
    runtime, source = FakeRuntime(), InMemorySource([record(*MANAGED)], clock=lambda: NOW)
    runtime.apps[APP] = [snapshot([first])]
    clock = iter(datetime(2026, 8, 1, 12, 0, s, tzinfo=UTC) for s in range(60))
    publisher = RuntimePublisher(runtime, source, clock=lambda: next(clock))

    async def scenario() -> None:
        await publisher.refresh()
        tree = source.resource_tree(APP)
        SCHEMAS.check(tree, "v1alpha1ApplicationTree")
        assert ("Pod", first.name, "Healthy", f"backend-{NEW}") in rows(tree)
        with log.open("ab") as out:
            out.write(b"listening on :8080\nGET /healthz 200\r\nhalf a li")
        await publisher.refresh()
        with log.open("ab") as out:
            out.write(b"ne\ncaf\xc3\xa9 \xff\n")  # an invalid byte is replaced, not fatal
        await publisher.refresh()
        with log.open("ab") as out:
            out.write(b"x" * (MAX_LINE_BYTES + 10))  # no line break: published in pieces
        await publisher.refresh()
        with log.open("ab") as out:
            out.write(b"\nlast words without a line break")
        runtime.apps[APP] = []  # the pod is gone: what it wrote last is complete
        await publisher.refresh()
        assert rows(source.resource_tree(APP)) == [
            CONFIG,
            SERVICE,
            ("Deployment", "backend", "Healthy", ""),
        ]

    asyncio.run(scenario())
    entries = asyncio.run(_entries(source, first.name))
    assert [e.content for e in entries] == [
        "listening on :8080",
        "GET /healthz 200",
        "half a line",
        "caf\u00e9 \ufffd",
        "x" * MAX_LINE_BYTES,
        "x" * 10,
        "last words without a line break",
    ]
    assert {e.container for e in entries} == {"backend"}
    assert [e.timestamp.second for e in entries] == [1, 1, 2, 2, 3, 4, 4]


async def _entries(source: InMemorySource, pod_name: str) -> list[LogEntry]:
    return [e async for e in source.pod_logs(APP, all_lines(pod_name))]


def test_the_tail_skips_what_it_cannot_keep_and_restarts_on_truncation(tmp_path: Path) -> None:
    log = tmp_path / "backend.log"
    filler = b"old line that nobody will read\n" * (MAX_READ_BYTES // 31 + 100)
    log.write_bytes(filler + b"recent\n")
    runtime, source = FakeRuntime(), InMemorySource([record(*MANAGED)])
    first = pod(NEW, "aaaaa", ready=True, log=log)
    runtime.apps[APP] = [snapshot([first])]
    publisher = RuntimePublisher(runtime, source)

    async def scenario() -> None:
        await publisher.refresh()
        log.write_bytes(b"after truncation\n")  # smaller than what was read: start again
        await publisher.refresh()

    asyncio.run(scenario())
    contents = lines_of(source, first.name)
    assert contents[-2:] == ["recent", "after truncation"]
    # Only the last MAX_READ_BYTES were read, starting at a line boundary.
    assert len(contents) <= MAX_READ_BYTES // 31 + 2
    assert all(c == "old line that nobody will read" for c in contents[:-2])


def test_the_publisher_follows_the_source_and_stops_cleanly(tmp_path: Path) -> None:
    runtime, source = FakeRuntime(), InMemorySource()
    log = tmp_path / "backend.log"
    log.write_bytes(b"ready\n")

    async def scenario() -> None:
        # A long interval: only the source's change (the app appearing) can wake the publisher.
        async with publish_runtime(runtime, source, interval_s=3600) as publisher:
            assert publisher.source is source
            runtime.apps[APP] = [snapshot([pod(NEW, "aaaaa", ready=True, log=log)])]
            source.put(record(*MANAGED))
            entries = source.pod_logs(APP, LogQuery(tail_lines=None))
            first = await asyncio.wait_for(anext(entries), timeout=10)
            assert first.content == "ready"
            await entries.aclose()  # type: ignore[attr-defined]
            with log.open("ab") as out:
                out.write(b"stopping\n")
        assert [t for t in asyncio.all_tasks() if t.get_name().startswith("publish")] == []

    asyncio.run(scenario())
    # stop() made one last pass.
    assert lines_of(source) == ["ready", "stopping"]
    with pytest.raises(ValueError, match="interval_s"):
        RuntimePublisher(runtime, source, interval_s=0)


# --- a real ProcessRuntime ----------------------------------------------------------------------

HELLO = (
    "import os, signal, sys\n"
    "def bye(*_):\n"
    "    print('stopping', flush=True)\n"
    "    sys.exit(0)\n"
    "signal.signal(signal.SIGTERM, bye)\n"
    "print('hello from', os.environ['HOSTNAME'], flush=True)\n"
    "while True:\n"
    "    signal.pause()\n"
)
CRASH = "print('boom', flush=True)\nraise SystemExit(1)\n"


@dataclass(frozen=True)
class Tiny:
    store: ImageStore
    image: str


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Tiny:
    """A one-file image with no dependencies: quick to build, runs `python`."""
    base = tmp_path_factory.mktemp("publish")
    repo = base / "repo"
    repo.mkdir()
    (repo / "pyproject.toml").write_text(
        '[project]\nname = "tiny"\nversion = "0.1.0"\nrequires-python = ">=3.11"\n'
        "dependencies = []\n\n[tool.uv]\npackage = false\n",
        encoding="utf-8",
    )
    (repo / "Dockerfile").write_text(
        'FROM python:3.12-slim\nENV PYTHONUNBUFFERED=1\nCMD ["python", "-c", "print(1)"]\n',
        encoding="utf-8",
    )
    with pytest.MonkeyPatch.context() as mp:
        for var, value in IDENTITY.items():
            mp.setenv(var, value)
        subprocess.run(["uv", "lock", "--offline", "--quiet"], cwd=repo, check=True)
        run_git(repo, "init", "--quiet", "--initial-branch", "main")
        run_git(repo, "add", "--all")
        run_git(repo, "commit", "--quiet", "--message", "feat: tiny")
        store = ImageStore(base / "store")
        store.build(repo, "HEAD", "tiny", "v1", {})
    return Tiny(store, "tiny:v1")


def deployment(name: str, image: str, script: str) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {
                    "terminationGracePeriodSeconds": 5,
                    "containers": [
                        {"name": name, "image": image, "command": ["python", "-c", script]}
                    ],
                },
            },
        },
    }


class Changes:
    """The runtime's listener: wait until a condition holds, re-checked at each change."""

    def __init__(self, runtime: ProcessRuntime) -> None:
        self._changed = asyncio.Event()
        runtime.set_listener(lambda _app: self._changed.set())

    async def until(self, condition: Callable[[], bool], what: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            left = deadline - time.monotonic()
            if left <= 0:
                pytest.fail(f"timed out waiting for {what}")
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), left)


async def first_line(entries: AsyncIterator[LogEntry], wanted: str, timeout: float) -> str:
    """The pod of the first line containing `wanted` (a followed stream; bounded)."""

    async def find() -> str:
        async for entry in entries:
            if wanted in entry.content:
                return entry.pod_name
        raise AssertionError("the log stream ended")

    return await asyncio.wait_for(find(), timeout)


def test_a_real_runtime_publishes_pod_logs_and_tree(tiny: Tiny, tmp_path: Path) -> None:
    resources = tuple(
        _resource("apps", "Deployment", n, HealthState(status="Healthy"))
        for n in ("crasher", "hello")
    )
    source = InMemorySource([record(*resources)])

    async def scenario() -> None:
        runtime = ProcessRuntime(tmp_path / "runtime", tiny.store)
        changes = Changes(runtime)
        publisher = publish_runtime(runtime, source)
        await publisher.start()
        try:
            objects = [
                deployment("hello", tiny.image, HELLO),
                deployment("crasher", tiny.image, CRASH),
            ]
            results = await runtime.apply(APP, "dev", objects, prune=True)
            assert all(r.ok for r in results), results
            follow = source.pod_logs(APP, LogQuery(tail_lines=None))
            hello = await first_line(follow, "hello from", timeout=30)
            await follow.aclose()  # type: ignore[attr-defined]
            assert hello.startswith("hello-")
            entries = [e async for e in source.pod_logs(APP, all_lines(hello))]
            assert [e.content for e in entries] == [f"hello from {hello}"]
            assert entries[0].container == "hello"

            def settled() -> bool:
                states = {p.name.split("-")[0]: p for p in runtime.pods(APP)}
                return (
                    set(states) == {"hello", "crasher"}
                    and states["hello"].ready
                    and states["crasher"].phase is PodState.CRASH_LOOP_BACKOFF
                )

            await changes.until(settled, "hello ready and crasher in CrashLoopBackOff")
            await publisher.refresh()
            tree = source.resource_tree(APP)
            SCHEMAS.check(tree, "v1alpha1ApplicationTree")
            crasher = next(p for p in runtime.pods(APP) if p.name.startswith("crasher-"))
            found = {(kind, name.split("-")[0], health) for kind, name, health, _ in rows(tree)}
            assert found >= {
                ("Pod", "hello", "Healthy"),
                ("Pod", "crasher", "Degraded"),
                ("ReplicaSet", "hello", "Healthy"),
                ("ReplicaSet", "crasher", "Progressing"),
            }
            assert info(tree, crasher.name)["Status Reason"] == "CrashLoopBackOff"
            assert node(tree, hello)["parentRefs"][0]["name"] == hello.rsplit("-", 1)[0]
            boom = [e.content async for e in source.pod_logs(APP, all_lines(crasher.name))]
            assert boom[:1] == ["boom"]
        finally:
            await runtime.close()
            await publisher.stop()
        # The last pass, after the pods stopped, published what the hello pod said on SIGTERM.
        last = [e.content async for e in source.pod_logs(APP, all_lines(hello))]
        assert last == [f"hello from {hello}", "stopping"]
        assert not any(n["kind"] == "Pod" for n in source.resource_tree(APP)["nodes"])

    asyncio.run(scenario())


def test_replica_sets_carry_their_revision_the_current_template_the_newest() -> None:
    """As Argo CD's tree shows `Rev:N` for each ReplicaSet: the guard judges a revision by the
    pods of the newest one only (console.fleet.tree.failing_pods)."""
    rollback = snapshot(
        [pod(OLD, "ooooo", PodState.CRASH_LOOP_BACKOFF, restarts=3), pod(NEW, "nnnnn", created=5)],
        current=NEW,
    )
    tree = tree_for(record(*MANAGED), [rollback])
    SCHEMAS.check(tree, "v1alpha1ApplicationTree")
    revisions = {n["name"]: n["info"] for n in tree["nodes"] if n["kind"] == "ReplicaSet"}
    assert revisions == {
        f"backend-{OLD}": [{"name": "Revision", "value": "Rev:1"}],
        f"backend-{NEW}": [{"name": "Revision", "value": "Rev:2"}],
    }
    assert failing_pods(tree) == (), "the crash-looping pod is the old template's"
