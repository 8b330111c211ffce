"""Rollback and promote from the console against a real deploy repo (a bare repository, as
`gitops up` serves): the confirm modal shows the commit, the commit lands with the operator's
name and reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from console.fleet.model import Health
from console.tui import messages as msg
from console.tui.deployrepo import DeployRepo, RepoError
from console.tui.widgets.confirm import ConfirmScreen
from console.tui.widgets.detail import DetailScreen
from tests.helpers import run_git
from tests.tui import data
from tests.tui.fakes import FakeSource, console_app, target, until

GOOD_TAG, BAD_TAG = "a" * 40, "b" * 40
OVERLAY = """apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - ../../../base/backend
images:
  - name: backend
    newName: registry.local:5000/acme/backend
    newTag: "{tag}"
"""


def deploy_repo(tmp_path: Path) -> tuple[Path, str, str]:
    """A bare deploy repo: dev and prod pin GOOD_TAG, then dev is promoted to BAD_TAG."""
    work = tmp_path / "work"
    for env in ("dev", "prod"):
        overlay = work / "overlays" / env / "backend"
        overlay.mkdir(parents=True)
        (overlay / "kustomization.yaml").write_text(OVERLAY.format(tag=GOOD_TAG))
    run_git(work, "init", "--quiet", "--initial-branch", "main")
    run_git(work, "add", "--all")
    run_git(work, "commit", "--quiet", "-m", "feat: bootstrap")
    good = run_git(work, "rev-parse", "HEAD").strip()
    (work / "overlays/dev/backend/kustomization.yaml").write_text(OVERLAY.format(tag=BAD_TAG))
    run_git(work, "commit", "--quiet", "-am", "chore(deploy): promote backend bbbbbbb to dev")
    bad = run_git(work, "rev-parse", "HEAD").strip()
    bare = tmp_path / "deploy.git"
    run_git(tmp_path, "clone", "--quiet", "--bare", str(work), str(bare))
    return bare, good, bad


def fleet(good: str, bad: str) -> list[data.App]:
    dev = data.service_app(
        "backend",
        "dev",
        revision=bad,
        tag=BAD_TAG,
        health=Health.DEGRADED,
        deployed=data.history((1, good, 60), (2, bad, 5)),
    )
    prod = data.service_app(
        "backend",
        "prod",
        revision=bad,
        tag=GOOD_TAG,
        deployed=data.history((1, good, 60)),
    )
    return [dev, prod]


@pytest.mark.slow
@pytest.mark.asyncio
async def test_rollback_to_a_history_line(tmp_path: Path) -> None:
    bare, good, bad = deploy_repo(tmp_path)
    done: list[msg.ActionDone] = []
    source = FakeSource("demo", fleet(good, bad))
    app = console_app(
        [target(source, deploy_repo=str(bare))],
        reader=lambda location: DeployRepo(location, tmp_path / "scratch"),
    )
    hook = lambda m: done.append(m) if isinstance(m, msg.ActionDone) else None  # noqa: E731
    async with app.run_test(size=(160, 48), message_hook=hook) as pilot:
        await until(pilot, lambda: bool(app.store.repos) and not app.store.missing_pins())
        assert app.store.pins[(str(bare), bad, "overlays/dev/backend")] == BAD_TAG
        await pilot.press("enter")  # backend-dev, under the cursor from the start
        assert isinstance(app.screen, DetailScreen)
        await until(pilot, lambda: app.screen.query_one("#history").row_count == 2)
        await pilot.press("r")  # the current line: refused
        assert app.last_refusal == f"backend-dev runs {bad[:7]} already: choose an older one"
        await pilot.press("j", "r")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press(*"bad release")
        preview = str(app.screen.query_one("#preview").render())
        assert f"restore overlays/dev/backend to its content at {good[:7]}" in preview
        assert "Rollback-Reason: operator ada: bad release" in preview
        await pilot.press("ctrl+y")
        await until(pilot, lambda: bool(done), timeout=30)
    assert done[0].ok, done[0].message
    log = run_git(bare, "log", "-1", "--format=%an <%ae>%n%B")
    assert log.startswith("ada <ada@example.com>\nrevert(backend-dev): roll back")
    assert f"Rollback-Of: {bad}" in log
    assert f"Rollback-To: {good}" in log
    assert "Rollback-Reason: operator ada: bad release" in log
    shown = run_git(bare, "show", "HEAD:overlays/dev/backend/kustomization.yaml")
    assert GOOD_TAG in shown


@pytest.mark.asyncio
async def test_promote_to_the_next_environment(tmp_path: Path) -> None:
    bare, good, bad = deploy_repo(tmp_path)
    done: list[msg.ActionDone] = []
    source = FakeSource("demo", fleet(good, bad))
    app = console_app(
        [target(source, deploy_repo=str(bare))],
        reader=lambda location: DeployRepo(location, tmp_path / "scratch"),
    )
    hook = lambda m: done.append(m) if isinstance(m, msg.ActionDone) else None  # noqa: E731
    async with app.run_test(size=(160, 48), message_hook=hook) as pilot:
        await until(pilot, lambda: bool(app.store.repos))
        await pilot.press("p")  # backend-dev -> prod
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), timeout=30)
        preview = str(app.screen.query_one("#preview").render())
        assert (
            f"overlays/prod/backend/kustomization.yaml: newTag {GOOD_TAG[:7]} → {BAD_TAG[:7]}"
            in preview
        )
        assert "Promoted-From: dev" in preview
        await pilot.press("ctrl+y")
        await until(pilot, lambda: bool(done), timeout=30)
    assert done[0].ok, done[0].message
    assert run_git(bare, "log", "-1", "--format=%s").strip() == (
        "chore(deploy): promote backend bbbbbbb to prod"
    )


def test_deploy_repo_by_url_is_cloned_and_followed(tmp_path: Path) -> None:
    bare, good, bad = deploy_repo(tmp_path)
    repo = DeployRepo(f"file://{bare}", tmp_path / "scratch")
    head = repo.head()
    assert head == bad
    facts = repo.read(head)
    assert [c.sha for c in facts.commits] == [bad, good]
    pins = repo.pins({(good, "overlays/dev/backend", "backend"), (bad, "overlays/x", "backend")})
    assert pins == {(good, "overlays/dev/backend"): GOOD_TAG, (bad, "overlays/x"): None}
    work = tmp_path / "work"
    (work / "overlays/prod/backend/kustomization.yaml").write_text(OVERLAY.format(tag=BAD_TAG))
    run_git(work, "commit", "--quiet", "-am", "chore(deploy): promote backend bbbbbbb to prod")
    run_git(work, "push", "--quiet", str(bare), "main")
    newer = repo.head()
    assert newer != head
    assert repo.read(newer).commits[0].sha == newer  # fetched


def test_an_unreadable_deploy_repo_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(RepoError, match=r"cannot read the deploy repo .*nope"):
        DeployRepo(str(tmp_path / "nope"), tmp_path / "scratch").head()
    (tmp_path / "plain").mkdir()
    with pytest.raises(RepoError, match="not a git repository"):
        DeployRepo(str(tmp_path / "plain"), tmp_path / "scratch").head()
