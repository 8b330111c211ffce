"""The drill, orchestrated: `run_drill(options, on_step)` runs one scenario
(console.drill.scenarios; the default, `readiness`, is told below), `run_gameday` several on one
platform (console.drill.gameday).

1. Start the embedded platform (`gitops up`) on the workspace as a child process, or use the one
   already running there (console.drill.session); wait until every service Application is
   Synced and Healthy, and read the known-good version from the Service's /version.
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
the report are the same for all (console.drill.drill; the scenarios' own steps are
console.drill.scenario_steps).

Each step is announced through `on_step` as it happens (a UI renders them; `gitops demo
--headless` prints them). Cancelling the task (Ctrl-C) stops the load generator and the platform
child and re-raises; the workspace stays resumable by `gitops up --workspace DIR`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from console.config import load_config
from console.drill.gameday import GameDay, Row
from console.drill.gameday import write as write_gameday
from console.drill.options import DrillOptions, DrillUsageError, demos_root, new_drill_id
from console.drill.platform import finish_anyway
from console.drill.result import DrillResult
from console.drill.scenario_steps import ScenarioDrill
from console.drill.scenarios import ORDER, UnknownScenarioError, game_day
from console.drill.scenarios import get as scenario_named
from console.drill.session import Announce, Session
from console.drill.steps import Phase, Step


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
    drill = ScenarioDrill(
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
    drill: ScenarioDrill | None = None
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
            drill = ScenarioDrill(
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
    drill: ScenarioDrill | None, session: Session, options: DrillOptions, interrupted: bool
) -> None:
    """The end of a drill or a game day: the load stopped, the platform stopped (if ours)."""
    if interrupted:
        session.step(Phase.STOP, "interrupted: stopping the load generator and the platform")
    if drill is not None:
        await drill.drop_load()
    await session.close(keep=options.keep, interrupted=interrupted, stop_s=options.deadlines.stop_s)
