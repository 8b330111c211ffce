"""The console's screenshots in console.md, taken from a real run: the console on a running
`gitops up` workspace, driven as an operator would (open an app, its tree, a pod's logs, the diff
of its newest history line, the rollbacks), each screen saved as SVG.

    uv run gitops up --workspace WS &          # and wait for "ready"
    uv run gitops demo --headless --workspace WS   # optional: a rollback to show
    uv run python docs/platform/console_shots.py --workspace WS [--app frontend-dev]

Every wait has a deadline; a screen that never shows what it should ends the run with the name
of what was missing (exit 1) instead of saving an empty picture.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from textual.widgets import DataTable

from console.tui.app import ConsoleApp
from console.tui.messages import OpenApp
from console.tui.targets import workspace as workspace_target
from console.tui.widgets.detail import DetailScreen
from console.tui.widgets.diff import DiffScreen
from console.tui.widgets.logs import LogsScreen, LogView
from console.tui.widgets.rollbacks import RollbacksScreen
from console.tui.widgets.tree import TreeScreen

SIZE = (160, 48)


async def until(pilot: Any, what: str, ok: Callable[[], bool], timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while not ok():
        if time.monotonic() > deadline:
            raise SystemExit(f"console_shots: {what} did not show within {timeout_s:g}s")
        await pilot.pause(0.1)


async def shoot(workspace: Path, app_name: str, out: Path) -> list[Path]:
    target = workspace_target(workspace)
    app = ConsoleApp([target])
    saved: list[Path] = []

    def save(name: str) -> None:
        path = Path(app.save_screenshot(f"console-{name}.svg", str(out)))
        saved.append(path)

    async with app.run_test(size=SIZE) as pilot:
        key = (target.name, f"argocd/{app_name}")
        await until(pilot, "the fleet", lambda: key in app.store.apps)
        await pilot.pause(1.0)  # the probes' versions and the deploy repo's facts
        save("fleet")

        app.post_message(OpenApp(key))
        await until(
            pilot,
            f"{app_name}'s history",
            lambda: (
                isinstance(app.screen, DetailScreen)
                and app.screen.query_one("#history", DataTable).row_count > 0
            ),
        )
        save("detail")
        detail = app.screen

        await pilot.press("t")
        await until(
            pilot,
            "the resource tree",
            lambda: isinstance(app.screen, TreeScreen) and app.screen.reads > 0,
        )
        tree = app.screen
        if not isinstance(tree, TreeScreen):
            raise SystemExit("console_shots: the tree screen went away")
        save("tree")
        pods = [i for i, row in enumerate(tree.rows) if row.kind == "Pod"]
        if not pods:
            raise SystemExit(f"console_shots: {app_name}'s tree has no pod")
        tree.query_one("#tree", DataTable).move_cursor(row=pods[-1])
        await pilot.press("enter")

        def lines() -> list[str]:
            screen = app.screen
            return screen.query_one(LogView).plain_lines() if isinstance(screen, LogsScreen) else []

        def following() -> bool:
            screen = app.screen
            return (
                isinstance(screen, LogsScreen) and screen.query_one(LogView).is_vertical_scroll_end
            )

        await until(pilot, "a pod's log lines", lambda: len(lines()) > 0)
        await until(pilot, "the newest log lines", following)
        save("logs")

        await pilot.press("escape", "escape")
        await until(pilot, "the app again", lambda: app.screen is detail)
        await pilot.press("d")  # the newest history line: after a drill, the rollback
        await until(
            pilot,
            "the diff",
            lambda: (
                isinstance(app.screen, DiffScreen)
                and (app.screen.diff is not None or bool(app.screen.error))
            ),
        )
        save("diff")

        await pilot.press("escape", "escape", "b")
        await until(pilot, "the rollbacks", lambda: isinstance(app.screen, RollbacksScreen))
        await pilot.pause(0.5)
        save("rollbacks")
    return saved


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workspace", type=Path, required=True)
    parser.add_argument(
        "--app", default="frontend-dev", help="the app to open (default: %(default)s)"
    )
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "img")
    args = parser.parse_args(argv)
    if not (args.workspace / "platform.json").is_file():
        print(f"console_shots: {args.workspace}: no platform.json (is gitops up ready?)")
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    for path in asyncio.run(shoot(args.workspace.absolute(), args.app, args.out)):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
