"""`gitops demo`: the drill (docs/platform/drill.md). Deploy the known-good version on the
embedded platform, push a change that passes CI but breaks readiness once deployed, and watch the
platform halt the rollout, roll back in Git and serve the known-good version again, under load.

Exit 0 only when the known-good version runs again, exactly one rollback commit exists for the
bad revision and no request failed; 1 otherwise (with the reasons), 2 for usage errors, 130 when
interrupted (Ctrl-C or SIGTERM: the load and the platform are stopped first).

Without `--headless` the operator console shows the drill live (console.drill.live) when stdout
is a terminal; otherwise, and with `--headless`, the steps are printed as they happen.

`--scenario NAME` picks the failure (console.drill.scenarios); `--all` runs the game day, every
scenario the platform supports in a row on one platform (live or printed, as one drill), and
ends with one table; exit 0 only when every scenario met its row.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from pathlib import Path

from console.commands.common import EXIT_FAILED, EXIT_OK, UsageError
from console.drill.gameday import GameDay, table
from console.drill.live import run_with_console
from console.drill.options import DrillOptions, DrillUsageError
from console.drill.result import DrillResult
from console.drill.runner import run_drill, run_gameday
from console.drill.scenarios import UnknownScenarioError
from console.drill.scenarios import get as scenario_named
from console.drill.steps import Step
from console.drill.timeline import assemble, render

EXIT_INTERRUPTED = 130


def _print(line: str = "") -> None:
    print(line, flush=True)


def _summary(outcome: DrillResult) -> None:
    facts, d = outcome.facts, outcome.durations
    origin = facts.load.started_at or facts.started_at
    _print()
    _print("timeline (UTC, + seconds since the load started):")
    for line in render(assemble(facts), origin):
        _print(f"  {line}")

    def secs(value: float | None) -> str:
        return f"{value:.3f}s" if value is not None else "-"

    _print()
    _print(
        f"detect {secs(d.detect_s)}  recover {secs(d.recover_s)}  mttr {secs(d.mttr_s)}  "
        f"requests {facts.load.total} sent, {facts.load.failed} failed"
    )
    _print(f"post-mortem: {outcome.postmortem}")
    if outcome.recovered and facts.refused_commit is not None:
        _print(
            f"refused: the deploy repo's gate refused {facts.refused_commit.sha[:7]}; nothing "
            f"deployed, {facts.app} serves the known-good {facts.good_version[:7]}, no request "
            "failed"
        )
    elif outcome.recovered and facts.scenario == "healthy":
        _print(
            f"passed: {facts.app} serves the new {facts.final_version[:7]}, no rollback, no "
            "request failed"
        )
    elif outcome.recovered:
        _print(
            f"recovered: {facts.app} serves the known-good {facts.good_version[:7]} again, "
            "one rollback commit, no request failed"
        )


def _gameday_summary(day: GameDay) -> None:
    _print()
    _print(f"game day {day.id}: {day.wall_s:.0f}s on one platform")
    for line in table(day.rows):
        _print(f"  {line}")
    _print(f"index post-mortem: {day.index}")


def _options(args: argparse.Namespace) -> DrillOptions:
    try:
        scenario = scenario_named(args.scenario).name
    except UnknownScenarioError as exc:
        raise UsageError(f"--scenario: {exc}") from None
    if args.with_analysis and not args.all:
        raise UsageError("--with-analysis goes with --all")
    options = DrillOptions(
        workspace=Path(args.workspace).expanduser() if args.workspace else None,
        config=Path(args.config),
        keep=args.keep,
        scenario=scenario,
    )
    ws = options.workspace
    if ws is not None and ws.exists() and not ws.is_dir():
        raise UsageError(f"{ws}: not a directory (--workspace)")
    return options


def _finish_gameday(day: GameDay, args: argparse.Namespace) -> int:
    _gameday_summary(day)
    if not day.passed:
        failed = [r.scenario.name for r in day.rows if not r.passed and not r.skipped]
        print(
            "gitops demo: the game day failed: " + ", ".join(failed or ["nothing ran"]),
            file=sys.stderr,
        )
    if args.json:
        _print(day.json_line())
    return EXIT_OK if day.passed else EXIT_FAILED


def run(args: argparse.Namespace) -> int:
    options = _options(args)

    def on_step(step: Step) -> None:
        _print(step.line())

    live = not args.headless and sys.stdout.isatty() and sys.stdin.isatty()

    async def main() -> DrillResult | GameDay | None:
        loop = asyncio.get_running_loop()
        work = (
            run_gameday(options, on_step, with_analysis=args.with_analysis)
            if args.all
            else run_drill(options, on_step)
        )
        drill: asyncio.Task[DrillResult | GameDay] = asyncio.create_task(work)
        signalled: list[int] = []

        def on_signal(signum: int) -> None:
            if not signalled:
                drill.cancel()
            else:
                print("gitops demo: stopping, please wait", file=sys.stderr, flush=True)
            signalled.append(signum)

        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, on_signal, sig)
        try:
            return await drill
        except asyncio.CancelledError:
            if signalled:
                return None
            raise
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM):
                with contextlib.suppress(Exception):
                    loop.remove_signal_handler(sig)

    outcome: DrillResult | GameDay | None
    try:
        if live:
            game = (
                (lambda on_step: run_gameday(options, on_step, with_analysis=args.with_analysis))
                if args.all
                else None
            )
            outcome, interrupted = asyncio.run(run_with_console(options, game))
            if interrupted:
                outcome = None
        else:
            outcome = asyncio.run(main())
    except DrillUsageError as exc:
        raise UsageError(str(exc)) from None
    if outcome is None:
        print("gitops demo: interrupted; the platform is stopped", file=sys.stderr)
        return EXIT_INTERRUPTED
    if isinstance(outcome, GameDay):
        return _finish_gameday(outcome, args)
    _summary(outcome)
    if not outcome.recovered:
        print("gitops demo: not recovered: " + "; ".join(outcome.problems), file=sys.stderr)
    if args.json:
        _print(outcome.json_line())
    return EXIT_OK if outcome.recovered else EXIT_FAILED
