"""Recovery time of the guard on the embedded platform: a bad promotion pushed to the deploy
repo until the rollback commit is pushed (detect), and until the app is Healthy and Synced again
on it (recover), measured from outside as an operator would.

    uv run python benchmarks/recovery.py [--runs 5] [--workspace DIR]

Starts `gitops up` (guard on) on a fresh workspace, then, `--runs` times: promote a tag that was
never built into frontend-dev (an image pull failure, as a typo in a tag would be), push, and
watch the deploy remote for the rollback commit and the API for recovery. Target here: median
detect <= 10 s, recover <= 20 s. Last line: name=value pairs.
"""

from __future__ import annotations

import argparse
import json
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from console.fleet.history import log, rollbacks  # noqa: E402
from console.promote.promote import PromoteRequest, promote  # noqa: E402

APP = "frontend-dev"


def wait(condition: Callable[[], bool], what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.05)


def rollback_of(remote: str, bad: str) -> str:
    found = [rb.sha for rb in rollbacks(log(Path(remote), "main")) if rb.of == bad]
    return found[0] if found else ""


def healthy_on(platform: dict[str, str], token: str, revision: str) -> bool:
    try:
        status = httpx.get(
            f"{platform['argocd_url']}/api/v1/applications/{APP}",
            headers={"Authorization": f"Bearer {token}"},
            timeout=5,
        ).json()["status"]
    except (httpx.HTTPError, ValueError, KeyError):
        return False
    return bool(
        status["sync"]["status"] == "Synced"
        and status["health"]["status"] == "Healthy"
        and status.get("operationState", {}).get("syncResult", {}).get("revision") == revision
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--workspace", type=Path)
    args = parser.parse_args()
    tmp = tempfile.TemporaryDirectory(prefix="bench-recovery-")
    workspace = args.workspace or Path(tmp.name) / "ws"
    started = time.monotonic()
    proc = subprocess.Popen(
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
    detects, recovers = [], []
    try:
        ready = workspace / "platform.json"
        wait(ready.is_file, "the platform", 600)
        print(f"platform ready after {time.monotonic() - started:.1f}s", flush=True)
        platform = json.loads(ready.read_text())
        token = Path(platform["token_file"]).read_text().strip()
        remote = platform["remotes"]["deploy"]
        for n in range(args.runs):
            tag = secrets.token_hex(20)  # never built
            t0 = time.monotonic()
            bad = promote(remote, PromoteRequest("frontend", "dev", tag=tag), push=True).sha
            assert bad is not None
            rollback = ""

            def found(bad: str = bad) -> bool:
                nonlocal rollback
                rollback = rollback_of(remote, bad)
                return bool(rollback)

            wait(found, f"the rollback of {bad[:7]}", 300)
            detect = time.monotonic() - t0
            wait(lambda: healthy_on(platform, token, rollback), "recovery", 300)  # noqa: B023
            recover = time.monotonic() - t0
            detects.append(detect)
            recovers.append(recover)
            print(f"run {n + 1}: detect {detect:.1f}s recover {recover:.1f}s", flush=True)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=120)
        tmp.cleanup()
    print(
        f"detect_median_s={statistics.median(detects):.1f} detect_min_s={min(detects):.1f} "
        f"detect_max_s={max(detects):.1f} recover_median_s={statistics.median(recovers):.1f} "
        f"recover_min_s={min(recovers):.1f} recover_max_s={max(recovers):.1f} runs={len(detects)}"
    )


if __name__ == "__main__":
    main()
