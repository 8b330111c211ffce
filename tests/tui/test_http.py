"""The console against a real HTTP server speaking the Argo CD API (the embedded platform's API
on 127.0.0.1, over an InMemorySource): it lists, follows the stream, syncs through the API, and
shows an outage as a banner; and ArgoCDSource.sync's answers."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest

from console.fleet.argocd import ArgoCDSource
from console.fleet.follow import Pacing
from console.fleet.placement import Placing
from console.fleet.source import SourceError
from console.local.argo.inmemory import InMemorySource
from console.local.argo.requests import SyncRequest
from console.tui.fleetview import Matrix
from console.tui.targets import ConsoleTarget
from console.tui.widgets.banner import StaleBanner
from console.tui.widgets.confirm import ConfirmScreen
from console.tui.widgets.matrix import FleetMatrix
from tests.fleet import byo_data
from tests.fleet.support import Answer, FakeSleep, Server, manifest, record, with_health
from tests.tui.fakes import console_app, until

pytestmark = pytest.mark.asyncio
STREAM = "/api/v1/stream/applications"
TOKEN = "console-test-token-0123456789"  # noqa: S105 - a test token, served only on 127.0.0.1


@pytest.fixture
def fleet() -> InMemorySource:
    prod = replace(
        record("backend-prod", revision="b" * 40), manifest=manifest("backend-prod", env="prod")
    )
    return InMemorySource([record("backend-dev"), prod])


@pytest.fixture
def server(fleet: InMemorySource) -> Iterator[Server]:
    running = Server(fleet, TOKEN).start()
    yield running
    running.stop()


def source(url: str, token: str = TOKEN, **pacing: Any) -> ArgoCDSource:
    paced = Pacing(sleep=FakeSleep(), rng=lambda: 0.5, **pacing)
    return ArgoCDSource(url, token, name="local", pacing=paced)


async def test_console_over_the_argo_cd_api(server: Server, fleet: InMemorySource) -> None:
    target = ConsoleTarget("local", "argocd", lambda: source(server.url))
    app = console_app([target])
    async with app.run_test(size=(160, 48)) as pilot:
        table = app.screen.query_one("#matrix", FleetMatrix)
        await until(pilot, lambda: table.row_count == 1)
        assert table.get_cell("backend", "prod").plain.startswith("✓ Healthy ✓ Synced")

        fleet.update("backend-prod", with_health("Degraded", "pods crash"))
        await until(pilot, lambda: "Degraded" in table.get_cell("backend", "prod").plain)

        table.move_cursor(row=0, column=table.get_column_index("prod"))
        await pilot.press("s")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("ctrl+y")
        await until(pilot, lambda: any(e.kind == "Sync" for e in app.store.events))
        requests = fleet.take_requests()
        assert [r.app for r in requests if isinstance(r, SyncRequest)] == ["backend-prod"]

        server.stop()
        banner = app.screen.query_one(StaleBanner)
        await until(pilot, lambda: banner.display)
        assert "STALE local" in str(banner.render())
        assert "Degraded" in table.get_cell("backend", "prod").plain  # kept, marked stale
        assert "stale" in table.get_cell("backend", "prod").plain
        server.start()  # same port: the source reconnects and the banner goes
        await until(pilot, lambda: not banner.display, timeout=20)


async def test_a_target_without_a_stream_is_polled_and_stays_live(fleet: InMemorySource) -> None:
    """A proxied Argo CD that lists but answers the stream with 404: the console says once
    that it polls, never Down nor Up, shows the target live (no stale banner, no stale cell),
    and a change arrives by polling. A real HTTP server on 127.0.0.1."""

    def proxy(scope: dict[str, Any]) -> Answer:
        return (404, b"404 page not found", "text/plain") if scope["path"] == STREAM else None

    server = Server(fleet, TOKEN, proxy).start()
    target = ConsoleTarget("local", "argocd", lambda: source(server.url, poll_s=0.05))
    app = console_app([target])
    try:
        async with app.run_test(size=(160, 48)) as pilot:
            table = app.screen.query_one("#matrix", FleetMatrix)
            await until(pilot, lambda: table.row_count == 1)
            fleet.update("backend-prod", with_health("Degraded", "pods crash"))
            await until(pilot, lambda: "Degraded" in table.get_cell("backend", "prod").plain)
            kinds = [e.kind for e in app.store.events if e.target == "local"]
            assert kinds.count("Polling") == 1, kinds
            assert "Down" not in kinds, kinds
            assert "Up" not in kinds, kinds
            polling = next(e for e in app.store.events if e.kind == "Polling")
            assert "HTTP 404" in polling.message
            assert not polling.warning
            assert not app.store.targets["local"].stale
            assert not app.screen.query_one(StaleBanner).display
            assert "stale" not in table.get_cell("backend", "prod").plain
    finally:
        server.stop()


async def test_two_argo_cds_without_the_platforms_labels_fill_the_matrix() -> None:
    """Bring your own Argo CD: two real HTTP servers (the embedded API) holding 40 full-shape
    Applications without the platform's labels (tests/fleet/byo_data.py). The matrix places
    every app with an environment in its name or namespace (`prd` as `--map-env prd=prod`
    says), splitting the environments both targets hold; Argo CD itself, the app-of-apps and
    the add-ons stay under OTHER APPS."""
    servers = {
        region: Server(InMemorySource(byo_data.records(docs())), TOKEN).start()
        for region, docs in (("eu", byo_data.eu), ("us", byo_data.us))
    }
    targets = [
        ConsoleTarget(region, "argocd", lambda url=server.url: source(url))
        for region, server in servers.items()
    ]
    expected = {"eu": byo_data.EXPECTED_EU, "us": byo_data.EXPECTED_US}
    app = console_app(targets, placing=Placing(envs={"prd": "prod"}))
    try:
        async with app.run_test(size=(160, 48)) as pilot:
            await until(pilot, lambda: len(app.store.apps) == 40)
            await until(pilot, lambda: app.matrix is not None and app.matrix.total == 40)
            matrix = app.matrix
            assert matrix is not None
            cells = {
                (cell.facts.target, cell.facts.app.name): (row.key, matrix_env(matrix, column))
                for row in matrix.rows
                for column, cell in row.cells.items()
            }
            assert cells == {
                (region, name): where
                for region, apps in expected.items()
                for name, where in apps.items()
                if where is not None
            }
            others = sorted((f.target, f.app.name) for f in matrix.others)
            assert others == sorted(
                (region, name)
                for region, apps in expected.items()
                for name, where in apps.items()
                if where is None
            )
            columns = [c.key for c in matrix.columns]
            assert columns == ["dev@eu", "dev@us", "staging@eu", "staging@us", "prod@eu", "prod@us"]
            table = app.screen.query_one("#matrix", FleetMatrix)
            assert table.get_cell("cart", "prod@us").plain.startswith("✓ Healthy ✓ Synced")
            assert table.get_cell("billing", "prod@us").plain.startswith("✓ Healthy")
    finally:
        for server in servers.values():
            server.stop()


def matrix_env(matrix: Matrix, column: str) -> str:
    return next(c.env for c in matrix.columns if c.key == column)


async def test_sync_answers(server: Server) -> None:
    good = source(server.url)
    try:
        synced = await good.sync("argocd/backend-dev")
        assert synced.name == "backend-dev"
        with pytest.raises(SourceError) as missing:
            await good.sync("nope")
        assert missing.value.kind == "not_found"
    finally:
        await good.aclose()
    rejected = source(server.url, token="wrong-token-0123456789")  # noqa: S106
    try:
        with pytest.raises(SourceError) as denied:
            await rejected.sync("backend-dev")
        assert denied.value.kind == "auth"
        assert str(denied.value) == f"token rejected by Argo CD at {server.url}"
    finally:
        await rejected.aclose()
