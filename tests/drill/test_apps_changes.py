"""The game day's other apps-repo changes, applied to the apps repo this checkout generates: each
the same edits every run and unique per drill; the story each tells holds (the tests set what
the Deployment does not; the failure is where it is deployed); and the apps repo's own suite
still passes with the change (slow: it runs that suite)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from console.drill.apps_changes import CHANGES, CRASHLOOP, ERROR_RATE, LATENCY
from console.drill.change import READINESS, AppsChange, ChangeError
from console.local.git.gate import conventional
from tests.helpers import ROOT

DEPLOYMENT = (ROOT / "deploy-repo/base/frontend/deployment.yaml").read_text()
DEV_OVERLAY = (ROOT / "deploy-repo/overlays/dev/frontend/kustomization.yaml").read_text()


@pytest.fixture
def apps(tmp_path: Path) -> Path:
    dest = tmp_path / "apps"
    shutil.copytree(
        ROOT / "apps-repo", dest, ignore=shutil.ignore_patterns(".venv", "__pycache__", ".*_cache")
    )
    return dest


@pytest.mark.parametrize("change", list(CHANGES.values()), ids=list(CHANGES))
def test_each_change_is_the_same_every_run_and_unique_per_drill(
    apps: Path, change: AppsChange
) -> None:
    changed = change.apply(apps, "d1")
    assert changed, "it changes something"
    first = {p: (apps / p).read_text() for p in changed}
    assert change.apply(apps, "d1") == [], "applied already: nothing to change"
    assert change.apply(apps, "d2") == [change.unique.path], "only the drill's mark differs"
    second = (apps / change.unique.path).read_text()
    assert second == first[change.unique.path].replace("-d1", "-d2")


@pytest.mark.parametrize("change", [READINESS, *CHANGES.values()], ids=["readiness", *CHANGES])
def test_each_commit_message_passes_the_git_hosts_gate(change: AppsChange) -> None:
    text = change.message("20260801T120000Z-abcd-x")
    assert conventional(text) is None
    assert text.rstrip().endswith("Drill-Id: 20260801T120000Z-abcd-x")
    assert change.what_changed
    assert change.why_ci_passed
    assert len(change.follow_ups) == 2


def test_crashloop_needs_a_variable_the_tests_set_and_no_deployment_does(apps: Path) -> None:
    CRASHLOOP.apply(apps, "d1")
    config = (apps / "src/probe/config.py").read_text()
    assert 'if kind is Kind.FRONTEND and not get("SESSION_SECRET", ""):' in config
    support = (apps / "tests/support.py").read_text()
    assert '"SESSION_SECRET": TEST_SESSION_SECRET' in support, "every config the tests make"
    assert '"SESSION_SECRET": TEST_SESSION_SECRET}' in support, "every process they start"
    assert "SESSION_SECRET" not in DEPLOYMENT + DEV_OVERLAY


def test_error_rate_and_latency_leave_the_probes_alone(apps: Path) -> None:
    ERROR_RATE.apply(apps, "d1")
    app = (apps / "src/probe/app.py").read_text()
    assert '_PROBE_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})' in app
    assert "budget.take()" in app
    assert "REQUESTS_PER_S" not in DEPLOYMENT + DEV_OVERLAY


def test_latency_paces_what_the_tests_do_not(apps: Path) -> None:
    LATENCY.apply(apps, "d1")
    app = (apps / "src/probe/app.py").read_text()
    assert "await asyncio.sleep(config.pacing_s)" in app
    assert '"REQUEST_PACING_MS": "0"' in (apps / "tests/support.py").read_text()
    assert "REQUEST_PACING_MS" not in DEPLOYMENT + DEV_OVERLAY


def test_a_new_file_that_exists_already_is_refused(apps: Path) -> None:
    (apps / "src/probe/budget.py").write_text("# someone else's\n")
    with pytest.raises(ChangeError, match="exists already"):
        ERROR_RATE.apply(apps, "d1")


def _suite(tree: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(tree / "src"), "PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-p",
            "no:randomly",
            "-x",
            "--deselect",
            "tests/test_config.py::test_build_metadata_falls_back",
        ],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.mark.slow
@pytest.mark.parametrize("change", list(CHANGES.values()), ids=list(CHANGES))
def test_the_apps_repos_suite_passes_with_the_change(apps: Path, change: AppsChange) -> None:
    """What CI runs: "works on my machine". (test_build_metadata_falls_back reads the installed
    package's metadata, which this checkout's environment does not have.)"""
    change.apply(apps, "d1")
    done = _suite(apps)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]


@pytest.mark.slow
def test_deployed_the_crashloop_frontend_exits_at_start_up(apps: Path) -> None:
    CRASHLOOP.apply(apps, "d1")
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": str(apps / "src"),
        "SERVICE_KIND": "frontend",
        "BACKEND_URL": "http://backend:8080",
        "PORT": "18080",
    }
    done = subprocess.run(
        [sys.executable, "-m", "probe"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "SESSION_SECRET" in done.stderr


DEPLOYED = """
import asyncio, json, sys, time
from probe.app import create_app
from probe.config import load_config

async def main():
    config = load_config({"SERVICE_KIND": "frontend", "BACKEND_URL": "http://backend:8080"})
    test_app = create_app(config).test_app()
    await test_app.startup()
    client = test_app.test_client()
    started = time.perf_counter()
    codes = [(await client.get("/version")).status_code for _ in range(int(sys.argv[1]))]
    took = time.perf_counter() - started
    ready = (await client.get("/readyz")).status_code
    await test_app.shutdown()
    print(json.dumps({"codes": codes, "took": took, "ready": ready}))

asyncio.run(main())
"""


def _deployed(tree: Path, requests: int) -> dict[str, object]:
    """`requests` requests to /version one after the other, to the frontend configured as the
    Deployment configures it."""
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(tree / "src")}
    done = subprocess.run(
        [sys.executable, "-c", DEPLOYED, str(requests)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    doc: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return doc


@pytest.mark.slow
def test_deployed_the_error_rate_frontend_answers_500_past_20_a_second(apps: Path) -> None:
    ERROR_RATE.apply(apps, "d1")
    seen = _deployed(apps, 60)
    codes = seen["codes"]
    assert isinstance(codes, list)
    assert seen["ready"] == 200, "readiness passes: only the analysis can tell"
    took = seen["took"]
    assert isinstance(took, float)
    if took < 1.0:  # within two seconds at most: 20 answered in each, the rest 500
        assert codes.count(500) >= 20, codes


@pytest.mark.slow
def test_deployed_the_latency_frontend_answers_slowly(apps: Path) -> None:
    LATENCY.apply(apps, "d1")
    seen = _deployed(apps, 4)
    assert seen["ready"] == 200
    assert seen["codes"] == [200] * 4
    took = seen["took"]
    assert isinstance(took, float)
    assert took >= 4 * 0.8
