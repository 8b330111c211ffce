"""The drill, orchestrated: `run_drill(options, on_step)` runs one scenario
(console.drill.scenarios; the default, `readiness`, is told below), `run_gameday` several on one
platform (console.drill.gameday).

1. Start the embedded platform (`gitops up`) on the workspace as a child process, or use the one
   already running there; wait until every service Application is Synced and Healthy, and read
   the known-good version from the Service's /version.
2. Start the load generator through the Service's endpoint; it runs for the whole drill.
3. Push the bad change to the apps repo as a developer would (console.drill.change).
4. Watch the platform work: CI's stages, the promotion commit, the sync of the bad revision, the
   new pods that never become ready while the old ones serve, the guard's events, the rollback
   commit, Healthy and Synced on the rollback revision, the known-good version serving again.
   Every wait has a deadline; its failure names what did not happen.
5. Stop the load; write the post-mortem (console.drill.report); stop the platform we started.

The other scenarios change what is pushed in 3 (a promotion of a tag never built, a deploy
commit the gate must refuse) and what 4 expects (pods that cannot run, a refusal, a kill -9 of
the platform mid-rollout and its restart); the platform, the baseline, the load, the watching and
the report are the same for all.

Each step is announced through `on_step` as it happens (a UI renders them; `gitops demo
--headless` prints them). Cancelling the task (Ctrl-C) stops the load generator and the platform
child and re-raises; the workspace stays resumable by `gitops up --workspace DIR`.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from console.config import PlatformConfig, load_config
from console.contract import DRILL_TRAILER, ENABLED, PROMOTED_SERVICE, SOURCE_COMMIT
from console.drill import change as bad_change
from console.drill import deploy_changes
from console.drill.facts import Commit, Facts, Policy, utc
from console.drill.gameday import GameDay, Row
from console.drill.gameday import write as write_gameday
from console.drill.load import BackgroundLoad, LoadGenerator
from console.drill.options import (
    DrillError,
    DrillOptions,
    DrillUsageError,
    demos_root,
    new_drill_id,
)
from console.drill.platform import PlatformError, finish_anyway
from console.drill.report import final_facts, write_report
from console.drill.result import DrillResult
from console.drill.scenarios import (
    ORDER,
    Expect,
    Push,
    Scenario,
    UnknownScenarioError,
    game_day,
)
from console.drill.scenarios import get as scenario_named
from console.drill.session import Announce, Session, settle
from console.drill.steps import Phase, Step
from console.drill.watch import (
    DrillTimeoutError,
    PlatformView,
    failing,
    guard_events,
    halted,
    healthy_synced,
    is_about,
    promotion_of,
    rollbacks_of,
    says_recovered,
    sync_started,
    wait_until,
)
from console.fleet.model import Health
from console.git import GitError, git
from console.guard.policy import deployed_revision
from console.guard.rollback import RollbackError, RollbackRequest, RollbackWriter
from console.local.ci.runner import repo_name
from console.platforminfo import PlatformInfo
from console.promote.promote import PromoteError
from console.timestamps import rfc3339_ms

SERVICE = "frontend"  # the service the drill breaks (console.drill.change edits the frontend)
FATAL_GUARD_EVENTS = frozenset({"RollbackFailed", "NoKnownGood"})
TREE_EVERY_S = 0.5
ANALYSIS_MARGIN_S = 30.0  # after the analysis window: its verdict, the push, the sync
REFUSED_WATCH_S = 3.0  # after a refused push: the load keeps running, nothing may change


async def run_drill(options: DrillOptions, on_step: Callable[[Step], None]) -> DrillResult:
    """Run one drill of `options.scenario` (see the module doc). Raises ConfigError (repos.yaml)
    and DrillUsageError before anything starts; anything that goes wrong later is in the
    result's `problems`."""
    config = load_config(options.config)
    try:
        scenario = scenario_named(options.scenario)
    except UnknownScenarioError as exc:
        raise DrillUsageError(str(exc)) from None
    announce = Announce(on_step)
    started = datetime.now(UTC)
    drill_id = new_drill_id(started)
    ws = workspace_of(options, drill_id)
    session = Session(ws, options.config.absolute(), announce)
    drill = _Drill(
        options, config, session, scenario, drill_id=drill_id, directory=ws / "drills" / drill_id
    )
    interrupted = False
    try:
        return await drill.run(first=True)
    except asyncio.CancelledError:
        interrupted = True
        raise
    finally:
        await finish_anyway(close(drill, session, options, interrupted))


