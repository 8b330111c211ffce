"""The controller end to end on real parts: a bare deploy repo from `gitops scaffold`, the repo
server with Kustomize, images built from the apps repo, pods as processes behind Service proxies,
and the read model the API serves. A bad promotion halts the rollout while the old pod serves;
a broken commit is a ComparisonError that leaves what runs alone. No mocks, no sleeps: every wait
is on a condition with a deadline."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from ruamel.yaml import YAML

from console.local.argo.controller import Controller
from console.local.argo.inmemory import InMemorySource
from console.local.argo.reposerver import RepoServer
from console.local.ci.images import ImageStore
from console.local.kube.processes import ProcessRuntime
from tests.helpers import run_git
from tests.world import World as SharedWorld

URL = "https://github.com/acme/platform-deploy.git"
REGISTRY = "123456789012.dkr.ecr.eu-west-1.amazonaws.com"


@dataclass(frozen=True)
class World:
    base: Path
    bare: Path
    work: Path
    images: ImageStore
    good: str  # the apps commit every image was built from
    pristine: Path  # a bare copy of the deploy repo as first pushed, that no test pushes to


def _fast_dev_overlays(work: Path, tag: str) -> None:
    """Pin the built tag in dev and make dev fail fast enough for a test."""
    for service in ("backend", "frontend"):
        path = work / "overlays" / "dev" / service / "kustomization.yaml"
        text = path.read_text().replace('newTag: "unreleased"', f'newTag: "{tag}"')
        text = re.sub(r"progressDeadlineSeconds: \d+", "progressDeadlineSeconds: 8", text)
        text = re.sub(r"minReadySeconds: \d+", "minReadySeconds: 0", text)
        path.write_text(text)


@pytest.fixture(scope="module")
def world(shared_world: SharedWorld, tmp_path_factory: pytest.TempPathFactory) -> World:
    """A bare deploy repo whose dev overlays pin the shared store's builds and fail fast."""
    base = shared_world.renderings_copy(tmp_path_factory.mktemp("controller") / "repos")
    good = shared_world.commit
    work = base / "deploy-repo"
    _fast_dev_overlays(work, good)
    run_git(work, "commit", "--quiet", "-am", "chore(deploy): promote dev")
    run_git(base, "clone", "--quiet", "--bare", str(work), "deploy.git")
    run_git(base, "clone", "--quiet", "--bare", str(work), "pristine.git")
    run_git(work, "remote", "add", "platform", str(base / "deploy.git"))
    return World(base, base / "deploy.git", work, shared_world.store, good, base / "pristine.git")


def root_app(world: World) -> dict:
    docs = YAML(typ="safe").load_all((world.work / "argocd" / "root.yaml").read_text())
    return next(d for d in docs if d and d.get("kind") == "Application")


def app_is(source: InMemorySource, name: str, sync: str, health: str) -> Callable[[], bool]:
    def check() -> bool:
        record = source.get(name)
        return (
            record is not None
            and record.status.sync.status == sync
            and record.status.health.status == health
        )

    return check


async def until(condition: Callable[[], bool], what: str, timeout: float = 45.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)  # polling a condition, with a deadline


@pytest.mark.slow
def test_deploy_then_a_bad_promotion_halts_and_a_broken_commit_is_a_comparison_error(
    world: World, tmp_path: Path
) -> None:
    repos = RepoServer(tmp_path / "cache")
    repos.register(URL, world.bare)
    source = InMemorySource()

    async def scenario() -> None:
        runtime = ProcessRuntime(tmp_path / "run", world.images)
        controller = Controller(repos, runtime, source, root_app(world), poll_s=3600)
        stop = asyncio.Event()
        loop = asyncio.create_task(controller.run(stop))
        try:
            await deploy(world, source, runtime)
            await bad_promotion_halts(world, controller, source, runtime)
            await broken_commit(world, controller, source, runtime)
            await wipe_out_refused(world, controller, source, runtime)
        finally:
            stop.set()
            await loop
            await runtime.close()

    asyncio.run(scenario())


async def deploy(world: World, source: InMemorySource, runtime: ProcessRuntime) -> None:
    await until(app_is(source, "backend-dev", "Synced", "Healthy"), "backend-dev Healthy")
    await until(app_is(source, "frontend-dev", "Synced", "Healthy"), "frontend-dev Healthy")
    root = source.get("root")
    assert root is not None
    assert root.status.sync.status == "Synced"
    assert {r.name for r in root.status.resources} >= {"backend-dev", "frontend-prod"}
    record = source.get("backend-dev")
    assert record is not None
    state = record.status.operation_state
    assert state is not None
    assert state.phase == "Succeeded"
    assert state.operation.initiated_by.automated
    assert [h.revision for h in record.status.history] == [record.status.sync.revision]
    assert record.status.summary.images == (f"{REGISTRY}/backend:{world.good}",)
    kinds = {r.kind: r for r in record.status.resources}
    assert kinds["Deployment"].health_state is not None
    assert kinds["Deployment"].health_state.status == "Healthy"
    assert kinds["ServiceAccount"].health is None, "no health check for this kind"
    # GetManifests renders what the controller applied, at the revision it synced.
    rendered = await source.manifests("backend-dev", record.status.sync.revision)
    assert rendered.revision == record.status.sync.revision
    assert sorted(o["kind"] for o in rendered.objects) == sorted(kinds)
    # The frontend reaches the backend through the proxies, as a user would.
    url = runtime.service_urls()[("dev", "frontend")]
    async with httpx.AsyncClient(timeout=5) as client:
        status = (await client.get(f"{url}/api/status")).json()
    assert status["backend"]["reachable"] is True
    # prod has nothing promoted yet: its pods cannot pull "unreleased", it never turns Healthy.
    prod = source.get("backend-prod")
    assert prod is not None
    assert prod.status.health.status in {"Progressing", "Degraded"}


