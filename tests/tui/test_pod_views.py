"""The logs (`l`) and resource-tree (`t`) views against the embedded platform's Argo CD API (a
real HTTP server on 127.0.0.1 over an InMemorySource holding tests/tui/pods: a full-shape tree,
the pods' live objects, their log lines): the tree's rows, enter on a pod, follow, pause,
search, the container switch, follow off and on, every pod's lines from the detail, the ring's
bound over a long follow, and a target that cannot serve logs."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from textual.widgets import DataTable, Static

from console.fleet.argocd import ArgoCDSource
from console.fleet.follow import Pacing
from console.fleet.logs import LogLine
from console.fleet.model import Health
from console.fleet.source import SourceError
from console.local.argo.inmemory import InMemorySource
from console.tui.app import ConsoleApp
from console.tui.logview import LogRing
from console.tui.podfeeds import batches
from console.tui.targets import ConsoleTarget
from console.tui.treeview import tree_rows
from console.tui.widgets.logs import STOPPED, LogsScreen, LogView, line_text
from console.tui.widgets.matrix import FleetMatrix
from console.tui.widgets.tree import TreeScreen
from tests.fleet.support import FakeSleep, Server, record
from tests.tui import data, pods
from tests.tui.fakes import FakeSource, console_app, palette_search, target, until
from tests.tui.test_console_scale import SWAGGER, check

TOKEN = "pods-test-token-0123456789"  # noqa: S105 - a test token, served only on 127.0.0.1


@pytest.fixture
def fleet() -> InMemorySource:
    source = InMemorySource([record(pods.APP)])
    source.set_resource_tree(pods.APP, pods.tree())
    source.set_live_objects(pods.APP, pods.live_objects())
    for pod, container, content, second in pods.LOGS:
        source.append_log(
            pods.APP, pod, content, container=container, timestamp=pods.log_time(second)
        )
    return source


@pytest.fixture
def server(fleet: InMemorySource) -> Iterator[Server]:
    with Server(fleet, TOKEN) as running:
        yield running


def console(server: Server) -> ConsoleApp:
    def source() -> ArgoCDSource:
        pacing = Pacing(sleep=FakeSleep(), rng=lambda: 0.5)
        return ArgoCDSource(server.url, TOKEN, name="local", pacing=pacing)

    return console_app([ConsoleTarget("local", "argocd", source)])


async def on_backend_dev(pilot: Any, app: ConsoleApp) -> None:
    table = app.screen.query_one("#matrix", FleetMatrix)
    await until(pilot, lambda: table.row_count == 1)
    table.move_cursor(row=0, column=table.get_column_index("dev"))


def shown(app: ConsoleApp) -> list[str]:
    screen = app.screen
    views = screen.query(LogView) if isinstance(screen, LogsScreen) else None
    return views.first().plain_lines() if views else []  # [] until the screen is mounted


def logs_screen(app: ConsoleApp) -> LogsScreen:
    screen = app.screen
    assert isinstance(screen, LogsScreen), screen
    return screen


@pytest.mark.asyncio
async def test_tree_then_a_pods_logs(server: Server, fleet: InMemorySource) -> None:
    app = console(server)
    async with app.run_test(size=(100, 30)) as pilot:
        await on_backend_dev(pilot, app)
        await pilot.press("t")
        await until(pilot, lambda: isinstance(app.screen, TreeScreen) and app.screen.reads > 0)
        tree = app.screen
        assert isinstance(tree, TreeScreen)
        assert not tree.error
        assert [(r.prefix.strip(), r.kind, r.name) for r in tree.rows] == [
            ("", "Application", "backend-dev"),
            ("├─", "ConfigMap", "backend-config"),
            ("├─", "Service", "backend"),
            ("└─", "Deployment", "backend"),
            ("├─", "ReplicaSet", pods.RS_OLD),  # still has a pod; RS_EMPTY is history
            ("│  └─", "Pod", pods.POD_OLD),
            ("└─", "ReplicaSet", pods.RS_NEW),
            ("├─", "Pod", pods.POD_A),
            ("└─", "Pod", pods.POD_B),
        ]
        crashing = tree.rows[5]
        assert (crashing.health, crashing.restarts, crashing.ready) == (Health.DEGRADED, 7, "0/2")
        assert crashing.status.startswith("CrashLoopBackOff: back-off 5m0s")
        assert tree.rows[0].health is Health.HEALTHY  # the app's, from the stream

        table = tree.query_one("#tree", DataTable)
        table.move_cursor(row=3)  # the Deployment: enter opens nothing
        await pilot.press("enter")
        assert app.screen is tree
        table.move_cursor(row=7)
        await pilot.press("enter")  # pod A: two containers, backend first
        await until(pilot, lambda: len(shown(app)) == 6)
        screen = logs_screen(app)
        assert screen.containers == ("backend", "proxy")
        assert screen.query_sent is not None
        assert (screen.query_sent.pod, screen.query_sent.container) == (pods.POD_A, "backend")
        assert shown(app)[0] == "11:55:00 starting backend 0.4.1 (commit b2b2b2b)"
        assert "pod backend-5d8f7c9b4-x2x7q  container backend 1/2" in screen.head_text().plain

        await follow_and_pause(pilot, app, fleet)
        await search(pilot, app)
        await container_and_follow_off(pilot, app, fleet)

        assert [w for w in app.workers if w.group == "logs" and w.is_running]
        await pilot.press("escape")
        assert app.screen is tree
        # Leaving the logs ends their stream: its worker belonged to the screen.
        await until(pilot, lambda: not [w for w in app.workers if w.group == "logs"])
        await pilot.press("escape")
        assert app.fleet_screen is app.screen


async def follow_and_pause(pilot: Any, app: ConsoleApp, fleet: InMemorySource) -> None:
    """Follow: a new line of the container read arrives, another container's does not. Pause:
    the stream goes on into the ring; the view holds still until resumed."""
    screen = logs_screen(app)
    fleet.append_log(pods.APP, pods.POD_A, "proxy: upstream reset", container="proxy")
    fleet.append_log(pods.APP, pods.POD_A, "GET /late 200", container="backend")
    await until(pilot, lambda: len(shown(app)) == 7)
    assert shown(app)[-1].endswith("GET /late 200")

    await pilot.press("space")
    fleet.append_log(pods.APP, pods.POD_A, "GET /while-paused 200", container="backend")
    await until(pilot, lambda: len(screen.ring) == 8)
    assert len(shown(app)) == 7
    assert screen.held == 1
    assert "paused +1 new" in screen.head_text().plain
    await pilot.press("space")
    assert shown(app)[-1].endswith("GET /while-paused 200")


async def search(pilot: Any, app: ConsoleApp) -> None:
    """Only the lines that match, case folded; esc clears, and a second esc leaves."""
    screen = logs_screen(app)
    await pilot.press("slash", "H", "E")  # only /healthz has "he"
    assert [line[9:] for line in shown(app)] == ["GET /healthz 200 0.4ms", "GET /healthz 200 0.3ms"]
    assert "search HE: 2 matching" in screen.head_text().plain
    await pilot.press("enter")  # the search stays, the box goes
    assert len(shown(app)) == 2
    await pilot.press("escape")
    assert len(shown(app)) == 8
    assert app.screen is screen


async def container_and_follow_off(pilot: Any, app: ConsoleApp, fleet: InMemorySource) -> None:
    """`c`: the proxy's lines, from the tail again. `f` off: the tail is read once and the
    stream ends; on again: a new tail, with what came meanwhile."""
    screen = logs_screen(app)
    await pilot.press("c")
    await until(pilot, lambda: len(shown(app)) == 3)
    assert screen.query_sent is not None
    assert screen.query_sent.container == "proxy"
    assert shown(app)[-1].endswith("proxy: upstream reset")

    await pilot.press("f")
    await until(pilot, lambda: screen.state == STOPPED)
    fleet.append_log(pods.APP, pods.POD_A, "envoy: drained", container="proxy")
    await pilot.press("f")
    await until(pilot, lambda: len(shown(app)) == 4)
    assert screen.following
    assert shown(app)[-1].endswith("envoy: drained")


@pytest.mark.asyncio
async def test_every_pods_logs_and_the_ring(server: Server, fleet: InMemorySource) -> None:
    app = console(server)
    async with app.run_test(size=(100, 30)) as pilot:
        await on_backend_dev(pilot, app)
        await pilot.press("enter")
        await pilot.press("l")  # over the history table's `l`
        await until(pilot, lambda: len(shown(app)) == 10)  # the current pods' backend lines
        screen = logs_screen(app)
        assert screen.query_sent is not None
        assert screen.query_sent.pod is None  # two current pods: every pod's stream
        assert {line.split(" │ ")[0][9:] for line in shown(app)} == {pods.POD_A, pods.POD_B}
        assert "pod every current pod" in screen.head_text().plain
        # Follow off and on reads the pods anew (a rollout replaces them), in the container
        # chosen last.
        await pilot.press("c")
        await until(pilot, lambda: len(shown(app)) == 2)  # pod A's proxy lines
        await pilot.press("f")
        await until(pilot, lambda: screen.state == STOPPED)
        await pilot.press("f")
        await until(pilot, lambda: screen.state == "following" and len(shown(app)) == 2)
        assert screen.query_sent is not None
        assert (screen.query_sent.pod, screen.query_sent.container) == (None, "proxy")
        await pilot.press("escape")
        assert app.screen.__class__.__name__ == "DetailScreen"

        # A long follow keeps the newest lines only (10 000 in the app; 50 here).
        app.push_screen(LogsScreen(("local", "argocd/backend-dev"), pod=pods.POD_B, limit=50))
        await until(pilot, lambda: len(shown(app)) == 4)
        for i in range(300):
            fleet.append_log(pods.APP, pods.POD_B, f"GET /orders/{i} 200", container="backend")
        screen = logs_screen(app)
        await until(pilot, lambda: screen.ring.received == 304)
        assert len(screen.ring) == 50
        assert screen.ring.dropped == 254
        assert len(shown(app)) == 50
        assert shown(app)[-1].endswith("GET /orders/299 200")
        assert "50 lines (the newest; 254 older dropped)" in screen.head_text().plain
        # Following, the view stays on the newest lines, however many came at once.
        view = screen.query_one(LogView)
        # The scroll waits for the layout of the new lines (the next refresh): a condition.
        await until(pilot, lambda: view.max_scroll_y > 0 and view.is_vertical_scroll_end)
        assert view.scroll_offset.y == view.max_scroll_y, "following, but not at the end"


@pytest.mark.asyncio
async def test_a_context_target_says_why_not() -> None:
    """The Kubernetes API serves neither Argo CD's trees nor its logs: the keys say so."""
    app = console_app([target(FakeSource("kind-prod", data.fleet()), kind="context")])
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: len(app.store.apps) == len(data.fleet()))
        for key in ("L", "t"):
            app.last_refusal = ""
            await pilot.press(key)  # on backend-dev, under the cursor from the start
            assert app.last_refusal.startswith("kind-prod: logs and resource trees are read")
            assert app.screen is app.fleet_screen


