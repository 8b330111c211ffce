"""The fault matrix, measured from outside as an operator sees it: for each fault, the requests
that failed through a Service under steady load, how long until the platform noticed (detect)
and served the known-good version again (recover), and what it wrote to Git. One line per fault;
the last line is name=value pairs.

    uv run python benchmarks/faults.py [--workspace DIR] [--rate 25] [--only NAME ...]

One platform (`gitops up` on a fresh workspace) lives through every fault in turn:

- `control-plane-kill-at-rest`: `kill -9` of `gitops up` with no rollout under way, then a
  restart. Kubernetes' promise: no request lost (the data plane, a process of its own, keeps
  routing to the pods, which keep running; the restart adopts both).
- `data-plane-kill`: `kill -9` of the data plane process (kube-proxy crashing). The control plane
  starts it again on the same ports with the last routing table: failed requests are those sent
  in the gap.
- `bad-image`: a deploy commit naming an image tag that was never built. The new pod cannot pull
  it; the old pod keeps serving; the guard rolls back with one commit.
- `crashloop`: a deploy commit whose container exits at start-up. CrashLoopBackOff; the old pod
  keeps serving; one rollback commit.
- `broken-manifest`: a deploy commit that does not render (malformed YAML). The pre-receive gate
  refuses the push with the render error; nothing is deployed.
- `control-plane-kill-after-rollback`: `kill -9` of `gitops up` the moment the guard's rollback
  commit lands, then a restart: still exactly one rollback commit, the app back on known-good.
- `control-plane-kill-mid-ci`: `kill -9` while CI tests a push to the apps repo, then a
  restart: the interrupted run is run again and the commit reaches dev (no commit lost).

Requests go through frontend-prod's Service for the kills (at rest) and through frontend-dev's
for the bad releases (the app they change).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from console.drill.load import BackgroundLoad, LoadGenerator, LoadStats  # noqa: E402
from console.platforminfo import PlatformInfo, PlatformInfoError  # noqa: E402
from console.procs import alive  # noqa: E402

AT_REST = "frontend-prod"
CHANGED = "frontend-dev"
OVERLAY = Path("overlays/dev/frontend/kustomization.yaml")


def wait(condition: Callable[[], bool], what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.1)


def start(workspace: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "console.cli", "up", "--workspace", str(workspace),
         "--config", str(ROOT / "repos.yaml")],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip


def platform_of(workspace: Path, pid: int) -> PlatformInfo | None:
    """The platform.json the `gitops up` with `pid` wrote, once it did."""
    try:
        info = PlatformInfo.read(workspace)
    except PlatformInfoError:
        return None
    return info if info.pid == pid else None


def pod_pids(workspace: Path) -> set[int]:
    found = set()
    for record in workspace.glob("runtime/pods/*/*/pod.json"):
        pid = json.loads(record.read_text()).get("pid")
        if isinstance(pid, int):
            found.add(pid)
    return found


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise GitFailed(done.stderr.strip())
    return done.stdout.strip()


class GitFailed(Exception):
    pass


class Platform:
    """`gitops up` on one workspace, restarted when a fault kills it."""

    def __init__(self, workspace: Path) -> None:
        self.workspace = workspace
        self.up = start(workspace)
        self.doc = self._ready(self.up, 600)
        self.clone = workspace.parent / "deploy-clone"
        git(
            workspace.parent,
            "clone",
            "--quiet",
            self.doc.remotes["deploy"],
            str(self.clone),
        )
        self.token = self.doc.token()

    def _ready(self, up: subprocess.Popen[bytes], timeout: float) -> PlatformInfo:
        wait(lambda: platform_of(self.workspace, up.pid) is not None, "the platform", timeout)
        doc = platform_of(self.workspace, up.pid)
        assert doc is not None
        return doc

    def restart(self) -> None:
        self.up = start(self.workspace)
        self.doc = self._ready(self.up, 300)

    def stop(self) -> None:
        self.up.send_signal(signal.SIGTERM)
        self.up.wait(timeout=120)

    def url(self, service: str) -> str:
        return f"{self.doc.services[service]}/version"

    def app(self, name: str) -> dict[str, Any]:
        answer = httpx.get(
            f"{self.doc.argocd_url}/api/v1/applications/{name}",
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=10,
        )
        answer.raise_for_status()
        app: dict[str, Any] = answer.json()
        return app

    def settled(self, name: str, revision: str) -> bool:
        status = self.app(name)["status"]
        return bool(
            status["sync"]["status"] == "Synced"
            and status["sync"].get("revision") == revision
            and status["health"]["status"] == "Healthy"
        )

    def head(self) -> str:
        git(self.clone, "fetch", "--quiet", "origin")
        return git(self.clone, "rev-parse", "origin/main")

    def push_overlay(self, edit: Callable[[str], str], message: str) -> str:
        """Commit `edit` of frontend-dev's overlay on the remote's main and push it."""
        git(self.clone, "fetch", "--quiet", "origin")
        git(self.clone, "reset", "--quiet", "--hard", "origin/main")
        path = self.clone / OVERLAY
        path.write_text(edit(path.read_text()))
        git(self.clone, "commit", "--quiet", "--all", "--message", message)
        git(self.clone, "push", "--quiet", "origin", "HEAD:main")
        return git(self.clone, "rev-parse", "HEAD")

    def rollbacks_since(self, commit: str) -> list[str]:
        """Subjects of the guard's rollback commits after `commit`."""
        git(self.clone, "fetch", "--quiet", "origin")
        log = git(self.clone, "log", "--format=%s", f"{commit}..origin/main")
        return [line for line in log.splitlines() if line.startswith(f"revert({CHANGED})")]


