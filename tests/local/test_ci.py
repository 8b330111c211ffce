"""The local CI runner end to end: scaffolded repos behind bare remotes, the apps repo's own test
suite under uv, images built into the store, promotion pushed to the deploy remote, and the
built image started as a real process. No mocks."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import sqlite3
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from console.local.ci.images import Image
from console.local.ci.runner import (
    ENV_SLOTS,
    KEPT_LOCKFILES,
    CIRunner,
    lock_key,
    prune_envs,
    read_services,
    repo_name,
)
from console.local.kube.pods import free_port
from console.local.state import SCHEMA_VERSION, Run, State
from console.promote.overlay import read_tag
from tests.helpers import run_git
from tests.world import World

SERVICES = ("backend", "frontend")
REGISTRY = "123456789012.dkr.ecr.eu-west-1.amazonaws.com"


# Slow, and on one worker: its fixture runs a whole CI pipeline (tests, build, promote).
pytestmark = [
    pytest.mark.slow,
    pytest.mark.xdist_group("ci"),
]  # real CI pipelines: tests, builds and promotions


@dataclass(frozen=True)
class Platform:
    base: Path
    apps: Path  # bare remote
    deploy: Path  # bare remote
    runner: CIRunner
    first: str  # the apps repo's scaffold commit
    first_runs: list[Run]


@pytest.fixture(scope="module")
def platform(shared_world: World, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    base = shared_world.renderings_copy(tmp_path_factory.mktemp("ci") / "repos")
    remotes = base / "remotes"
    remotes.mkdir()
    for repo in ("apps", "deploy"):
        run_git(
            base,
            "clone",
            "--quiet",
            "--bare",
            str(base / f"{repo}-repo"),
            str(remotes / f"{repo}.git"),
        )
    apps, deploy = remotes / "apps.git", remotes / "deploy.git"
    first = run_git(apps, "rev-parse", "main").strip()
    workspace = base / "workspace"
    state = State(workspace / "state.db")
    # A store of its own (CI's tags are what these tests check) with the shared dependency layer.
    images = shared_world.store_copy(workspace / "images")
    runner = CIRunner(workspace, images, state, str(deploy), "dev")
    runs = runner.run(str(apps), first)
    yield Platform(base, apps, deploy, runner, first, runs)
    state.close()


def overlay_tag(deploy: Path, env: str, service: str) -> str:
    text = run_git(deploy, "show", f"main:overlays/{env}/{service}/kustomization.yaml")
    return read_tag(text, service)


def image_of(p: Platform, service: str, tag: str) -> Image | None:
    return p.runner.images.resolve(f"{REGISTRY}/{service}:{tag}")


def wait_for_json(proc: subprocess.Popen[bytes], url: str, deadline_s: float = 30) -> Any:
    """GET `url` until it answers (or the process dies, or the deadline passes)."""
    deadline = time.monotonic() + deadline_s
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:  # noqa: S310 - a local URL
                return json.load(resp)
        except (urllib.error.URLError, ConnectionError):
            if time.monotonic() > deadline:
                raise
        try:
            code = proc.wait(timeout=0.1)  # doubles as the pause between attempts
        except subprocess.TimeoutExpired:
            continue
        pytest.fail(f"{url}: the process exited with {code} before answering")


# ---- the pipeline ------------------------------------------------------------------------------


def test_a_green_commit_is_tested_built_and_promoted_into_dev(platform: Platform) -> None:
    runs = platform.first_runs
    assert [(r.stage, r.result) for r in runs] == [
        ("test", "succeeded"),
        ("build", "succeeded"),
        ("promote", "succeeded"),
    ]
    assert {r.commit for r in runs} == {platform.first}
    assert {r.repo for r in runs} == {"apps"}
    test_log = runs[0].log_path
    assert test_log == platform.runner.root / platform.first / "test.log"
    assert " passed" in test_log.read_text()
    for service in SERVICES:
        image = image_of(platform, service, platform.first)
        assert image is not None, service
        assert image.source_commit == platform.first
        assert image.env["SERVICE_NAME"] == service
        assert image.env["SERVICE_KIND"] == service
        assert image.env["SERVICE_VERSION"] == "0.1.0"
        assert image.env["IMAGE"] == image.ref
        assert image.env["BUILT_AT"].endswith("Z")
        assert overlay_tag(platform.deploy, "dev", service) == platform.first
        assert overlay_tag(platform.deploy, "prod", service) == "unreleased"
    message = run_git(platform.deploy, "log", "-1", "--format=%B", "main")
    assert f"Source-Commit: {platform.first}" in message
    # Every service in one promotion commit: one push, one check by the gate, one sync.
    changed = run_git(platform.deploy, "show", "--name-only", "--format=", "main").split()
    assert changed == [f"overlays/dev/{s}/kustomization.yaml" for s in SERVICES]
    assert message.startswith(f"chore(deploy): promote backend, frontend {platform.first[:7]}")


def test_the_built_images_run_and_report_their_build(platform: Platform, tmp_path: Path) -> None:
    backend = image_of(platform, "backend", platform.first)
    frontend = image_of(platform, "frontend", platform.first)
    assert backend is not None
    assert frontend is not None
    ports = {"backend": free_port(), "frontend": free_port()}
    procs: dict[str, subprocess.Popen[bytes]] = {}
    try:
        for image, service in ((backend, "backend"), (frontend, "frontend")):
            env = image.environ(
                {
                    "HOST": "127.0.0.1",
                    "PORT": str(ports[service]),
                    "BACKEND_URL": f"http://127.0.0.1:{ports['backend']}",
                    "GRACEFUL_TIMEOUT_S": "1",
                }
            )
            with (tmp_path / f"{service}.log").open("wb") as log:
                procs[service] = subprocess.Popen(
                    image.argv(), env=env, cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT
                )
        for image, service in ((backend, "backend"), (frontend, "frontend")):
            url = f"http://127.0.0.1:{ports[service]}/version"
            version = wait_for_json(procs[service], url)
            assert version["revision"] == platform.first
            assert version["image"] == image.ref
            assert version["service"] == service
    finally:
        for proc in procs.values():
            proc.send_signal(signal.SIGTERM)
        codes = {service: proc.wait(timeout=20) for service, proc in procs.items()}
    assert codes == {"backend": 0, "frontend": 0}, [
        (tmp_path / f"{s}.log").read_text() for s in SERVICES
    ]


def test_running_the_same_commit_again_changes_nothing(platform: Platform) -> None:
    before = {s: image_of(platform, s, platform.first) for s in SERVICES}
    deploy_head = run_git(platform.deploy, "rev-parse", "main")
    runs = platform.runner.run(str(platform.apps), "main")  # a ref resolves to the same commit
    assert [(r.stage, r.result) for r in runs] == [
        ("test", "succeeded"),
        ("build", "succeeded"),
        ("promote", "succeeded"),
    ]
    assert {r.commit for r in runs} == {platform.first}
    assert {s: image_of(platform, s, platform.first) for s in SERVICES} == before
    assert run_git(platform.deploy, "rev-parse", "main") == deploy_head
    assert "already" in (platform.runner.root / platform.first / "promote.log").read_text()


def push_change(p: Platform, path: str, text: str, message: str) -> str:
    """Commit `text` to `path` in a fresh clone of the apps remote, push it; the new commit."""
    work = Path(tempfile.mkdtemp(prefix="apps-", dir=p.base))
    run_git(p.base, "clone", "--quiet", str(p.apps), str(work))
    (work / path).write_text(text, encoding="utf-8")
    run_git(work, "add", "--all")
    run_git(work, "commit", "--quiet", "-m", message)
    run_git(work, "push", "--quiet", "origin", "HEAD:main")
    return run_git(work, "rev-parse", "HEAD").strip()


def test_tests_run_in_a_kept_environment_on_a_clean_tree_of_the_commit(
    platform: Platform,
) -> None:
    envs = platform.runner.root / "envs"
    key = lock_key(platform.base / "apps-repo")
    slot = envs / f"{key}-0"
    assert (slot / "venv" / "pyvenv.cfg").is_file()
    assert (
        f"test environment {key}-0"
        in (platform.runner.root / platform.first / "test.log").read_text()
    )
    site = next((slot / "venv" / "lib").glob("python3*/site-packages"))
    assert any((site / "quart" / "__pycache__").glob("*.pyc")), "bytecode compiled once, kept"
    metadata = next(site.glob("probe_services-*.dist-info")) / "METADATA"
    installed = metadata.stat().st_mtime_ns
    # Left by an earlier run in the kept work tree: a failing test that must not be collected.
    leftover = slot / "src" / "tests" / "test_leftover.py"
    leftover.write_text("def test_leftover() -> None:\n    assert False\n", encoding="utf-8")

    sha = push_change(platform, "CHANGELOG.md", "a change\n", "docs: a changelog")
    runs = platform.runner.run(str(platform.apps), sha)

    assert [(r.stage, r.result) for r in runs] == [
        ("test", "succeeded"),
        ("build", "succeeded"),
        ("promote", "succeeded"),
    ]
    assert not leftover.exists()
    assert run_git(slot / "src", "rev-parse", "HEAD").strip() == sha
    assert (slot / "src" / "CHANGELOG.md").read_text() == "a change\n"
    assert metadata.stat().st_mtime_ns == installed, "pyproject.toml unchanged: not rebuilt"
    assert not (platform.runner.root / sha / "venv").exists()


def test_when_every_kept_environment_is_busy_a_fresh_one_is_used(platform: Platform) -> None:
    envs = platform.runner.root / "envs"
    key = lock_key(platform.base / "apps-repo")
    sha = push_change(platform, "CHANGELOG.md", "another change\n", "docs: another")
    with contextlib.ExitStack() as held:
        for n in range(ENV_SLOTS):
            fh = held.enter_context((envs / f"{key}-{n}.lock").open("a"))
            fcntl.flock(fh, fcntl.LOCK_EX)
        runs = platform.runner.run(str(platform.apps), sha)
    assert runs[0].result == "succeeded"
    assert runs[0].log_path is not None
    assert "busy" in runs[0].log_path.read_text()
    assert (platform.runner.root / sha / "venv" / "pyvenv.cfg").is_file()


def test_a_failing_unit_test_means_no_image_and_no_promotion(platform: Platform) -> None:
    work = platform.base / "apps-work"
    run_git(platform.base, "clone", "--quiet", str(platform.apps), str(work))
    (work / "tests" / "test_broken.py").write_text(
        "def test_broken() -> None:\n    assert 1 + 1 == 3\n", encoding="utf-8"
    )
    run_git(work, "add", "--all")
    run_git(work, "commit", "--quiet", "-m", "test: a test that fails")
    run_git(work, "push", "--quiet", "origin", "main")
    bad = run_git(work, "rev-parse", "HEAD").strip()
    deploy_head = run_git(platform.deploy, "rev-parse", "main")

    runs = platform.runner.run(str(platform.apps), bad)

    assert [(r.stage, r.result) for r in runs] == [
        ("test", "failed"),
        ("build", "skipped"),
        ("promote", "skipped"),
    ]
    log = runs[0].log_path
    assert log is not None
    assert "test_broken" in log.read_text()
    assert "tests failed" in log.read_text()
    for service in SERVICES:
        assert image_of(platform, service, bad) is None
        assert overlay_tag(platform.deploy, "dev", service) != bad
    assert run_git(platform.deploy, "rev-parse", "main") == deploy_head


def test_an_unknown_commit_fails_the_test_stage(platform: Platform) -> None:
    runs = platform.runner.run(str(platform.apps), "0" * 40)
    assert [(r.stage, r.result) for r in runs] == [
        ("test", "failed"),
        ("build", "skipped"),
        ("promote", "skipped"),
    ]
    assert runs[0].log_path is not None
    assert "cannot check out" in runs[0].log_path.read_text()
    with pytest.raises(ValueError, match="not a commit"):
        platform.runner.run(str(platform.apps), "../../etc")


def test_runs_are_recorded_with_durations_and_logs(platform: Platform) -> None:
    state = platform.runner.state
    rows = state.runs(repo="apps", commit=platform.first)
    assert rows, "the first run was recorded"
    assert rows == sorted(rows, key=lambda r: r.id, reverse=True)  # newest first
    first = [r for r in rows if r.id in {run.id for run in platform.first_runs}]
    assert first == sorted(platform.first_runs, key=lambda r: r.id, reverse=True)
    for row in first:
        assert row.result == "succeeded"
        assert row.duration_s is not None
        assert row.duration_s > 0
        assert row.log_path is not None
        assert row.log_path.is_file()
        assert row.started_at.tzinfo is not None
    test_row = next(r for r in first if r.stage == "test")
    assert test_row.duration_s is not None
    assert test_row.duration_s > 1  # the real suite ran
    skipped = [r for r in state.runs(repo="apps", limit=500) if r.result == "skipped"]
    assert all(r.duration_s == 0 and r.log_path is None for r in skipped)
    assert len(state.runs(limit=2)) == 2
    # Another connection (another process, after a restart) reads the same rows.
    reopened = State(state.path)
    try:
        assert reopened.runs(repo="apps", commit=platform.first) == rows
        assert reopened.schema_version == SCHEMA_VERSION
    finally:
        reopened.close()
    with sqlite3.connect(state.path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


# ---- small pieces ------------------------------------------------------------------------------


def test_state_finishes_and_fails_abandoned_runs(tmp_path: Path) -> None:
    state = State(tmp_path / "state.db")
    try:
        run = state.record_run("apps", "a" * 40, "test", log_path=tmp_path / "test.log")
        assert (run.result, run.duration_s) == ("running", None)
        done = state.finish_run(run.id, "failed", duration_s=1.5)
        assert (done.result, done.duration_s, done.log_path) == (
            "failed",
            1.5,
            tmp_path / "test.log",
        )
        left = state.record_run("apps", "b" * 40, "build")
        assert state.fail_running() == 1
        abandoned = state.run(left.id)
        assert abandoned is not None
        assert abandoned.result == "failed"
        with pytest.raises(ValueError, match="unknown stage"):
            state.record_run("apps", "c" * 40, "deploy")  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="finishes"):
            state.finish_run(run.id, "running")
    finally:
        state.close()


def test_kept_environments_of_old_lockfiles_are_pruned_unless_held(tmp_path: Path) -> None:
    assert KEPT_LOCKFILES == 3
    envs = tmp_path / "envs"
    keys = [f"{n:016x}" for n in range(6)]  # keys[0] used longest ago
    for age, key in enumerate(reversed(keys)):
        for slot in (0, 1):
            d = envs / f"{key}-{slot}"
            (d / "venv").mkdir(parents=True)
            os.utime(d, (time.time() - 100 * age, time.time() - 100 * age))
    with (envs / f"{keys[1]}-1.lock").open("a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # a run is testing in it
        prune_envs(envs, keep=keys[0])  # the oldest, in use again now
    left = sorted(d.name for d in envs.iterdir() if d.is_dir())
    recent = sorted(f"{k}-{n}" for k in (keys[0], keys[-1], keys[-2]) for n in (0, 1))
    assert left == sorted([*recent, f"{keys[1]}-1"])


def test_services_and_repo_names(platform: Platform) -> None:
    services = read_services(platform.base / "apps-repo")
    assert [(s.name, s.kind, s.port, s.image) for s in services] == [
        ("backend", "backend", 8080, f"{REGISTRY}/backend"),
        ("frontend", "frontend", 8081, f"{REGISTRY}/frontend"),
    ]
    assert repo_name("/ws/remotes/platform-apps.git") == "platform-apps"
    assert repo_name("https://x:secret@github.com/acme/platform-apps.git/") == "platform-apps"