@pytest.mark.asyncio
@pytest.mark.parametrize(("typed", "screen"), [("logs", LogsScreen), (":tree", TreeScreen)])
async def test_the_palette_opens_them(typed: str, screen: type) -> None:
    source = FakeSource("demo", data.fleet())
    source.tree, source.live = pods.tree(), pods.live_objects()
    app = console_app([target(source)])
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: len(app.store.apps) == len(data.fleet()))
        await palette_search(pilot, app, typed)
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, screen))
        assert app.screen.app_id == ("demo", "argocd/backend-dev")  # the app under the cursor


@pytest.mark.asyncio
async def test_a_tree_that_cannot_be_read_says_why_and_is_read_again() -> None:
    source = FakeSource("demo", data.fleet())
    source.tree_error = SourceError("cannot reach Argo CD at https://argocd.example: refused")
    app = console_app([target(source)])
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: len(app.store.apps) == len(data.fleet()))
        tree = TreeScreen(("demo", "argocd/backend-dev"), refresh_s=0.05)
        app.push_screen(tree)
        await until(pilot, lambda: bool(tree.error))
        assert str(tree.query_one("#tree-head", Static).render()).startswith("cannot reach")
        source.tree_error, source.tree = None, pods.tree()
        await until(pilot, lambda: not tree.error and len(tree.rows) == 9)


