"""The rollback policy: table tests for each rule, hypothesis for the guarantees (never two
rollbacks for one bad revision, never a rollback of a rollback, never while disabled or within
grace). Pure functions: no clock, no I/O."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as hs

from console.contract import DEADLINE, ENABLED, GRACE
from console.fleet.model import Health, OperationPhase, Sync
from console.fleet.tree import PodProblem, failing_pods
from console.guard.facts import GitFacts
from console.guard.policy import (
    Action,
    Decision,
    Policy,
    Watch,
    after_outage,
    decide,
    known_good,
    observe,
    observe_pods,
)
from tests.fleet.build import App, Condition, HistoryEntry, Operation, Resource, replace

G, B, R, X = "g" * 40, "b" * 40, "r" * 40, "x" * 40  # good, bad, a rollback commit, another
T0 = 1_800_000_000.0
ON = Policy(enabled=True, grace_s=10.0, deadline_s=30.0)


def app(
    revision: str = B,
    health: Health = Health.DEGRADED,
    *,
    sync: Sync = Sync.SYNCED,
    phase: OperationPhase = OperationPhase.SUCCEEDED,
    history: tuple[str, ...] = (G, B),
    started: float = T0,
    message: str = "",
    resources: tuple[Resource, ...] = (),
) -> App:
    return App(
        name="frontend-dev",
        sync=sync,
        health=health,
        health_message=message,
        operation=Operation(
            phase=phase,
            revision=revision,
            started_at=datetime.fromtimestamp(started, UTC),
            message="one or more objects failed to apply" if phase.failed else "synced",
        ),
        history=tuple(HistoryEntry(id=i, revision=r) for i, r in enumerate(history)),
        resources=resources,
    )


def run(*steps: tuple[float, App], policy: Policy = ON, facts: GitFacts | None = None) -> Decision:
    """Observe each (time, app) in turn; the last decision."""
    watch = Watch()
    decision = None
    for now, seen in steps:
        watch = observe(watch, seen, now)
        decision = decide(watch, seen, policy, facts or GitFacts(), now)
    assert decision is not None
    return decision


# ---- policy annotations --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("annotations", "expected"),
    [
        ({}, Policy(enabled=False)),
        ({ENABLED: "true"}, Policy(enabled=True)),
        ({ENABLED: "True", GRACE: "5", DEADLINE: "60"}, Policy(True, 5.0, 60.0)),
        ({ENABLED: "false", GRACE: "5"}, Policy(False, 5.0)),
        ({ENABLED: "yes"}, Policy(problem=f'{ENABLED}: "yes" is not "true" or "false"')),
        (
            {ENABLED: "true", GRACE: "soon"},
            Policy(problem=f'{GRACE}: "soon" is not a number of seconds'),
        ),
        (
            {ENABLED: "true", DEADLINE: "-1"},
            Policy(problem=f'{DEADLINE}: "-1" is not a number of seconds >= 0'),
        ),
        (
            {ENABLED: "true", GRACE: "nan"},
            Policy(problem=f'{GRACE}: "nan" is not a number of seconds >= 0'),
        ),
    ],
)
def test_policy_from_annotations(annotations: dict[str, str], expected: Policy) -> None:
    assert Policy.from_annotations(annotations) == expected


def test_a_misread_policy_is_disabled_and_says_why() -> None:
    policy = Policy.from_annotations({ENABLED: "sure"})
    decision = run((T0, app()), (T0 + 100, app()), policy=policy)
    assert decision.action is Action.NONE
    assert decision.reason == policy.problem


# ---- the rules, one row each ---------------------------------------------------------------

DEGRADED = app(message="Deployment dev/frontend exceeded its progress deadline")


@pytest.mark.parametrize(
    ("steps", "facts", "action", "reason"),
    [
        pytest.param(
            [(T0, DEGRADED)], None, Action.NONE, "within policy", id="degraded-within-grace"
        ),
        pytest.param(
            [(T0, DEGRADED), (T0 + 10, DEGRADED)],
            None,
            Action.ROLLBACK,
            "Degraded for 10s: Deployment dev/frontend exceeded its progress deadline",
            id="degraded-for-grace",
        ),
        pytest.param(
            [(T0, DEGRADED), (T0 + 5, app(health=Health.HEALTHY)), (T0 + 12, DEGRADED)],
            None,
            Action.NONE,
            "within policy",
            id="healthy-resets-the-clock",
        ),
        pytest.param(
            [
                (T0, DEGRADED),
                (T0 + 4, app(health=Health.PROGRESSING)),
                (T0 + 10, DEGRADED),
            ],
            None,
            Action.ROLLBACK,
            "Degraded for 10s: Deployment dev/frontend exceeded its progress deadline",
            id="flapping-keeps-counting",
        ),
        pytest.param(
            [(T0, app(health=Health.PROGRESSING)), (T0 + 29, app(health=Health.PROGRESSING))],
            None,
            Action.NONE,
            "within policy",
            id="progressing-before-deadline",
        ),
        pytest.param(
            [
                (T0, app(G, Health.HEALTHY, history=(G,))),
                (T0 + 1, app(health=Health.PROGRESSING, started=T0)),
                (T0 + 30, app(health=Health.PROGRESSING, message="waiting for rollout")),
            ],
            None,
            Action.ROLLBACK,
            "still Progressing 30s after the sync started (deadline 30s): waiting for rollout",
            id="progressing-past-deadline",
        ),
        pytest.param(
            [
                (T0, app(health=Health.HEALTHY, phase=OperationPhase.FAILED, history=(G,))),
                (T0 + 10, app(health=Health.HEALTHY, phase=OperationPhase.FAILED, history=(G,))),
            ],
            None,
            Action.ROLLBACK,
            "sync failed for 10s: one or more objects failed to apply",
            id="sync-failed",
        ),
        pytest.param(
            [
                (T0, app(health=Health.HEALTHY, phase=OperationPhase.FAILED, history=(G,))),
                (T0 + 6, app(health=Health.HEALTHY, phase=OperationPhase.RUNNING, history=(G,))),
                (T0 + 12, app(health=Health.HEALTHY, phase=OperationPhase.FAILED, history=(G,))),
            ],
            None,
            Action.NONE,
            "within policy",
            id="a-retry-resets-the-failure-clock",
        ),
        pytest.param(
            [(T0, DEGRADED), (T0 + 60, DEGRADED)],
            GitFacts(rolled_back=frozenset({B})),
            Action.NONE,
            "bbbbbbb is already rolled back",
            id="git-says-already-rolled-back",
        ),
        pytest.param(
            [(T0, app(R, history=(G, B, R))), (T0 + 60, app(R, history=(G, B, R)))],
            GitFacts(rolled_back=frozenset({B}), rollback_commits=frozenset({R})),
            Action.HALT,
            "the rollback revision rrrrrrr fails too (Degraded for 60s: health Degraded); "
            "not rolling back again",
            id="never-a-rollback-of-a-rollback",
        ),
        pytest.param(
            [
                (T0, app(R, history=(G, B), phase=OperationPhase.RUNNING)),
                (T0 + 60, app(R, history=(G, B), phase=OperationPhase.RUNNING)),
            ],
            GitFacts(rolled_back=frozenset({B}), rollback_commits=frozenset({R})),
            Action.NONE,
            "within policy",
            id="health-while-its-sync-runs-is-the-old-live-state",
        ),
        pytest.param(
            [
                (T0, app(R, history=(G, B), phase=OperationPhase.RUNNING)),
                (T0 + 60, app(R, history=(G, B, R))),
                (T0 + 65, app(R, history=(G, B, R))),
            ],
            GitFacts(rolled_back=frozenset({B}), rollback_commits=frozenset({R})),
            Action.NONE,
            "within policy",
            id="degraded-counts-from-the-end-of-its-sync",
        ),
        pytest.param(
            [(T0, app(history=(B,))), (T0 + 60, app(history=(B,)))],
            None,
            Action.NONE,
            "Degraded for 60s: health Degraded; but no known-good revision to roll back to",
            id="no-known-good",
        ),
        pytest.param(
            [(T0, app(health=Health.HEALTHY)), (T0 + 600, app(health=Health.HEALTHY))],
            None,
            Action.NONE,
            "within policy",
            id="healthy-is-left-alone",
        ),
    ],
)
def test_rules(
    steps: list[tuple[float, App]], facts: GitFacts | None, action: Action, reason: str
) -> None:
    decision = run(*steps, facts=facts)
    assert (decision.action, decision.reason) == (action, reason)
    if action is Action.ROLLBACK:
        assert decision.bad == B
        assert decision.good == G


def test_the_failing_resource_is_named_in_the_reason() -> None:
    pods = (
        Resource("", "Service", "dev", "frontend", health=Health.HEALTHY),
        Resource(
            "apps",
            "Deployment",
            "dev",
            "frontend",
            health=Health.DEGRADED,
            health_message="readiness probe failed: HTTP 503 from /readyz",
        ),
    )
    seen = app(resources=pods)
    decision = run((T0, seen), (T0 + 10, seen))
    assert decision.reason == (
        "Degraded for 10s: apps/Deployment dev/frontend Degraded: "
        "readiness probe failed: HTTP 503 from /readyz"
    )
    assert decision.detect_s == 10


def test_wake_at_is_when_the_grace_ends() -> None:
    decision = run((T0 + 2, DEGRADED))
    assert decision.wake_at == T0 + 12


def test_disabled_never_acts() -> None:
    decision = run((T0, DEGRADED), (T0 + 1000, DEGRADED), policy=Policy(enabled=False))
    assert (decision.action, decision.reason) == (Action.NONE, "auto-rollback is disabled")


def test_known_good_skips_revisions_git_marks_bad() -> None:
    seen = app(X, history=(G, B, X))
    assert known_good(seen, GitFacts(rolled_back=frozenset({B})), X) == G
    assert known_good(seen, GitFacts(), X) == B
    assert known_good(app(history=()), GitFacts(), B) == ""


def test_acted_revisions_are_left_alone_by_this_process() -> None:
    watch = observe(Watch(), DEGRADED, T0)
    watch = observe(watch, DEGRADED, T0 + 10)
    assert decide(watch, DEGRADED, ON, GitFacts(), T0 + 10).action is Action.ROLLBACK
    acted = Watch(**{**watch.__dict__, "acted": frozenset({B})})
    assert decide(acted, DEGRADED, ON, GitFacts(), T0 + 20).action is Action.NONE


def test_a_new_revision_is_watched_afresh_and_keeps_what_was_healthy() -> None:
    watch = observe(Watch(), app(G, Health.HEALTHY, history=(G,)), T0)
    assert watch.healthy == {G}
    watch = observe(watch, app(B, Health.PROGRESSING), T0 + 1)
    assert (watch.revision, watch.started_at, watch.degraded_since) == (B, T0, None)
    assert watch.healthy == {G}


# ---- properties ----------------------------------------------------------------------------


@dataclass
class Ledger:
    """What a driver does with decisions: each rollback recorded in Git and in the watch."""

    rollbacks: list[tuple[str, str]] = field(default_factory=list)
    halts: list[str] = field(default_factory=list)


revisions = hs.sampled_from([G, B, R, X])
snapshots = hs.builds(
    app,
    revision=revisions,
    health=hs.sampled_from(list(Health)),
    sync=hs.sampled_from(list(Sync)),
    phase=hs.sampled_from(list(OperationPhase)),
    history=hs.lists(revisions, max_size=4).map(tuple),
    started=hs.floats(T0 - 100, T0 + 100),
)
policies = hs.builds(
    Policy,
    enabled=hs.booleans(),
    grace_s=hs.floats(0, 50),
    deadline_s=hs.floats(0, 100),
)


@settings(max_examples=300, deadline=None)
@given(
    steps=hs.lists(hs.tuples(hs.floats(0, 20), snapshots), min_size=1, max_size=25),
    policy=policies,
    rollback_commits=hs.sets(revisions, max_size=2),
)
def test_guarantees_hold_for_any_sequence(
    steps: list[tuple[float, App]], policy: Policy, rollback_commits: set[str]
) -> None:
    facts = GitFacts(rollback_commits=frozenset(rollback_commits))
    watch, now, ledger = Watch(), T0, Ledger()
    for gap, seen in steps:
        now += gap
        watch = observe(watch, seen, now)
        if seen.health is Health.PROGRESSING and int(now) % 3 == 0:
            watch = observe_pods(watch, watch.revision, [PULL], now)
        decision = decide(watch, seen, policy, facts, now)
        if decision.action is Action.NONE:
            continue
        assert policy.enabled, "never while disabled"
        if decision.action is Action.HALT:
            assert decision.bad in rollback_commits
            ledger.halts.append(decision.bad)
        else:
            assert decision.bad not in rollback_commits, "never a rollback of a rollback"
            assert decision.good != decision.bad
            assert not facts.is_bad(decision.good)
            ledger.rollbacks.append((decision.bad, decision.good))
            facts = GitFacts(facts.rolled_back | {decision.bad}, facts.rollback_commits)
        grace_over = any(
            since is not None and now >= since + policy.grace_s
            for since in (watch.degraded_since, watch.failed_since, watch.pods_failing_since)
        )
        deadline_over = watch.started_at is not None and now >= watch.started_at + policy.deadline_s
        assert grace_over or deadline_over, "never within grace (or before the deadline)"
        watch = Watch(**{**watch.__dict__, "acted": watch.acted | {decision.bad}})
    bads = [bad for bad, _ in ledger.rollbacks]
    assert len(bads) == len(set(bads)), "never two rollbacks for one bad revision"
    assert len(ledger.halts) == len(set(ledger.halts)), "halts once"


# ---- failing pods (from the resource tree) --------------------------------------------------

PULL = PodProblem("frontend-7d4b9-x2k", "ImagePullBackOff", 'image "frontend:fff" not found')


def test_failing_pods_roll_back_after_the_grace_period_while_still_progressing() -> None:
    progressing = app(health=Health.PROGRESSING)
    watch = observe(Watch(), progressing, T0)
    watch = observe_pods(watch, B, [PULL], T0 + 1)
    assert decide(watch, progressing, ON, GitFacts(), T0 + 5).action is Action.NONE
    assert decide(watch, progressing, ON, GitFacts(), T0 + 5).wake_at == T0 + 11
    decision = decide(watch, progressing, ON, GitFacts(), T0 + 11)
    assert (decision.action, decision.kind) == (Action.ROLLBACK, "pods-failing")
    assert decision.reason == (
        "new pods failing for 10s: pod frontend-7d4b9-x2k ImagePullBackOff: "
        'image "frontend:fff" not found'
    )


def test_pods_that_recover_reset_the_clock_and_old_trees_are_ignored() -> None:
    progressing = app(health=Health.PROGRESSING)
    watch = observe_pods(observe(Watch(), progressing, T0), B, [PULL], T0)
    watch = observe_pods(watch, B, [], T0 + 5)
    assert watch.pods_failing_since is None
    assert observe_pods(watch, G, [PULL], T0 + 6) == watch, "a tree of another revision"
    healthy = observe(observe_pods(watch, B, [PULL], T0 + 7), app(health=Health.HEALTHY), T0 + 8)
    assert healthy.pods_failing_since is None


def test_failing_pods_read_from_a_tree() -> None:
    tree = {
        "nodes": [
            {"kind": "Deployment", "name": "frontend", "health": {"status": "Progressing"}},
            {
                "kind": "Pod",
                "name": "frontend-7d4b9-x2k",
                "health": {"status": "Degraded", "message": 'image "frontend:fff" not found'},
                "info": [{"name": "Status Reason", "value": "ImagePullBackOff"}],
            },
            {"kind": "Pod", "name": "frontend-6c8f-abc", "health": {"status": "Healthy"}},
            {"kind": "Pod", "name": "odd", "health": "Degraded"},
            "not a node",
        ]
    }
    assert failing_pods(tree) == (PULL,)
    assert failing_pods({}) == ()


def rs(name: str, rev: str) -> dict[str, object]:
    return {
        "group": "apps",
        "kind": "ReplicaSet",
        "name": name,
        "parentRefs": [{"group": "apps", "kind": "Deployment", "name": "frontend"}],
        "info": [{"name": "Revision", "value": rev}],
    }


def pod_of(name: str, replica_set: str, status: str = "Degraded") -> dict[str, object]:
    return {
        "kind": "Pod",
        "name": name,
        "parentRefs": [{"group": "apps", "kind": "ReplicaSet", "name": replica_set}],
        "health": {"status": status, "message": "back-off"},
        "info": [{"name": "Status Reason", "value": "CrashLoopBackOff"}],
    }


def test_only_pods_of_the_newest_template_are_judged() -> None:
    """A revision is judged by the pods of its own template: after a rollback (or a restart in
    the middle of one), the old ReplicaSet's failing pods are the bad revision's, not its."""
    old_failing = {
        "nodes": [
            rs("frontend-bad", "Rev:2"),
            rs("frontend-good", "Rev:3"),
            pod_of("frontend-bad-a", "frontend-bad"),
            pod_of("frontend-good-b", "frontend-good", "Progressing"),
        ]
    }
    assert failing_pods(old_failing) == ()
    new_failing = {
        "nodes": [
            rs("frontend-old", "Rev:1"),
            rs("frontend-new", "Rev:2"),
            pod_of("frontend-old-a", "frontend-old", "Healthy"),
            pod_of("frontend-new-b", "frontend-new"),
        ]
    }
    assert failing_pods(new_failing) == (
        PodProblem("frontend-new-b", "CrashLoopBackOff", "back-off"),
    )


def test_a_rollout_found_under_way_counts_its_deadline_from_first_sight() -> None:
    """After a restart (of the guard, or of the embedded platform's pods) the sync's start time
    is old news: the rollout gets a whole deadline from when the guard first sees it."""
    late = app(health=Health.PROGRESSING, started=T0 - 300)
    watch = observe(Watch(), late, T0)
    assert watch.started_at == T0
    assert decide(watch, late, ON, GitFacts(), T0 + 29).action is Action.NONE
    assert decide(watch, late, ON, GitFacts(), T0 + 30).action is Action.ROLLBACK


def test_progressing_again_after_healthy_gets_a_whole_deadline_from_then() -> None:
    """Healthy on B long after its sync started, then Progressing on B (its pods restarted, or
    the embedded platform adopted them under a guard that kept running): not a stuck rollout."""
    long_after = T0 + 300
    steps = [(T0, app(health=Health.PROGRESSING)), (T0 + 5, app(health=Health.HEALTHY))]
    again = app(health=Health.PROGRESSING)
    assert run(*steps, (long_after, again)).action is Action.NONE
    assert run(*steps, (long_after, again), (long_after + 29, again)).action is Action.NONE
    late = run(*steps, (long_after, again), (long_after + 30, again))
    assert late.action is Action.ROLLBACK
    assert late.reason.startswith("still Progressing 30s after the sync started")
    # Without having been Healthy, the deadline still counts from the sync's start.
    assert run((T0, app(health=Health.PROGRESSING)), (T0 + 30, again)).action is Action.ROLLBACK


def test_after_an_outage_a_rollout_under_way_gets_a_whole_deadline_from_the_next_sight() -> None:
    """The source was down (the embedded platform restarted, its rollout paused meanwhile): the
    guard did not see what happened, so the rollout counts as found under way again."""
    rolling = app(health=Health.PROGRESSING)
    watch = observe(observe(Watch(), rolling, T0), rolling, T0 + 5)
    back = T0 + 25
    watch = observe(after_outage(watch), rolling, back)
    assert decide(watch, rolling, ON, GitFacts(), back + 29).action is Action.NONE
    assert decide(watch, rolling, ON, GitFacts(), back + 30).action is Action.ROLLBACK
    # Without the outage the deadline had passed at T0 + 30.
    watch = observe(observe(Watch(), rolling, T0), rolling, back)
    assert decide(watch, rolling, ON, GitFacts(), T0 + 30).action is Action.ROLLBACK
    # A Degraded clock stands through an outage.
    degraded = app()
    watch = observe(after_outage(observe(Watch(), degraded, T0)), degraded, T0 + 10)
    assert decide(watch, degraded, ON, GitFacts(), T0 + 10).action is Action.ROLLBACK


# ---- a new revision that would remove everything the app runs ------------------------------

WIPE = f"Skipping sync attempt to {B}: auto-sync will wipe out all resources"


def refused(wipe: str = WIPE, target: str = B) -> App:
    """Healthy on G, whose sync target B automated sync refuses: it would prune everything."""
    return replace(
        app(G, Health.HEALTHY, history=(G,)),
        sync=Sync.OUT_OF_SYNC,
        sync_revision=target,
        conditions=(Condition("SyncError", wipe),),
    )


def test_a_revision_that_would_wipe_out_the_app_is_rolled_back_after_grace() -> None:
    healthy = app(G, Health.HEALTHY, history=(G,))
    within = run((T0, healthy), (T0 + 1, refused()), (T0 + 5, refused()))
    assert within.action is Action.NONE
    assert within.wake_at == T0 + 11
    decision = run((T0, healthy), (T0 + 1, refused()), (T0 + 11, refused()))
    assert decision.action is Action.ROLLBACK
    assert (decision.bad, decision.good, decision.kind) == (B, G, "wipes-out")
    assert decision.reason.startswith(f"the new revision {B[:7]} removes everything the app runs")
    assert WIPE in decision.reason
    assert decision.detect_s == 10


def test_a_wipe_out_already_rolled_back_or_a_rollback_that_wipes_out() -> None:
    healthy = app(G, Health.HEALTHY, history=(G,))
    done = run((T0, healthy), (T0 + 1, refused()), (T0 + 11, refused()),
               facts=GitFacts(rolled_back=frozenset({B})))  # fmt: skip
    assert done.action is Action.NONE
    halt = run((T0, healthy), (T0 + 1, refused()), (T0 + 11, refused()),
               facts=GitFacts(rollback_commits=frozenset({B})))  # fmt: skip
    assert halt.action is Action.HALT


def test_other_sync_errors_and_a_disabled_policy_do_not_roll_back() -> None:
    healthy = app(G, Health.HEALTHY, history=(G,))
    other = refused("ComparisonError: something else")
    assert run((T0, healthy), (T0 + 1, other), (T0 + 60, other)).action is Action.NONE
    off = run((T0, healthy), (T0 + 1, refused()), (T0 + 60, refused()), policy=Policy())
    assert off.action is Action.NONE
