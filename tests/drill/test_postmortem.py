"""The post-mortem, rendered from recorded facts in the format of docs/journey/postmortems/."""

from __future__ import annotations

import re

from console.drill.postmortem import render
from console.drill.result import result
from tests.drill.support import (
    BAD_REV,
    BAD_VERSION,
    GOOD_REV,
    GOOD_VERSION,
    REASON,
    ROLLBACK,
    facts,
    failing_load,
)

SECTIONS = [
    "## Summary",
    "## Impact",
    "## Timeline (UTC)",
    "## Root cause commit",
    "## Detection",
    "## Resolution",
    "## Follow-ups",
]


def section(text: str, title: str) -> str:
    start = text.index(title)
    nxt = [text.index(t) for t in SECTIONS if text.index(t) > start]
    return text[start : min(nxt) if nxt else len(text)]


def test_a_recovered_drill() -> None:
    f = facts()
    text = render(f, result(f))
    assert text.startswith(
        "# frontend-dev in dev: new pods never became ready; rolled back by a commit (2026-08-01)\n"
    )
    assert [line for line in text.splitlines() if line.startswith("## ")] == SECTIONS

    summary = section(text, "## Summary")
    assert "Commit 2222222 to the apps repo" in summary
    assert "promoted into dev as bbbbbbb" in summary
    assert "rolled frontend-dev back by commit ccccccc 12.500 s after the sync started" in summary
    assert "Outcome: recovered — frontend-dev runs 0.1.0 (1111111), the last known-good." in summary

    impact = section(text, "## Impact")
    assert "| window | 2026-08-01 12:00:28.000Z → 2026-08-01 12:00:42.000Z (14.000 s) |" in impact
    assert "| requests | 800 sent, 0 failed (0.00 %) through the service proxy" in impact
    assert "old pods kept serving: yes; minimum ready replicas: 1 of 1" in impact
    assert "| environments | dev |" in impact

    timeline = section(text, "## Timeline (UTC)")
    stamp = re.compile(r"\| \d\d:\d\d:\d\d\.\d{3} \|")
    rows = [line for line in timeline.splitlines() if stamp.match(line)]
    assert len(rows) == 15
    assert "| 12:00:28.000 | argocd | sync of bbbbbbb started; rollout begins |" in rows
    revert = (
        "| 12:00:40.500 | git | revert ccccccc pushed to the deploy repo (Rollback-Of bbbbbbb) |"
    )
    assert revert in rows
    assert BAD_REV not in timeline, "short shas in the timeline"
    assert ROLLBACK not in timeline

    cause = section(text, "## Root cause commit")
    assert f'- Deploy repo: {BAD_REV} "chore(deploy): promote backend' in cause
    assert f"(promotion of image frontend:{BAD_VERSION})" in cause
    assert f'- Source: {BAD_VERSION} "feat(frontend): authenticate"' in cause
    assert "- What it changed: readiness requires BACKEND_TOKEN" in cause
    assert "- Why CI passed: the tests set it" in cause

    detection = section(text, "## Detection")
    assert "- Signal: Progressing past progressDeadlineSeconds" in detection
    assert 'auto-rollback: "true"`, rollback grace 2 s, progress deadline 12 s' in detection
    assert "- TTD: 12.500 s" in detection

    resolution = section(text, "## Resolution")
    assert f"- Revert commit: {ROLLBACK} `revert(frontend-dev): roll back" in resolution
    for trailer in (
        f"      Rollback-Of: {BAD_REV}",
        f"      Rollback-To: {GOOD_REV}",
        "      Rollback-App: frontend-dev",
        f"      Rollback-Reason: {REASON}",
    ):
        assert trailer in resolution.splitlines()
    assert "- TTR: 1.500 s" in resolution
    assert f"known-good version serving again: 0.1.0 ({GOOD_VERSION})" in resolution

    follow = section(text, "## Follow-ups")
    rows = [line for line in follow.splitlines() if line.startswith("| ") and "---" not in line]
    assert rows[0] == "| action | owner | tracked in |"
    assert len(rows) == 3
    assert all(row.count("|") == 4 and "@acme/platform" in row for row in rows[1:])


def test_a_drill_that_lost_requests_is_not_recovered() -> None:
    f = facts(load=failing_load(2))
    text = render(f, result(f))
    assert "; not recovered (2026-08-01)" in text.splitlines()[0]
    assert (
        "Outcome: not recovered — frontend-dev runs 0.1.0 (1111111): 2 of 800 requests failed "
        "(first: timeout after 2s)" in text
    )
    assert "old pods kept serving: no" in text
    assert "2 failed (0.25 %)" in text


def test_a_drill_without_a_rollback_says_so() -> None:
    f = facts(guard_events=(), rollback=None, rollback_count=0, healthy_on_rollback_at=None)
    text = render(f, result(f))
    assert "- No rollback commit was written." in text
    assert "- Signal: no rollback was decided" in text
    assert "- TTD: not measured" in text
    assert "0 rollback commits for the bad revision bbbbbbb, expected exactly one" in text
