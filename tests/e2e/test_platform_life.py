"""The platform's life as an operator lives it, on one workspace, with real processes, real git,
real pods and real HTTP; nothing is mocked and every wait has its deadline.

The steps run in order on the same workspace, because a cold bootstrap costs a minute and each
step starts from where the one before left the platform (a failed step makes the rest xfail):

1. `gitops up` on a fresh workspace deploys everything (every Application Synced and Healthy,
   the guard's among them: the platform delivers its own guard as a pod) and serves it; a second
   `up` is refused; SIGTERM leaves no pod behind.
2. A resume keeps the Service ports and deploys nothing again.
3. The guard (on by default): two bad changes reach dev, each is rolled back by one commit in the
   deploy repo, and the app is Healthy and Synced again on the known-good revision. Its pod
   killed, the platform restarts it, and it rolls nothing back a second time.
4. The operator console on the workspace shows the deployed versions and both rollbacks.
5. `kill -9` in the middle of a rollout, then a restart that adopts the pods still running (as
   a restarted kubelet finds its containers) and finishes the rollout without deploying anything
   twice or running any pod twice.
6. `gitops demo --headless --json` (it starts the platform itself, warm): the drill's bad change is
   rolled back with nothing lost, a post-mortem is written, the platform is stopped.
7. Ctrl-C in the middle of a second drill: the drill stops its load and the platform, exits 130,
   leaves no process behind, and the workspace resumes under `gitops up`.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from textual.widgets import DataTable
from textual.widgets.data_table import CellDoesNotExist

from console.drill.load import BackgroundLoad, LoadGenerator
from console.fleet.history import log, rollbacks
from console.guard.events import read_events
from console.procs import alive
from console.promote.promote import PromoteRequest, promote
from console.tui.app import ConsoleApp
from console.tui.targets import workspace as workspace_target
from console.tui.widgets.matrix import FleetMatrix
from console.tui.widgets.rollbacks import RollbacksScreen
from tests.e2e.platform import (
    GUARD_APP,
    PODS,
    SERVICE_APPS,
    Up,
    application,
    apps,
    clone_fresh,
    histories,
    kill,
    pod_pids,
    processes_using,
    push_overlay_edit,
    read_platform,
    read_until,
    ready_file,
    start,
    start_demo,
    stop,
    wait_for,
)
from tests.tui.fakes import until

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.incremental,
    # One worker runs the whole story, in order, and no other platform test beside it.
    pytest.mark.xdist_group("platform"),
    pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads /proc to find processes"),
]

APP = "frontend-dev"
History = dict[str, list[tuple[int, str, str]]]


@dataclass
class Life:
    """What one step leaves for the next."""

    base: Path
    up: Up | None = None
    first: dict[str, Any] = field(default_factory=dict)  # platform.json of the first run
    before: History = field(default_factory=dict)  # histories after the first run
    token: str = ""
    good_tag: str = ""
    rollback_shas: set[str] = field(default_factory=set)

    @property
    def workspace(self) -> Path:
        return self.base / "ws"

    @property
    def platform(self) -> dict[str, Any]:
        return read_platform(self.workspace)

    @property
    def remote(self) -> str:
        return str(self.first["remotes"]["deploy"])

    def running(self) -> Up:
        assert self.up is not None, "a platform was started"
        assert self.up.poll() is None, "the platform runs"
        return self.up


@pytest.fixture(scope="module")
def life(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Life]:
    state = Life(tmp_path_factory.mktemp("life"))
    try:
        yield state
    finally:
        if state.up is not None and state.up.poll() is None:
            stop(state.up)


# ---- 1. a fresh workspace ----------------------------------------------------------------------


def test_a_fresh_workspace_is_deployed_served_refused_twice_and_stopped(life: Life) -> None:
    workspace = life.workspace
    ready = workspace / "platform.json"
    started = time.monotonic()
    up = start(workspace)
    pids: list[int] = []
    try:
        wait_for(ready_file(workspace, up), "platform.json", up, timeout=300)
        platform = read_platform(workspace)
        token_file = Path(platform["token_file"])
        assert token_file.stat().st_mode & 0o777 == 0o600, "the token is owner-only"
        token = token_file.read_text().strip()
        ready_after = time.monotonic() - started
        state = apps(platform, token)
        assert set(state) >= {*SERVICE_APPS, GUARD_APP}
        assert state == dict.fromkeys(state, ("Synced", "Healthy")), "every Application"
        guard_pods = pod_pids(workspace, "gitops-system/*")
        assert len(guard_pods) == 1, "the guard runs as its Deployment's one pod"
        assert httpx.get(f"{platform['guard_url']}/readyz", timeout=10).status_code == 200
        print(f"fresh workspace: every Application Synced and Healthy after {ready_after:.0f}s")
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
        assert second.wait(timeout=60) == 2
        assert "is in use by `gitops up`" in second.err()
    finally:
        if up.poll() is None:
            pids = pod_pids(workspace)
            stop(up)
    assert len(pids) == PODS, pids
    assert not [pid for pid in pids if alive(pid)], "SIGTERM leaves no pod behind"
    assert not ready.exists()
    life.first, life.before, life.token = platform, before, token


# ---- 2. resume ---------------------------------------------------------------------------------


def test_a_resume_keeps_the_ports_and_deploys_nothing_again(life: Life) -> None:
    life.up = up = start(life.workspace)
    wait_for(ready_file(life.workspace, up), "platform.json after resume", up, timeout=180)
    platform = life.platform
    state = apps(platform, life.token)
    assert all(state[name] == ("Synced", "Healthy") for name in SERVICE_APPS)
    assert platform["services"] == life.first["services"], "Services keep their ports"
    assert histories(platform, life.token) == life.before, "a resume deploys nothing again"
    assert "resuming the workspace" in up.err()
    # The restarted guard's first look is the whole fleet: the API server answers only once it
    # has every restored Application (Argo CD's waits for its cache), never a partial list that
    # a client would take for deletions.
    events_file = Path(platform["guard_events"])
    wait_for(lambda: len(watching(events_file)) == 2, "the restarted guard's first look", up, 60)
    assert watching(events_file) == [len(state)] * 2


def watching(events_file: Path) -> list[int]:
    """How many applications each start of the guard saw in its first snapshot."""
    return [int(e.message.split()[1]) for e in read_events(events_file) if e.type == "Watching"]


# ---- 3. the guard ------------------------------------------------------------------------------


def rolled_back(remote: str, bad: str) -> Callable[[], bool]:
    def found() -> bool:
        return any(rb.of == bad and rb.app == APP for rb in rollbacks(log(Path(remote), "main")))

    return found


def recovered_on(platform: dict[str, Any], token: str, remote: str, bad: str) -> Callable[[], bool]:
    """frontend-dev Synced and Healthy on the rollback commit of `bad`."""

    def check() -> bool:
        commits = [rb.sha for rb in rollbacks(log(Path(remote), "main")) if rb.of == bad]
        status = application(platform, token, APP)["status"]
        return bool(
            commits
            and status["sync"]["status"] == "Synced"
            and status["health"]["status"] == "Healthy"
            and status.get("operationState", {}).get("syncResult", {}).get("revision") == commits[0]
        )

    return check


def break_readiness(text: str) -> str:
    """Pods that never become ready: the readiness probe asks a path the service does not serve."""
    marker = "            containers:\n              - name: frontend\n"
    assert marker in text
    return text.replace(
        marker,
        marker + "                readinessProbe:\n"
        "                  httpGet:\n"
        "                    path: /no-such-path\n",
    )


def test_bad_promotions_are_rolled_back_by_one_commit_each(life: Life) -> None:
    """Two bad revisions, one rollback commit each. The first one's rollback commit is followed
    at once by `kill -9` of `gitops up` and a restart: the guard (a pod, adopted) rolls back
    nothing twice, the app comes back on the rollback, and not one request through the app's
    Service fails from the bad push to the recovery."""
    up = life.running()
    platform, token, remote = life.platform, life.token, life.remote
    good_images = application(platform, token, APP)["status"]["summary"]["images"]
    events_file = Path(platform["guard_events"])

    def told(kind: str) -> int:
        return sum(1 for e in read_events(events_file) if (e.type, e.app) == (kind, APP))

    load = BackgroundLoad(LoadGenerator(f"{platform['services'][APP]}/version", rate=20))
    load.start()
    wait_for(lambda: load.answered, "an answer from frontend-dev", up, timeout=30)

    # 1. A tag that was never built: an image pull failure.
    never_built = "f" * 40
    bad = promote(remote, PromoteRequest("frontend", "dev", tag=never_built), push=True).sha
    assert bad is not None
    wait_for(rolled_back(remote, bad), "the rollback of the unbuilt tag", up, timeout=120)
    kill(up)
    life.up = up = start(life.workspace)
    wait_for(ready_file(life.workspace, up), "platform.json after kill -9", up, timeout=180)
    platform = life.platform
    wait_for(recovered_on(platform, token, remote, bad), "recovery", up, timeout=120)
    assert application(platform, token, APP)["status"]["summary"]["images"] == good_images
    # The guard (adopted, its watch cut by the restart) must see the recovery before the next
    # change moves the app on: it tells Recovered only for what it saw Healthy and Synced.
    wait_for(lambda: told("Recovered") == 1, "the first Recovered event", up, timeout=60)
    load.stop()
    served = asyncio.run(load.wait())
    assert served.total > 20, served
    assert served.failed == 0, served
    refused = subprocess.run(
        [
            sys.executable,
            "-m",
            "console.cli",
            "promote",
            "--deploy-repo",
            remote,
            "--env",
            "dev",
            "--service",
            "frontend",
            "--tag",
            never_built,
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert refused.returncode != 0, "a rolled-back tag is refused unless forced"

    # 2. Pods that never pass readiness.
    clone = clone_fresh(remote, life.base / "deploy")
    bad = push_overlay_edit(clone, break_readiness, "fix(dev): probe frontend readiness")
    wait_for(rolled_back(remote, bad), "the rollback of broken readiness", up, timeout=120)
    wait_for(recovered_on(platform, token, remote, bad), "recovery", up, timeout=120)

    # One rollback commit for each bad revision, and the guard says what it did.
    found = [rb for rb in rollbacks(log(Path(remote), "main")) if rb.app == APP]
    assert len(found) == 2, found
    wait_for(lambda: told("Recovered") == 2, "two Recovered events", up, timeout=60)
    assert told("Rollback") == 2
    metrics = httpx.get(f"{platform['guard_url']}/metrics", timeout=10).text
    assert 'gitops_guard_rollbacks_total{app="frontend-dev"' in metrics
    life.good_tag = good_images[0].rsplit(":", 1)[1]
    life.rollback_shas = {rb.sha for rb in found}


def test_a_killed_guard_pod_is_restarted_and_rolls_nothing_back_twice(life: Life) -> None:
    """kill -9 of the guard's process: its pod's container is restarted (CrashLoopBackOff's
    first back-off), it rebuilds its view from Argo CD and Git, and neither commits a second
    rollback nor tells one twice."""
    up = life.running()
    platform, remote = life.platform, life.remote
    [pid] = [p for p in pod_pids(life.workspace, "gitops-system/*") if alive(p)]
    events_file = Path(platform["guard_events"])
    before = [(e.type, e.app, e.message) for e in read_events(events_file)]
    rollback_commits = [rb.sha for rb in rollbacks(log(Path(remote), "main"))]
    os.kill(pid, signal.SIGKILL)

    def restarted() -> bool:
        pids = [p for p in pod_pids(life.workspace, "gitops-system/*") if alive(p)]
        if pids in ([], [pid]):
            return False
        try:
            ready = httpx.get(f"{platform['guard_url']}/readyz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False
        return ready and apps(platform, life.token)[GUARD_APP] == ("Synced", "Healthy")

    wait_for(restarted, "the guard's pod running and ready again", up, timeout=90)
    told = [e for e in read_events(events_file)]
    assert [(e.type, e.app, e.message) for e in told[: len(before)]] == before
    again = [e.type for e in told[len(before) :]]
    assert again.count("Watching") == 1, again
    assert "Rollback" not in again, "no rollback told twice, none rebuilt from Git"
    assert [rb.sha for rb in rollbacks(log(Path(remote), "main"))] == rollback_commits
    assert apps(platform, life.token)[APP] == ("Synced", "Healthy")


# ---- 4. the console ----------------------------------------------------------------------------


def test_the_console_shows_the_deployed_versions_and_both_rollbacks(life: Life) -> None:
    life.running()
    asyncio.run(console_shows(life.workspace, life.good_tag, life.rollback_shas))


async def console_shows(workspace: Path, good_tag: str, rollback_shas: set[str]) -> None:
    """The console on the workspace: frontend@dev Healthy, Git, image and live all at the
    known-good tag; the rollbacks screen lists both rollback commits, by the guard."""
    app = ConsoleApp([workspace_target(workspace)])
    async with app.run_test(size=(160, 48)) as pilot:
        matrix = app.screen.query_one("#matrix", FleetMatrix)

        def frontend_dev() -> str:
            try:
                return matrix.get_cell("frontend", "dev").plain
            except CellDoesNotExist:  # the row or column is not there yet
                return ""

        await until(pilot, lambda: f"live {good_tag[:7]}" in frontend_dev(), timeout=30)
        cell = frontend_dev()
        assert cell.startswith("✓ Healthy ✓ Synced"), cell
        assert f"git {good_tag[:7]}" in cell, cell
        assert "drift" not in cell, cell

        await pilot.press("b")
        assert isinstance(app.screen, RollbacksScreen)
        table = app.screen.query_one("#rollbacks", DataTable)

        def listed() -> set[str]:
            return {str(key.value) for key in table.rows}

        await until(pilot, lambda: listed() >= rollback_shas, timeout=30)
        rows = [[str(cell) for cell in table.get_row(sha)] for sha in rollback_shas]
        assert all("frontend-dev" in row[1] and "guard" in row for row in rows), rows


# ---- 5. kill -9 mid-rollout --------------------------------------------------------------------


def slow_rollout(text: str) -> str:
    """New frontend-dev pods (an env change) that take minReadySeconds 5, inside dev's 12 s
    deadline, so the platform can be killed in the middle of the rollout."""
    assert "minReadySeconds: 2" in text
    assert "value: dev\n" in text
    return text.replace("minReadySeconds: 2", "minReadySeconds: 5").replace(
        "value: dev\n",
        'value: dev\n                  - name: ROLLOUT_MARK\n                    value: "slow"\n',
    )


def test_kill_9_mid_rollout_then_a_restart_finishes_it_once(life: Life) -> None:
    """The data plane outlives the control plane: requests through a Service at rest and through
    the one rolling out all succeed from before the kill until the restart finished the rollout
    (the proxies run in a process of their own, the old ready pods keep serving, the restart
    adopts both)."""
    up = life.running()
    platform, token = life.platform, life.token
    before = histories(platform, token)
    clone = clone_fresh(life.remote, life.base / "deploy")
    commit = push_overlay_edit(clone, slow_rollout, "chore(dev): roll frontend slowly")

    def rolling() -> bool:
        status = application(platform, token, APP)["status"]
        return bool(
            status["sync"]["revision"] == commit and status["health"]["status"] == "Progressing"
        )

    wait_for(rolling, "frontend-dev rolling out the new commit", up, timeout=120)
    at_rest = set(
        pod_pids(life.workspace, "prod/*")
        + pod_pids(life.workspace, "dev/backend-*")
        + pod_pids(life.workspace, "gitops-system/*")
    )
    assert len(at_rest) == 6
    loads = {
        name: BackgroundLoad(LoadGenerator(f"{platform['services'][name]}/version", rate=20))
        for name in ("frontend-prod", APP)
    }
    for load in loads.values():
        load.start()
    wait_for(lambda: all(load.answered for load in loads.values()), "answers", up, timeout=30)
    kill(up)
    life.up = None
    assert all(alive(pid) for pid in at_rest), "kill -9 leaves the pods running"

    life.up = again = start(life.workspace)
    wait_for(ready_file(life.workspace, again), "platform.json after kill -9", again, timeout=180)
    platform = life.platform
    for load in loads.values():
        load.stop()
    served = {name: asyncio.run(load.wait()) for name, load in loads.items()}
    assert all(s.total > 20 and s.failed == 0 for s in served.values()), served
    running_again = {pid for pid in pod_pids(life.workspace) if alive(pid)}
    assert at_rest <= running_again, "the pods at rest were adopted: the same processes serve"
    assert "adopted" in again.err()
    state = apps(platform, token)
    assert all(state[name] == ("Synced", "Healthy") for name in [*SERVICE_APPS, GUARD_APP]), state
    assert not [rb for rb in rollbacks(log(Path(life.remote), "main")) if rb.of == commit], (
        "the guard, adopted and still running, did not roll back a rollout the restart paused"
    )
    after = histories(platform, token)
    assert {k: v for k, v in after.items() if k != APP} == {
        k: v for k, v in before.items() if k != APP
    }, "the other apps were not deployed again"
    frontend = after[APP]
    assert frontend[:-1] == before[APP], "history survives kill -9"
    assert [h[1] for h in frontend].count(commit) == 1, "the new commit deployed once"
    assert frontend[-1][0] == before[APP][-1][0] + 1
    running = [pid for pid in pod_pids(life.workspace) if alive(pid)]
    assert len(running) == PODS, "nothing runs twice"
    assert at_rest <= set(running), "and none of the adopted pods was replaced"
    life.up = None
    assert "restored" in stop(again)


# ---- 6. the drill ------------------------------------------------------------------------------


@pytest.mark.timeout(900)
def test_the_drill_recovers_the_known_good_version_with_nothing_lost(life: Life) -> None:
    workspace = life.workspace
    remote = workspace / "remotes" / "platform-deploy.git"
    earlier = {rb.sha for rb in rollbacks(log(remote, "main"))}
    proc = start_demo(workspace, life.base / "state", "--json")
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

    # Exactly one rollback commit during the drill, and it is the one the drill reports.
    found = [rb for rb in rollbacks(log(remote, "main")) if rb.sha not in earlier]
    assert [rb.sha for rb in found] == [doc["rollback_commit"]]
    assert found[0].app == APP

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


# ---- 7. Ctrl-C ---------------------------------------------------------------------------------


def test_ctrl_c_mid_drill_stops_everything_and_the_workspace_resumes(life: Life) -> None:
    """A drill interrupted once its bad change is pushed (CI at work, the load running) by a
    SIGINT to its process group, as a terminal's Ctrl-C sends it."""
    workspace = life.workspace
    proc = start_demo(workspace, life.base / "state")
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

    life.up = up = start(workspace)
    wait_for(ready_file(workspace, up), "platform.json", up, timeout=300)
    life.up = None
    stop(up)
    assert processes_using(workspace) == []
