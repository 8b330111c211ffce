"""The guard's driver against the embedded platform's Argo CD-compatible API (real HTTP on
127.0.0.1, served over an in-memory read model the test publishes into, as the controller
would) and a real deploy repository behind the real gate. The faults of issue 5 that concern the
driver: Argo CD down (no decision on stale data), the deploy remote unreachable (retries with
backoff and an event), health flapping (one rollback at most)."""

from __future__ import annotations

import asyncio
import contextlib
import re
import shutil
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from console.cli import main
from console.contract import (
    ANALYSIS_MIN_REQUESTS,
    ANALYSIS_SECONDS,
    DEADLINE,
    ENABLED,
    GRACE,
    MAX_ERROR_RATIO,
)
from console.fleet.argocd import ArgoCDSource
from console.fleet.history import log, rollbacks
from console.guard import events as ev
from console.guard.analysis import Sample
from console.guard.analyzer import SampleProvider
from console.guard.controller import Guard
from console.guard.events import EventLog, read_events
from console.guard.rollback import RollbackWriter
from console.local.argo.api import create_api
from console.local.argo.appstate import ApplicationRecord, from_json, to_json
from console.local.argo.inmemory import InMemorySource
from console.local.argo.kubeconfig import new_token
from console.local.argo.requests import RefreshRequest
from console.serving import bind_socket, serve, socket_url
from tests.guard.conftest import BACKEND, Deploy

APP = "backend-dev"
REPO_URL = "https://github.com/acme/platform-deploy.git"
WAIT_S = 60.0
INF = float("inf")


def application(
    revision: str,
    health: str,
    history: list[str],
    *,
    grace: str = "0",
    phase: str = "Succeeded",
    annotations: dict[str, str] | None = None,
    started: str = "2026-11-26T08:00:00Z",
) -> ApplicationRecord:
    source = {"repoURL": REPO_URL, "path": BACKEND, "targetRevision": "main"}
    return from_json(
        {
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "Application",
            "metadata": {
                "name": APP,
                "namespace": "argocd",
                "annotations": {
                    ENABLED: "true",
                    GRACE: grace,
                    DEADLINE: "600",
                    **(annotations or {}),
                },
            },
            "spec": {
                "project": "default",
                "source": source,
                "destination": {"server": "https://kubernetes.default.svc", "namespace": "dev"},
            },
            "status": {
                "sync": {"status": "Synced", "revision": revision},
                "health": {"status": health},
                "history": [
                    {"id": i, "revision": r, "deployedAt": "2026-11-26T08:00:00Z", "source": source}
                    for i, r in enumerate(history)
                ],
                "operationState": {
                    "operation": {"sync": {"revision": revision}},
                    "phase": phase,
                    "startedAt": started,
                    "syncResult": {"revision": revision},
                },
            },
        }
    )


@dataclass
class Rig:
    deploy: Deploy
    store: InMemorySource
    guard: Guard
    events: EventLog
    restart_api: Callable[[], Any]
    stop_api: Callable[[], Any]

    def rollbacks(self, bad: str) -> list[str]:
        return [rb.sha for rb in rollbacks(log(self.deploy.bare, "main")) if rb.of == bad]

    def types(self) -> list[str]:
        return [e.type for e in self.events.recent() if e.app in (APP, "")]

    async def until(self, condition: Callable[[], bool], what: str) -> None:
        """Wait, turn by turn of the guard's loop, until `condition` holds (or fail)."""
        deadline = asyncio.get_running_loop().time() + WAIT_S
        while not condition():
            self.guard.changed.clear()
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                raise AssertionError(f"timed out waiting for {what}; events: {self.types()}")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.guard.changed.wait(), min(remaining, 1.0))


