"""`gitops demo --headless --json` as a user runs it: a real process on a fresh workspace that
starts the embedded platform, pushes the bad change, and must see it rolled back with nothing
lost. Nothing is mocked; every wait in the drill has its deadline."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from console.fleet.history import log, rollbacks
from tests.helpers import ROOT


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
