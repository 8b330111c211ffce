"""Screenshots of every screen at 80x24 and 160x48, over the fixed fleet and clock of
tests/tui/data (regenerate with `uv run pytest tests/tui --snapshot-update`, then look at the
SVGs in tests/tui/__snapshots__)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import DataTable, Input
from textual.widgets.data_table import ColumnKey

from console.fleet.logs import LogLine
from console.fleet.source import Down
from console.tui.app import ConsoleApp
from console.tui.widgets.banner import StaleBanner
from console.tui.widgets.diff import DiffScreen
from console.tui.widgets.logs import LogsScreen, LogView
from console.tui.widgets.tree import TreeScreen
from tests.tui import data, pods
from tests.tui.fakes import FakeSource, console_app, loaded, target, until

SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((160, 48), id="160x48")]
Steps = Callable[[Pilot[Any], ConsoleApp, FakeSource], Awaitable[None]]


async def fleet(pilot: Pilot[Any], app: ConsoleApp, source: FakeSource) -> None:
    pass


async def detail(pilot: Pilot[Any], app: ConsoleApp, source: FakeSource) -> None:
    await pilot.press("enter")  # backend-dev: under the cursor from the start
    await until(pilot, lambda: app.screen.query_one("#history").row_count == 3)
    await until(pilot, lambda: not app.store.missing_history_pins(("demo", "argocd/backend-dev")))


async def rollbacks(pilot: Pilot[Any], app: ConsoleApp, source: FakeSource) -> None:
    await pilot.press("b")
    await until(pilot, lambda: app.screen.query_one("#rollbacks").row_count == 2)


async def help_screen(pilot: Pilot[Any], app: ConsoleApp, source: FakeSource) -> None:
    await pilot.press("question_mark")


async def confirm(pilot: Pilot[Any], app: ConsoleApp, source: FakeSource) -> None:
    await detail(pilot, app, source)
    await pilot.press("j", "j", "r")  # back to 2222222
    reason = app.screen.query_one("#reason", Input)
    reason.cursor_blink = False
    reason.insert_text_at_cursor("checkout errors")  # as typed, without a pilot round per key


async def diff(pilot: Pilot[Any], app: ConsoleApp, source: FakeSource) -> None:
    await detail(pilot, app, source)
    await pilot.press("d")  # on 4444444: the guard's rollback, against its parent 3333333
    await until(pilot, lambda: isinstance(app.screen, DiffScreen) and app.screen.diff is not None)
    assert source.rendered == [data.C3, data.C4]


async def tree(pilot: Pilot[Any], app: ConsoleApp, source: FakeSource) -> None:
    await pilot.press("t")  # backend-dev
    await until(pilot, lambda: isinstance(app.screen, TreeScreen) and app.screen.reads > 0)
    # The table measures new rows when idle: until then its columns are as wide as the labels.
    table = app.screen.query_one("#tree", DataTable)
    await until(pilot, lambda: table.columns[ColumnKey("RESOURCE")].content_width > len("RESOURCE"))


async def pod_logs(pilot: Pilot[Any], app: ConsoleApp, source: FakeSource) -> None:
    await tree(pilot, app, source)
    screen = app.screen
    assert isinstance(screen, TreeScreen)
    screen.query_one("#tree", DataTable).move_cursor(row=row_of(screen, pods.POD_A))
    await pilot.press("enter")
    await until(pilot, lambda: logs_shown(app) == 6)  # pod A's backend container


async def app_logs(pilot: Pilot[Any], app: ConsoleApp, source: FakeSource) -> None:
    await pilot.press("L")  # every current pod of backend-dev, the backend container
    await until(pilot, lambda: logs_shown(app) == 10)
    await pilot.press("slash", *"order")
    app.screen.query_one("#log-search", Input).cursor_blink = False
    await until(pilot, lambda: logs_shown(app) == 4)


def row_of(screen: TreeScreen, name: str) -> int:
    return next(i for i, row in enumerate(screen.rows) if row.name == name)


def logs_shown(app: ConsoleApp) -> int:
    screen = app.screen
    return screen.query_one(LogView).line_count if isinstance(screen, LogsScreen) else -1


def with_pods(source: FakeSource) -> FakeSource:
    source.tree = pods.tree()
    source.live = pods.live_objects()
    source.log_lines = [
        (pod, container, LogLine(pod, content, pods.log_time(second)))
        for pod, container, content, second in pods.LOGS
    ]
    return source


async def banner(pilot: Pilot[Any], app: ConsoleApp, source: FakeSource) -> None:
    error = "cannot reach Argo CD at https://127.0.0.1:8080: Connection refused"
    source.push(Down(error, data.at(2), 4))
    await until(pilot, lambda: app.screen.query_one(StaleBanner).display)


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize(
    "steps",
    [
        pytest.param(fleet, id="fleet"),
        pytest.param(detail, id="detail"),
        pytest.param(rollbacks, id="rollbacks"),
        pytest.param(help_screen, id="help"),
        pytest.param(confirm, id="confirm"),
        pytest.param(diff, id="diff"),
        pytest.param(banner, id="banner"),
        pytest.param(tree, id="tree"),
        pytest.param(pod_logs, id="logs"),
        pytest.param(app_logs, id="logs-search"),
    ],
)
def test_screens(snap_compare: Any, guard_file: Path, size: tuple[int, int], steps: Steps) -> None:
    # The banner's fleet was read 3 minutes ago, before the outage began.
    source = with_pods(
        FakeSource("demo", data.fleet(), at=data.at(3) if steps is banner else data.NOW)
    )
    app = console_app([target(source, guard_events=guard_file)])

    async def run_before(pilot: Pilot[Any]) -> None:
        await until(pilot, lambda: loaded(app))
        await steps(pilot, app, source)
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=run_before)
