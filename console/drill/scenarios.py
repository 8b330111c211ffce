"""The game day's catalogue: each scenario is a real change pushed through the real loop, and what
must happen then (docs/platform/drill.md, "Scenarios").

A scenario says what it changes, how the change is pushed (a commit to the apps repo that CI
tests, builds and promotes; a promotion commit in the deploy repo; a deploy-repo commit the Git
host's gate must refuse), and what must happen (a rollback of the kind it names, or a refusal).
`expectation_problems` holds a drill's facts to its scenario's row (pure); the verdict
(console.drill.result) adds them to the checks every drill makes.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from console.drill.apps_changes import CRASHLOOP, ERROR_RATE, HEALTHY, LATENCY
from console.drill.change import READINESS, AppsChange
from console.drill.facts import Facts

DEFAULT = "readiness"
# Whether the guard this checkout ships analyses a Healthy release's requests (issue 15; it does
# since console.guard.controller runs console.guard.analysis). Where it does not, `--all` leaves
# the scenarios that need it out (and says so); `--scenario NAME` and `--all --with-analysis`
# still run them.
ANALYSIS_IN_GUARD = True


class Push(StrEnum):
    APPS = "apps"  # a commit to the apps repo: CI tests, builds, promotes it into the first env
    PROMOTION = "promotion"  # a promotion commit in the deploy repo (no CI)
    DEPLOY = "deploy"  # a commit to the deploy repo that the gate must refuse


class Expect(StrEnum):
    ROLLBACK = "rollback"  # one rollback commit, the known-good back, no request lost
    REFUSED = "refused"  # refused at the gate with the render error; nothing deployed
    STAYS = "stays"  # a good release: Healthy, no rollback (none false), the new version serves


@dataclass(frozen=True)
class Scenario:
    name: str
    change: str  # what it changes, one line
    expected: str  # what must happen, one line (the catalogue's row)
    push: Push
    expect: Expect = Expect.ROLLBACK
    apps_change: AppsChange | None = None
    rollback_kinds: frozenset[str] = frozenset()  # the guard's rollback kinds that meet the row
    pod_reasons: frozenset[str] = frozenset()  # a new pod's status that shows the failure
    halts: bool = False  # new pods Running but never ready while the old ones serve
    new_pods_ready: bool = False  # the bad build passes readiness (only analysis can tell)
    needs_analysis: bool = False
    kill_platform: bool = False  # kill -9 of `gitops up` mid-rollout, then a restart
    tolerated_failures: int = 0  # failed requests the row allows
    in_game_day: bool = True  # whether `--all` runs it


READINESS_SCENARIO = Scenario(
    name="readiness",
    change="readiness needs a variable (BACKEND_TOKEN) the tests set and no Deployment does",
    expected="rollout halts with the old pods serving; rollback at the progress deadline; 0 failed",
    push=Push.APPS,
    apps_change=READINESS,
    rollback_kinds=frozenset({"progress-deadline", "degraded"}),
    halts=True,
)
SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        READINESS_SCENARIO,
        Scenario(
            name="crashloop",
            change="the frontend exits at start-up without SESSION_SECRET, which only the tests "
            "set",
            expected="CrashLoopBackOff; rollback within the grace period; 0 failed",
            push=Push.APPS,
            apps_change=CRASHLOOP,
            rollback_kinds=frozenset({"pods-failing", "degraded"}),
            pod_reasons=frozenset({"CrashLoopBackOff", "Error"}),
        ),
        Scenario(
            name="bad-image",
            change="a promotion commit naming an image tag that was never built",
            expected="image pull failure; rollback within the grace period; 0 failed",
            push=Push.PROMOTION,
            rollback_kinds=frozenset({"pods-failing", "degraded"}),
            pod_reasons=frozenset({"ErrImagePull", "ImagePullBackOff"}),
        ),
        Scenario(
            name="broken-manifest",
            change="a deploy-repo commit whose overlay does not render (a kustomization "
            "naming a file that does not exist)",
            expected="refused at the deploy repo's gate with the render error; nothing "
            "deployed; 0 failed",
            push=Push.DEPLOY,
            expect=Expect.REFUSED,
        ),
        Scenario(
            name="platform-crash",
            change="the readiness change, and kill -9 of `gitops up` mid-rollout, then a "
            "restart on the same workspace",
            expected="the restarted platform resumes; one rollback; old pods serve; 0 failed",
            push=Push.APPS,
            apps_change=READINESS,
            rollback_kinds=frozenset({"progress-deadline", "degraded"}),
            halts=True,
            kill_platform=True,
        ),
        Scenario(
            name="error-rate",
            change="past a request budget of 20/s the frontend answers 500; readiness passes",
            expected="analysis fails (error ratio); rollback; failed requests reported, bounded "
            "by the analysis window",
            push=Push.APPS,
            apps_change=ERROR_RATE,
            rollback_kinds=frozenset({"analysis"}),
            new_pods_ready=True,
            needs_analysis=True,
            tolerated_failures=-1,  # reported, bounded by the window (see below)
        ),
        Scenario(
            name="latency",
            change="the frontend waits 800 ms before every request; readiness passes",
            expected="analysis fails (p95 over the threshold); rollback; 0 failed",
            push=Push.APPS,
            apps_change=LATENCY,
            rollback_kinds=frozenset({"analysis"}),
            new_pods_ready=True,
            needs_analysis=True,
        ),
        Scenario(
            name="healthy",
            change="a good change: the frontend names its build in a response header",
            expected="Healthy and Synced; the analysis passes; no rollback (none false); the "
            "new version serves; 0 failed",
            push=Push.APPS,
            expect=Expect.STAYS,
            apps_change=HEALTHY,
            new_pods_ready=True,
            in_game_day=False,  # the control for error-rate and latency (benchmarks/drill.py)
        ),
    )
}
ORDER = tuple(SCENARIOS)  # the game day's order: the ones needing analysis last


class UnknownScenarioError(ValueError):
    pass


def get(name: str) -> Scenario:
    try:
        return SCENARIOS[name]
    except KeyError:
        known = ", ".join(ORDER)
        raise UnknownScenarioError(f"unknown scenario {name!r} (known: {known})") from None


def game_day(with_analysis: bool = False) -> tuple[list[Scenario], list[tuple[Scenario, str]]]:
    """The scenarios `--all` runs, in order, and those it leaves out with why."""
    run, skipped = [], []
    for scenario in SCENARIOS.values():
        if not scenario.in_game_day:
            continue
        if scenario.needs_analysis and not (with_analysis or ANALYSIS_IN_GUARD):
            skipped.append(
                (
                    scenario,
                    "needs the guard's analysis of a Healthy release's requests (issue 15), "
                    "which this platform's guard does not run yet; --with-analysis runs it",
                )
            )
        else:
            run.append(scenario)
    return run, skipped


def _rollback_kind(facts: Facts) -> str:
    event = facts.rollback_event
    return str(event.fields.get("kind", "")) if event is not None else ""


def _kind_in(kind: str, kinds: frozenset[str]) -> bool:
    """`analysis` also covers the guard's finer kinds (analysis-error-ratio, ...)."""
    return kind in kinds or any(kind.startswith(f"{k}-") for k in kinds)


