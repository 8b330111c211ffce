"""What the other scenarios add to the timeline and the post-mortem (pure)."""

from __future__ import annotations

from console.drill.facts import Commit
from console.drill.postmortem import render
from console.drill.result import result
from console.drill.timeline import assemble
from tests.drill.support import BAD_REV, at, facts


def test_the_timeline_tells_failing_pods_the_kill_and_the_restart_in_order() -> None:
    f = facts(
        scenario="platform-crash",
        pods_failing_at=at(29.5),
        pods_failing="frontend-x CrashLoopBackOff",
        platform_killed_at=at(30),
        platform_restarted_at=at(36),
        bad_healthy_at=None,
    )
    events = [(e.source, e.event) for e in assemble(f)]
    i = events.index(
        ("argocd", "new pods cannot run, old pods serving (frontend-x CrashLoopBackOff)")
    )
    assert events[i + 1] == ("drill", "kill -9 of `gitops up`")
    assert ("drill", "`gitops up` restarted and ready again") in events[i + 2 :]


def test_a_bad_image_post_mortem_names_the_tag_never_built() -> None:
    tag = "f" * 40
    f = facts(
        scenario="bad-image",
        change=None,
        ci_runs=(),
        bad_tag=tag,
        pods_not_ready_at=None,
        pods_failing_at=at(29),
        pods_failing="frontend-x ErrImagePull",
        promotion=Commit(BAD_REV, f"chore(deploy): promote frontend {tag[:7]} to dev", at(21)),
        follow_ups=("Promote only tags CI built", "Check the registry"),
    )
    text = render(f, result(f))
    assert f"pinned frontend in dev to {tag[:7]}, an image tag that was never built" in text
    assert "Its pods could not run (frontend-x ErrImagePull)" in text
    assert f"- Source: none: no commit built the tag {tag}" in text
    assert "| Promote only tags CI built | @acme/platform |" in text


def test_a_refused_push_post_mortem_quotes_the_gate() -> None:
    f = facts(
        scenario="broken-manifest",
        change=None,
        promotion=None,
        rollback=None,
        rollback_count=0,
        bad_sync_started=None,
        pods_not_ready_at=None,
        degraded_at=None,
        guard_events=(),
        refused_commit=Commit("d" * 40, "feat(dev): a PodDisruptionBudget for frontend", at(12)),
        refused_at=at(12),
        refusal="rejected: overlays/dev/frontend: does not render: x\nrejected: main is protected",
        refused_overlay="overlays/dev/frontend",
        deploy_head_before="a" * 40,
        deploy_head_after="a" * 40,
    )
    outcome = result(f)
    assert outcome.recovered
    text = render(f, outcome)
    assert text.startswith(
        "# frontend-dev in dev: a deploy commit that does not render was refused at the gate; "
        "nothing deployed"
    )
    assert "      rejected: overlays/dev/frontend: does not render: x\n" in text
    assert "Nothing was deployed: main stayed at aaaaaaa." in text
    assert "| window | none: nothing was deployed |" in text
    assert "- No rollback needed: nothing reached main" in text


def test_a_restore_by_the_drill_is_not_a_rollback_by_the_guard() -> None:
    f = facts(scenario="error-rate", rollback=None, restored_by="e" * 40, error="no rollback")
    outcome = result(f)
    assert not outcome.recovered
    assert "The drill restored the known-good content itself" in render(f, outcome)


def test_an_analysis_rollback_says_the_release_was_healthy_but_failing_its_users() -> None:
    from dataclasses import replace  # noqa: PLC0415

    from console.drill.facts import Policy  # noqa: PLC0415
    from tests.drill.support import rollback_event  # noqa: PLC0415

    ev = rollback_event()
    reason = "error ratio 0.10 > 0.05 over 2.0 s, 50 requests"
    ev = replace(ev, fields={**ev.fields, "kind": "analysis", "reason": reason})
    f = facts(
        scenario="error-rate",
        guard_events=(ev,),
        pods_not_ready_at=None,
        bad_healthy_at=at(31),
        policy=Policy("true", "2", "12", analysis_s="20"),
        rollback=Commit("c" * 40, "revert", at(38), (("Rollback-Reason", reason),)),
    )
    text = render(f, result(f))
    assert "Healthy, but failing its users; rolled back by a commit" in text.splitlines()[0]
    assert f"only the analysis of its requests could tell ({reason})" in text
    assert "progress deadline 12 s, analysis window 20 s" in text
    assert "- Signal: Healthy, but the analysis of its requests failed it" in text