@contextlib.asynccontextmanager
async def rig(
    deploy: Deploy,
    first: ApplicationRecord,
    *,
    remote: str | None = None,
    clock: Callable[[], float] | None = None,
    events_path: Path | None = None,
    samples: SampleProvider | None = None,
) -> AsyncIterator[Rig]:
    store = InMemorySource([first])
    token = new_token()
    api = create_api(store, token, "v3.1.0+test", keepalive_seconds=0.2)
    sock = bind_socket("127.0.0.1", 0)
    url, port = socket_url(sock), sock.getsockname()[1]
    running: dict[str, Any] = {}

    def start_api(sock_: Any) -> None:
        running["stop"] = asyncio.Event()
        running["task"] = asyncio.create_task(
            serve(api, shutdown_event=running["stop"], sock=sock_)
        )

    async def stop_api() -> None:
        running["stop"].set()
        await running["task"]

    def restart_api() -> None:
        start_api(bind_socket("127.0.0.1", port))

    start_api(sock)
    source = ArgoCDSource(url, token, name="embedded")
    events = EventLog(events_path)
    writer = RollbackWriter(remote or deploy.url, deploy.tmp / "guard")
    extra = {"clock": clock} if clock else {}
    guard = Guard(
        source,
        writer,
        events=events,
        retry_base_s=0.05,
        retry_cap_s=0.2,
        providers={"pods": samples} if samples is not None else None,
        **extra,  # type: ignore[arg-type]
    )
    stop = asyncio.Event()
    task = asyncio.create_task(guard.run(stop))
    r = Rig(deploy, store, guard, events, restart_api, stop_api)
    try:
        yield r
    finally:
        stop.set()
        await task
        await source.aclose()
        if not running["stop"].is_set():
            await stop_api()


@pytest.mark.slow
def test_a_degraded_app_is_rolled_back_once_and_argo_cd_asked_to_refresh(deploy: Deploy) -> None:
    async def scenario() -> None:
        bad = application(deploy.bad, "Degraded", [deploy.good, deploy.bad])
        async with rig(deploy, bad) as r:
            await r.until(lambda: len(r.rollbacks(deploy.bad)) == 1, "the rollback commit")
            await r.until(lambda: ev.ROLLBACK in r.types(), "the Rollback event")
            requests = r.store.take_requests()
            assert any(isinstance(q, RefreshRequest) and q.app == APP for q in requests), requests
            # The record still says Degraded on the bad revision (nothing synced here): the
            # guard must not act again.
            r.store.put(application(deploy.bad, "Progressing", [deploy.good, deploy.bad]))
            r.store.put(application(deploy.bad, "Degraded", [deploy.good, deploy.bad]))
            await r.until(lambda: r.guard.watch_of(APP) is not None, "the guard's watch")
        assert len(r.rollbacks(deploy.bad)) == 1
        rollback = next(rb for rb in rollbacks(log(deploy.bare, "main")) if rb.of == deploy.bad)
        assert (rollback.app, rollback.to) == (APP, deploy.good)
        assert rollback.reason.startswith("Degraded for 0s")
        assert r.guard.metrics.rollbacks.labels(app=APP, reason="degraded")._value.get() == 1

    asyncio.run(scenario())


@pytest.mark.slow
def test_flapping_health_rolls_back_at_most_once(deploy: Deploy) -> None:
    async def scenario() -> None:
        history = [deploy.good, deploy.bad]
        async with rig(deploy, application(deploy.bad, "Progressing", history)) as r:

            async def flap(health: str) -> None:
                """Publish `health` and wait until the guard has seen it (the stream coalesces
                changes it has not sent yet, so each flap is waited for)."""
                r.store.put(application(deploy.bad, health, history))

                def seen() -> bool:
                    app = r.guard.app_of(APP)
                    return app is not None and app.health.value == health

                await r.until(seen, f"the guard seeing {health}")

            await flap("Degraded")
            await r.until(lambda: ev.ROLLBACK in r.types(), "the rollback")
            for _ in range(5):
                await flap("Progressing")
                await flap("Degraded")
        assert len(r.rollbacks(deploy.bad)) == 1
        assert r.types().count(ev.ROLLBACK) == 1


