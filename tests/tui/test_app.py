"""The console driven with the pilot over in-memory sources: what it shows, how it follows
changes (cells updated in place), outages (banner, stale cells), navigation, and the actions'
confirm-then-run flow."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pytest
from textual.message import Message

from console.fleet.model import Health, Sync
from console.fleet.source import Changed, Down, Snapshot, SourceError
from console.tui import messages as msg
from console.tui.adapter import Timing
from console.tui.app import ConsoleApp
from console.tui.deployrepo import RepoError
from console.tui.widgets.banner import StaleBanner
from console.tui.widgets.confirm import ConfirmScreen
from console.tui.widgets.detail import DetailScreen
from console.tui.widgets.fleet import FleetScreen
from console.tui.widgets.help import HelpScreen
from console.tui.widgets.matrix import FleetMatrix
from console.tui.widgets.rollbacks import RollbacksScreen
from tests.fleet.build import replace
from tests.tui import data, fakes
from tests.tui.fakes import FakeSource, console_app, loaded, palette_search, target, until

pytestmark = pytest.mark.asyncio


def matrix(app: ConsoleApp) -> FleetMatrix:
    return app.screen_stack[0].query_one("#matrix", FleetMatrix)


def cell(app: ConsoleApp, service: str, env: str) -> str:
    return matrix(app).get_cell(service, env).plain


def point_at(app: ConsoleApp, service: str, env: str) -> None:
    table = matrix(app)
    table.move_cursor(row=table.get_row_index(service), column=table.get_column_index(env))


async def test_fleet_loads_from_every_reader(guard_file: Path) -> None:
    seen: list[type[Message]] = []
    source = FakeSource("demo", data.fleet())
    app = console_app([target(source, guard_events=guard_file)])
    async with app.run_test(size=(160, 48), message_hook=lambda m: seen.append(type(m))) as pilot:
        await until(pilot, lambda: loaded(app))
        for kind in (
            msg.AppsListed,
            msg.VersionsProbed,
            msg.RepoRead,
            msg.PinsRead,
            msg.GuardEventsRead,
        ):
            assert kind in seen
        assert matrix(app).row_count == 2
        assert cell(app, "backend", "prod").splitlines() == [
            "✗ Degraded ⇡ OutOfSync",
            "git b2b2b2b live a1a1a1a",
            "25m ≠ drift",
        ]
        assert cell(app, "frontend", "staging") == "·"
        others = app.screen.query_one("#others")
        assert others.row_count == 2
    assert source.closed


async def test_a_change_updates_one_cell_in_place() -> None:
    source = FakeSource("demo", data.fleet())
    app = console_app([target(source)])
    async with app.run_test(size=(160, 48)) as pilot:
        await until(pilot, lambda: loaded(app))
        table = matrix(app)
        updates, rebuilds = table.updates, table.rebuilds
        prod = next(a for a in data.fleet() if a.name == "backend-prod")
        source.push(Changed(replace(prod, health=Health.HEALTHY, sync=Sync.SYNCED), data.NOW))
        await until(pilot, lambda: cell(app, "backend", "prod").startswith("✓ Healthy"))
        assert table.updates == updates + 1  # that one cell, nothing else
        assert table.rebuilds == rebuilds
        told = [(e.kind, e.message.partition(":")[0]) for e in list(app.store.events)[-2:]]
        assert told == [("Health", "Degraded → Healthy"), ("Sync", "OutOfSync → Synced")]


async def test_down_shows_the_banner_and_keeps_stale_values() -> None:
    source = FakeSource("demo", data.fleet())
    app = console_app([target(source)])
    async with app.run_test(size=(160, 48)) as pilot:
        await until(pilot, lambda: loaded(app))
        banner = app.screen.query_one(StaleBanner)
        assert not banner.display
        source.push(
            Down("cannot reach Argo CD at https://argocd.example: Connection refused", data.NOW, 1)
        )
        await until(pilot, lambda: banner.display)
        assert "STALE demo: cannot reach Argo CD" in str(banner.render())
        assert cell(app, "backend", "prod").splitlines()[0] == "✗ Degraded ⇡ OutOfSync"
        assert "stale 0s" in cell(app, "backend", "prod")
        await pilot.press("s")  # no action on stale data
        assert "stale" in app.last_refusal
        source.push(Snapshot(tuple(data.fleet()), data.NOW))
        await until(pilot, lambda: not banner.display)
        assert "stale" not in cell(app, "backend", "prod")


@pytest.mark.slow
async def test_filter_sort_and_navigation() -> None:
    app = console_app([target(FakeSource("demo", data.fleet()))])
    async with app.run_test(size=(160, 48)) as pilot:
        await until(pilot, lambda: loaded(app))
        await pilot.press("slash", *"degraded")
        await until(pilot, lambda: matrix(app).row_count == 1)
        await pilot.press("enter")  # the filter stays, the matrix has the focus
        assert matrix(app).has_focus
        assert app.query_text == "degraded"
        await pilot.press("escape")
        await until(pilot, lambda: matrix(app).row_count == 2)
        await pilot.press("G")
        assert matrix(app).cursor_row == 1
        await pilot.press("g")
        assert matrix(app).cursor_row == 0
        await pilot.press("o")
        assert app.sort_mode == "health"
        await pilot.press("j", "l", "enter")  # frontend in staging: an empty cell
        assert isinstance(app.screen, FleetScreen)
        await pilot.press("k", "h", "enter")  # backend-dev
        assert isinstance(app.screen, DetailScreen)
        assert app.screen.app_id == ("demo", "argocd/backend-dev")
        await until(pilot, lambda: app.screen.query_one("#history").row_count == 3)
        await pilot.press("escape")
        assert isinstance(app.screen, FleetScreen)
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape", "b")
        assert isinstance(app.screen, RollbacksScreen)
        await until(pilot, lambda: app.screen.query_one("#rollbacks").row_count == 2)


@pytest.mark.parametrize("typed", ["rb", "rollbacks", ":rollback"])
async def test_command_palette_aliases(typed: str) -> None:
    app = console_app([target(FakeSource("demo", data.fleet()))])
    async with app.run_test(size=(120, 30)) as pilot:
        await until(pilot, lambda: loaded(app))
        top = await palette_search(pilot, app, typed)
        assert str(top.get_option_at_index(top.highlighted or 0).prompt).startswith(":rollbacks")
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, RollbacksScreen))


async def test_sync_is_confirmed_then_sent() -> None:
    done: list[msg.ActionDone] = []
    source = FakeSource("demo", data.fleet())
    app = console_app([target(source)])
    hook = lambda m: done.append(m) if isinstance(m, msg.ActionDone) else None  # noqa: E731
    async with app.run_test(size=(160, 48), message_hook=hook) as pilot:
        await until(pilot, lambda: loaded(app))
        point_at(app, "backend", "prod")
        await pilot.press("s")
        assert isinstance(app.screen, ConfirmScreen)
        preview = str(app.screen.query_one("#preview").render())
        assert "POST https://argocd.example/api/v1/applications/backend-prod/sync" in preview
        assert '"appNamespace": "argocd"' in preview
        await pilot.press("escape")  # cancel: nothing sent
        assert not source.synced
        await pilot.press("s", "ctrl+y")
        await until(pilot, lambda: bool(done))
        assert source.synced == ["argocd/backend-prod"]
        assert done[0].ok
        assert "sync of backend-prod requested" in done[0].message


async def test_a_rejected_sync_marks_the_token_read_only() -> None:
    source = FakeSource("demo", data.fleet())
    source.sync_error = SourceError("token rejected by Argo CD at https://argocd.example", "auth")
    app = console_app([target(source)])
    async with app.run_test(size=(160, 48)) as pilot:
        await until(pilot, lambda: loaded(app))
        point_at(app, "backend", "prod")
        await pilot.press("s", "ctrl+y")
        await until(pilot, lambda: "demo" in app.store.read_only)
        await pilot.press("s")
        assert app.last_refusal.startswith("the token for demo may not sync")
        assert not isinstance(app.screen, ConfirmScreen)


@pytest.mark.parametrize(
    ("kind", "key", "app_cell", "why"),
    [
        ("context", "s", ("backend", "dev"), "is a kubeconfig context"),
        ("workspace", "p", ("backend", "prod"), "backend's last environment"),
        ("workspace", "p", ("frontend", "prod"), "last environment"),
    ],
)
async def test_keys_say_why_not(kind: str, key: str, app_cell: tuple[str, str], why: str) -> None:
    app = console_app([target(FakeSource("demo", data.fleet()), kind=kind)])  # type: ignore[arg-type]
    async with app.run_test(size=(160, 48)) as pilot:
        await until(pilot, lambda: loaded(app))
        point_at(app, *app_cell)
        await pilot.press(key)
        await until(pilot, lambda: bool(app.last_refusal))
        assert why in app.last_refusal
        assert not isinstance(app.screen, ConfirmScreen)


async def test_rollback_with_auto_sync_off_says_why() -> None:
    app = console_app([target(FakeSource("demo", data.fleet()))])
    async with app.run_test(size=(160, 48)) as pilot:
        await until(pilot, lambda: loaded(app))
        point_at(app, "backend", "prod")
        await pilot.press("r")  # on the fleet: opens the detail to choose a revision
        assert isinstance(app.screen, DetailScreen)
        await until(pilot, lambda: app.screen.query_one("#history").row_count == 2)
        await pilot.press("j", "r")
        assert app.last_refusal.startswith("auto-sync is off for backend-prod")


async def test_the_target_that_cannot_be_opened_is_a_banner() -> None:
    def broken() -> FakeSource:
        raise SourceError("cannot load the CA bundle /nope: No such file", "config")

    good = FakeSource("demo", data.fleet())
    bad = fakes.ConsoleTarget("eu", "argocd", broken)
    app = console_app([target(good), bad])
    async with app.run_test(size=(160, 48)) as pilot:
        await until(pilot, lambda: app.store.targets["eu"].failed is not None)
        await until(pilot, lambda: app.screen.query_one(StaleBanner).display)
        assert "eu: cannot load the CA bundle" in str(app.screen.query_one(StaleBanner).render())
        assert len(app.store.apps) == len(data.fleet())  # the other target still shows


async def test_an_unreadable_deploy_repo_is_a_banner_line() -> None:
    class Broken(fakes.FakeRepo):
        def head(self) -> str:
            raise RepoError("cannot read the deploy repo /srv/git/deploy.git: not found")

        def pins(self, wanted: Iterable[tuple[str, str, str]]) -> dict[tuple[str, str], None]:
            return {(rev, path): None for rev, path, _ in wanted}

    app = console_app([target(FakeSource("demo", data.fleet()))], repo=Broken())
    async with app.run_test(size=(160, 48)) as pilot:
        banner = app.screen.query_one(StaleBanner)
        await until(pilot, lambda: banner.display)
        assert "cannot read the deploy repo /srv/git/deploy.git" in str(banner.render())
        assert cell(app, "backend", "prod").splitlines()[1] == "img a1a1a1a live a1a1a1a"


async def test_a_worker_that_fails_unexpectedly_says_so_and_starts_again() -> None:
    """A bug in a worker (here the deploy repo's reader raising what it never should) is never
    silent: it is an event in the console's pane, and the worker starts again after a back-off,
    so the repo is still read."""

    class Flaky(fakes.FakeRepo):
        failed = False

        def head(self) -> str:
            if not Flaky.failed:
                Flaky.failed = True
                raise RuntimeError("boom")
            return super().head()

    repo = Flaky()
    app = console_app(
        [target(FakeSource("demo", data.fleet()))],
        repo=repo,
        timing=Timing(probe_s=3600, repo_s=3600, guard_s=3600, restart_s=0.05),
    )
    async with app.run_test(size=(160, 48)) as pilot:
        await until(pilot, lambda: any(e.kind == "WorkerFailed" for e in app.store.events))
        [told] = [e for e in app.store.events if e.kind == "WorkerFailed"]
        assert "repo" in told.message
        assert "RuntimeError: boom" in told.message
        await until(pilot, lambda: repo.reads == 1)
        assert app.store.repo_for("demo") is not None