def under_load(url: str, rate: float) -> BackgroundLoad:
    load = BackgroundLoad(LoadGenerator(url, rate=rate))
    load.start()
    wait(lambda: load.answered, f"the first answer from {url}", 30)
    return load


def finish(load: BackgroundLoad) -> LoadStats:
    load.stop()
    return asyncio.run(load.wait())


def control_plane_kill_at_rest(platform: Platform, rate: float) -> dict[str, Any]:
    load = under_load(platform.url(AT_REST), rate)
    before = {pid for pid in pod_pids(platform.workspace) if alive(pid)}
    killed_at = time.monotonic()
    platform.up.send_signal(signal.SIGKILL)
    platform.up.wait()
    platform.restart()
    recover_s = time.monotonic() - killed_at
    time.sleep(3.0)  # three more seconds of load on the restarted platform
    stats = finish(load)
    after = {pid for pid in pod_pids(platform.workspace) if alive(pid)}
    return {
        "failed": stats.failed,
        "total": stats.total,
        "detect_s": 0.0,
        "recover_s": round(recover_s, 1),
        "pods_adopted": f"{len(before & after)}/{len(before)}",
    }


def data_plane_kill(platform: Platform, rate: float) -> dict[str, Any]:
    record = json.loads((platform.workspace / "dataplane" / "dataplane.json").read_text())
    load = under_load(platform.url(AT_REST), rate)
    pid = int(record["pid"])
    killed_at = time.monotonic()
    os.kill(pid, signal.SIGKILL)

    def answers() -> bool:
        try:
            return httpx.get(platform.url(AT_REST), timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    wait(answers, "the Service answering again", 60)
    recover_s = time.monotonic() - killed_at
    time.sleep(3.0)
    stats = finish(load)
    again = json.loads((platform.workspace / "dataplane" / "dataplane.json").read_text())
    return {
        "failed": stats.failed,
        "total": stats.total,
        "detect_s": 0.0,
        "recover_s": round(recover_s, 1),
        "restarted": again["pid"] != pid,
    }


def bad_release(
    platform: Platform,
    rate: float,
    edit: Callable[[str], str],
    what: str,
    *,
    kill_after_rollback: bool = False,
) -> dict[str, Any]:
    """Push `edit` to frontend-dev under load; the guard must roll it back with one commit.
    `kill_after_rollback`: `kill -9` of `gitops up` the moment the rollback commit is on the
    remote, then a restart; the guard (a pod, adopted) must still roll back only once."""
    good = platform.head()
    load = under_load(platform.url(CHANGED), rate)
    pushed_at = time.monotonic()
    bad = platform.push_overlay(edit, f"chore(dev): {what}")
    wait(lambda: bool(platform.rollbacks_since(bad)), "the rollback commit", 180)
    detect_s = time.monotonic() - pushed_at
    if kill_after_rollback:
        platform.up.send_signal(signal.SIGKILL)
        platform.up.wait()
    rollback = platform.head()
    if kill_after_rollback:
        platform.restart()
    wait(lambda: platform.settled(CHANGED, rollback), "frontend-dev Healthy again", 180)
    recover_s = time.monotonic() - pushed_at - detect_s
    time.sleep(5.0)  # five more seconds: the guard must not roll back twice
    stats = finish(load)
    return {
        "failed": stats.failed,
        "total": stats.total,
        "detect_s": round(detect_s, 1),
        "recover_s": round(recover_s, 1),
        "rollback_commits": len(platform.rollbacks_since(bad)),
        "from": good[:7],
    }


def bad_image(text: str) -> str:
    start = text.index("newTag: ")
    end = text.index("\n", start)
    return text[:start] + 'newTag: "never-built-0000000"' + text[end:]


def crashloop(text: str) -> str:
    marker = "              - name: frontend\n"
    assert marker in text, "the dev overlay patches the frontend container"
    exits = '                command: ["python", "-c", "raise SystemExit(3)"]\n'
    return text.replace(marker, marker + exits, 1)


def control_plane_kill_mid_ci(platform: Platform, rate: float) -> dict[str, Any]:
    """A push to the apps repo; `gitops up` is killed with SIGKILL while CI tests it, then
    started again. The commit must still reach dev (its run is interrupted, then run again):
    no commit lost."""
    load = under_load(platform.url(AT_REST), rate)
    apps = platform.workspace.parent / "apps-clone"
    if not apps.exists():
        git(platform.workspace.parent, "clone", "--quiet", platform.doc.remotes["apps"],
            str(apps))  # fmt: skip
    git(apps, "pull", "--quiet", "--ff-only", "origin", "main")
    readme = apps / "README.md"
    readme.write_text(readme.read_text() + f"\n<!-- fault drill {time.time():.0f} -->\n")
    git(apps, "commit", "--quiet", "--all", "--message", "docs: a line for the fault drill")
    git(apps, "push", "--quiet", "origin", "HEAD:main")
    sha = git(apps, "rev-parse", "HEAD")
    runs = f"{platform.doc.argocd_url}/api/ci/runs"

    def testing() -> bool:
        answer = httpx.get(
            runs,
            params={"commit": sha},
            headers={"Authorization": f"Bearer {platform.token}"},
            timeout=10,
        )
        return any(r["result"] == "running" for r in answer.json()["items"])

    wait(testing, "CI testing the commit", 60)
    killed_at = time.monotonic()
    platform.up.send_signal(signal.SIGKILL)
    platform.up.wait()
    platform.restart()

    def promoted() -> bool:
        git(platform.clone, "fetch", "--quiet", "origin")
        text = git(platform.clone, "show", f"origin/main:{OVERLAY}")
        return sha in text

    wait(promoted, "the commit promoted into dev after the restart", 300)
    recover_s = time.monotonic() - killed_at
    stats = finish(load)
    return {
        "failed": stats.failed,
        "total": stats.total,
        "detect_s": 0.0,
        "recover_s": round(recover_s, 1),
        "lost_commits": 0 if promoted() else 1,
    }


def broken_manifest(platform: Platform, rate: float) -> dict[str, Any]:
    load = under_load(platform.url(CHANGED), rate)
    before = platform.head()
    try:
        platform.push_overlay(lambda text: text + "images: [unclosed\n", "chore(dev): broken")
        refused = ""
    except GitFailed as exc:
        refused = str(exc)
    time.sleep(3.0)
    stats = finish(load)
    return {
        "failed": stats.failed,
        "total": stats.total,
        "detect_s": 0.0,
        "recover_s": 0.0,
        "refused": bool(refused),
        # The gate's first line, as the pusher sees it (`remote: rejected: ...`).
        "said": json.dumps(
            next((ln.strip() for ln in refused.splitlines() if "rejected:" in ln), "")
        ),
        "deploy_head_moved": platform.head() != before,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workspace", type=Path)
    parser.add_argument("--rate", type=float, default=25.0)
    parser.add_argument("--only", nargs="*", default=None, help="fault names to run")
    args = parser.parse_args()
    faults: dict[str, Callable[[Platform, float], dict[str, Any]]] = {
        "control-plane-kill-at-rest": control_plane_kill_at_rest,
        "data-plane-kill": data_plane_kill,
        "broken-manifest": broken_manifest,
        "bad-image": lambda p, r: bad_release(p, r, bad_image, "an image never built"),
        "crashloop": lambda p, r: bad_release(p, r, crashloop, "a container that exits"),
        "control-plane-kill-after-rollback": lambda p, r: bad_release(
            p, r, bad_image, "an image never built", kill_after_rollback=True
        ),
        "control-plane-kill-mid-ci": control_plane_kill_mid_ci,
    }
    chosen = {name: run for name, run in faults.items() if not args.only or name in args.only}
    tmp = tempfile.TemporaryDirectory(prefix="bench-faults-")
    workspace = args.workspace or Path(tmp.name) / "ws"
    results: dict[str, dict[str, Any]] = {}
    platform = Platform(workspace)
    try:
        for name, run in chosen.items():
            results[name] = run(platform, args.rate)
            print(
                f"fault={name} " + " ".join(f"{k}={v}" for k, v in results[name].items()),
                flush=True,
            )
    finally:
        platform.stop()
        tmp.cleanup()
    summary = " ".join(
        f"{name.replace('-', '_')}_{key}={value}"
        for name, result in results.items()
        for key, value in result.items()
        if key in ("failed", "detect_s", "recover_s", "rollback_commits", "lost_commits")
    )
    print(summary)


if __name__ == "__main__":
    main()
