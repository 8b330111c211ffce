"""A full disk under the workspace, for real: a 1 MiB tmpfs mounted for the test (root only, as
CI runs), filled by a file until the kernel answers ENOSPC. What must hold: a clear error that
names the file, nothing corrupted in state.db, nothing the platform knew lost, and the platform
back to persisting on its own once there is room again."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

import pytest

from console.git import git
from console.local.argo.appstore import SqliteAppStore
from console.local.argo.controller import Controller
from console.local.argo.inmemory import InMemorySource
from console.local.argo.reposerver import RepoServer
from console.local.kube.processes import ProcessRuntime
from console.local.state import State, StateError
from tests.local.test_appstore import saved

URL = "https://git.example/acme/platform-deploy.git"


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 1 MiB file system of its own."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m,mode=0700", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(disk: Path) -> Path:
    """Write a file until the disk is full; the file, to delete for room again."""
    filler = disk / "filler"
    with (
        filler.open("wb", buffering=0) as out,
        pytest.raises(OSError, match="No space left") as full,
    ):
        _write_forever(out)
    assert full.value.errno == errno.ENOSPC, full.value
    return filler


def _write_forever(out: BinaryIO) -> None:
    while out.write(b"\0" * 4096):
        pass


def integrity(path: Path) -> str:
    with contextlib.closing(sqlite3.connect(path)) as conn:
        return str(conn.execute("PRAGMA integrity_check").fetchone()[0])


def big(name: str) -> Any:
    """A saved app too large for what is left on a full disk."""
    app = saved()
    manifest = {**app.manifest, "metadata": {"name": name, "annotations": {"x": "y" * 200_000}}}
    return app.__class__(**{**app.__dict__, "manifest": manifest})


def test_a_full_disk_is_a_state_error_naming_the_file_and_corrupts_nothing(
    small_disk: Path,
) -> None:
    state = State(small_disk / "state.db")
    store = SqliteAppStore(state)
    store.save("before", saved())
    run = state.record_run("apps", "c" * 40, "test")
    filler = fill(small_disk)
    with pytest.raises(StateError) as raised:
        store.save("during", big("during"))
    message = str(raised.value)
    assert str(small_disk / "state.db") in message
    assert "full" in message
    with pytest.raises(StateError):
        state.finish_run(run.id, "succeeded", duration_s=1.0)
    filler.unlink()
    store.save("during", big("during"))
    state.finish_run(run.id, "succeeded", duration_s=1.0)
    state.close()
    assert integrity(small_disk / "state.db") == "ok"
    reopened = State(small_disk / "state.db")
    assert set(SqliteAppStore(reopened).load()) == {"before", "during"}
    assert [r.result for r in reopened.runs()] == ["succeeded"]


def _deploy_repo(base: Path, greeting: str) -> Path:
    """A bare deploy repo: one Application (config-dev) that syncs one ConfigMap: no pods."""
    work = base / "work"
    (work / "apps").mkdir(parents=True)
    (work / "cm").mkdir()
    (work / "apps" / "config-dev.yaml").write_text(
        "apiVersion: argoproj.io/v1alpha1\nkind: Application\n"
        "metadata: {name: config-dev, namespace: argocd}\n"
        "spec:\n  project: default\n"
        f"  source: {{repoURL: '{URL}', targetRevision: main, path: cm}}\n"
        "  destination: {server: 'https://kubernetes.default.svc', namespace: dev}\n"
        "  syncPolicy: {automated: {prune: true, selfHeal: true}}\n"
    )
    (work / "cm" / "kustomization.yaml").write_text("resources: [cm.yaml]\n")
    _write_config_map(work, greeting)
    git(["init", "--quiet", "--initial-branch=main"], work)
    git(["add", "-A"], work)
    git(["commit", "--quiet", "-m", "chore: config"], work)
    git(["clone", "--quiet", "--bare", str(work), str(base / "deploy.git")], base)
    git(["remote", "add", "origin", str(base / "deploy.git")], work)
    return work


def _write_config_map(work: Path, greeting: str) -> None:
    (work / "cm" / "cm.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cfg}\n"
        f"data: {{greeting: {greeting}}}\n"
    )


ROOT = {
    "apiVersion": "argoproj.io/v1alpha1",
    "kind": "Application",
    "metadata": {"name": "root", "namespace": "argocd"},
    "spec": {
        "project": "default",
        "source": {"repoURL": URL, "targetRevision": "main", "path": "apps"},
        "destination": {"server": "https://kubernetes.default.svc", "namespace": "argocd"},
        "syncPolicy": {"automated": {"prune": True, "selfHeal": True}},
    },
}


async def until(condition: Any, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)  # polling a condition, with a deadline


def test_the_controller_outlives_a_full_disk_and_persists_once_there_is_room(
    small_disk: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The controller syncs a commit while state.db cannot be written: it keeps reconciling (the
    sync happens, in memory), says once which file it cannot write and why, and saves what it
    knows as soon as the disk has room again; nothing is lost on a restart from that file."""
    work = _deploy_repo(tmp_path, "hello")
    repos = RepoServer(tmp_path / "cache")
    repos.register(URL, tmp_path / "deploy.git")
    source = InMemorySource()
    state = State(small_disk / "state.db")
    caplog.set_level(logging.ERROR, logger="console.local.argo.controller")

    def revision() -> str:
        record = source.get("config-dev")
        return "" if record is None else record.status.sync.revision or ""

    async def scenario() -> str:
        runtime = ProcessRuntime(tmp_path / "run", images=None)  # type: ignore[arg-type]
        controller = Controller(
            repos, runtime, source, ROOT, poll_s=3600, store=SqliteAppStore(state)
        )
        stop = asyncio.Event()
        loop = asyncio.create_task(controller.run(stop))
        try:
            first = git(["rev-parse", "HEAD"], work).strip()
            await until(lambda: revision() == first, "the first commit synced")
            filler = fill(small_disk)
            _write_config_map(work, "full-" + "x" * 300_000)  # a large save
            git(["commit", "--quiet", "-am", "chore: a big greeting"], work)
            git(["push", "--quiet", "origin", "main"], work)
            second = git(["rev-parse", "HEAD"], work).strip()
            controller.refresh_all()
            await until(lambda: revision() == second, "the second commit synced on a full disk")
            await until(lambda: "state.db" in caplog.text, "the error said once")
            assert not loop.done(), "the controller still runs"
            assert caplog.text.count("cannot save") == 1, caplog.text
            filler.unlink()
            controller.refresh_all()
            await until(
                lambda: "x" * 1000 in str(SqliteAppStore(State(state.path)).load()),
                "the saved app once there is room",
            )
            return second
        finally:
            stop.set()
            await loop
            await runtime.close()

    second = asyncio.run(scenario())
    state.close()
    assert integrity(small_disk / "state.db") == "ok"
    saved_apps = SqliteAppStore(State(small_disk / "state.db")).load()
    assert saved_apps["config-dev"].history[-1].revision == second
