"""`gitops demo --headless --json` as a user runs it: a real process on a fresh workspace that
starts the embedded platform, pushes the bad change, and must see it rolled back with nothing
lost. Then Ctrl-C in the middle of a second drill on the same workspace: the drill stops its load
and the platform, exits 130, leaves no process behind, and the workspace resumes under `gitops
up`. Nothing is mocked; every wait in the drill has its deadline. (One test: a drill's platform
takes a minute to start the first time, a few seconds on a workspace that has one.)"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from console.fleet.history import log, rollbacks
from tests.helpers import ROOT
from tests.local.test_up import ready_file, start, stop, wait_for


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


@pytest.mark.timeout(900)
@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads /proc to find leftover processes")
def test_the_drill_recovers_the_known_good_version_with_nothing_lost(tmp_path: Path) -> None:
    workspace = tmp_path / "ws"
    proc = start_demo(workspace, tmp_path / "state", "--json")
    try:
        out, err = proc.communicate(timeout=840)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGTERM)  # the drill stops the platform, then exits 130
        out, err = proc.communicate(timeout=180)
        raise AssertionError(f"the drill did not finish:\n{out[-4000:]}\n{err}") from None
    assert proc.returncode == 0, f"{out[-6000:]}\n{err}"
    lines = out.strip().splitlines()
    doc = json.loads(lines[-1])
    assert list(doc) == [
        "recovered",
        "good_version",
        "bad_version",
        "final_version",
        "failed_requests",
        "total_requests",
        "detect_s",
        "recover_s",
        "mttr_s",
        "rollback_commit",
        "postmortem",
    ]
    assert doc["recovered"] is True
    assert doc["failed_requests"] == 0
    assert doc["total_requests"] > 0
    assert doc["final_version"] == doc["good_version"] != doc["bad_version"]
    assert 0 < doc["detect_s"] < doc["mttr_s"] < 60
    assert doc["recover_s"] >= 0

    # Exactly one rollback commit, and it is the one the drill reports.
    found = rollbacks(log(workspace / "remotes" / "platform-deploy.git", "main"))
    assert [rb.sha for rb in found] == [doc["rollback_commit"]]
    assert found[0].app == "frontend-dev"

    postmortem = Path(doc["postmortem"])
    assert postmortem.is_file()
    assert postmortem.is_relative_to(workspace)
    text = postmortem.read_text(encoding="utf-8")
    assert doc["rollback_commit"] in text
    assert "Outcome: recovered" in text
    assert f"Rollback-Of: {found[0].of}" in text

    # The timeline was printed as it happened, one line per step.
    assert any("rollback commit" in line for line in lines)
    assert any("platform stopped (exit 0)" in line for line in lines)
    assert not (workspace / "platform.json").exists(), "the platform stopped"
    assert processes_using(workspace) == [], "nothing left running"

    ctrl_c_mid_drill(workspace, tmp_path / "state")


def ctrl_c_mid_drill(workspace: Path, state: Path) -> None:
    """A drill on `workspace` interrupted once its bad change is pushed (CI at work, the load
    running) by a SIGINT to its process group, as a terminal's Ctrl-C sends it."""
    proc = start_demo(workspace, state)
    try:
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