@pytest.mark.slow
def test_argo_cd_down_means_no_decision_on_stale_data(deploy: Deploy) -> None:
    """Degraded is seen, then Argo CD goes away and the grace period passes: the guard must not
    act on what it saw last. When Argo CD answers again the app has recovered: no rollback."""
    now = [1_800_000_000.0]

    async def scenario() -> None:
        history = [deploy.good, deploy.bad]
        first = application(deploy.bad, "Degraded", history, grace="30")
        async with rig(deploy, first, clock=lambda: now[0]) as r:
            await r.until(lambda: ev.UNHEALTHY in r.types(), "the guard counting")
            await r.stop_api()
            await r.until(lambda: ev.SOURCE_DOWN in r.types(), "the source down")
            assert not r.guard.ready
            now[0] += 120  # far past the grace period
            r.guard.poke()
            await r.until(lambda: True, "one more turn")
            r.guard.changed.clear()
            await asyncio.wait_for(r.guard.changed.wait(), WAIT_S)
            assert r.rollbacks(deploy.bad) == []
            r.store.put(application(deploy.bad, "Healthy", history, grace="30"))
            r.restart_api()
            await r.until(lambda: ev.SOURCE_UP in r.types(), "the source back")
            await r.until(lambda: r.guard.ready, "fresh data")
            r.guard.poke()
            r.guard.changed.clear()
            await asyncio.wait_for(r.guard.changed.wait(), WAIT_S)
        assert r.rollbacks(deploy.bad) == []
        assert ev.ROLLBACK not in r.types()

    asyncio.run(scenario())


@pytest.mark.slow
def test_an_unreachable_deploy_remote_is_retried_with_backoff_and_events(
    deploy: Deploy, tmp_path: Path
) -> None:
    """The remote is missing at first (a network outage, as git sees it); the guard retries with
    backoff and says so, and the rollback lands once the remote is back."""
    away = tmp_path / "away.git"

    async def scenario() -> None:
        shutil.move(deploy.bare, away)
        bad = application(deploy.bad, "Degraded", [deploy.good, deploy.bad])
        async with rig(deploy, bad) as r:
            await r.until(lambda: r.types().count(ev.RETRY) >= 2, "two retries")
            assert ev.ROLLBACK not in r.types()
            shutil.move(away, deploy.bare)
            await r.until(lambda: ev.ROLLBACK in r.types(), "the rollback after the outage")
        assert len(r.rollbacks(deploy.bad)) == 1
        retries = [e for e in r.events.recent() if e.type == ev.RETRY]
        assert all("retry" in e.message for e in retries)
        assert r.guard.metrics.failures.labels(app=APP, kind="retry")._value.get() >= 2

    asyncio.run(scenario())


