"""The drill in the console (`gitops demo` on a terminal), driven by the messages the drill
posts: its steps become lines of the events pane, the platform's workspace joins the fleet as
a target once it is ready, and the verdict is shown when it ends. The drill itself is not run
here (tests/e2e/test_platform_life.py runs it for real)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from console.drill.live import EVENT_KIND, DrillConsole, DrillFinished, DrillStepped
from console.drill.result import result
from console.drill.steps import Phase, Step
from tests.drill.support import at, facts
from tests.tui.fakes import until

pytestmark = pytest.mark.asyncio


def step(phase: Phase, message: str, seconds: float, **data: str) -> Step:
    return Step(phase, message, at(seconds), seconds, data)


def workspace(tmp_path: Path) -> Path:
    """A workspace whose platform.json names an API nobody serves: the console shows the
    target stale, which is all this test needs of it."""
    ws = tmp_path / "ws"
    ws.mkdir()
    token = ws / "token"
    token.write_text("drill-test-token-0123456789\n", encoding="utf-8")
    (ws / "platform.json").write_text(
        json.dumps(
            {
                "argocd_url": "http://127.0.0.1:9",
                "token_file": str(token),
                "remotes": {"deploy": str(ws / "no-deploy.git")},
                "services": {"frontend-dev": "http://127.0.0.1:9"},
            }
        ),
        encoding="utf-8",
    )
    return ws


async def test_steps_fill_the_events_pane_and_the_ready_platform_joins_the_fleet(
    tmp_path: Path,
) -> None:
    ws = workspace(tmp_path)
    app = DrillConsole(clock=lambda: at(0))
    async with app.run_test(size=(120, 40)) as pilot:
        assert app.targets == {}
        app.post_message(DrillStepped(step(Phase.PLATFORM, "starting `gitops up`", 0.1)))
        app.post_message(
            DrillStepped(
                step(Phase.PLATFORM, "platform ready: Argo CD API on …", 55, workspace=str(ws))
            )
        )
        app.post_message(DrillStepped(step(Phase.CHANGE, "pushed 1a6bad5", 57)))
        await until(pilot, lambda: app.store.total_events >= 3)
        lines = [(e.kind, e.message) for e in app.store.events if e.kind == EVENT_KIND]
        assert lines == [
            (EVENT_KIND, "platform: starting `gitops up`"),
            (EVENT_KIND, "platform: platform ready: Argo CD API on …"),
            (EVENT_KIND, "change: pushed 1a6bad5"),
        ]
        assert list(app.targets) == ["ws"]
        assert "ws" in app.store.targets
        assert app.sub_title == "the drill: change"

        outcome = result(facts())
        assert outcome.recovered
        app.post_message(DrillFinished(outcome))
        await until(pilot, lambda: "recovered" in app.sub_title)
        assert "q to quit" in app.sub_title
        assert app.store.events[-1].message.startswith("recovered: known-good 1111111")


async def test_a_drill_that_did_not_recover_says_why(tmp_path: Path) -> None:
    app = DrillConsole(clock=lambda: at(0))
    async with app.run_test(size=(120, 40)) as pilot:
        outcome = result(facts(final_version="2" * 40))
        assert not outcome.recovered
        app.post_message(DrillFinished(outcome))
        await until(pilot, lambda: "not recovered" in app.sub_title)
        assert "; ".join(outcome.problems) in app.sub_title


async def test_a_game_day_says_how_many_scenarios_met_their_row() -> None:
    from console.drill.gameday import GameDay, Row  # noqa: PLC0415
    from console.drill.scenarios import SCENARIOS  # noqa: PLC0415

    rows = (
        Row(SCENARIOS["readiness"], result(facts())),
        Row(SCENARIOS["crashloop"], result(facts(scenario="crashloop", final_version="2" * 40))),
        Row(SCENARIOS["latency"], skipped="needs the guard's analysis"),
    )
    app = DrillConsole(clock=lambda: at(0))
    async with app.run_test(size=(120, 40)) as pilot:
        app.post_message(DrillFinished(GameDay("day", Path("/tmp/ws"), at(0), 120.0, rows)))
        await until(pilot, lambda: "game day" in app.sub_title)
        assert app.sub_title == (
            "the drill: game day: 1 of 2 scenarios met their row (latency skipped); failed: "
            "crashloop · q to quit"
        )