async def run_gameday(
    options: DrillOptions,
    on_step: Callable[[Step], None],
    *,
    with_analysis: bool = False,
) -> GameDay:
    """`gitops demo --all`: every scenario of the game day (console.drill.gameday) in order on
    one platform, started once. Raises ConfigError and DrillUsageError before anything starts."""
    config = load_config(options.config)
    scenarios, skipped = game_day(with_analysis)
    announce = Announce(on_step)
    started = datetime.now(UTC)
    day_id = new_drill_id(started)
    ws = workspace_of(options, day_id)
    directory = ws / "drills" / day_id
    session = Session(ws, options.config.absolute(), announce)
    rows: dict[str, Row] = {s.name: Row(s, skipped=why) for s, why in skipped}
    for scenario, why in skipped:
        announce(Phase.SETUP, f"scenario {scenario.name} skipped: {why}")
    drill: _Drill | None = None
    interrupted = False
    t0 = time.monotonic()
    try:
        for n, scenario in enumerate(scenarios):
            if n and session.view is None:
                rows[scenario.name] = Row(scenario)  # not run: fails the game day
                announce(Phase.SETUP, f"scenario {scenario.name} not run: no platform")
                continue
            if n and scenario.kill_platform and session.platform is None:
                why = "the platform ran before the drill: it kills only a `gitops up` it started"
                rows[scenario.name] = Row(scenario, skipped=why)
                announce(Phase.SETUP, f"scenario {scenario.name} skipped: {why}")
                continue
            drill = _Drill(
                options,
                config,
                session,
                scenario,
                drill_id=f"{day_id}-{scenario.name}",
                directory=directory / scenario.name,
            )
            outcome = await drill.run(first=n == 0)
            rows[scenario.name] = Row(scenario, outcome)
            verdict = rows[scenario.name].verdict
            announce(Phase.REPORT, f"scenario {scenario.name}: {verdict}")
    except asyncio.CancelledError:
        interrupted = True
        raise
    finally:
        await finish_anyway(close(drill, session, options, interrupted))
    ordered = tuple(rows.get(s.name, Row(s)) for s in (*scenarios, *(s for s, _ in skipped)))
    ordered = tuple(sorted(ordered, key=lambda r: ORDER.index(r.scenario.name)))
    day = GameDay(day_id, ws, started, time.monotonic() - t0, ordered)
    day = write_gameday(day, directory)
    announce(Phase.REPORT, f"game day index: {day.index}", index=day.index)
    return day


def workspace_of(options: DrillOptions, drill_id: str) -> Path:
    root = options.workspace or demos_root() / drill_id
    ws = root.expanduser().absolute()
    if ws.exists() and not ws.is_dir():
        raise DrillUsageError(f"{ws}: not a directory (--workspace)")
    return ws


async def close(
    drill: _Drill | None, session: Session, options: DrillOptions, interrupted: bool
) -> None:
    """The end of a drill or a game day: the load stopped, the platform stopped (if ours)."""
    if interrupted:
        session.step(Phase.STOP, "interrupted: stopping the load generator and the platform")
    if drill is not None:
        await drill.drop_load()
    await session.close(keep=options.keep, interrupted=interrupted, stop_s=options.deadlines.stop_s)


