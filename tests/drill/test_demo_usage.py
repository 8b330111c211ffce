"""`gitops demo`'s usage errors: one line, exit 2, before anything starts (no platform, no
workspace)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from console.cli import main
from console.drill.options import DrillOptions, DrillUsageError
from console.drill.runner import run_drill
from tests.helpers import ROOT


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (
            ["--scenario", "nope"],
            "gitops: error: --scenario: unknown scenario 'nope' (known: readiness, crashloop, "
            "bad-image, broken-manifest, platform-crash, error-rate, latency, healthy)",
        ),
        (["--with-analysis"], "gitops: error: --with-analysis goes with --all"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    argv: list[str], said: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ws = tmp_path / "ws"
    assert main(["demo", "--headless", "--workspace", str(ws), *argv]) == 2
    out, err = capsys.readouterr()
    assert err.strip().splitlines() == [said]
    assert out == ""
    assert not ws.exists(), "nothing started"


def test_all_and_a_scenario_do_not_go_together(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["demo", "--all", "--scenario", "crashloop"])
    assert exited.value.code == 2
    assert "not allowed with argument" in capsys.readouterr().err


def test_the_library_refuses_an_unknown_scenario_too(tmp_path: Path) -> None:
    options = DrillOptions(workspace=tmp_path / "ws", config=ROOT / "repos.yaml", scenario="nope")
    with pytest.raises(DrillUsageError, match="unknown scenario 'nope'"):
        asyncio.run(run_drill(options, lambda step: None))
    assert not (tmp_path / "ws").exists()
