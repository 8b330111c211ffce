"""The drill shown live in the operator console: `gitops demo` without `--headless`.

The drill runs beside the console in one asyncio loop, not inside it: the console only shows it.
Each step reaches the console as a message and becomes a line of its events pane; once the
platform is ready its workspace joins the console as a target, so the fleet matrix shows the
versions changing, the health, and the rollback in the timeline as they happen. Quitting the
console (or Ctrl-C, SIGTERM) while the drill runs interrupts the drill, whose own cleanup stops
the load and the platform; after the drill the console stays until the operator quits it.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable, Coroutine
from datetime import datetime
from pathlib import Path
from typing import Any

from textual.message import Message

from console.drill.gameday import GameDay
from console.drill.options import DrillOptions
from console.drill.result import DrillResult
from console.drill.runner import run_drill
from console.drill.steps import Phase, Step
from console.fleet.targets import TargetError
from console.tui.adapter import Timing
from console.tui.app import ConsoleApp
from console.tui.targets import workspace

# The drill moves in seconds: probe and re-read faster than an operator's console would.
DRILL_TIMING = Timing(probe_s=1.0, probe_timeout_s=1.0, repo_s=1.0, guard_s=1.0)
EVENT_KIND = "Drill"


class DrillStepped(Message):
    def __init__(self, step: Step) -> None:
        super().__init__()
        self.step = step


class DrillFinished(Message):
    def __init__(self, outcome: DrillResult | GameDay | None, error: str = "") -> None:
        super().__init__()
        self.outcome, self.error = outcome, error


class DrillConsole(ConsoleApp):
    """The console with the drill's steps in its events pane and its workspace as the target
    as soon as the platform is ready."""

    def __init__(self, *, clock: Callable[[], datetime] | None = None) -> None:
        if clock is None:
            super().__init__([], timing=DRILL_TIMING)
        else:
            super().__init__([], timing=DRILL_TIMING, clock=clock)
        self.title = "gitops demo"
        self.sub_title = "the drill: starting the platform"

    def on_drill_stepped(self, message: DrillStepped) -> None:
        step = message.step
        self.store.note(step.at, EVENT_KIND, "", f"{step.phase.value}: {step.message}")
        ready = step.data.get("workspace")
        if step.phase is Phase.PLATFORM and isinstance(ready, str):
            with contextlib.suppress(TargetError):  # the pane still tells the drill's story
                target = workspace(Path(ready))
                if target.name not in self.targets:
                    self.add_target(target)
        self.sub_title = f"the drill: {step.phase.value}"
        self.dirty()

    def on_drill_finished(self, message: DrillFinished) -> None:
        outcome = message.outcome
        if outcome is None:
            verdict = f"the drill stopped: {message.error}" if message.error else "interrupted"
            self.notify(verdict, severity="error", timeout=30)
        elif isinstance(outcome, GameDay):
            ran = [r for r in outcome.rows if r.outcome is not None]
            passed = sum(r.passed for r in ran)
            verdict = f"game day: {passed} of {len(ran)} scenarios met their row"
            skipped = [r.scenario.name for r in outcome.rows if r.skipped]
            if skipped:
                verdict += f" ({', '.join(skipped)} skipped)"
            if outcome.passed:
                self.notify(verdict + " · q quits", timeout=60)
            else:
                failed = [r.scenario.name for r in outcome.rows if not r.passed and not r.skipped]
                verdict += "; failed: " + ", ".join(failed)
                self.notify(verdict, severity="error", timeout=60)
        elif outcome.recovered and outcome.facts.refused_commit is not None:
            verdict = (
                f"refused at the gate: nothing deployed, known-good "
                f"{outcome.facts.good_version[:7]} serves, 0 of {outcome.facts.load.total} "
                "requests failed"
            )
            self.notify(verdict + " · q quits", timeout=60)
        elif outcome.recovered:
            mttr = outcome.durations.mttr_s
            verdict = (
                f"recovered: known-good {outcome.facts.good_version[:7]} serves again, "
                f"MTTR {mttr:.1f}s, 0 of {outcome.facts.load.total} requests failed"
                if mttr is not None
                else "recovered"
            )
            self.notify(verdict + " · q quits", timeout=60)
        else:
            verdict = "not recovered: " + "; ".join(outcome.problems)
            self.notify(verdict, severity="error", timeout=60)
        self.sub_title = f"the drill: {verdict} · q to quit"
        self.store.note(self.clock(), EVENT_KIND, "", verdict)
        self.dirty()


Work = Callable[[Callable[[Step], None]], Coroutine[Any, Any, DrillResult | GameDay]]


async def run_with_console(
    options: DrillOptions, work: Work | None = None
) -> tuple[DrillResult | GameDay | None, bool]:
    """Run the drill (or `work`, given the step callback: the game day) with the console open;
    (the outcome, whether it was interrupted). Raises what the drill raises for bad input
    (DrillUsageError) once the console is closed."""
    app = DrillConsole()
    loop = asyncio.get_running_loop()

    def on_step(step: Step) -> None:
        app.post_message(DrillStepped(step))

    started = work(on_step) if work is not None else run_drill(options, on_step)
    drill: asyncio.Task[DrillResult | GameDay] = asyncio.create_task(started)
    ui = asyncio.create_task(app.run_async())
    interrupted = False

    def on_signal() -> None:
        nonlocal interrupted
        interrupted = True
        drill.cancel()
        app.exit()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal)
    try:
        await asyncio.wait((drill, ui), return_when=asyncio.FIRST_COMPLETED)
        if not drill.done():  # the operator quit the console mid-drill
            interrupted = True
            drill.cancel()
        outcome: DrillResult | GameDay | None = None
        error = ""
        try:
            outcome = await drill
        except asyncio.CancelledError:
            interrupted = True
        except Exception as exc:
            error = str(exc)
            if ui.done():
                raise
            app.post_message(DrillFinished(None, error))
            await ui
            raise
        if not ui.done():
            app.post_message(DrillFinished(outcome))
            await ui  # until the operator quits
        return outcome, interrupted
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(Exception):
                loop.remove_signal_handler(sig)
        if not ui.done():
            app.exit()
            with contextlib.suppress(Exception):
                await ui
