"""The drill's post-mortem: Markdown in the format of docs/journey/postmortems/README.md, rendered
from the recorded facts alone (pure): summary, impact, timeline, root-cause commit, detection,
resolution with the rollback commit's trailers, follow-ups. Shas are short in the timeline and
full elsewhere; times are UTC with milliseconds, from the events themselves."""

from __future__ import annotations

from datetime import datetime

from console.contract import ROLLBACK_APP, ROLLBACK_OF, ROLLBACK_REASON, ROLLBACK_TO
from console.drill.facts import Facts
from console.drill.result import DrillResult
from console.drill.timeline import Entry, assemble, recovered_at, short
from console.timestamps import rfc3339_ms

SIGNALS = {
    "progress-deadline": "Progressing past progressDeadlineSeconds: the new pods never became "
    "ready",
    "degraded": "Degraded on the new revision",
    "pods-failing": "new pods failing (image pull, crash loop) for the grace period",
    "sync-failed": "sync failed",
    "analysis": "Healthy, but the analysis of its requests failed it (error ratio or p95 over "
    "the Application's threshold)",
}
HEADLINES = {
    "progress-deadline": "new pods never became ready; rolled back by a commit",
    "degraded": "the new version turned Degraded; rolled back by a commit",
    "pods-failing": "new pods could not run; rolled back by a commit",
    "sync-failed": "the sync failed; rolled back by a commit",
    "analysis": "Healthy, but failing its users; rolled back by a commit",
}


def _time(at: datetime | None) -> str:
    return rfc3339_ms(at)[11:23] if at is not None else "—"


def _stamp(at: datetime | None) -> str:
    return rfc3339_ms(at).replace("T", " ") if at is not None else "—"


def _secs(value: float | None) -> str:
    return f"{value:.3f} s" if value is not None else "not measured"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _kind(facts: Facts) -> str:
    event = facts.rollback_event
    return str(event.fields.get("kind", "")) if event is not None else ""


def _reason(facts: Facts) -> str:
    if facts.rollback is not None and facts.rollback.trailer(ROLLBACK_REASON):
        return facts.rollback.trailer(ROLLBACK_REASON)
    event = facts.rollback_event
    return str(event.fields.get("reason", "")) if event is not None else ""


def _title(facts: Facts, result: DrillResult) -> str:
    day = (facts.bad_sync_started or facts.started_at).strftime("%Y-%m-%d")
    what = HEADLINES.get(_kind(facts), "a bad version reached it")
    if facts.refused_commit is not None:
        what = "a deploy commit that does not render was refused at the gate; nothing deployed"
    if facts.scenario == "healthy":
        what = "a good release stayed; no rollback"
    if not result.recovered:
        what = f"{what.split(';')[0]}; not recovered"
    return f"# {facts.app} in {facts.env}: {what} ({day})"


def _running(facts: Facts) -> str:
    if not facts.final_version:
        return f"{facts.app} runs an unknown version"
    semver = facts.good_semver if facts.final_version == facts.good_version else "?"
    return f"{facts.app} runs {semver} ({short(facts.final_version)})"


def _summary(facts: Facts, result: DrillResult) -> list[str]:
    d = result.durations
    change, promo = facts.change, facts.promotion
    parts = []
    refused = facts.refused_commit
    if change is not None:
        parts.append(
            f'Commit {short(change.sha)} to the apps repo ("{change.subject}") passed its tests '
            "and CI"
            + (f" and was promoted into {facts.env} as {short(promo.sha)}" if promo else "")
            + "."
        )
    elif promo is not None:
        parts.append(
            f'Promotion {short(promo.sha)} ("{promo.subject}") pinned {facts.service} in '
            f"{facts.env} to {short(facts.bad_version)}, an image tag that was never built."
        )
    if refused is not None:
        parts.append(
            f'Commit {short(refused.sha)} ("{refused.subject}") was pushed to the deploy repo'
            + (
                "; its gate refused it: the overlay does not render"
                if facts.refusal
                else " and was accepted, though its overlay does not render"
            )
            + "."
        )
        if facts.deploy_head_before and facts.deploy_head_before == facts.deploy_head_after:
            parts.append(f"Nothing was deployed: main stayed at {short(facts.deploy_head_before)}.")
    if facts.bad_healthy_at is not None and facts.scenario != "healthy":
        parts.append(
            "Its pods passed readiness and it turned Healthy: only the analysis of its requests "
            f"could tell ({_reason(facts) or 'no verdict recorded'})."
        )
    if facts.pods_failing_at is not None:
        parts.append(
            f"Its pods could not run ({facts.pods_failing}), so the rollout never replaced the "
            "old pods, which kept serving."
        )
    if facts.pods_not_ready_at is not None:
        parts.append(
            "Its pods ran but never passed readiness, so the rollout halted with the old pods "
            "serving."
        )
    killed, back = facts.platform_killed_at, facts.platform_restarted_at
    if killed is not None:
        again = (
            f"it was ready again {(back - killed).total_seconds():.1f} s later"
            if back is not None
            else "it did not come back"
        )
        parts.append(f"Mid-rollout, `gitops up` was killed (kill -9) and restarted; {again}.")
    if facts.rollback is not None:
        parts.append(
            f"The guard rolled {facts.app} back by commit {short(facts.rollback.sha)} "
            f"{_secs(d.detect_s)} after the sync started"
            + (
                f"; it was Healthy and Synced on the known-good content {_secs(d.mttr_s)} after "
                "the sync started."
                if d.mttr_s is not None
                else "."
            )
        )
    parts.append(f"{facts.load.failed} of {facts.load.total} requests failed.")
    if result.recovered and facts.scenario == "healthy":
        outcome = f"Outcome: passed — {facts.app} runs the new {short(facts.final_version)}."
    elif result.recovered:
        outcome = f"Outcome: recovered — {_running(facts)}, the last known-good."
    else:
        outcome = f"Outcome: not recovered — {_running(facts)}: " + "; ".join(result.problems)
    return [" ".join(parts), outcome]


