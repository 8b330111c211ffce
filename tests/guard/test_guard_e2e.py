"""The guard end to end on the embedded platform (`gitops up`, guard on by default): a real
process, real git, real pods. Two bad changes reach dev, and each is rolled back by one commit
in the deploy repo; the app is Healthy and Synced again on the known-good revision. Then the
operator console, pointed at the same workspace, shows the deployed versions and both rollbacks
in its timeline (it shares this platform: starting another costs a minute)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from textual.widgets import DataTable
from textual.widgets.data_table import CellDoesNotExist

from console.fleet.history import log, rollbacks
from console.guard.events import read_events
from console.promote.promote import PromoteRequest, promote
from console.tui.app import ConsoleApp
from console.tui.targets import workspace as workspace_target
from console.tui.widgets.matrix import FleetMatrix
from console.tui.widgets.rollbacks import RollbacksScreen
from tests.helpers import run_git
from tests.local.test_up import ready_file, start, stop, wait_for
from tests.tui.fakes import until

APP = "frontend-dev"


def application(platform: dict[str, Any], token: str, name: str = APP) -> dict[str, Any]:
    answer = httpx.get(
        f"{platform['argocd_url']}/api/v1/applications/{name}",
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    answer.raise_for_status()
    app: dict[str, Any] = answer.json()
    return app


def rolled_back(remote: str, bad: str) -> Callable[[], bool]:
    def found() -> bool:
        return any(rb.of == bad and rb.app == APP for rb in rollbacks(log(Path(remote), "main")))

    return found


def recovered_on(platform: dict[str, Any], token: str, remote: str, bad: str) -> Callable[[], bool]:
    """frontend-dev Synced and Healthy on the rollback commit of `bad`."""

    def check() -> bool:
        commits = [rb.sha for rb in rollbacks(log(Path(remote), "main")) if rb.of == bad]
        status = application(platform, token)["status"]
        return bool(
            commits
            and status["sync"]["status"] == "Synced"
            and status["health"]["status"] == "Healthy"
            and status.get("operationState", {}).get("syncResult", {}).get("revision") == commits[0]
        )

    return check


def break_readiness(remote: str, clone: Path) -> str:
    """A deploy commit whose new pods never become ready (the readiness probe asks a path the
    service does not serve); returns it."""
    if not clone.exists():
        run_git(clone.parent, "clone", "--quiet", remote, str(clone))
    run_git(clone, "pull", "--quiet", "--ff-only", "origin", "main")
    overlay = clone / "overlays" / "dev" / "frontend" / "kustomization.yaml"
    text = overlay.read_text()
    marker = "            containers:\n              - name: frontend\n"
    assert marker in text
    overlay.write_text(
        text.replace(
            marker,
            marker + "                readinessProbe:\n"
            "                  httpGet:\n"
            "                    path: /no-such-path\n",
        )
    )
    run_git(clone, "commit", "--quiet", "--all", "--message", "fix(dev): probe frontend readiness")
    run_git(clone, "push", "--quiet", "origin", "HEAD:main")
    return run_git(clone, "rev-parse", "HEAD").strip()


def test_bad_promotions_are_rolled_back_by_one_commit_each(tmp_path: Path) -> None:
    workspace = tmp_path / "ws"
    proc = start(workspace)
    try:
        wait_for(ready_file(workspace, proc), "platform.json", proc, timeout=300)
        platform = json.loads((workspace / "platform.json").read_text())
        token = Path(platform["token_file"]).read_text().strip()
        remote = platform["remotes"]["deploy"]
        good_images = application(platform, token)["status"]["summary"]["images"]

        # 1. A tag that was never built: an image pull failure.
        never_built = "f" * 40
        bad = promote(remote, PromoteRequest("frontend", "dev", tag=never_built), push=True).sha
        assert bad is not None
        wait_for(rolled_back(remote, bad), "the rollback of the unbuilt tag", proc, timeout=120)
        wait_for(recovered_on(platform, token, remote, bad), "recovery", proc, timeout=120)
        assert application(platform, token)["status"]["summary"]["images"] == good_images
        refused = subprocess.run(
            [
                sys.executable,
                "-m",
                "console.cli",
                "promote",
                "--deploy-repo",
                remote,
                "--env",
                "dev",
                "--service",
                "frontend",
                "--tag",
                never_built,
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        assert refused.returncode != 0, "a rolled-back tag is refused unless forced"

        # 2. Pods that never pass readiness.
        bad = break_readiness(remote, tmp_path / "deploy")
        wait_for(rolled_back(remote, bad), "the rollback of broken readiness", proc, timeout=120)
        wait_for(recovered_on(platform, token, remote, bad), "recovery", proc, timeout=120)

        # One rollback commit for each bad revision, and the guard says what it did.
        found = [rb for rb in rollbacks(log(Path(remote), "main")) if rb.app == APP]
        assert len(found) == 2, found
        events_file = Path(platform["guard_events"])

        def told(kind: str) -> int:
            return sum(1 for e in read_events(events_file) if (e.type, e.app) == (kind, APP))

        wait_for(lambda: told("Recovered") == 2, "two Recovered events", proc, timeout=60)
        assert told("Rollback") == 2
        metrics = httpx.get(f"{platform['guard_url']}/metrics", timeout=10).text
        assert 'gitops_guard_rollbacks_total{app="frontend-dev"' in metrics

        good_tag = good_images[0].rsplit(":", 1)[1]
        asyncio.run(console_shows(workspace, good_tag, {rb.sha for rb in found}))
    finally:
        stop(proc)


async def console_shows(workspace: Path, good_tag: str, rollback_shas: set[str]) -> None:
    """The console on the workspace: frontend@dev Healthy, Git, image and live all at the
    known-good tag; the rollbacks screen lists both rollback commits, by the guard."""
    app = ConsoleApp([workspace_target(workspace)])
    async with app.run_test(size=(160, 48)) as pilot:
        matrix = app.screen.query_one("#matrix", FleetMatrix)

        def frontend_dev() -> str:
            try:
                return matrix.get_cell("frontend", "dev").plain
            except CellDoesNotExist:  # the row or column is not there yet
                return ""

        await until(pilot, lambda: f"live {good_tag[:7]}" in frontend_dev(), timeout=30)
        cell = frontend_dev()
        assert cell.startswith("✓ Healthy ✓ Synced"), cell
        assert f"git {good_tag[:7]}" in cell, cell
        assert "drift" not in cell, cell

        await pilot.press("b")
        assert isinstance(app.screen, RollbacksScreen)
        table = app.screen.query_one("#rollbacks", DataTable)

        def listed() -> set[str]:
            return {str(key.value) for key in table.rows}

        await until(pilot, lambda: listed() >= rollback_shas, timeout=30)
        rows = [[str(cell) for cell in table.get_row(sha)] for sha in rollback_shas]
        assert all("frontend-dev" in row[1] and "guard" in row for row in rows), rows
