"""`gitops demo`: the drill (docs/platform/drill.md). Deploy the known-good version on the
embedded platform, push a change that passes CI but breaks readiness once deployed, and watch the
platform halt the rollout, roll back in Git and serve the known-good version again, under load.

Exit 0 only when the known-good version runs again, exactly one rollback commit exists for the
bad revision and no request failed; 1 otherwise (with the reasons), 2 for usage errors, 130 when
interrupted (Ctrl-C or SIGTERM: the load and the platform are stopped first).

Without `--headless` the operator console shows the drill live (console.drill.live) when stdout
is a terminal; otherwise, and with `--headless`, the steps are printed as they happen.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from pathlib import Path

from console.commands.common import EXIT_FAILED, EXIT_OK, UsageError
from console.drill.live import run_with_console
from console.drill.options import DrillOptions, DrillUsageError
from console.drill.result import DrillResult
from console.drill.runner import run_drill
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
    if outcome.recovered:
        _print(
            f"recovered: {facts.app} serves the known-good {facts.good_version[:7]} again, "
            "one rollback commit, no request failed"
        )


def run(args: argparse.Namespace) -> int:
    options = DrillOptions(
        workspace=Path(args.workspace).expanduser() if args.workspace else None,
        config=Path(args.config),
        keep=args.keep,
    )
    ws = options.workspace
    if ws is not None and ws.exists() and not ws.is_dir():
        raise UsageError(f"{ws}: not a directory (--workspace)")

    def on_step(step: Step) -> None:
        _print(step.line())

    live = not args.headless and sys.stdout.isatty() and sys.stdin.isatty()

    async def main() -> DrillResult | None:
        loop = asyncio.get_running_loop()
        drill = asyncio.create_task(run_drill(options, on_step))
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

    try:
        if live:
            outcome, interrupted = asyncio.run(run_with_console(options))
            if interrupted:
                outcome = None
        else:
            outcome = asyncio.run(main())
    except DrillUsageError as exc:
        raise UsageError(str(exc)) from None
    if outcome is None:
        print("gitops demo: interrupted; the platform is stopped", file=sys.stderr)
        return EXIT_INTERRUPTED
    _summary(outcome)
    if not outcome.recovered:
        print("gitops demo: not recovered: " + "; ".join(outcome.problems), file=sys.stderr)
    if args.json:
        _print(outcome.json_line())
    return EXIT_OK if outcome.recovered else EXIT_FAILED
