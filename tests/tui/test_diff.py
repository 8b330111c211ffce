"""The diff view (`d`) against the real embedded API: Argo CD's GetManifests served on
127.0.0.1 over an InMemorySource whose renderer is a real RepoServer (real git, real Kustomize)
on a deploy repo with two commits, read by the console's own ArgoCDSource and DeployRepo. A
history line's diff comes from the API; a promotion draft's from a scratch clone, before the
confirm, and nothing is written."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from console.application import (
    ApplicationStatus,
    HealthState,
    OperationInitiator,
    RevisionHistory,
    SyncStatus,
    add_history,
)
from console.fleet.argocd import ArgoCDSource
from console.fleet.follow import Pacing
from console.fleet.manifests import Rendered
from console.fleet.source import SourceError
from console.git import git
from console.local.argo.appstate import ApplicationRecord
from console.local.argo.inmemory import InMemorySource
from console.tui.deployrepo import DeployRepo
from console.tui.diffs import DiffError, from_clone
from console.tui.diffview import diff_manifests
from console.tui.messages import OpenApp
from console.tui.targets import ConsoleTarget
from console.tui.widgets.confirm import ConfirmScreen
from console.tui.widgets.detail import DetailScreen
from console.tui.widgets.diff import DiffScreen
from tests.fleet.support import NOW, FakeSleep, Server, manifest
from tests.local.deploy_history import TAG, DeployHistory
from tests.tui import data
from tests.tui.fakes import FakeSource, console_app, loaded, target, until

pytestmark = pytest.mark.asyncio
TOKEN = "console-diff-token-0123456789"  # noqa: S105 - a test token, served only on 127.0.0.1
REGISTRY = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/backend"


def deployed(name: str, env: str, *revisions: str) -> ApplicationRecord:
    """An app synced to the last of `revisions`, each deployed in turn."""
    history: tuple[RevisionHistory, ...] = ()
    for i, rev in enumerate(revisions):
        history = add_history(
            history,
            revision=rev,
            deployed_at=NOW + timedelta(minutes=i),
            initiated_by=OperationInitiator(automated=True),
        )
    status = ApplicationStatus(
        sync=SyncStatus(status="Synced", revision=revisions[-1]),
        health=HealthState(status="Healthy"),
        history=history,
        reconciled_at=NOW,
    )
    return ApplicationRecord(manifest(name, env=env), status)


@pytest.fixture
def repo(deploy_history: DeployHistory) -> DeployHistory:
    return deploy_history


@pytest.fixture
def server(repo: DeployHistory) -> Iterator[Server]:
    fleet = InMemorySource(
        [
            deployed("backend-dev", "dev", repo.first, repo.second),
            deployed("backend-prod", "prod", repo.second),
        ]
    )
    fleet.set_renderer(repo.server.render)
    running = Server(fleet, TOKEN).start()
    yield running
    running.stop()


def changed_lines(screen: DiffScreen) -> list[str]:
    assert screen.diff is not None, screen.error
    return [
        line
        for line in screen.diff.lines()
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]


async def test_diff_of_a_deploy_and_of_a_promotion_draft(
    server: Server, repo: DeployHistory, tmp_path: Path
) -> None:
    def argocd() -> ArgoCDSource:
        pacing = Pacing(sleep=FakeSleep(), rng=lambda: 0.5)
        return ArgoCDSource(server.url, TOKEN, name="local", pacing=pacing)

    target = ConsoleTarget("local", "argocd", argocd, deploy_repo=str(repo.repo))
    app = console_app([target], reader=lambda location: DeployRepo(location, tmp_path / "read"))
    head = git(["rev-parse", "HEAD"], repo.repo).strip()
    async with app.run_test(size=(160, 48)) as pilot:
        await until(pilot, lambda: len(app.store.apps) == 2 and bool(app.store.repos))
        app.post_message(OpenApp(("local", "argocd/backend-dev")))
        await until(
            pilot,
            lambda: (
                isinstance(app.screen, DetailScreen)
                and app.screen.query_one("#history").row_count == 2
            ),
        )

        await pilot.press("d")  # the newest line: the deploy of the promotion
        await until(
            pilot, lambda: isinstance(app.screen, DiffScreen) and app.screen.diff is not None
        )
        diff = app.screen
        assert isinstance(diff, DiffScreen)
        assert (diff.old, diff.new) == (repo.first[:7], repo.second[:7])
        assert changed_lines(diff) == [
            f"-        image: {REGISTRY}:unreleased",
            f"+        image: {REGISTRY}:{TAG}",
        ]
        assert diff.diff is not None
        assert diff.diff.summary() == "1 changed, 0 added, 0 removed; 4 unchanged"

        await pilot.press("escape", "p")  # promote backend from dev to prod: drafted, confirm
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("d")
        await until(
            pilot, lambda: isinstance(app.screen, DiffScreen) and app.screen.diff is not None
        )
        preview = app.screen
        assert isinstance(preview, DiffScreen)
        assert preview.new == f"promoted to {TAG[:7]}"
        assert changed_lines(preview) == [
            f"-        image: {REGISTRY}:unreleased",
            f"+        image: {REGISTRY}:{TAG}",
        ]
        await pilot.press("escape")
        assert isinstance(app.screen, ConfirmScreen)  # back to the decision
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, DetailScreen))

        await pilot.press("j", "r")  # roll back to the first revision: the reason has the focus
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.click("#diff")
        await until(
            pilot, lambda: isinstance(app.screen, DiffScreen) and app.screen.diff is not None
        )
        restore = app.screen
        assert isinstance(restore, DiffScreen)
        assert (restore.old, restore.new) == ("head", f"restored to {repo.first[:7]}")
        assert changed_lines(restore) == [
            f"-        image: {REGISTRY}:{TAG}",
            f"+        image: {REGISTRY}:unreleased",
        ]
        await pilot.press("escape", "escape")
    assert git(["rev-parse", "HEAD"], repo.repo).strip() == head  # nothing written
    assert not git(["status", "--porcelain"], repo.repo).strip()


async def test_the_sources_answers(server: Server) -> None:
    argocd = ArgoCDSource(server.url, TOKEN, name="local")
    try:
        with pytest.raises(SourceError, match="unable to resolve 'nope' to a commit SHA"):
            await argocd.manifests("argocd/backend-dev", "nope")
        with pytest.raises(SourceError) as missing:
            await argocd.manifests("argocd/nope", "main")
        assert missing.value.kind == "not_found"
    finally:
        await argocd.aclose()


async def test_from_clone_renders_both_revisions_here(repo: DeployHistory) -> None:
    """The fallback for a target with no GetManifests: a scratch clone, real Kustomize."""
    old, new = await from_clone(str(repo.repo), "overlays/dev/backend", repo.first, repo.second)()
    diff = diff_manifests(old, new, "old", "new")
    assert [(o.key[1], o.change) for o in diff.objects] == [("Deployment", "changed")]
    with pytest.raises(DiffError, match=r"^nope: not in the deploy repo"):
        await from_clone(str(repo.repo), "overlays/dev/backend", "nope", repo.second)()
    with pytest.raises(DiffError, match=r"^cannot clone the deploy repo /nonexistent"):
        await from_clone("/nonexistent", "x", repo.first, repo.second)()


# --- over the fixed fleet of tests/tui/data ---------------------------------------------------


async def test_a_rollback_diff_from_the_timeline() -> None:
    source = FakeSource("demo", data.fleet())
    app = console_app([target(source)])
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: loaded(app))
        await pilot.press("b")
        await until(pilot, lambda: app.screen.query_one("#rollbacks").row_count == 2)
        await pilot.press("d")  # the newest: ada's rollback of frontend-prod, 6666666
        await until(
            pilot, lambda: isinstance(app.screen, DiffScreen) and app.screen.diff is not None
        )
        screen = app.screen
        assert isinstance(screen, DiffScreen)
        assert source.rendered == [data.C5, data.C6]  # exactly what the revert changed
        assert screen.what.startswith("what rollback 6666666 changed: its parent 5555555")
        assert f"-  RELEASE: {data.TAG_C}" in changed_lines(screen)
        body = screen.query_one("#diff-body")
        assert body.scroll_y == 0
        await pilot.press("n", "n")  # the second object: the Deployment, below the fold
        assert screen.at == 1
        await until(pilot, lambda: body.scroll_y > 0)
        await pilot.press("N")
        await until(pilot, lambda: body.scroll_y == 0)


async def test_a_diff_that_cannot_be_had_says_why() -> None:
    source = FakeSource("demo", data.fleet())
    app = console_app([target(source)])

    async def refused(name: str, revision: str) -> Rendered:
        raise SourceError(f"Argo CD at {source.url} answered 500: unable to resolve", "http")

    source.manifests = refused  # type: ignore[method-assign]
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: loaded(app))
        await pilot.press("enter")  # backend-dev
        await until(pilot, lambda: app.screen.query_one("#history").row_count == 3)
        await pilot.press("G", "d")  # the oldest line: against its commit's parent
        await until(pilot, lambda: isinstance(app.screen, DiffScreen) and bool(app.screen.error))
        screen = app.screen
        assert isinstance(screen, DiffScreen)
        assert screen.error == f"Argo CD at {source.url} answered 500: unable to resolve"
        assert screen.diff is None