def test_a_bad_argocd_url_is_a_usage_error_without_a_traceback(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    token = tmp_path / "token"
    token.write_text("secret\n")
    code = main(["guard", "--argocd", "notaurl", "--token-file", str(token), "--deploy-repo", "x"])
    err = capsys.readouterr().err
    assert code == 2
    assert "--argocd notaurl: expected http(s)://HOST[:PORT]" in err
    assert "Traceback" not in err


@pytest.mark.slow
def test_a_rollback_pushed_just_before_a_crash_gets_its_events_from_git(
    deploy: Deploy, tmp_path: Path
) -> None:
    """The guard was killed between pushing its rollback and recording it: a guard started on
    the same events file records the Rollback from the commit's trailers, then Recovered when
    the app is Healthy and Synced on it, and never rolls back a second time. Started again, it
    records nothing twice."""
    dead = RollbackWriter(deploy.url, tmp_path / "dead-guard")
    pushed = dead.write(deploy.request()).sha
    assert pushed is not None
    events_path = tmp_path / "events.jsonl"
    EventLog(events_path).emit(ev.WATCHING, "", "an earlier run, killed after the push")
    bad = application(deploy.bad, "Degraded", [deploy.good, deploy.bad])
    recovered = application(pushed, "Healthy", [deploy.good, deploy.bad, pushed])

    async def first() -> None:
        async with rig(deploy, bad, events_path=events_path) as r:
            await r.until(lambda: ev.ROLLBACK in r.types(), "the Rollback event, from Git")
            [event] = [e for e in r.events.recent() if e.type == ev.ROLLBACK]
            assert event.fields["commit"] == pushed
            assert (event.fields["bad"], event.fields["good"]) == (deploy.bad, deploy.good)
            assert event.fields["reconstructed"] is True
            r.store.put(recovered)
            await r.until(lambda: ev.RECOVERED in r.types(), "Recovered")
        assert r.rollbacks(deploy.bad) == [pushed], "not rolled back twice"

    async def again() -> None:
        async with rig(deploy, recovered, events_path=events_path) as r:
            await r.until(lambda: APP in r.guard.events_restored, "the history read from Git")
        types = [e.type for e in read_events(events_path) if e.app == APP]
        assert types.count(ev.ROLLBACK) == 1
        assert types.count(ev.RECOVERED) == 1

    asyncio.run(first())
    asyncio.run(again())


@pytest.mark.slow
def test_a_guard_restarted_between_its_rollback_and_the_recovery_still_tells_recovered(
    deploy: Deploy, tmp_path: Path
) -> None:
    """The guard pushed and told its Rollback, then stopped before the app recovered: a guard
    started on the same events file watches that rollback and tells Recovered (once), rolls
    nothing back again, and tells the Rollback only once. An app that leaves the fleet's list
    and comes back while recovering is watched again, not forgotten."""
    first_guard = RollbackWriter(deploy.url, tmp_path / "first-guard")
    pushed = first_guard.write(deploy.request()).sha
    assert pushed is not None
    events_path = tmp_path / "events.jsonl"
    EventLog(events_path).emit(ev.ROLLBACK, APP, "told before the stop", commit=pushed)
    syncing = application(pushed, "Progressing", [deploy.good, deploy.bad, pushed])
    recovered = application(pushed, "Healthy", [deploy.good, deploy.bad, pushed])

    async def scenario() -> None:
        async with rig(deploy, syncing, events_path=events_path) as r:
            await r.until(lambda: APP in r.guard.events_restored, "the history read from Git")
            r.store.delete(APP)
            await r.until(lambda: r.guard.app_of(APP) is None, "the app gone from the list")
            r.store.put(syncing)
            await r.until(lambda: r.guard.app_of(APP) is not None, "the app listed again")
            r.store.put(recovered)
            await r.until(lambda: ev.RECOVERED in r.types(), "Recovered")
            [event] = [e for e in r.events.recent() if e.type == ev.RECOVERED]
            assert event.fields["commit"] == pushed
        types = [e.type for e in read_events(events_path) if e.app == APP]
        assert (types.count(ev.ROLLBACK), types.count(ev.RECOVERED)) == (1, 1)
        assert r.rollbacks(deploy.bad) == [pushed], "not rolled back twice"

    asyncio.run(scenario())


@pytest.mark.slow
def test_a_rollback_whose_known_good_fails_too_halts_after_one_commit_and_says_so(
    deploy: Deploy,
) -> None:
    """The old version was already gone (its image expired, its pods long stopped): the
    rollback deploys and fails as well. The guard rolls back once, then halts for the app with
    RollbackFailed and the halted metric; it never rolls back the rollback."""

    async def scenario() -> None:
        bad = application(deploy.bad, "Degraded", [deploy.good, deploy.bad])
        async with rig(deploy, bad) as r:
            await r.until(lambda: len(r.rollbacks(deploy.bad)) == 1, "the rollback commit")
            [rollback] = r.rollbacks(deploy.bad)
            history = [deploy.good, deploy.bad, rollback]
            r.store.put(application(rollback, "Progressing", history))
            r.store.put(application(rollback, "Degraded", history))
            await r.until(lambda: ev.FAILED in r.types(), "RollbackFailed")
            # Still Degraded, seen again: nothing more.
            r.store.put(application(rollback, "Progressing", history))
            r.store.put(application(rollback, "Degraded", history))
            await r.until(lambda: r.guard.app_of(APP) is not None, "one more look")
        assert [rb.sha for rb in rollbacks(log(deploy.bare, "main"))] == [rollback]
        assert r.types().count(ev.ROLLBACK) == 1
        [failed] = [e for e in r.events.recent() if e.type == ev.FAILED]
        assert failed.fields["revision"] == rollback
        assert f"the rollback revision {rollback[:7]} fails too" in failed.message
        assert "not rolling back again" in failed.message
        assert r.guard.metrics.failures.labels(app=APP, kind="halted")._value.get() == 1

    asyncio.run(scenario())


@pytest.mark.slow
def test_a_failing_first_release_with_nothing_before_it_is_told_not_rolled_back(
    deploy: Deploy,
) -> None:
    """No older revision in the app's history (its first release, or the history rotated it
    out): nothing to roll back to. The guard writes nothing and says NoKnownGood, once."""

    async def scenario() -> None:
        tip = deploy.tip()
        first = application(deploy.bad, "Degraded", [deploy.bad])
        async with rig(deploy, first) as r:
            await r.until(lambda: ev.NO_KNOWN_GOOD in r.types(), "NoKnownGood")
            r.store.put(application(deploy.bad, "Progressing", [deploy.bad]))
            r.store.put(application(deploy.bad, "Degraded", [deploy.bad]))
            await r.until(lambda: r.guard.app_of(APP) is not None, "one more look")
        assert deploy.tip() == tip, "no commit"
        [told] = [e for e in r.events.recent() if e.type == ev.NO_KNOWN_GOOD]
        assert told.fields["revision"] == deploy.bad
        assert "no known-good revision to roll back to" in told.message
        assert ev.ROLLBACK not in r.types()

    asyncio.run(scenario())


def _held(target: str, running: str, *, sync: str, conditions: list[dict[str, str]]) -> Any:
    """The app as Argo CD shows it when automated sync holds `running` while Git's target is
    `target`: no new operation, history unchanged."""
    record = application(running, "Healthy", [running])
    doc = to_json(record)
    doc["status"]["sync"] = {"status": sync, "revision": target}
    doc["status"]["conditions"] = conditions
    return from_json(doc)


def _wiped_out(deploy: Deploy) -> Any:
    """The bad revision would prune everything: automated sync refuses it, the good one runs."""
    wipe = f"Skipping sync attempt to {deploy.bad}: auto-sync will wipe out all resources"
    conditions = [{"type": "SyncError", "message": wipe}]
    return _held(deploy.bad, deploy.good, sync="OutOfSync", conditions=conditions)


@pytest.mark.slow
def test_a_wipe_out_rolled_back_is_recovered_without_a_sync(deploy: Deploy) -> None:
    """A commit that would prune everything is never synced (allowEmpty: false); the guard puts
    Git back. The rollback's content is what already runs, so Argo CD compares it Synced and
    starts no operation: that is the recovery, and the guard must say so, although no sync of
    the rollback revision ever happens."""

    async def scenario() -> None:
        async with rig(deploy, _wiped_out(deploy)) as r:
            await r.until(lambda: len(r.rollbacks(deploy.bad)) == 1, "the rollback commit")
            [rollback] = r.rollbacks(deploy.bad)
            r.store.put(_held(rollback, deploy.good, sync="Synced", conditions=[]))
            await r.until(lambda: ev.RECOVERED in r.types(), "the Recovered event")
            [recovered] = [e for e in r.events.recent() if e.type == ev.RECOVERED]
            assert recovered.fields["commit"] == rollback
        assert len(r.rollbacks(deploy.bad)) == 1

    asyncio.run(scenario())


@pytest.mark.slow
def test_synced_on_the_rollback_before_the_guard_wrote_it_down_is_still_recovered(
    deploy: Deploy,
) -> None:
    """Argo CD may compare the rollback Synced (a webhook's refresh; a wipe-out's rollback
    needs no sync) before the guard's push has even returned. The guard has then seen the
    recovery before it knew it was recovering: it must still say Recovered, at once."""

    async def scenario() -> None:
        async with rig(deploy, _wiped_out(deploy)) as r:
            write = r.guard.writer.write

            def write_then_argo_cd_answers(request: Any) -> Any:
                outcome = write(request)  # pushed: Argo CD sees it before the guard goes on
                r.store.put(_held(outcome.sha, deploy.good, sync="Synced", conditions=[]))
                deadline = time.monotonic() + WAIT_S
                while (app := r.guard.app_of(APP)) is None or app.sync_revision != outcome.sha:
                    assert time.monotonic() < deadline, "the guard never saw the Synced rollback"
                    time.sleep(0.01)  # a thread of the guard's, waiting on the guard's loop
                return outcome

            r.guard.writer.write = write_then_argo_cd_answers  # type: ignore[method-assign]
            await r.until(lambda: ev.RECOVERED in r.types(), "the Recovered event")
            [rollback] = r.rollbacks(deploy.bad)
            [recovered] = [e for e in r.events.recent() if e.type == ev.RECOVERED]
            assert recovered.fields["commit"] == rollback

    asyncio.run(scenario())


class Traffic:
    """A release's pods as the analysis reads them: `rate` requests between two reads, a share
    of them 5xx. Stands in for the pods provider (console.guard.pods, tested against real pods)
    so the driver's rules are pinned here on their own."""

    def __init__(self, rate: int, error_share: float) -> None:
        self.rate, self.share, self.total = rate, error_share, 0

    async def samples(self, app: str, at: float) -> tuple[list[Sample], list[str]]:
        self.total += self.rate
        n = float(self.total)
        return [Sample(at, "pod-a", n, round(n * self.share), ((0.05, n), (INF, n)))], []


ANALYSIS = {ANALYSIS_SECONDS: "1", MAX_ERROR_RATIO: "0.05", ANALYSIS_MIN_REQUESTS: "20"}


def released_now(deploy: Deploy) -> ApplicationRecord:
    """backend-dev Healthy and Synced on the bad revision, its sync started a moment ago."""
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    history = [deploy.good, deploy.bad]
    return application(deploy.bad, "Healthy", history, annotations=ANALYSIS, started=now)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("traffic", "told", "rolled_back"),
    [
        pytest.param(Traffic(40, 0.3), ev.ANALYSIS_FAILED, True, id="failing-users"),
        pytest.param(Traffic(40, 0.0), ev.ANALYSIS_PASSED, False, id="serving-well"),
        pytest.param(Traffic(2, 0.9), ev.ANALYSIS_INCONCLUSIVE, False, id="too-little-traffic"),
    ],
)
def test_a_healthy_release_is_judged_by_its_requests(
    deploy: Deploy, traffic: Traffic, told: str, rolled_back: bool
) -> None:
    """Healthy and Synced after its sync: the guard watches the release's requests for the
    window. Failing its users, it is rolled back by one commit whose reason names the measured
    ratio, the threshold, the window and the request count; serving well, or on too little
    traffic to judge, it stays."""

    async def scenario() -> None:
        async with rig(deploy, released_now(deploy), samples=traffic) as r:
            await r.until(lambda: told in r.types(), told)
            if rolled_back:
                await r.until(lambda: len(r.rollbacks(deploy.bad)) == 1, "the rollback commit")
        assert r.types().count(ev.ANALYSIS) == 1
        commits = r.rollbacks(deploy.bad)
        assert len(commits) == (1 if rolled_back else 0)
        if rolled_back:
            [rb] = [rb for rb in rollbacks(log(deploy.bare, "main")) if rb.of == deploy.bad]
            assert re.fullmatch(r"error ratio 0\.30 > 0\.05 over \d\.\d s, \d+ requests", rb.reason)
            kind = r.guard.metrics.rollbacks.labels(app=APP, reason="analysis")
            assert kind._value.get() == 1

    asyncio.run(scenario())


@pytest.mark.slow
def test_an_analysis_annotation_that_cannot_be_read_turns_it_off_and_says_why(
    deploy: Deploy,
) -> None:
    """A release whose analysis policy cannot be read is not analysed (never a rollback on a
    guess) and the guard says why, once."""
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    history = [deploy.good, deploy.bad]
    broken = {**ANALYSIS, MAX_ERROR_RATIO: "five percent"}
    app = application(deploy.bad, "Healthy", history, annotations=broken, started=now)

    async def scenario() -> None:
        async with rig(deploy, app, samples=Traffic(40, 0.9)) as r:
            await r.until(lambda: ev.ANALYSIS_INCONCLUSIVE in r.types(), "the reason told")
        [told] = [e for e in r.events.recent() if e.type == ev.ANALYSIS_INCONCLUSIVE]
        assert f'{MAX_ERROR_RATIO}: "five percent" is not a number' in told.message
        assert ev.ANALYSIS not in r.types()
        assert not r.rollbacks(deploy.bad)

    asyncio.run(scenario())
