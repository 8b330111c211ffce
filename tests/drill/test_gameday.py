"""The game day's table, verdict, JSON and index post-mortem (pure)."""

from __future__ import annotations

import json
from pathlib import Path

from console.drill.facts import Commit
from console.drill.gameday import GameDay, Row, index, table, write
from console.drill.result import result
from console.drill.scenarios import SCENARIOS
from tests.drill.support import T0, at, facts, failing_load

WS = Path("/tmp/ws")
DIR = WS / "drills" / "day"


def _rows() -> tuple[Row, ...]:
    passed = result(facts(), DIR / "readiness" / "postmortem.md")
    refused = result(
        facts(
            scenario="broken-manifest",
            change=None,
            promotion=None,
            rollback=None,
            rollback_count=0,
            bad_sync_started=None,
            refused_commit=Commit("d" * 40, "feat(dev): a PodDisruptionBudget", at(12)),
            refusal="rejected: overlays/dev/frontend: does not render",
            refused_overlay="overlays/dev/frontend",
            deploy_head_before="a" * 40,
            deploy_head_after="a" * 40,
        ),
        DIR / "broken-manifest" / "postmortem.md",
    )
    lost = result(facts(scenario="crashloop", load=failing_load(3)), DIR / "crashloop" / "pm.md")
    return (
        Row(SCENARIOS["readiness"], passed),
        Row(SCENARIOS["crashloop"], lost),
        Row(SCENARIOS["broken-manifest"], refused),
        Row(SCENARIOS["latency"], skipped="needs the guard's analysis"),
    )


def test_the_table_has_a_row_per_scenario_with_its_figures() -> None:
    lines = table(_rows())
    assert lines[0].split() == [
        "scenario", "detect", "s", "recover", "s", "requests", "sent", "/", "failed",
        "rollback", "/", "refusal", "result",
    ]  # fmt: skip
    assert lines[1].split()[:8] == [
        "readiness", "12.500", "1.500", "800", "/", "0", "rollback", "ccccccc",
    ]  # fmt: skip
    assert lines[1].endswith("passed")
    assert "FAILED: 3 of 800 requests failed" in lines[2]
    assert "refused ddddddd" in lines[3]
    assert lines[3].endswith("passed")
    assert lines[4].split()[:5] == ["latency", "-", "-", "-", "-"]
    assert lines[4].endswith("skipped: needs the guard's analysis")
    assert len({line.index("rollback") for line in lines[:2]}) == 1, "columns align"


def test_the_game_day_passes_only_when_every_scenario_that_ran_met_its_row() -> None:
    rows = _rows()
    assert not GameDay("day", WS, T0, 240.0, rows).passed
    ok = tuple(r for r in rows if r.scenario.name != "crashloop")
    assert GameDay("day", WS, T0, 240.0, ok).passed, "a skipped scenario does not fail it"
    not_run = (*ok, Row(SCENARIOS["bad-image"]))  # neither run nor skipped: the platform died
    assert not GameDay("day", WS, T0, 240.0, not_run).passed
    only_skipped = (Row(SCENARIOS["latency"], skipped="x"),)
    assert not GameDay("day", WS, T0, 1.0, only_skipped).passed, "nothing ran"


def test_the_json_and_the_index_link_each_post_mortem(tmp_path: Path) -> None:
    day = write(GameDay("day", WS, T0, 240.4, _rows()), tmp_path)
    assert day.index == tmp_path / "index.md"
    doc = json.loads(day.json_line())
    assert doc["passed"] is False
    assert doc["wall_s"] == 240.4
    assert [s["scenario"] for s in doc["scenarios"]] == [
        "readiness",
        "crashloop",
        "broken-manifest",
        "latency",
    ]
    assert doc["scenarios"][0]["rollback_commit"] == "c" * 40
    assert doc["scenarios"][2]["refusal"].startswith("rejected: overlays/dev/frontend")
    assert doc["scenarios"][3] == {
        "scenario": "latency",
        "passed": False,
        "skipped": "needs the guard's analysis",
    }
    assert json.loads((tmp_path / "gameday.json").read_text()) == doc
    text = (tmp_path / "index.md").read_text()
    assert text.startswith("# Game day day: not every scenario met its row\n")
    assert text == index(day, tmp_path)
    relative = index(day, DIR)
    assert "[readiness](readiness/postmortem.md)" in relative
    assert "[broken-manifest](broken-manifest/postmortem.md)" in relative
    assert "| latency |" in relative
