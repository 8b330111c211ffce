"""The drill's verdict and its one-line JSON (pure).

The drill passes (exit 0, `recovered: true`, post-mortem outcome "recovered") only when all hold:
  - the known-good version runs again: the Service's live /version names the commit the app
    served before the change, and the app is Healthy and Synced on the rollback revision;
  - exactly one rollback commit exists for this drill's bad revision;
  - every request of the load generator succeeded (and at least one was sent), or, where the
    scenario's row allows failures (error-rate), no more than its bound;
  - the scenario's own row holds (console.drill.scenarios.expectation_problems): the rollback's
    kind, the pods' failure, the platform's restart, or the gate's refusal.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from console.drill.facts import Facts
from console.drill.scenarios import (
    SCENARIOS,
    Expect,
    Scenario,
    expectation_problems,
    failure_bound,
)
from console.drill.timeline import durations
from console.fleet.durations import Durations

JSON_KEYS = (
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


def _version_problem(facts: Facts, stays: bool) -> str:
    """What runs at the end, when it is not what should: the known-good again, or (a good
    release that stays) the new version."""
    running = facts.final_version[:7] or "nothing readable"
    if not facts.good_version:
        return "the known-good version was never read"
    if stays:
        if facts.final_version == facts.bad_version:
            return ""
        new = facts.bad_version[:7] or "?"
        return f"the new version {new} does not run: /version answers {running}"
    if facts.final_version == facts.good_version:
        return ""
    return (
        f"the known-good version {facts.good_version[:7]} does not run again: "
        f"/version answers {running}"
    )


def _allowed_failures(facts: Facts, scenario: Scenario | None) -> int:
    if scenario is None:
        return 0
    if scenario.tolerated_failures >= 0:
        return scenario.tolerated_failures
    try:
        return failure_bound(facts, float(facts.policy.analysis_s))
    except ValueError:
        return 0


def problems(facts: Facts) -> list[str]:
    """Why the drill did not pass, one reason each; empty when it did."""
    out = []
    if facts.interrupted:
        out.append("interrupted")
    if facts.error:
        out.append(facts.error)
    scenario = SCENARIOS.get(facts.scenario)
    stays = scenario is not None and scenario.expect is Expect.STAYS
    version = _version_problem(facts, stays)
    if version:
        out.append(version)
    if facts.rollback is not None and not facts.final_healthy_synced:
        out.append(
            f"{facts.app} is not Healthy and Synced on the rollback {facts.rollback.sha[:7]}"
        )
    if facts.bad_revision and facts.rollback_count != 1 and not stays:
        out.append(
            f"{facts.rollback_count} rollback commits for the bad revision "
            f"{facts.bad_revision[:7]}, expected exactly one"
        )
    load = facts.load
    allowed = _allowed_failures(facts, scenario)
    if load.total == 0:
        out.append("the load generator sent no request")
    elif load.failed > allowed:
        first = load.first_failures[0].reason if load.first_failures else "?"
        bound = f", more than the {allowed} the scenario allows" if allowed else ""
        out.append(f"{load.failed} of {load.total} requests failed{bound} (first: {first})")
    if scenario is not None:
        out += expectation_problems(scenario, facts)
    return list(dict.fromkeys(out))  # once each: the error may say what a check repeats


@dataclass(frozen=True)
class DrillResult:
    facts: Facts
    durations: Durations
    problems: tuple[str, ...]
    postmortem: Path | None = None

    @property
    def recovered(self) -> bool:
        return not self.problems

    def to_json(self) -> dict[str, Any]:
        f, d = self.facts, self.durations
        return {
            "recovered": self.recovered,
            "good_version": f.good_version,
            "bad_version": f.bad_version,
            "final_version": f.final_version,
            "failed_requests": f.load.failed,
            "total_requests": f.load.total,
            "detect_s": d.detect_s,
            "recover_s": d.recover_s,
            "mttr_s": d.mttr_s,
            "rollback_commit": f.rollback.sha if f.rollback else None,
            "postmortem": str(self.postmortem) if self.postmortem else None,
        }

    def json_line(self) -> str:
        return json.dumps(self.to_json(), separators=(", ", ": "))


def result(facts: Facts, postmortem: Path | None = None) -> DrillResult:
    return DrillResult(facts, durations(facts), tuple(problems(facts)), postmortem)
