"""`gitops up` as a user runs it: a real process on a fresh workspace, driven over its real API and
Service ports, then stopped with SIGTERM and resumed. Nothing is mocked; waits have deadlines."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from tests.helpers import ROOT

SERVICE_APPS = {"backend-dev", "backend-prod", "frontend-dev", "frontend-prod"}


def start(workspace: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "console.cli",
            "up",
            "--workspace",
            str(workspace),
            "--config",
            str(ROOT / "repos.yaml"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def wait_for(
    condition: Callable[[], bool], what: str, proc: subprocess.Popen[str], timeout: float
) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if proc.poll() is not None:
            raise AssertionError(f"gitops up exited ({proc.returncode}): {proc.stderr.read()}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)  # polling a file the platform writes when ready, with a deadline


def stop(proc: subprocess.Popen[str]) -> str:
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    return err


def pod_pids(workspace: Path) -> list[int]:
    return [json.loads(p.read_text())["pid"] for p in workspace.glob("runtime/pods/*/*/pod.json")]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def apps(platform: dict[str, object], token: str) -> dict[str, tuple[str, str]]:
    answer = httpx.get(
        f"{platform['argocd_url']}/api/v1/applications",
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    answer.raise_for_status()
    return {
        a["metadata"]["name"]: (a["status"]["sync"]["status"], a["status"]["health"]["status"])
        for a in answer.json()["items"]
    }


def test_up_deploys_everything_serves_it_stops_cleanly_and_resumes(tmp_path: Path) -> None:
    workspace = tmp_path / "ws"
    ready = workspace / "platform.json"
    proc = start(workspace)
    pids: list[int] = []
    try:
        wait_for(ready.is_file, "platform.json", proc, timeout=300)
        platform = json.loads(ready.read_text())
        token_file = Path(platform["token_file"])
        assert token_file.stat().st_mode & 0o777 == 0o600, "the token is owner-only"
        token = token_file.read_text().strip()
        state = apps(platform, token)
        assert {name: state[name] for name in SERVICE_APPS} == dict.fromkeys(
            SERVICE_APPS, ("Synced", "Healthy")
        )
        assert set(platform["services"]) >= SERVICE_APPS
        first_services = platform["services"]
        status = httpx.get(f"{platform['services']['frontend-prod']}/api/status", timeout=10)
        assert status.json()["backend"]["reachable"] is True
        assert (
            httpx.get(f"{platform['argocd_url']}/api/v1/applications", timeout=10).status_code
            == 401
        )

        second = start(workspace)
        _, err = second.communicate(timeout=60)
        assert second.returncode == 2
        assert "is in use by `gitops up`" in err
    finally:
        if proc.poll() is None:
            pids = pod_pids(workspace)
            stop(proc)
    assert pids, "pods ran"
    assert not [pid for pid in pids if alive(pid)], "SIGTERM leaves no pod behind"
    assert not ready.exists()

    resumed = start(workspace)
    try:
        wait_for(ready.is_file, "platform.json after resume", resumed, timeout=180)
        platform = json.loads(ready.read_text())
        state = apps(platform, token_file.read_text().strip())
        assert all(state[name] == ("Synced", "Healthy") for name in SERVICE_APPS)
        assert platform["services"] == first_services, "Services keep their ports across a restart"
    finally:
        err = stop(resumed)
    assert "resuming the workspace" in err
