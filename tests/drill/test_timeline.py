"""The drill's timeline and its durations, assembled from recorded facts (pure)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from console.drill.timeline import assemble, durations, recovered_at, render
from console.fleet.durations import Durations
from tests.drill.support import (
    BAD_REV,
    ROLLBACK,
    at,
    event,
    facts,
    recovered_event,
    rollback_event,
)


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        pytest.param({}, Durations(12.5, 1.5, 14.0), id="rollback and recovery events"),
        pytest.param(
            {"guard_events": (rollback_event(),)},
            Durations(12.5, 1.4, 13.9),
            id="no Recovered event: the drill's own sight of it",
        ),
        pytest.param(
            {"guard_events": (rollback_event(),), "healthy_on_rollback_at": at(39.0)},
            Durations(12.5, 0.0, 12.5),
            id="synced before the push returned: never earlier than the push",
        ),
        pytest.param(
            {"guard_events": (rollback_event(40.1234),), "healthy_on_rollback_at": None},
            Durations(12.123, None, None),
            id="milliseconds, and no recovery seen",
        ),
        pytest.param(
            {"guard_events": (), "rollback": None, "healthy_on_rollback_at": None},
            Durations(None, None, None),
            id="no rollback",
        ),
        pytest.param(
            {"bad_sync_started": None},
            Durations(None, 1.5, None),
            id="no sync start",
        ),
    ],
)
def test_durations(overrides: dict[str, Any], expected: Durations) -> None:
    assert durations(facts(**overrides)) == expected


def test_recovery_is_timed_by_the_recovered_event_of_this_rollback_only() -> None:
    other = event(41.0, "Recovered", commit="d" * 40)
    f = facts(guard_events=(rollback_event(), other, recovered_event(43.0)))
    assert recovered_at(f) == at(43.0)


def _events(entries: list[Any]) -> list[tuple[datetime, str, str]]:
    return [(e.at, e.source, e.event) for e in entries]


def test_assembly_tells_the_story_in_time_order() -> None:
    entries = assemble(facts())
    assert [e.at for e in entries] == sorted(e.at for e in entries)
    told = [(e.source, e.event.split(":")[0]) for e in entries]
    assert told == [
        ("load", "load started"),
        ("git", "2222222 pushed to the apps repo"),
        ("ci", "tests of 2222222 passed (8.5 s)"),
        ("ci", "image 2222222 built (0.0 s)"),
        ("git", "promotion bbbbbbb into overlays/dev"),  # its commit time, in the promote stage
        ("ci", "image 2222222 promoted into dev (2.0 s)"),
        ("argocd", "sync of bbbbbbb started; rollout begins"),
        (
            "argocd",
            "new pods not ready; rollout halted, old pods serving "
            "(frontend-new Running 0/1; frontend-old ready and serving)",
        ),
        ("guard", "rollback decided"),
        ("git", "revert ccccccc pushed to the deploy repo (Rollback-Of bbbbbbb)"),
        ("argocd", "health Degraded on bbbbbbb"),
        ("argocd", "sync of ccccccc started"),
        ("argocd", "Healthy and Synced on ccccccc"),
        ("load", "/version answers 1111111 again"),
        ("load", "load stopped"),
    ]


@pytest.mark.parametrize(
    ("source", "needle", "seconds"),
    [
        ("ci", "tests of 2222222 passed", 19.5),  # started at +11 (whole seconds) + 8.5 s
        ("ci", "image 2222222 built", 19.5),  # +19 + 0 s, not before the tests it follows
        ("guard", "rollback decided", 40.25),  # sync start + the guard's detect_s
        ("git", "revert ccccccc pushed", 40.5),  # the guard's Rollback event
        ("argocd", "Healthy and Synced on ccccccc", 42.0),  # the guard's Recovered event
    ],
)
def test_entries_take_their_times_from_the_records(
    source: str, needle: str, seconds: float
) -> None:
    found = [e for e in assemble(facts()) if e.source == source and needle in e.event]
    assert [e.at for e in found] == [at(seconds)]


def test_guard_events_before_the_change_are_not_this_drills() -> None:
    entries = assemble(facts())
    assert not [e for e in entries if e.source == "guard" and "Unhealthy" in e.event]
    later = event(30.0, "Unhealthy", revision=BAD_REV)
    entries = assemble(facts(guard_events=(later, rollback_event(), recovered_event())))
    assert (at(30.0), "guard", "Unhealthy: Unhealthy message") in _events(entries)


def test_a_drill_that_stopped_early_tells_what_happened_so_far() -> None:
    f = facts(
        promotion=None,
        bad_sync_started=None,
        pods_not_ready_at=None,
        degraded_at=None,
        guard_events=(),
        rollback=None,
        rollback_sync_started=None,
        healthy_on_rollback_at=None,
        version_restored_at=None,
        final_version="",
    )
    told = [e.event.split(":")[0] for e in assemble(f)]
    assert told[:2] == ["load started", "2222222 pushed to the apps repo"]
    assert told[-1] == "load stopped"
    assert not any(ROLLBACK[:7] in e for e in told)


def test_render_prints_milliseconds_and_the_offset() -> None:
    lines = render(assemble(facts()), origin=at(10))
    assert lines[0].startswith("12:00:10.000  +  0.000s  load ")
    assert any(line.startswith("12:00:40.500  + 30.500s  git     revert ccccccc") for line in lines)