class _Drill:
    """One scenario on a session's platform."""

    def __init__(
        self,
        options: DrillOptions,
        config: PlatformConfig,
        session: Session,
        scenario: Scenario,
        *,
        drill_id: str,
        directory: Path,
    ) -> None:
        self.o, self.d = options, options.deadlines
        self.config = config
        self.session = session
        self.scenario = scenario
        started = datetime.now(UTC)
        self.id = drill_id
        self.env = config.environment_names[0]
        self.app = f"{SERVICE}-{self.env}"
        if SERVICE not in {s.name for s in config.services}:
            raise DrillUsageError(f"{options.config} declares no service {SERVICE!r} to break")
        self.ws = session.ws
        self.dir = directory
        change = scenario.apps_change
        self.facts = Facts(
            drill_id=self.id,
            app=self.app,
            env=self.env,
            service=SERVICE,
            workspace=self.ws,
            started_at=started,
            finished_at=started,
            scenario=scenario.name,
            owner=config.owners,
            what_changed=change.what_changed if change else "",
            why_ci_passed=change.why_ci_passed if change else "",
            follow_ups=change.follow_ups if change else (),
        )
        self.errors: list[str] = []
        self.load: BackgroundLoad | None = None
        self.service_url = ""
        self._told: set[tuple[str, str, str]] = set()
        self._tree_at = 0.0

    @property
    def view(self) -> PlatformView | None:
        return self.session.view

    @property
    def info(self) -> PlatformInfo | None:
        return self.session.info

    # ---- announcing ---------------------------------------------------------------------------

    def step(self, phase: Phase, message: str, **data: Any) -> None:
        self.session.step(phase, message, **data)

    # ---- the whole ----------------------------------------------------------------------------

    async def run(self, *, first: bool) -> DrillResult:
        """The scenario from the known-good version to its report; with `first`, the platform
        is started (or found) before."""
        self.dir.mkdir(parents=True, exist_ok=True)
        sc = self.scenario
        if first:
            self.step(Phase.SETUP, f"drill {self.id} on the workspace {self.ws}", workspace=self.ws)
        self.step(
            Phase.SETUP,
            f"scenario {sc.name}: {sc.change}; expected: {sc.expected}",
            scenario=sc.name,
        )
        try:
            if first:
                await self._platform_up()
            await self._baseline()
            await self._start_load()
            if sc.push is Push.APPS:
                await self._change()
                await self._ci()
                await self._promotion()
            elif sc.push is Push.PROMOTION:
                await self._promote_unbuilt()
            if sc.expect is Expect.REFUSED:
                await self._refused()
            elif sc.expect is Expect.STAYS:
                await self._bad_sync()
                await self._stays()
            else:
                await self._bad_sync()
                if sc.kill_platform:
                    await self._kill_and_restart()
                await self._until_rollback()
                await self._recovery()
        except (DrillError, DrillTimeoutError, PlatformError, bad_change.ChangeError) as exc:
            self._error(str(exc))
        except GitError as exc:
            self._error(f"git failed: {exc}")
        if sc.expect is Expect.ROLLBACK and self.facts.rollback is None and self.facts.promotion:
            await self._restore()
        await self._stop_load()
        view, info = self.view, self.info
        if view is not None and info is not None:  # read while the platform still runs
            self.facts = await final_facts(view, info, self.facts, self.service_url, self.errors)
        return self._report()

    def _error(self, message: str) -> None:
        self.errors.append(message)
        self.step(Phase.ERROR, message)

    def _alive(self) -> None:
        self.session.check_alive()

    # ---- 1. the platform and the known-good version -----------------------------------------

    async def _platform_up(self) -> None:
        info = await self.session.up(self.dir / "gitops-up.log", self.d.platform_s)
        self.facts = replace(
            self.facts,
            apps_remote=info.remotes.get("apps", ""),
            deploy_remote=info.remotes.get("deploy", ""),
        )

    async def _baseline(self) -> None:
        view = self._view()
        waiting: list[str] = []

        async def everything_healthy() -> list[str] | None:
            if not view.first.is_set():
                return None
            services = sorted(app.name for app in view.mirror if app.service)
            waiting[:] = [n for n in services if not healthy_synced(view.app(n))]
            return services if services and not waiting else None

        services = await wait_until(
            everything_healthy,
            lambda: (
                "every service Application Synced and Healthy"
                + (f" (not yet: {', '.join(waiting)})" if waiting else "")
                + (f" (Argo CD API: {view.down})" if view.down else "")
            ),
            self.d.baseline_s,
            wake=view.changed,
            alive=self._alive,
        )
        if self.app not in services:
            raise DrillError(f"the platform has no Application {self.app}")
        app = view.app(self.app)
        if app is None:
            raise DrillError(f"{self.app} is gone from the platform")
        policy = Policy.of(app.annotations)
        if policy.enabled.strip().lower() != "true":
            raise DrillError(f"auto-rollback is not enabled for {self.app} ({ENABLED})")
        url = self._info().services.get(self.app)
        if not url:
            raise DrillError(f"platform.json names no Service {self.app}")
        self.service_url = url

        async def version() -> dict[str, Any] | None:
            return await view.version(url)

        answer = await wait_until(
            version, f"{url}/version answering", self.d.baseline_s, alive=self._alive
        )
        pods = await view.pods(self.app) or []
        info = self._info()
        self.facts = replace(
            self.facts,
            apps_remote=info.remotes.get("apps", ""),
            deploy_remote=info.remotes.get("deploy", ""),
            good_revision=deployed_revision(app),
            good_version=str(answer.get("revision", "")),
            good_semver=str(answer.get("version", "")),
            replicas=sum(p.ready for p in pods),
            policy=policy,
        )
        f = self.facts
        self.step(
            Phase.BASELINE,
            f"known-good: {len(services)} apps Synced and Healthy; {self.app} on "
            f"{f.good_revision[:7]} serves {f.good_semver} ({f.good_version[:7]}) with "
            f"{f.replicas} ready pod(s); auto-rollback after {policy.deadline_s}s Progressing",
            good_version=f.good_version,
            good_revision=f.good_revision,
        )

    # ---- 2. load -------------------------------------------------------------------------------

    async def _start_load(self) -> None:
        url = f"{self.service_url}/version"
        load = BackgroundLoad(
            LoadGenerator(url, rate=self.o.rate, timeout_s=self.o.request_timeout_s)
        )
        self.load = load
        load.start()

        async def answered() -> bool | None:
            return True if load.answered else None

        await wait_until(answered, f"a first answer from {url}", self.d.first_answer_s)
        self.step(
            Phase.LOAD,
            f"load: {self.o.rate:g} requests/s to {url}; any non-2xx answer or no answer within "
            f"{self.o.request_timeout_s:g}s counts as failed",
        )

    async def _stop_load(self) -> None:
        if self.load is None:
            return
        stats, self.load = await self.load.finish(), None
        self.facts = replace(self.facts, load=stats)
        self.step(
            Phase.LOAD,
            f"load stopped: {stats.total} requests sent, {stats.failed} failed",
            total=stats.total,
            failed=stats.failed,
        )

    # ---- 3. the change -------------------------------------------------------------------------

    async def _change(self) -> None:
        remote = self._info().remotes["apps"]
        change = self.scenario.apps_change or bad_change.READINESS
        try:
            pushed = await asyncio.to_thread(
                bad_change.push_change,
                remote,
                self.id,
                time.time,
                self.dir,
                change=change,
                base=self.facts.good_version,
            )
        except GitError as exc:
            raise DrillError(f"the change could not be pushed to the apps repo: {exc}") from None
        self.facts = replace(
            self.facts,
            change=Commit(
                pushed.sha,
                pushed.subject,
                utc(pushed.pushed_at),
                ((DRILL_TRAILER, self.id),),
            ),
            change_files=pushed.files,
        )
        why = (
            f"the frontend's readiness now needs {bad_change.VARIABLE}; the tests set it, no "
            "Deployment does"
            if change is bad_change.READINESS
            else self.scenario.change
        )
        self.step(
            Phase.CHANGE,
            f'pushed {pushed.sha[:7]} to the apps repo: "{pushed.subject}" ({why})',
            bad_version=pushed.sha,
        )

    async def _promote_unbuilt(self) -> None:
        """bad-image: a promotion commit of a tag no build has, straight to the deploy repo."""
        remote = self._info().remotes["deploy"]
        try:
            done = await asyncio.to_thread(
                deploy_changes.promote_unbuilt, remote, self.env, SERVICE, self.id, time.time
            )
        except (GitError, PromoteError) as exc:
            raise DrillError(f"the promotion could not be pushed: {exc}") from None
        promo = Commit(
            done.sha,
            done.subject,
            utc(done.pushed_at),
            ((PROMOTED_SERVICE, SERVICE), (SOURCE_COMMIT, done.tag)),
        )
        self.facts = replace(
            self.facts,
            bad_tag=done.tag,
            promotion=promo,
            what_changed=(
                f"a promotion commit in the deploy repo pins {SERVICE}:{done.tag[:7]}… in "
                f"overlays/{self.env}/{SERVICE}, a tag CI never built"
            ),
            why_ci_passed=(
                "no CI ran: the promotion was written straight to the deploy repo (`gitops "
                "promote --tag`), and the Git host's gate judges a commit's form, not whether "
                "its image exists (that is the runtime's business, as on a cluster)"
            ),
            follow_ups=(
                "Promote only tags CI built (`gitops promote --from-env`, or CI's own "
                "promotion), never a hand-typed tag",
                "Check in the deploy repo's CI that every image an overlay names exists in the "
                "registry before merging",
            ),
        )
        self.step(
            Phase.PROMOTION,
            f'pushed promotion {done.sha[:7]} to the deploy repo: "{done.subject}" (the tag '
            f"{done.tag[:7]} was never built)",
            bad_revision=done.sha,
        )

    async def _refused(self) -> None:
        """broken-manifest: a deploy commit that does not render, which the gate must refuse;
        then a few seconds of load with nothing changing."""
        info = self._info()
        remote = info.remotes["deploy"]
        done = await asyncio.to_thread(
            deploy_changes.push_unrendered,
            remote,
            env=self.env,
            service=SERVICE,
            drill_id=self.id,
            clock=time.time,
            workdir=self.dir,
        )
        self.facts = replace(
            self.facts,
            refused_commit=Commit(
                done.sha, done.subject, utc(done.pushed_at), ((DRILL_TRAILER, self.id),)
            ),
            refused_at=utc(done.pushed_at),
            refusal=done.refusal,
            refused_overlay=done.overlay,
            deploy_head_before=done.head_before,
            what_changed=(
                f"{done.overlay}/kustomization.yaml names {deploy_changes.MISSING_FILE}, a file "
                "that was never committed: the overlay does not render"
            ),
            why_ci_passed=(
                "it never reached CI or Argo CD: the deploy repo's pre-receive gate renders "
                "every overlay a push touches and refused it"
            ),
            follow_ups=(
                "Commit the missing file, or drop it from the kustomization, and push again",
                "Render each overlay before pushing (`kubectl kustomize overlays/<env>/<service>` "
                "in the deploy repo's pre-commit hooks), so the gate is never the first to see it",
            ),
        )
        if not done.refusal:
            raise DrillError(
                f"the deploy repo's gate accepted {done.sha[:7]}, whose {done.overlay} does not "
                "render"
            )
        said = done.refusal.splitlines()[0]
        self.step(Phase.REFUSED, f"push of {done.sha[:7]} refused by the deploy repo: {said}")
        await settle(REFUSED_WATCH_S)
        head = await asyncio.to_thread(git, ["rev-parse", "main"], Path(remote))
        self.facts = replace(self.facts, deploy_head_after=head.strip())
        app = self._view().app(self.app)
        if head.strip() == done.head_before and healthy_synced(app, self.facts.good_revision):
            self.step(
                Phase.RECOVERY,
                f"nothing deployed: main is still {done.head_before[:7]}; {self.app} Healthy "
                f"and Synced on {self.facts.good_revision[:7]}",
            )

    async def _stays(self) -> None:
        """healthy: the release turns Healthy and Synced, nothing rolls it back through the
        analysis window (and a margin), and /version answers the new build."""
        view, f = self._view(), self.facts
        new, deploy = f.bad_revision, self._info().remotes["deploy"]
        try:
            first = float(f.policy.deadline_s) + float(f.policy.grace_s)
        except ValueError:
            first = 0.0

        async def healthy() -> bool | None:
            await self._observe(new)
            return True if self.facts.bad_healthy_at is not None else None

        await wait_until(
            healthy,
            f"{self.app} Healthy and Synced on {new[:7]}",
            first + self.d.sync_s,
            wake=view.changed,
            alive=self._alive,
        )
        hold = ANALYSIS_MARGIN_S / 3
        with contextlib.suppress(ValueError):
            hold += float(f.policy.analysis_s)
        self.step(
            Phase.HEALTH,
            f"watching {self.app} on {new[:7]} for {hold:g}s (the analysis window and a "
            "margin): a good release must not be rolled back",
        )

        async def rolled_back() -> Commit | None:
            await self._observe(new)
            found = await asyncio.to_thread(rollbacks_of, deploy, new)
            return found[-1] if found else None

        with contextlib.suppress(DrillTimeoutError):
            rb = await wait_until(
                rolled_back, "a rollback", hold, wake=view.changed, alive=self._alive
            )
            self.facts = replace(self.facts, rollback=rb)
            raise DrillError(
                f"the good release {new[:7]} was rolled back by {rb.sha[:7]}: "
                f"{rb.trailer('Rollback-Reason') or 'no reason recorded'}"
            )
        want = f.bad_version

        async def serving() -> datetime | None:
            answer = await view.version(self.service_url)
            ok = answer is not None and answer.get("revision") == want
            return datetime.now(UTC) if ok else None

        at = await wait_until(
            serving,
            f"{self.service_url}/version answering the new {want[:7]}",
            self.d.version_s,
            alive=self._alive,
        )
        self.facts = replace(self.facts, version_restored_at=at)
        self.step(
            Phase.RECOVERY,
            f"/version answers the new {want[:7]}; no rollback: the good release stays",
        )

    async def _kill_and_restart(self) -> None:
        """platform-crash: once the rollout is under way (its new pods seen), kill -9 of
        `gitops up`, then `gitops up` again on the same workspace."""
        bad = self.facts.bad_revision

        async def under_way() -> bool | None:
            await self._observe(bad)
            return True if self.facts.pods_not_ready_at is not None else None

        await wait_until(
            under_way,
            f"the rollout of {bad[:7]} under way (a new pod running, not ready)",
            self.d.sync_s,
            wake=self._view().changed,
            alive=self._alive,
        )
        killed, ready = await self.session.kill_and_restart(
            self.dir / "gitops-up-restarted.log", self.d.platform_s
        )
        self.facts = replace(self.facts, platform_killed_at=killed, platform_restarted_at=ready)

    # ---- 4. watching ---------------------------------------------------------------------------

    async def _ci(self) -> None:
        view, sha = self._view(), self.facts.bad_version
        repo = repo_name(self._info().remotes["apps"])
        told: set[tuple[str, str]] = set()

        async def promoted() -> bool | None:
            runs = await view.ci_runs(repo, sha)
            if runs is None:
                return None
            self.facts = replace(self.facts, ci_runs=tuple(runs))
            for run in runs:
                if (run.stage, run.result) not in told:
                    told.add((run.stage, run.result))
                    took = f" in {run.duration_s:.1f}s" if run.duration_s is not None else ""
                    self.step(Phase.CI, f"CI {run.stage} of {sha[:7]}: {run.result}{took}")
                if run.result in ("failed", "skipped"):
                    raise DrillError(
                        f"CI {run.stage} {run.result} for {sha[:7]}; its log: {run.log_path}"
                    )
            done = any(r.stage == "promote" and r.result == "succeeded" for r in runs)
            return True if done else None

        await wait_until(
            promoted,
            f"CI of {sha[:7]} (test, build, promote)",
            self.d.ci_s,
            every_s=0.5,
            alive=self._alive,
        )

    async def _promotion(self) -> None:
        deploy, sha = self._info().remotes["deploy"], self.facts.bad_version

        async def found() -> Commit | None:
            return await asyncio.to_thread(promotion_of, deploy, sha, SERVICE)

        promo = await wait_until(
            found,
            f"a promotion of {SERVICE} {sha[:7]} in the deploy repo (Source-Commit trailer)",
            self.d.promotion_s,
            alive=self._alive,
        )
        self.facts = replace(self.facts, promotion=promo)
        self.step(
            Phase.PROMOTION,
            f'promotion {promo.sha[:7]} in the deploy repo: "{promo.subject}"',
            bad_revision=promo.sha,
        )

    async def _bad_sync(self) -> None:
        view, bad = self._view(), self.facts.bad_revision

        async def started() -> datetime | None:
            return sync_started(view.app(self.app), bad)

        at = await wait_until(
            started,
            f"{self.app} syncing the bad revision {bad[:7]}",
            self.d.sync_s,
            wake=view.changed,
            alive=self._alive,
        )
        self.facts = replace(self.facts, bad_sync_started=at)
        self.step(
            Phase.SYNC,
            f"{self.app}: sync of {bad[:7]} started at {rfc3339_ms(at)[11:19]}Z (Argo CD "
            f"operationState); rolling out {SERVICE}:{self.facts.bad_version[:7]}",
        )

    async def _observe(self, revision: str) -> None:
        """One look at the app on `revision`: health, its pods (every TREE_EVERY_S), the guard."""
        view, f = self._view(), self.facts
        app = view.app(self.app)
        if (
            self.scenario.new_pods_ready
            and f.bad_healthy_at is None
            and healthy_synced(app, f.bad_revision)
        ):
            self.facts = replace(self.facts, bad_healthy_at=datetime.now(UTC))
            self.step(
                Phase.HEALTH,
                f"{self.app} Healthy and Synced on the new {f.bad_revision[:7]}: its pods pass "
                "readiness; only the analysis of its requests can tell a bad one",
            )
        if (
            app is not None
            and deployed_revision(app) == f.bad_revision
            and app.health is Health.DEGRADED
            and f.degraded_at is None
        ):
            self.facts = replace(self.facts, degraded_at=datetime.now(UTC))
            self.step(
                Phase.HEALTH, f"{self.app} Degraded on {f.bad_revision[:7]}: {app.health_message}"
            )
        now = time.monotonic()
        if now - self._tree_at >= TREE_EVERY_S:
            self._tree_at = now
            pods = await view.pods(self.app)
            if pods is not None:
                ready = sum(p.ready for p in pods)
                low = ready if f.min_ready is None else min(ready, f.min_ready)
                self.facts = replace(self.facts, min_ready=low)
                sc = self.scenario
                passed = [p.name for p in pods if p.tag == f.bad_version and p.ready]
                if passed and not sc.new_pods_ready:
                    raise DrillError(
                        f"the new pod(s) {', '.join(passed)} of {f.bad_version[:7]} passed "
                        "readiness: the change did not break what the drill expects"
                    )
                broken = failing(pods, f.bad_version, sc.pod_reasons)
                if broken and revision == f.bad_revision and f.pods_failing_at is None:
                    self.facts = replace(
                        self.facts, pods_failing_at=datetime.now(UTC), pods_failing=broken
                    )
                    self.step(Phase.PODS, f"new pods cannot run, old pods serving: {broken}")
                which = halted(pods, f.bad_version, f.good_version) if sc.halts else ""
                if which and revision == f.bad_revision and self.facts.pods_not_ready_at is None:
                    self.facts = replace(
                        self.facts, pods_not_ready_at=datetime.now(UTC), pods_not_ready=which
                    )
                    self.step(
                        Phase.PODS,
                        f"new pods not ready, rollout halted, old pods serving: {which}",
                    )
        self._guard_steps()

    def _guard_steps(self) -> None:
        """Tell the guard's new events about the app since the change was pushed (earlier ones
        are about what ran before: an earlier drill's leftovers, say)."""
        f = self.facts
        since = f.change.at if f.change is not None else f.started_at
        for event in guard_events(self._info().guard_events, self.app, since):
            key = (rfc3339_ms(event.at), event.type, event.message)
            if key in self._told:
                continue
            self._told.add(key)
            self.step(Phase.GUARD, f"guard {event.type}: {event.message}", event=event.to_json())
            if event.type in FATAL_GUARD_EVENTS and is_about(event, f.bad_revision):
                raise DrillError(f"the guard gave up on {self.app}: {event.message}")

    async def _until_rollback(self) -> None:
        view, f = self._view(), self.facts
        bad, deploy = f.bad_revision, self._info().remotes["deploy"]
        try:
            deadline = float(f.policy.deadline_s) + float(f.policy.grace_s)
        except ValueError:
            deadline = 0.0
        margin = self.d.rollback_s
        if self.scenario.needs_analysis:
            # Healthy first (the deadline at most), then the analysis window, then the push.
            with contextlib.suppress(ValueError):
                deadline += float(f.policy.analysis_s)
            margin = min(margin, ANALYSIS_MARGIN_S)

        async def rolled_back() -> Commit | None:
            await self._observe(bad)
            found = await asyncio.to_thread(rollbacks_of, deploy, bad)
            return found[-1] if found else None

        rb = await wait_until(
            rolled_back,
            f"a rollback commit of {bad[:7]} in the deploy repo (Rollback-Of: {bad[:7]})",
            deadline + margin,
            wake=view.changed,
            alive=self._alive,
        )
        self.facts = replace(self.facts, rollback=rb)
        self.step(
            Phase.ROLLBACK,
            f'rollback commit {rb.sha[:7]} in the deploy repo: "{rb.subject}" '
            f"(Rollback-To {rb.trailer('Rollback-To')[:7]})",
            rollback_commit=rb.sha,
        )
        if self.scenario.halts and self.facts.pods_not_ready_at is None:
            self._error(
                "the new pods were never seen running but not ready: not the failure the drill "
                "stages"
            )

    async def _recovery(self) -> None:
        view, f = self._view(), self.facts
        rb = f.rollback
        if rb is None:
            raise DrillError("no rollback commit to recover on")

        async def recovered() -> datetime | None:
            await self._observe(rb.sha)
            app = view.app(self.app)
            return datetime.now(UTC) if healthy_synced(app, rb.sha) else None

        at = await wait_until(
            recovered,
            f"{self.app} Healthy and Synced on the rollback {rb.sha[:7]}",
            self.d.recover_s,
            wake=view.changed,
            alive=self._alive,
        )
        self.facts = replace(self.facts, healthy_on_rollback_at=at)
        self.step(Phase.RECOVERY, f"{self.app} Healthy and Synced on the rollback {rb.sha[:7]}")
        good = f.good_version

        async def serving() -> datetime | None:
            answer = await view.version(self.service_url)
            ok = answer is not None and answer.get("revision") == good
            return datetime.now(UTC) if ok else None

        at = await wait_until(
            serving,
            f"{self.service_url}/version answering the known-good {good[:7]}",
            self.d.version_s,
            alive=self._alive,
        )
        self.facts = replace(self.facts, version_restored_at=at)
        self.step(Phase.RECOVERY, f"/version answers {good[:7]} again: the known-good version")

        async def told() -> bool | None:
            self._guard_steps()
            events = guard_events(self._info().guard_events, self.app, f.started_at)
            return True if any(says_recovered(e, rb.sha) for e in events) else None

        try:
            await wait_until(told, "the guard's Recovered event", self.d.recovered_event_s)
        except DrillTimeoutError as exc:
            self.step(Phase.GUARD, f"{exc}; recovery is timed by the drill's own sight of it")

    async def _restore(self) -> None:
        """The guard did not roll the bad revision back: the drill does, as an operator would
        from the console (a rollback commit to the known-good content), so the platform is left
        on the known-good version for whatever comes next. The drill has failed all the same."""
        f = self.facts
        view, info = self.view, self.info
        app = view.app(self.app) if view is not None else None
        path = app.source.path if app is not None and app.source is not None else ""
        if view is None or info is None or not path or not f.good_revision:
            return
        request = RollbackRequest(
            app=self.app,
            path=path,
            bad=f.bad_revision,
            good=f.good_revision,
            reason=f"gitops demo: the guard did not roll {f.bad_revision[:7]} back; the drill "
            "restores the known-good",
            operator="gitops demo",
        )
        writer = RollbackWriter(
            info.remotes["deploy"],
            self.dir / "restore",
            author=(bad_change.IDENTITY.name, bad_change.IDENTITY.email),
        )
        try:
            done = await asyncio.to_thread(writer.write, request)
        except (RollbackError, GitError) as exc:
            self._error(f"the drill could not restore the known-good: {exc}")
            return
        sha = done.sha or done.already
        if sha is None:
            return  # the path has the known-good content already
        self.facts = replace(self.facts, restored_by=sha)
        self.step(
            Phase.RECOVERY,
            f"the guard did not roll back: the drill restores the known-good by rollback commit "
            f"{sha[:7]} (as an operator would from the console)",
        )

        async def back() -> bool | None:
            return True if healthy_synced(view.app(self.app), sha) else None

        try:
            await wait_until(
                back,
                f"{self.app} Healthy and Synced on {sha[:7]}",
                self.d.recover_s,
                wake=view.changed,
                alive=self._alive,
            )
        except (DrillTimeoutError, PlatformError) as exc:
            self._error(str(exc))
            return
        self.step(Phase.RECOVERY, f"{self.app} Healthy and Synced on the drill's {sha[:7]}")

    # ---- 5. the record --------------------------------------------------------------------------

    def _report(self) -> DrillResult:
        self.facts = replace(
            self.facts, finished_at=datetime.now(UTC), error="; ".join(self.errors)
        )
        outcome, path = write_report(self.facts, self.dir)
        self.step(Phase.REPORT, f"post-mortem: {path}", postmortem=path)
        return outcome

    # ---- stopping -----------------------------------------------------------------------------

    async def drop_load(self) -> None:
        """The load generator stopped, whatever happened (an interrupted drill)."""
        if self.load is not None:
            with contextlib.suppress(Exception):
                await self.load.finish()
            self.load = None

    # ---- helpers --------------------------------------------------------------------------------

    def _view(self) -> PlatformView:
        return self.session.require_view()

    def _info(self) -> PlatformInfo:
        return self.session.require_info()