async def bad_promotion_halts(
    world: World, controller: Controller, source: InMemorySource, runtime: ProcessRuntime
) -> None:
    work = world.work
    missing = "f" * 40
    overlay = work / "overlays" / "dev" / "backend" / "kustomization.yaml"
    overlay.write_text(overlay.read_text().replace(world.good, missing))
    run_git(work, "commit", "--quiet", "-am", "chore(deploy): promote backend fffffff to dev")
    bad = run_git(work, "rev-parse", "HEAD").strip()
    run_git(work, "push", "--quiet", "platform", "HEAD:main")
    controller.refresh_all()  # what the Git host's webhook does on a push
    await until(app_is(source, "backend-dev", "Synced", "Degraded"), "backend-dev Degraded")
    record = source.get("backend-dev")
    assert record is not None
    assert record.status.sync.revision == bad
    assert "exceeded its progress deadline" in record.status.health.message
    assert len(record.status.history) == 2, "the bad revision was synced, once"
    # maxUnavailable 0: the old pod still serves the good version through the proxy.
    url = runtime.service_urls()[("dev", "backend")]
    async with httpx.AsyncClient(timeout=5) as client:
        version = (await client.get(f"{url}/version")).json()
    assert version["revision"] == world.good


async def broken_commit(
    world: World, controller: Controller, source: InMemorySource, runtime: ProcessRuntime
) -> None:
    work = world.work
    (work / "overlays" / "dev" / "frontend" / "kustomization.yaml").write_text(
        "resources:\n  - ../../../base/nope\n"
    )
    run_git(work, "commit", "--quiet", "-am", "fix(deploy): break the frontend overlay")
    run_git(work, "push", "--quiet", "platform", "HEAD:main")
    controller.refresh_all()

    def comparison_error() -> bool:
        record = source.get("frontend-dev")
        return record is not None and any(
            c.type == "ComparisonError" for c in record.status.conditions
        )

    await until(comparison_error, "frontend-dev ComparisonError")
    record = source.get("frontend-dev")
    assert record is not None
    assert record.status.sync.status == "Unknown"
    assert record.status.health.status == "Healthy", "the last synced state keeps running"
    url = runtime.service_urls()[("dev", "frontend")]
    async with httpx.AsyncClient(timeout=5) as client:
        assert (await client.get(f"{url}/healthz")).status_code == 200


async def wipe_out_refused(
    world: World, controller: Controller, source: InMemorySource, runtime: ProcessRuntime
) -> None:
    """The frontend overlay's kustomization renamed away: the path is a directory source that
    renders nothing. Automated sync (allowEmpty false) refuses to prune everything, says why,
    and what runs keeps serving."""
    work = world.work
    overlay = work / "overlays" / "dev" / "frontend"
    (overlay / "kustomization.yaml").rename(overlay / "kustomization.yaml.off")
    run_git(work, "add", "--all")
    run_git(work, "commit", "--quiet", "-m", "chore(deploy): park the frontend kustomization")
    empty = run_git(work, "rev-parse", "HEAD").strip()
    run_git(work, "push", "--quiet", "platform", "HEAD:main")
    controller.refresh_all()
    said = f"Skipping sync attempt to {empty}: auto-sync will wipe out all resources"

    def refused() -> bool:
        record = source.get("frontend-dev")
        return record is not None and any(c.message == said for c in record.status.conditions)

    await until(refused, "frontend-dev refusing to wipe out its resources")
    record = source.get("frontend-dev")
    assert record is not None
    assert record.status.sync.status == "OutOfSync"
    assert record.status.sync.revision == empty
    assert record.status.health.status == "Healthy", "nothing was pruned"
    assert {r.kind for r in record.status.resources} >= {"Deployment", "Service"}
    url = runtime.service_urls()[("dev", "frontend")]
    async with httpx.AsyncClient(timeout=5) as client:
        assert (await client.get(f"{url}/healthz")).status_code == 200


@pytest.mark.slow
def test_a_held_app_is_not_synced_on_its_own(world: World, tmp_path: Path) -> None:
    """`gitops up --no-guard`: the guard's Application is listed and OutOfSync, nothing of it
    runs, while every other app is synced as usual. On the deploy repo as first pushed: the
    module's other test pushes bad commits to `world.bare`."""
    repos = RepoServer(tmp_path / "cache")
    repos.register(URL, world.pristine)
    source = InMemorySource()

    async def scenario() -> None:
        runtime = ProcessRuntime(tmp_path / "run", world.images)
        controller = Controller(
            repos, runtime, source, root_app(world), poll_s=3600, hold=frozenset({"gitops-guard"})
        )
        stop = asyncio.Event()
        loop = asyncio.create_task(controller.run(stop))
        try:
            await until(app_is(source, "backend-dev", "Synced", "Healthy"), "backend-dev Healthy")
            await until(lambda: source.get("gitops-guard") is not None, "gitops-guard listed")
            guard = source.get("gitops-guard")
            assert guard is not None
            assert guard.status.sync.status == "OutOfSync"
            assert guard.status.operation_state is None, "never synced"
            assert runtime.resources("gitops-guard") == []
        finally:
            stop.set()
            await loop
            await runtime.close()

    asyncio.run(scenario())
