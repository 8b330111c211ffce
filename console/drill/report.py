"""The drill's end: the final facts read from the platform while it still runs, and the
post-mortem and `drill.json` written under `<workspace>/drills/<drill id>/`."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from console.drill.facts import Facts
from console.drill.postmortem import render as render_postmortem
from console.drill.result import DrillResult, result
from console.drill.timeline import assemble
from console.drill.watch import PlatformView, guard_events, healthy_synced, rollbacks_of
from console.git import GitError
from console.platforminfo import PlatformInfo


async def final_facts(
    view: PlatformView, info: PlatformInfo, facts: Facts, service_url: str, errors: list[str]
) -> Facts:
    """The facts with what only the end can tell: the guard's events, the rollback commits,
    the version served last, when each sync started. A problem reading them goes to `errors`."""
    f = facts
    bad = f.bad_revision
    app = await view.get(f.app)
    answer = await view.version(service_url) if service_url else None
    events = guard_events(info.guard_events, f.app, f.started_at)
    count = 0
    if bad:
        try:
            count = len(await asyncio.to_thread(rollbacks_of, info.remotes["deploy"], bad))
        except GitError as exc:
            errors.append(f"the deploy repo's history cannot be read: {exc}")
    updates: dict[str, Any] = {
        "guard_events": tuple(events),
        "rollback_count": count,
        "final_version": str(answer.get("revision", "")) if answer else "",
        "finished_at": datetime.now(UTC),
    }
    if app is not None:
        by_revision = {e.revision: e for e in app.history}
        if bad in by_revision and by_revision[bad].deploy_started_at is not None:
            updates["bad_sync_started"] = by_revision[bad].deploy_started_at
        if f.rollback is not None:
            entry = by_revision.get(f.rollback.sha)
            if entry is not None and entry.deploy_started_at is not None:
                updates["rollback_sync_started"] = entry.deploy_started_at
            updates["final_healthy_synced"] = healthy_synced(app, f.rollback.sha)
    return replace(facts, **updates)


def write_report(facts: Facts, directory: Path) -> tuple[DrillResult, Path]:
    """The outcome, with the post-mortem and drill.json written (the path of the post-mortem)."""
    path = directory / "postmortem.md"
    outcome = result(facts, path)
    path.write_text(render_postmortem(facts, outcome), encoding="utf-8")
    record = {
        "result": outcome.to_json(),
        "problems": list(outcome.problems),
        "timeline": [e.to_json() for e in assemble(facts)],
        "load": facts.load.to_json(),
        "drill_id": facts.drill_id,
        "scenario": facts.scenario,
        "refusal": facts.refusal or None,
        "workspace": str(facts.workspace),
    }
    (directory / "drill.json").write_text(json.dumps(record, indent=2) + "\n", "utf-8")
    return outcome, path
