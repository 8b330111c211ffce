"""The fault matrix, measured from outside as an operator sees it: for each fault, the requests
that failed through a Service under steady load, the seconds until the platform serves again,
and what survived. One line per fault; the last line is name=value pairs.

    uv run python benchmarks/faults.py [--workspace DIR] [--rate 25]

Faults measured so far (issue 13 lists the rest):

- `control-plane-kill-at-rest`: `kill -9` of `gitops up` with no rollout under way, then a
  restart. Kubernetes' promise is that this costs no request (kube-proxy's rules and the pods
  stay). Here the pods are adopted by the restarted platform (same processes), but the Service
  proxies still run inside `gitops up`, so requests fail from the kill until the restart serves.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from console.drill.load import BackgroundLoad, LoadGenerator  # noqa: E402

SERVICE = "frontend-prod"


def wait(condition: Callable[[], bool], what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.05)  # polling files and processes the platform writes, with a deadline


def start(workspace: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "console.cli", "up", "--workspace", str(workspace),
         "--config", str(ROOT / "repos.yaml")],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip


def platform_of(workspace: Path, pid: int) -> dict[str, object] | None:
    try:
        doc: dict[str, object] = json.loads((workspace / "platform.json").read_text())
    except (OSError, ValueError):
        return None
    return doc if doc.get("pid") == pid else None


def pod_pids(workspace: Path) -> set[int]:
    found = set()
    for record in workspace.glob("runtime/pods/*/*/pod.json"):
        pid = json.loads(record.read_text()).get("pid")
        if isinstance(pid, int):
            found.add(pid)
    return found


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def control_plane_kill_at_rest(workspace: Path, rate: float) -> dict[str, float]:
    up = start(workspace)
    wait(lambda: platform_of(workspace, up.pid) is not None, "the platform", 600)
    platform = platform_of(workspace, up.pid)
    assert platform is not None
    services = platform["services"]
    assert isinstance(services, dict)
    load = BackgroundLoad(LoadGenerator(f"{services[SERVICE]}/version", rate=rate))
    load.start()
    wait(lambda: load.answered, "the first answer through the Service", 30)
    before = {pid for pid in pod_pids(workspace) if alive(pid)}
    killed_at = time.monotonic()
    up.send_signal(signal.SIGKILL)
    up.wait()
    again = start(workspace)
    try:
        wait(lambda: platform_of(workspace, again.pid) is not None, "the restart", 300)
        restart_s = time.monotonic() - killed_at
        settle = time.monotonic() + 3.0
        wait(lambda: time.monotonic() >= settle, "3 s of load after the restart", 10)
        load.stop()
        stats = asyncio.run(load.wait())
        after = {pid for pid in pod_pids(workspace) if alive(pid)}
    finally:
        again.send_signal(signal.SIGTERM)
        again.wait(timeout=120)
    return {
        "failed": stats.failed,
        "total": stats.total,
        "restart_s": round(restart_s, 1),
        "pods_adopted": len(before & after),
        "pods": len(before),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workspace", type=Path)
    parser.add_argument("--rate", type=float, default=25.0)
    args = parser.parse_args()
    tmp = tempfile.TemporaryDirectory(prefix="bench-faults-")
    workspace = args.workspace or Path(tmp.name) / "ws"
    try:
        at_rest = control_plane_kill_at_rest(workspace, args.rate)
    finally:
        tmp.cleanup()
    print(
        "fault=control-plane-kill-at-rest " + " ".join(f"{k}={v}" for k, v in at_rest.items()),
        flush=True,
    )
    print(
        f"kill_at_rest_failed={at_rest['failed']} kill_at_rest_total={at_rest['total']} "
        f"kill_at_rest_restart_s={at_rest['restart_s']} "
        f"kill_at_rest_pods_adopted={at_rest['pods_adopted']}/{at_rest['pods']}"
    )


if __name__ == "__main__":
    main()
