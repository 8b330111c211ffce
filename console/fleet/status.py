"""The fleet's read model as `gitops status` prints it (and the console will show it): one row
per Application, joining what Argo CD reports with the live `/version` answers and the
deploy repo's rollback commits.

Pure: the caller fetches (console.fleet.gather) and formats (console.fleet.display).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from console.fleet.history import Rollback
from console.fleet.model import App, Health, Sync
from console.fleet.placement import ENV_ORDER, By, Placing, place_each
from console.timestamps import rfc3339


@dataclass(frozen=True)
class StatusRow:
    name: str
    namespace: str
    project: str
    service: str | None  # None: neither its labels nor its name or namespace say (placement)
    env: str | None
    sync: Sync
    health: Health
    revision: str | None  # the Git revision Argo CD compares with (first source's when several)
    images: tuple[str, ...]
    live_version: str | None  # the /version answer; None when not probed or it did not answer
    deployed_at: datetime | None  # of the newest history entry
    auto_sync: bool
    rollbacks: int | None  # rollback commits naming this app; None when no deploy repo was read
    # The guard's analysis of the revision's requests (running, passed, failed, inconclusive);
    # None when the guard's events are not known or none ran for it.
    analysis: str | None = None
    placed_by: By = "labels"  # the rule that gave service and env (console.fleet.placement)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "namespace": self.namespace,
            "project": self.project,
            "service": self.service,
            "env": self.env,
            "sync": self.sync.value,
            "health": self.health.value,
            "revision": self.revision,
            "images": list(self.images),
            "live_version": self.live_version,
            "deployed_at": rfc3339(self.deployed_at) if self.deployed_at else None,
            "auto_sync": self.auto_sync,
            "rollbacks": self.rollbacks,
            "analysis": self.analysis,
            "placed_by": self.placed_by or None,
        }


def revision(app: App) -> str | None:
    """The Git revision the app is compared with: `status.sync.revision`; for a multi-source
    app (`status.sync.revisions`, one per source) that of its first Git source (a Helm chart's
    revision is a chart version), else the first that is set."""
    if app.sync_revision:
        return app.sync_revision
    known = [(i, rev) for i, rev in enumerate(app.sync_revisions) if rev]
    from_git = [rev for i, rev in known if i < len(app.sources) and not app.sources[i].chart]
    return next(iter(from_git or [rev for _, rev in known]), None)


def deployed_at(app: App) -> datetime | None:
    """When the newest history entry (the highest id: Argo CD appends) finished deploying."""
    if not app.history:
        return None
    return max(app.history, key=lambda entry: entry.id).deployed_at


def group_rollbacks(rollbacks: Iterable[Rollback]) -> dict[str, list[Rollback]]:
    """Rollback commits by the app their `Rollback-App` trailer names."""
    out: dict[str, list[Rollback]] = {}
    for rollback in rollbacks:
        out.setdefault(rollback.app, []).append(rollback)
    return out


def _order(row: StatusRow) -> tuple[bool, str, int, str, str]:
    env = row.env or ""
    rank = ENV_ORDER.index(env) if env in ENV_ORDER else len(ENV_ORDER)
    # Apps without a service (the root app, the guard, Argo CD itself) come last.
    return (row.service is None, row.service or "", rank, env, row.name)


def build_rows(
    apps: Iterable[App],
    live_versions: Mapping[str, str | None],
    rollbacks_by_app: Mapping[str, Sequence[Rollback]] | None,
    placing: Placing | None = None,
) -> list[StatusRow]:
    """One row per app, sorted by (service, environment in promotion order, name).
    `live_versions` is keyed by app name; `rollbacks_by_app` (group_rollbacks) by app name, or
    None when no deploy repo was read (then every row's `rollbacks` is None). Service and
    environment are the app's labels, else derived as `placing` says (console.fleet.placement)."""
    rows = [
        StatusRow(
            name=app.name,
            namespace=app.namespace,
            project=app.project,
            service=where.service or None,
            env=where.env or None,
            placed_by=where.by,
            sync=app.sync,
            health=app.health,
            revision=revision(app),
            images=app.images,
            live_version=live_versions.get(app.name),
            deployed_at=deployed_at(app),
            auto_sync=app.auto_sync,
            rollbacks=(
                None if rollbacks_by_app is None else len(rollbacks_by_app.get(app.name, ()))
            ),
        )
        for app, where in place_each(apps, placing or Placing())
    ]
    return sorted(rows, key=_order)


def rows_json(rows: Iterable[StatusRow]) -> dict[str, Any]:
    """`gitops status --json`: `{"apps": [row, ...]}`."""
    return {"apps": [row.to_json() for row in rows]}