def _reason(facts: Facts) -> str:
    if facts.rollback is not None and facts.rollback.trailer("Rollback-Reason"):
        return facts.rollback.trailer("Rollback-Reason")
    event = facts.rollback_event
    return str(event.fields.get("reason", "")) if event is not None else ""


def failure_bound(facts: Facts, analysis_s: float) -> int:
    """The most failed requests an analysis-detected scenario may cost: the load's rate over
    the analysis window plus the time to roll back and recover (10 s)."""
    return int(facts.load.rate * (analysis_s + 10))


def expectation_problems(scenario: Scenario, facts: Facts) -> list[str]:
    """Where the drill's facts miss its scenario's row (pure); empty when they meet it."""
    out: list[str] = []
    if scenario.expect is Expect.STAYS:
        if facts.rollback_count:
            out.append(
                f"{facts.rollback_count} rollback commit(s) of {facts.bad_revision[:7]}, a good "
                "release: a false rollback"
            )
        if facts.bad_healthy_at is None:
            out.append(f"{facts.app} was never seen Healthy and Synced on the new release")
        return out
    if scenario.expect is Expect.REFUSED:
        if not facts.refusal:
            out.append("the deploy repo's gate accepted the push that does not render")
        elif facts.refused_overlay and facts.refused_overlay not in facts.refusal:
            out.append(f"the gate's refusal does not name the overlay {facts.refused_overlay}")
        if facts.deploy_head_before != facts.deploy_head_after:
            out.append(
                f"the deploy repo's main moved from {facts.deploy_head_before[:7]} to "
                f"{facts.deploy_head_after[:7] or '?'}: something was deployed"
            )
        return out
    kind = _rollback_kind(facts)
    kinds = scenario.rollback_kinds
    if facts.rollback is not None and kind and kinds and not _kind_in(kind, kinds):
        wanted = " or ".join(sorted(kinds))
        out.append(f"rolled back for {kind} ({_reason(facts)}), expected {wanted}")
    if scenario.pod_reasons and facts.rollback is not None and not facts.pods_failing:
        reason = _reason(facts)
        if not any(r in reason for r in scenario.pod_reasons):
            seen = " or ".join(sorted(scenario.pod_reasons))
            out.append(f"no new pod was seen in {seen}")
    if scenario.kill_platform and facts.platform_restarted_at is None:
        out.append("the platform was not killed and restarted mid-rollout")
    return out