def _impact(facts: Facts, result: DrillResult) -> list[str]:
    load = facts.load
    start, end = facts.bad_sync_started, recovered_at(facts)
    window = f"{_stamp(start)} → {_stamp(end)}"
    if facts.refused_commit is not None and start is None:
        window = "none: nothing was deployed"
    if result.durations.mttr_s is not None:
        window += f" ({result.durations.mttr_s:.3f} s)"
    good_only = {rev for rev, _ in load.served_by} <= {facts.good_version}
    kept = "yes" if load.total and not load.failed and good_only else "no"
    ready = (
        f"{facts.min_ready} of {facts.replicas}"
        if facts.min_ready is not None and facts.replicas
        else "not observed"
    )
    served = ", ".join(f"{short(rev) or '?'}: {n}" for rev, n in load.served_by) or "none"
    return [
        "| | |",
        "| --- | --- |",
        f"| window | {window} |",
        f"| requests | {load.total} sent, {load.failed} failed ({load.failure_rate * 100:.2f} %) "
        f"through the service proxy ({load.rate:g}/s to {load.url}); answers by version: "
        f"{served} |",
        f"| availability | old pods kept serving: {kept}; minimum ready replicas: {ready} |",
        f"| environments | {facts.env} |",
    ]


def _timeline(entries: list[Entry]) -> list[str]:
    rows = ["| time | source | event |", "| --- | --- | --- |"]
    rows += [f"| {_time(e.at)} | {e.source} | {_cell(e.event)} |" for e in entries]
    return rows


def _root_cause(facts: Facts) -> list[str]:
    promo, change = facts.promotion, facts.change
    lines = []
    refused = facts.refused_commit
    if refused is not None:
        lines.append(
            f'- Deploy repo: {refused.sha} "{refused.subject}" (refused at the gate: never on '
            f"main), in {facts.refused_overlay or 'an overlay'}"
        )
    elif promo is not None:
        lines.append(
            f'- Deploy repo: {promo.sha} "{promo.subject}" (promotion of image '
            f"{facts.service}:{facts.bad_version})"
        )
    else:
        lines.append("- Deploy repo: no promotion was seen")
    if change is not None:
        lines.append(f'- Source: {change.sha} "{change.subject}"')
    elif facts.bad_tag:
        lines.append(f"- Source: none: no commit built the tag {facts.bad_tag}")
    files = ", ".join(facts.change_files)
    lines.append(
        f"- What it changed: {facts.what_changed or 'unknown'}"
        + (f" (files: {files})" if files else "")
    )
    lines.append(f"- Why CI passed: {facts.why_ci_passed or 'unknown'}")
    return lines


