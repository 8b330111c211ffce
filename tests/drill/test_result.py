"""The drill's verdict and its JSON line (pure)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from console.drill.facts import Commit
from console.drill.load import LoadStats
from console.drill.result import JSON_KEYS, result
from tests.drill.support import (
    BAD_VERSION,
    GOOD_VERSION,
    ROLLBACK,
    at,
    facts,
    failing_load,
)


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        pytest.param({}, [], id="recovered"),
        pytest.param(
            {"final_version": BAD_VERSION},
            ["the known-good version 1111111 does not run again: /version answers 2222222"],
            id="another version serves",
        ),
        pytest.param(
            {"final_version": ""},
            [
                "the known-good version 1111111 does not run again: /version answers nothing "
                "readable"
            ],
            id="nothing answers",
        ),
        pytest.param(
            {"final_healthy_synced": False},
            ["frontend-dev is not Healthy and Synced on the rollback ccccccc"],
            id="not Healthy and Synced on the rollback",
        ),
        pytest.param(
            {"rollback_count": 2},
            ["2 rollback commits for the bad revision bbbbbbb, expected exactly one"],
            id="two rollbacks",
        ),
        pytest.param(
            {"rollback_count": 0, "rollback": None},
            ["0 rollback commits for the bad revision bbbbbbb, expected exactly one"],
            id="no rollback",
        ),
        pytest.param(
            {"load": failing_load(3)},
            ["3 of 800 requests failed (first: timeout after 2s)"],
            id="failed requests",
        ),
        pytest.param(
            {"load": LoadStats()},
            ["the load generator sent no request"],
            id="no load",
        ),
        pytest.param(
            {"error": "CI test failed for 2222222", "interrupted": True},
            ["interrupted", "CI test failed for 2222222"],
            id="an error and an interruption",
        ),
        pytest.param(
            {"good_version": ""},
            ["the known-good version was never read"],
            id="never knew the good version",
        ),
    ],
)
def test_problems(overrides: dict[str, Any], expected: list[str]) -> None:
    outcome = result(facts(**overrides))
    assert list(outcome.problems) == expected
    assert outcome.recovered is (not expected)


def test_the_json_has_exactly_the_promised_keys_in_order() -> None:
    outcome = result(facts(), Path("/tmp/ws/drills/x/postmortem.md"))
    line = outcome.json_line()
    assert "\n" not in line
    doc = json.loads(line)
    assert (
        tuple(doc)
        == JSON_KEYS
        == (
            "recovered",
            "good_version",
            "bad_version",
            "final_version",
            "failed_requests",
            "total_requests",
            "detect_s",
            "recover_s",
            "mttr_s",
            "rollback_commit",
            "postmortem",
        )
    )
    assert doc == {
        "recovered": True,
        "good_version": GOOD_VERSION,
        "bad_version": BAD_VERSION,
        "final_version": GOOD_VERSION,
        "failed_requests": 0,
        "total_requests": 800,
        "detect_s": 12.5,
        "recover_s": 1.5,
        "mttr_s": 14.0,
        "rollback_commit": ROLLBACK,
        "postmortem": "/tmp/ws/drills/x/postmortem.md",
    }


def test_the_json_of_a_drill_that_stopped_early() -> None:
    outcome = result(
        facts(
            change=Commit(BAD_VERSION, "feat: x", at(11)),
            promotion=None,
            bad_sync_started=None,
            guard_events=(),
            rollback=None,
            rollback_count=0,
            healthy_on_rollback_at=None,
            error="CI of 2222222 (test, build, promote): did not happen within 600s",
        )
    )
    doc = json.loads(outcome.json_line())
    assert doc["recovered"] is False
    assert (doc["detect_s"], doc["recover_s"], doc["mttr_s"]) == (None, None, None)
    assert (doc["rollback_commit"], doc["postmortem"]) == (None, None)
    assert isinstance(doc["total_requests"], int)
