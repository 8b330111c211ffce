"""Driving `gitops up` and `gitops demo` as a user runs them: real processes on a workspace, read
over their real API, files and Service ports. Every wait has a deadline."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import httpx

from tests.helpers import ROOT, get_application, run_git

SERVICE_APPS = {"backend-dev", "backend-prod", "frontend-dev", "frontend-prod"}
GUARD_APP = "gitops-guard"  # the platform's own rollback controller, a pod like the others
# dev: 1 replica, prod: 2 (repos.yaml), for the frontend and the backend; and the guard's one.
PODS = 7


@dataclass
class Up:
    """One `gitops up` process; its stdout and stderr go to files (a pipe nobody reads while a
    long step runs could fill up and stall the platform)."""

    proc: subprocess.Popen[str]
    stderr_path: Path
    _files: tuple[IO[str], IO[str]]

    @property
    def pid(self) -> int:
        return self.proc.pid

    def err(self) -> str:
        return self.stderr_path.read_text(encoding="utf-8", errors="replace")

    def poll(self) -> int | None:
        return self.proc.poll()

    def wait(self, timeout: float) -> int:
        code = self.proc.wait(timeout=timeout)
        for handle in self._files:
            handle.close()
        return code


def up_command(workspace: Path, *extra: str) -> list[str]:
    """`gitops up` on `workspace` with this checkout's repos.yaml, as a user types it."""
    config = str(ROOT / "repos.yaml")
    return [sys.executable, "-m", "console.cli", "up", "--workspace", str(workspace),
            "--config", config, *extra]  # fmt: skip


def start(workspace: Path) -> Up:
    """`gitops up` on `workspace`, in a session of its own; its output beside the workspace."""
    logs = workspace.parent / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    stamp = f"{time.monotonic_ns()}"
    out = (logs / f"up-{stamp}.out").open("w", encoding="utf-8")
    err_path = logs / f"up-{stamp}.err"
    err = err_path.open("w", encoding="utf-8")
    proc = subprocess.Popen(
        up_command(workspace),
        stdout=out,
        stderr=err,
        text=True,
        start_new_session=True,
    )
    return Up(proc, err_path, (out, err))


def wait_for(condition: Callable[[], bool], what: str, up: Up, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if up.poll() is not None:
            raise AssertionError(f"gitops up exited ({up.proc.returncode}): {up.err()[-4000:]}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)  # polling what the platform serves or writes, with a deadline


def ready_file(workspace: Path, up: Up) -> Callable[[], bool]:
    """platform.json written by `up` (a killed run leaves its own behind until the next start
    removes it)."""
    path = workspace / "platform.json"

    def written() -> bool:
        try:
            return bool(json.loads(path.read_text())["pid"] == up.pid)
        except (OSError, ValueError, KeyError):
            return False

    return written


def stop(up: Up) -> str:
    """SIGTERM, which must end the platform cleanly (exit 0); its stderr."""
    up.proc.send_signal(signal.SIGTERM)
    code = up.wait(timeout=60)
    err = up.err()
    assert code == 0, err[-4000:]
    return err


def kill(up: Up) -> str:
    up.proc.send_signal(signal.SIGKILL)
    up.wait(timeout=30)
    return up.err()


def pod_pids(workspace: Path, pattern: str = "*/*") -> list[int]:
    """The pids of the pods the runtime started (a pod not yet started has none); `pattern`
    picks `<namespace>/<pod>` directories."""
    found = [
        json.loads(p.read_text()).get("pid")
        for p in workspace.glob(f"runtime/pods/{pattern}/pod.json")
    ]
    return [pid for pid in found if isinstance(pid, int)]


def read_platform(workspace: Path) -> dict[str, Any]:
    platform: dict[str, Any] = json.loads((workspace / "platform.json").read_text())
    return platform


def apps(platform: dict[str, Any], token: str) -> dict[str, tuple[str, str]]:
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


def application(platform: dict[str, Any], token: str, name: str) -> dict[str, Any]:
    return get_application(platform["argocd_url"], token, name)


def histories(platform: dict[str, Any], token: str) -> dict[str, list[tuple[int, str, str]]]:
    return {
        name: [
            (h["id"], h["revision"], h["deployedAt"])
            for h in application(platform, token, name)["status"].get("history", [])
        ]
        for name in sorted(SERVICE_APPS)
    }


def clone_fresh(remote: str, clone: Path) -> Path:
    """A work tree of `remote`'s main: cloned the first time, fast-forwarded after."""
    if not clone.exists():
        run_git(clone.parent, "clone", "--quiet", remote, str(clone))
    run_git(clone, "pull", "--quiet", "--ff-only", "origin", "main")
    return clone


def push_overlay_edit(clone: Path, edit: Callable[[str], str], message: str) -> str:
    """Rewrite frontend-dev's overlay with `edit`, commit and push it; the new commit."""
    overlay = clone / "overlays" / "dev" / "frontend" / "kustomization.yaml"
    overlay.write_text(edit(overlay.read_text()))
    run_git(clone, "commit", "--quiet", "--all", "--message", message)
    run_git(clone, "push", "--quiet", "origin", "HEAD:main")
    return run_git(clone, "rev-parse", "HEAD").strip()


# ---- the drill ---------------------------------------------------------------------------------


def processes_using(workspace: Path) -> list[str]:
    """`pid cmdline` of every process whose command line or working directory is in
    `workspace` (the platform, its pods, CI)."""
    found = []
    mark = str(workspace)
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            cwd = os.readlink(entry / "cwd")
        except OSError:
            continue  # gone meanwhile, or not ours to read
        if mark in cmdline or cwd.startswith(mark):
            found.append(f"{entry.name} {cmdline.strip()}")
    return found


def start_demo(workspace: Path, state: Path, *flags: str) -> subprocess.Popen[str]:
    """`gitops demo --headless` on `workspace` as a user runs it, in a session of its own (so
    a test can signal its whole process group, as a terminal does) and with its own
    XDG_STATE_HOME (`state`), so it does not touch the user's."""
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "console.cli",
            "demo",
            "--headless",
            *flags,
            "--workspace",
            str(workspace),
            "--config",
            str(ROOT / "repos.yaml"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env={**os.environ, "XDG_STATE_HOME": str(state)},
        start_new_session=True,
    )


def read_until(proc: subprocess.Popen[str], marker: str, timeout: float) -> list[str]:
    """The drill's stdout lines up to the first that contains `marker`."""
    assert proc.stdout is not None
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stdout], [], [], 1.0)
        if not ready:
            continue
        line = proc.stdout.readline()
        if not line:
            break  # the drill exited
        seen.append(line.rstrip("\n"))
        if marker in line:
            return seen
    raise AssertionError(f"no {marker!r} line from the drill; it printed:\n" + "\n".join(seen))
