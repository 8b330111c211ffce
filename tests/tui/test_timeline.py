"""The rollback timeline and the store's events: who rolled back, how long detection and
recovery took, from the guard's events or from Argo CD's history."""

from __future__ import annotations

import pytest

from console.fleet.history import Commit
from console.fleet.model import Health
from console.fleet.source import Down
from console.tui.store import Store
from console.tui.timeline import duration, timeline, who
from tests.fleet.build import replace
from tests.tui import data


def full_store(*, guard: bool = True) -> Store:
    s = Store(["demo"], {"demo": data.DEPLOY})
    s.snapshot("demo", data.fleet(), data.NOW)
    s.set_repo(data.DEPLOY, data.REPO)
    if guard:
        s.set_guard_events(data.GUARD_EVENTS)
    return s


def test_timeline_joins_commits_guard_events_and_history() -> None:
    entries = timeline(full_store())
    assert [(e.app, e.env, e.of, e.to, e.by) for e in entries] == [
        ("frontend-prod", "prod", data.C5, data.C4, "operator ada"),
        ("backend-dev", "dev", data.C3, data.C2, "guard"),
    ]
    operator, guard = entries
    # The guard's own figures; recover from its Rollback event to its Recovered event.
    assert (guard.detect_s, guard.recover_s, guard.mttr_s) == (41.5, 120.0, 161.5)
    assert operator.detect_s is None  # nobody detected it automatically
    # From Argo CD's history: the bad deploy started 44m20s ago, the rollback deployed 29m ago.
    assert operator.mttr_s == pytest.approx(15 * 60 + 20)
    # From the rollback commit's time (30m ago) to its deployedAt (29m ago).
    assert operator.recover_s == pytest.approx(60)
    assert operator.live
    assert guard.live


def test_without_guard_events_times_come_from_history() -> None:
    guard = timeline(full_store(guard=False))[1]
    # C3 started 100m20s ago; C4 deployed 89m ago.
    assert guard.mttr_s == pytest.approx(11 * 60 + 20)
    assert guard.detect_s is None


def test_guard_rollbacks_show_without_the_repo() -> None:
    s = Store(["demo"])
    s.snapshot("demo", data.fleet(), data.NOW)
    s.set_guard_events(data.GUARD_EVENTS)
    (entry,) = timeline(s)
    assert (entry.app, entry.sha, entry.by, entry.detect_s) == (
        "backend-dev",
        data.C4,
        "guard",
        41.5,
    )


@pytest.mark.parametrize(
    ("author", "reason", "by"),
    [
        ("gitops-guard <g@x>", "Degraded for 30s", "guard"),
        ("Ada <ada@x>", "operator ada: bad release", "operator ada"),
        ("Bob <bob@x>", "manual", "Bob"),
    ],
)
def test_who(author: str, reason: str, by: str) -> None:
    assert who(Commit("1" * 40, "s", author, 0, ()), reason) == by


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(None, "-"), (0.25, "250ms"), (42.4, "42s"), (185, "3m05s"), (7800, "2h10m")],
)
def test_duration(seconds: float | None, text: str) -> None:
    assert duration(seconds) == text


def test_store_tells_changes_not_the_first_read() -> None:
    s = Store(["demo"])
    s.snapshot("demo", data.fleet(), data.NOW)
    assert not s.events  # starting must not flood the pane
    app = data.fleet()[0]
    s.changed("demo", replace(app, health=Health.DEGRADED, health_message="boom"), data.NOW)
    (event,) = s.events
    assert (event.kind, event.app, event.message, event.warning) == (
        "Degraded",
        "backend-dev",
        "Healthy → Degraded: boom",
        True,
    )


def test_store_down_then_snapshot() -> None:
    s = Store(["demo"])
    s.snapshot("demo", data.fleet(), data.at(5))
    s.down("demo", Down("cannot reach Argo CD at x: Connection refused", data.at(4), 1))
    s.down("demo", Down("cannot reach Argo CD at x: Connection refused", data.at(4), 2))
    assert s.targets["demo"].stale
    assert [e.kind for e in s.events] == ["Down"]  # once per outage
    s.snapshot("demo", data.fleet()[:2], data.NOW)
    assert not s.targets["demo"].stale
    assert [e.kind for e in s.events] == ["Down", "Up"]
    assert len(s.apps) == 2  # the snapshot reconciles deletions


def test_guard_events_are_appended_once() -> None:
    s = Store(["demo"])
    s.set_guard_events(data.GUARD_EVENTS[:2])
    s.set_guard_events(data.GUARD_EVENTS)
    assert [e.kind for e in s.events] == ["Watching", "Unhealthy", "Rollback", "Recovered"]
    assert s.total_events == 4