@pytest.mark.asyncio
async def test_batches_take_what_is_there() -> None:
    gate = asyncio.Event()

    async def lines() -> AsyncIterator[int]:
        for i in range(5):
            yield i
        await gate.wait()
        yield 5
        raise RuntimeError("the stream broke")

    got: list[list[int]] = []

    async def read() -> None:
        async for batch in batches(lines(), size=3):
            got.append(batch)
            if sum(map(len, got)) == 5:
                gate.set()

    with pytest.raises(RuntimeError, match="the stream broke"):
        await read()
    assert [n for batch in got for n in batch] == [0, 1, 2, 3, 4, 5]
    assert all(len(batch) <= 3 for batch in got)
    assert len(got) < 6  # lines read together went together


def test_a_line_as_shown() -> None:
    """ANSI colours are kept (as styles, not codes), tabs expanded, a stray newline flattened;
    the search's match is highlighted whatever its case."""
    at = datetime(2026, 8, 1, 12, 0, 5, tzinfo=UTC)
    line = LogLine("pod-a", "\x1b[31mERROR\x1b[0m\tdb\r\ndown", at)
    text = line_text(line, "error", UTC, pods=True)
    assert text.plain == "12:00:05 pod-a │ ERROR   db down"
    styles = {str(span.style) for span in text.spans}
    assert "color(1)" in styles  # ANSI red
    assert "black on yellow" in styles
    assert line_text(line, "", UTC, pods=False).plain == "12:00:05 ERROR   db down"


def test_ring() -> None:
    ring = LogRing(3)
    ring.extend([LogLine("p", f"line {i}") for i in range(5)])
    assert [line.content for line in ring] == ["line 2", "line 3", "line 4"]
    assert (ring.received, ring.dropped) == (5, 2)
    assert [line.content for line in ring.matching("LINE 3")] == ["line 3"]
    ring.clear()
    assert (len(ring), ring.dropped) == (0, 0)


@pytest.mark.skipif(not SWAGGER.is_file(), reason=f"{SWAGGER} is absent (../shared holds it)")
def test_the_tree_is_argo_cds_shape() -> None:
    check(pods.tree(), {"$ref": "#/definitions/v1alpha1ApplicationTree"})
    cyclic = {
        "nodes": [
            {"kind": "A", "name": "a", "parentRefs": [{"kind": "B", "name": "b"}]},
            {"kind": "B", "name": "b", "parentRefs": [{"kind": "A", "name": "a"}]},
            {"kind": "Pod", "name": "orphan", "parentRefs": [{"kind": "ReplicaSet", "name": "x"}]},
        ]
    }
    # The orphan's parent is not in the tree; a and b are each other's: all shown, once.
    assert [r.name for r in tree_rows("app", cyclic)] == ["app", "orphan", "a", "b"]
