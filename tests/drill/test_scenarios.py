"""The catalogue and each scenario's row held against a drill's facts (pure)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from console.drill import scenarios
from console.drill.facts import Commit, Policy
from console.drill.result import result
from console.drill.scenarios import (
    ORDER,
    SCENARIOS,
    UnknownScenarioError,
    expectation_problems,
    game_day,
    get,
)
from tests.drill.support import (
    BAD_VERSION,
    GOOD_VERSION,
    at,
    event,
    facts,
    failing_load,
    rollback_event,
)

RB = "c" * 40


def test_the_catalogue_is_the_issues() -> None:
    assert ORDER == (
        "readiness",
        "crashloop",
        "bad-image",
        "broken-manifest",
        "platform-crash",
        "error-rate",
        "latency",
        "healthy",
    )
    assert [s.name for s in SCENARIOS.values() if s.needs_analysis] == ["error-rate", "latency"]
    for scenario in SCENARIOS.values():
        assert scenario.change
        assert scenario.expected


def test_an_unknown_scenario_names_the_known_ones() -> None:
    with pytest.raises(UnknownScenarioError, match=r"unknown scenario 'nope' \(known: readiness, "):
        get("nope")


def test_the_game_day_leaves_out_what_needs_analysis_and_says_why(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """While the guard does not analyse a Healthy release's requests (ANALYSIS_IN_GUARD off)."""
    monkeypatch.setattr(scenarios, "ANALYSIS_IN_GUARD", False)
    run, skipped = game_day()
    assert [s.name for s in run] == list(ORDER[:5])
    assert [(s.name, "analysis" in why) for s, why in skipped] == [
        ("error-rate", True),
        ("latency", True),
    ]
    run, skipped = game_day(with_analysis=True)
    assert [s.name for s in run] == list(ORDER[:7]), "healthy is the benchmarks' control"
    assert skipped == []
    monkeypatch.setattr(scenarios, "ANALYSIS_IN_GUARD", True)
    assert game_day() == (run, [])


def _kind(kind: str, reason: str = "why") -> Any:
    ev = rollback_event()
    return replace(ev, fields={**ev.fields, "kind": kind, "reason": reason})


@pytest.mark.parametrize(
    ("name", "overrides", "expected"),
    [
        pytest.param("readiness", {}, [], id="readiness: the deadline"),
        pytest.param(
            "crashloop",
            {"guard_events": (_kind("progress-deadline"),)},
            [
                "rolled back for progress-deadline (still Progressing 12s after the sync "
                "started (deadline 12s): apps/Deployment ...), expected degraded or pods-failing",
                "no new pod was seen in CrashLoopBackOff or Error",
            ],
            id="crashloop: the wrong signal, no crash seen",
        ),
        pytest.param(
            "crashloop",
            {
                "guard_events": (_kind("pods-failing"),),
                "pods_failing": "frontend-x CrashLoopBackOff",
                "pods_failing_at": at(30),
            },
            [],
            id="crashloop: pods failing",
        ),
        pytest.param(
            "bad-image",
            {
                "guard_events": (_kind("pods-failing"),),
                "rollback": Commit(
                    RB,
                    "revert",
                    at(38),
                    (("Rollback-Reason", "new pods failing for 2s: ImagePullBackOff"),),
                ),
            },
            [],
            id="bad-image: the reason names the pull failure",
        ),
        pytest.param(
            "platform-crash",
            {},
            ["the platform was not killed and restarted mid-rollout"],
            id="platform-crash: never killed",
        ),
        pytest.param(
            "platform-crash",
            {"platform_killed_at": at(29), "platform_restarted_at": at(35)},
            [],
            id="platform-crash: killed and back",
        ),
        pytest.param(
            "error-rate",
            {"guard_events": (_kind("analysis-error-ratio"),)},
            [],
            id="error-rate: a finer analysis kind",
        ),
    ],
)
def test_each_row(name: str, overrides: dict[str, Any], expected: list[str]) -> None:
    f = facts(scenario=name, **overrides)
    assert expectation_problems(SCENARIOS[name], f) == expected
    assert [p for p in result(f).problems if p in expected] == expected, "the verdict has them"


def _refused(**overrides: Any) -> Any:
    base = dict(
        scenario="broken-manifest",
        change=None,
        promotion=None,
        rollback=None,
        rollback_count=0,
        guard_events=(event(5, "Unhealthy"),),
        ci_runs=(),
        bad_sync_started=None,
        pods_not_ready_at=None,
        degraded_at=None,
        rollback_sync_started=None,
        healthy_on_rollback_at=None,
        version_restored_at=None,
        refused_commit=Commit("d" * 40, "feat(dev): a PodDisruptionBudget for frontend", at(12)),
        refused_at=at(12),
        refusal="rejected: overlays/dev/frontend: does not render: missing file\n"
        "rejected: main is protected; nothing was updated",
        refused_overlay="overlays/dev/frontend",
        deploy_head_before="a" * 40,
        deploy_head_after="a" * 40,
    )
    return facts(**{**base, **overrides})


def test_a_refused_push_meets_its_row() -> None:
    outcome = result(_refused())
    assert outcome.problems == ()
    assert outcome.to_json()["rollback_commit"] is None


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"refusal": ""}, "the deploy repo's gate accepted the push that does not render"),
        (
            {"refusal": "rejected: something else"},
            "the gate's refusal does not name the overlay overlays/dev/frontend",
        ),
        (
            {"deploy_head_after": "e" * 40},
            "the deploy repo's main moved from aaaaaaa to eeeeeee: something was deployed",
        ),
        ({"load": failing_load(2)}, "2 of 800 requests failed (first: timeout after 2s)"),
    ],
)
def test_a_refused_push_misses_its_row(overrides: dict[str, Any], expected: str) -> None:
    assert expected in result(_refused(**overrides)).problems


def test_error_rate_may_lose_requests_bounded_by_the_analysis_window() -> None:
    policy = Policy("true", "2", "12", analysis_s="20")
    ok = facts(
        scenario="error-rate",
        policy=policy,
        guard_events=(_kind("analysis"),),
        load=failing_load(150),
    )
    assert result(ok).problems == ()
    too_many = replace(ok, load=failing_load(751))  # 25/s over 20 s + 10 s: 750 at most
    assert result(too_many).problems == (
        "751 of 800 requests failed, more than the 750 the scenario allows (first: timeout "
        "after 2s)",
    )
    assert (
        "requests failed"
        in result(replace(ok, scenario="latency", load=failing_load(1))).problems[0]
    )


def test_a_good_release_stays_and_is_never_rolled_back() -> None:
    stays = facts(
        scenario="healthy",
        rollback=None,
        rollback_count=0,
        guard_events=(),
        pods_not_ready_at=None,
        bad_healthy_at=at(31),
        final_version=BAD_VERSION,
    )
    assert result(stays).problems == ()
    rolled = replace(stays, rollback_count=1, final_version=GOOD_VERSION)
    assert result(rolled).problems == (
        "the new version 2222222 does not run: /version answers 1111111",
        "1 rollback commit(s) of bbbbbbb, a good release: a false rollback",
    )
