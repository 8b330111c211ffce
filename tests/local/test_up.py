"""`gitops up` as a user runs it: a real process on a fresh workspace, driven over its real API and
Service ports, then stopped with SIGTERM and resumed. Nothing is mocked; waits have deadlines."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from tests.helpers import ROOT, run_git

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


def ready_file(workspace: Path, proc: subprocess.Popen[str]) -> Callable[[], bool]:
    """platform.json written by `proc` (a killed run leaves its own behind until the next
    start removes it)."""
    path = workspace / "platform.json"

    def written() -> bool:
        try:
            return bool(json.loads(path.read_text())["pid"] == proc.pid)
        except (OSError, ValueError, KeyError):
            return False

    return written


def stop(proc: subprocess.Popen[str]) -> str:
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    return err


def pod_pids(workspace: Path) -> list[int]:
    """The pids of the pods the runtime started (a pod not yet started has none)."""
    found = [
        json.loads(p.read_text()).get("pid") for p in workspace.glob("runtime/pods/*/*/pod.json")
    ]
    return [pid for pid in found if isinstance(pid, int)]


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


def application(platform: dict[str, object], token: str, name: str) -> dict[str, Any]:
    answer = httpx.get(
        f"{platform['argocd_url']}/api/v1/applications/{name}",
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    answer.raise_for_status()
    app: dict[str, Any] = answer.json()
    return app


def histories(platform: dict[str, object], token: str) -> dict[str, list[tuple[int, str, str]]]:
    return {
        name: [
            (h["id"], h["revision"], h["deployedAt"])
            for h in application(platform, token, name)["status"].get("history", [])
        ]
        for name in sorted(SERVICE_APPS)
    }


def slow_down_frontend_dev(deploy_remote: str, clone: Path) -> str:
    """Push a deploy commit that rolls frontend-dev out slowly (new pods, minReadySeconds 5,
    inside dev's 12 s deadline), so the test can kill the platform mid-rollout; returns it."""
    run_git(clone.parent, "clone", "--quiet", deploy_remote, str(clone))
    overlay = clone / "overlays" / "dev" / "frontend" / "kustomization.yaml"
    text = overlay.read_text()
    assert "minReadySeconds: 2" in text
    assert "value: dev\n" in text
    text = text.replace("minReadySeconds: 2", "minReadySeconds: 5").replace(
        "value: dev\n",
        'value: dev\n                  - name: ROLLOUT_MARK\n                    value: "slow"\n',
    )
    overlay.write_text(text)
    run_git(clone, "commit", "--quiet", "--all", "--message", "chore(dev): roll frontend slowly")
    run_git(clone, "push", "--quiet", "origin", "HEAD:main")
    return run_git(clone, "rev-parse", "HEAD").strip()


PODS = 6  # dev: 1 replica, prod: 2 (repos.yaml), for the frontend and the backend


def test_up_deploys_everything_serves_it_stops_cleanly_and_resumes(tmp_path: Path) -> None:
    """The platform's life as an operator sees it: deploy, a second `up` refused, SIGTERM, resume
    with history intact, then `kill -9` in the middle of a rollout and a resume that finishes it
    without deploying anything twice and without a pod of the killed run left alive."""
    workspace = tmp_path / "ws"
    platform, before = _first_run(workspace)
    token = Path(platform["token_file"]).read_text().strip()
    commit, killed_pids = _resume_then_kill_mid_rollout(workspace, platform, before, tmp_path)

    again = start(workspace)
    try:
        wait_for(ready_file(workspace, again), "platform.json after kill -9", again, timeout=180)
        platform = json.loads((workspace / "platform.json").read_text())
        assert not [pid for pid in killed_pids if alive(pid)], "the killed run's pods are reaped"
        state = apps(platform, token)
        assert all(state[name] == ("Synced", "Healthy") for name in SERVICE_APPS), state
        after = histories(platform, token)
        assert {k: v for k, v in after.items() if k != "frontend-dev"} == {
            k: v for k, v in before.items() if k != "frontend-dev"
        }, "the other apps were not deployed again"
        frontend = after["frontend-dev"]
        assert frontend[:-1] == before["frontend-dev"], "history survives kill -9"
        assert [h[1] for h in frontend].count(commit) == 1, "the new commit deployed once"
        assert frontend[-1][0] == before["frontend-dev"][-1][0] + 1
        running = [pid for pid in pod_pids(workspace) if alive(pid)]
        assert len(running) == PODS, "nothing runs twice"
    finally:
        err = stop(again)
    assert "restored" in err


def _first_run(workspace: Path) -> tuple[dict[str, Any], dict[str, list[tuple[int, str, str]]]]:
    """A fresh workspace deployed, checked, refused to a second `up` and stopped by SIGTERM."""
    ready = workspace / "platform.json"
    proc = start(workspace)
    pids: list[int] = []
    try:
        wait_for(ready_file(workspace, proc), "platform.json", proc, timeout=300)
        platform: dict[str, Any] = json.loads(ready.read_text())
        token_file = Path(platform["token_file"])
        assert token_file.stat().st_mode & 0o777 == 0o600, "the token is owner-only"
        token = token_file.read_text().strip()
        state = apps(platform, token)
        assert {name: state[name] for name in SERVICE_APPS} == dict.fromkeys(
            SERVICE_APPS, ("Synced", "Healthy")
        )
        assert set(platform["services"]) >= SERVICE_APPS
        before = histories(platform, token)
        assert all(len(h) == 1 for h in before.values()), before
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
    assert len(pids) == PODS, pids
    assert not [pid for pid in pids if alive(pid)], "SIGTERM leaves no pod behind"
    assert not ready.exists()
    return platform, before


def _resume_then_kill_mid_rollout(
    workspace: Path,
    first: dict[str, Any],
    before: dict[str, list[tuple[int, str, str]]],
    tmp_path: Path,
) -> tuple[str, list[int]]:
    """Resume (same ports, same history), push a slow rollout and kill -9 in its middle; the
    commit rolled out and the pids of the pods the killed run left."""
    resumed = start(workspace)
    try:
        wait_for(ready_file(workspace, resumed), "platform.json after resume", resumed, timeout=180)
        platform = json.loads((workspace / "platform.json").read_text())
        token = Path(platform["token_file"]).read_text().strip()
        state = apps(platform, token)
        assert all(state[name] == ("Synced", "Healthy") for name in SERVICE_APPS)
        assert platform["services"] == first["services"], "Services keep their ports"
        assert histories(platform, token) == before, "a resume deploys nothing again"

        commit = slow_down_frontend_dev(platform["remotes"]["deploy"], tmp_path / "deploy")

        def rolling() -> bool:
            status = application(platform, token, "frontend-dev")["status"]
            return bool(
                status["sync"]["revision"] == commit and status["health"]["status"] == "Progressing"
            )

        wait_for(rolling, "frontend-dev rolling out the new commit", resumed, timeout=120)
        killed_pids = pod_pids(workspace)
        resumed.send_signal(signal.SIGKILL)
        _, err = resumed.communicate(timeout=30)
    finally:
        if resumed.poll() is None:
            stop(resumed)
    assert "resuming the workspace" in err
    assert [pid for pid in killed_pids if alive(pid)], "kill -9 leaves the pods running"
    return commit, killed_pids


def test_a_taken_api_port_is_a_clear_error_before_any_work(tmp_path: Path) -> None:
    workspace = tmp_path / "ws"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "console.cli",
                "up",
                "--workspace",
                str(workspace),
                "--config",
                str(ROOT / "repos.yaml"),
                "--port",
                str(port),
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert done.returncode == 2, done.stderr
    assert f"127.0.0.1:{port}" in done.stderr
    assert "already in use" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (workspace / "remotes").exists() or not any((workspace / "remotes").iterdir())
