"""Ctrl-C in the middle of `gitops demo`: the drill stops its load generator and the platform
it started, exits 130, leaves no process behind, and the workspace resumes under `gitops up`.
Real processes throughout; the interrupt is a SIGINT to the drill's process group, as a
terminal's Ctrl-C sends it."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.drill.test_drill_e2e import processes_using, start_demo
from tests.local.test_up import ready_file, start, stop, wait_for


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


@pytest.mark.timeout(600)
@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads /proc to find leftover processes")
def test_ctrl_c_mid_drill_stops_everything_and_the_workspace_resumes(tmp_path: Path) -> None:
    workspace = tmp_path / "ws"
    proc = start_demo(workspace, tmp_path / "state")
    try:
        # The platform is up, the load runs and the bad change is pushed: CI is at work.
        read_until(proc, "] change ", timeout=420)
        os.killpg(proc.pid, signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 130, err
    assert "interrupted" in err
    assert processes_using(workspace) == [], "nothing left running"

    platform = start(workspace)
    try:
        wait_for(ready_file(workspace, platform), "platform.json", platform, timeout=300)
    finally:
        stop(platform)
    assert processes_using(workspace) == []