def _detection(facts: Facts, result: DrillResult) -> list[str]:
    policy = facts.policy
    kind = _kind(facts)
    analysis = (
        f", analysis window {policy.analysis_s} s"
        if kind == "analysis" and policy.analysis_s
        else ""
    )
    if facts.refused_commit is not None:
        if not facts.refusal:
            return ["- Signal: none: the deploy repo's gate accepted the push"]
        return [
            "- Signal: the deploy repo's pre-receive gate rendered the overlay and refused the "
            "push; the pusher saw:",
            "",
            *(f"      {line}" for line in facts.refusal.splitlines()),
            "",
            "- TTD: at the push (the gate answers before anything lands)",
        ]
    return [
        f"- Signal: {SIGNALS.get(kind, kind or 'no rollback was decided')}",
        f'- Policy: `gitops.platform/auto-rollback: "{policy.enabled}"`, rollback grace '
        f"{policy.grace_s or '?'} s, progress deadline {policy.deadline_s or '?'} s{analysis} "
        f"(annotations of the Application {facts.app})",
        f"- TTD: {_secs(result.durations.detect_s)} (sync start → rollback pushed)",
    ]


def _resolution(facts: Facts, result: DrillResult) -> list[str]:
    rb = facts.rollback
    if rb is None and facts.refused_commit is not None:
        return [
            "- No rollback needed: nothing reached main, so nothing was deployed; "
            f"{facts.app} stayed Healthy and Synced on {short(facts.good_revision)}"
        ]
    if rb is None and facts.restored_by:
        return [
            "- The guard wrote no rollback commit. The drill restored the known-good content "
            f"itself, as an operator would from the console: {facts.restored_by}"
        ]
    if rb is None:
        return ["- No rollback commit was written."]
    trailers = [
        f"{key}: {rb.trailer(key)}"
        for key in (ROLLBACK_OF, ROLLBACK_TO, ROLLBACK_APP, ROLLBACK_REASON)
    ]
    serving = (
        f"{facts.good_semver} ({facts.final_version})"
        if facts.final_version and facts.final_version == facts.good_version
        else f"no: /version answers {facts.final_version or 'nothing readable'}"
    )
    return [
        f"- Revert commit: {rb.sha} `{rb.subject}`, trailers:",
        "",
        *(f"      {t}" for t in trailers),
        "",
        "- Bad revision marked so auto-sync does not re-apply it: yes — the Rollback-Of trailer "
        "marks it in Git: main no longer deploys it, the guard never acts on it again, and "
        "`gitops promote` refuses its image tag without `--force`",
        f"- Rollback commits for {short(facts.bad_revision)}: {facts.rollback_count}",
        f"- TTR: {_secs(result.durations.recover_s)} (rollback pushed → Healthy and Synced); "
        f"known-good version serving again: {serving}",
    ]


def _follow_ups(facts: Facts) -> list[str]:
    owner = facts.owner or "the apps repo's owners"
    source = short(facts.bad_version) or "the change"
    apps = f"{facts.apps_remote} main" if facts.apps_remote else "the apps repo"
    deploy = f"{facts.deploy_remote} overlays/" if facts.deploy_remote else "the deploy repo "
    if facts.follow_ups:
        where = [f"{apps} ({source})", f"{deploy}{facts.env}/{facts.service}"]
        if facts.change is None:
            where[0] = f"{deploy}{facts.env}/{facts.service}"
        rows = [
            f"| {text.replace('{source}', source)} | {owner} | {where[min(i, 1)]} |"
            for i, text in enumerate(facts.follow_ups)
        ]
        return ["| action | owner | tracked in |", "| --- | --- | --- |", *rows]
    return [
        "| action | owner | tracked in |",
        "| --- | --- | --- |",
        f"| Revert {source} in the apps repo, or give the Deployment the variable it needs "
        f"(from a Secret) before promoting it again | {owner} | {apps} ({source}) |",
        "| Test readiness in CI against the env each overlay renders (a rendered Deployment "
        f"started with its own env), not only in unit tests | {owner} | {deploy}"
        f"{facts.env}/{facts.service} |",
    ]


def render(facts: Facts, result: DrillResult) -> str:
    """The post-mortem as Markdown."""
    entries = assemble(facts)
    sections: list[list[str]] = [
        [_title(facts, result)],
        ["## Summary", "", *_summary(facts, result)],
        ["## Impact", "", *_impact(facts, result)],
        ["## Timeline (UTC)", "", *_timeline(entries)],
        ["## Root cause commit", "", *_root_cause(facts)],
        ["## Detection", "", *_detection(facts, result)],
        ["## Resolution", "", *_resolution(facts, result)],
        ["## Follow-ups", "", *_follow_ups(facts)],
        [
            f"_Written by `gitops demo` (drill {facts.drill_id}) from the deploy repo's history, "
            f"Argo CD's application history, CI's runs and the guard's events in "
            f"{facts.workspace}._"
        ],
    ]
    return "\n\n".join("\n".join(section) for section in sections) + "\n"
