"""Deploy latency of the embedded platform: a push to the apps repo until the new version answers
on the backend's dev Service, measured from outside as a user would.

    uv run python benchmarks/deploy_latency.py [--runs 5] [--workspace DIR]

Starts `gitops up` on a fresh workspace, then, `--runs` times: commit a change to the apps repo,
push it, and poll the dev backend's `/version` until its revision is the new commit. The CI
stages come from the platform's run records; "sync+rollout" is the rest. Also prints the idle CPU
and RSS of the `gitops up` process with 2 services x 2 environments. Last line: name=value pairs.
"""

from __future__ import annotations

import argparse
import json
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True
    ).stdout


def wait(condition, what: str, timeout: float) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.05)


def revision(url: str) -> str:
    try:
        return str(httpx.get(f"{url}/version", timeout=2).json()["revision"])
    except (httpx.HTTPError, ValueError, KeyError):
        return ""


def stages(db: Path, commit: str) -> dict[str, float]:
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT stage, duration_s FROM runs WHERE commit_sha = ? AND result = 'succeeded'",
            (commit,),
        ).fetchall()
    return {stage: float(seconds or 0) for stage, seconds in rows}


def cpu_and_rss(pid: int, seconds: float = 5.0) -> tuple[float, float]:
    """CPU % over `seconds` of idling, and resident memory in MiB, of the process `pid`."""

    def ticks() -> int:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])

    hz = 100  # USER_HZ on Linux
    before, started = ticks(), time.monotonic()
    time.sleep(seconds)
    cpu = (ticks() - before) / hz / (time.monotonic() - started) * 100
    rss_kib = next(
        int(line.split()[1])
        for line in Path(f"/proc/{pid}/status").read_text().splitlines()
        if line.startswith("VmRSS:")
    )
    return cpu, rss_kib / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--workspace", type=Path)
    args = parser.parse_args()
    tmp = tempfile.TemporaryDirectory(prefix="bench-deploy-")
    workspace = args.workspace or Path(tmp.name) / "ws"
    started = time.monotonic()
    platform_proc = subprocess.Popen(
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
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        ready = workspace / "platform.json"
        wait(ready.is_file, "the platform", 600)
        print(
            f"platform ready after {time.monotonic() - started:.1f}s (scaffold, first CI, deploy)"
        )
        platform = json.loads(ready.read_text())
        cpu, rss = cpu_and_rss(platform["pid"])
        print(f"idle: cpu {cpu:.1f}% rss {rss:.0f} MiB")
        backend = platform["services"]["backend-dev"]
        work = Path(tmp.name) / "apps"
        git(Path(tmp.name), "clone", "--quiet", platform["remotes"]["apps"], str(work))
        totals, rows = [], []
        for n in range(args.runs):
            (work / "CHANGELOG.md").write_text(f"run {n}\n")
            git(work, "add", "--all")
            git(
                work,
                "-c",
                "user.name=bench",
                "-c",
                "user.email=bench@localhost",
                "commit",
                "--quiet",
                "-m",
                f"docs: benchmark run {n}",
            )
            sha = git(work, "rev-parse", "HEAD").strip()
            t0 = time.monotonic()
            git(work, "push", "--quiet", "origin", "HEAD:main")
            wait(lambda: revision(backend) == sha, f"{sha[:7]} live", 300)  # noqa: B023
            total = time.monotonic() - t0
            parts = stages(workspace / "state.db", sha)
            ci = sum(parts.values())
            totals.append(total)
            rows.append(parts)
            print(
                f"run {n + 1}: {total:.1f}s = test {parts.get('test', 0):.1f} + build "
                f"{parts.get('build', 0):.1f} + promote {parts.get('promote', 0):.1f} + "
                f"sync+rollout {total - ci:.1f}",
                flush=True,
            )
    finally:
        platform_proc.send_signal(signal.SIGTERM)
        platform_proc.wait(timeout=120)
        tmp.cleanup()

    def median(stage: str) -> float:
        return statistics.median(r.get(stage, 0.0) for r in rows)

    rollout = statistics.median(t - sum(r.values()) for t, r in zip(totals, rows, strict=True))
    print(
        f"deploy_median_s={statistics.median(totals):.1f} deploy_min_s={min(totals):.1f} "
        f"deploy_max_s={max(totals):.1f} test_s={median('test'):.1f} build_s={median('build'):.1f} "
        f"promote_s={median('promote'):.1f} sync_rollout_s={rollout:.1f} "
        f"idle_cpu_pct={cpu:.1f} idle_rss_mib={rss:.0f}"
    )


if __name__ == "__main__":
    main()
