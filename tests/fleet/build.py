"""Fixtures for the read side's model, written flat: `App(name=..., health=..., sync=...)` builds
the nested `console.application.Application` a server's answer would parse into, and
`replace(app, health=...)` changes one the same way. The part builders (`HistoryEntry`,
`Operation`, `Resource`, `Condition`, `Source`) take what a test says about each part."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from console.application import (
    Application,
    ApplicationCondition,
    ApplicationSource,
    ArgoModel,
    Automated,
    Health,
    HealthState,
    OperationInitiator,
    OperationPhase,
    OperationState,
    ResourceStatus,
    RevisionHistory,
    Sync,
    SyncOperation,
    SyncOperationResult,
)
from console.application import (
    Operation as RequestedOperation,
)

# A flat attribute of the read side's App -> where it lives in the Argo CD shape.
_PATHS: dict[str, tuple[str, ...]] = {
    "name": ("metadata", "name"),
    "namespace": ("metadata", "namespace"),
    "labels": ("metadata", "labels"),
    "annotations": ("metadata", "annotations"),
    "resource_version": ("metadata", "resource_version"),
    "project": ("spec", "project"),
    "sources": ("spec", "sources"),
    "dest_server": ("spec", "destination", "server"),
    "dest_name": ("spec", "destination", "name"),
    "dest_namespace": ("spec", "destination", "namespace"),
    "auto_sync": ("spec", "sync_policy", "automated", "enabled"),
    "self_heal": ("spec", "sync_policy", "automated", "self_heal"),
    "prune": ("spec", "sync_policy", "automated", "prune"),
    "sync": ("status", "sync", "status"),
    "sync_revision": ("status", "sync", "revision"),
    "sync_revisions": ("status", "sync", "revisions"),
    "health": ("status", "health", "status"),
    "health_message": ("status", "health", "message"),
    "operation": ("status", "operation_state"),
    "history": ("status", "history"),
    "resources": ("status", "resources"),
    "images": ("status", "summary", "images"),
    "conditions": ("status", "conditions"),
    "reconciled_at": ("status", "reconciled_at"),
    "instance": ("instance",),
}


def _set(part: ArgoModel, path: Sequence[str], value: Any) -> Any:
    head, rest = path[0], path[1:]
    if not rest:
        return part.evolve(**{head: value})
    inner = getattr(part, head)
    if inner is None:  # only `automated`: a flat auto_sync=False with self_heal says disabled
        inner = Automated(enabled=False)
    return part.evolve(**{head: _set(inner, rest, value)})


def replace(app: Application, **changes: Any) -> Application:
    """`app` with flat attributes changed (`health=Health.DEGRADED`, `sync_revision=...`)."""
    for key, value in changes.items():
        if key == "auto_sync" and not value and app.spec.sync_policy.automated is None:
            continue
        app = _set(app, _PATHS[key], value)
    return app


def App(name: str = "", **flat: Any) -> Application:
    """An App from its flat attributes (missing ones as a server leaving them out)."""
    app = replace(Application(), name=name)
    if flat.get("auto_sync"):
        app = replace(app, auto_sync=True)
    return replace(app, **flat)


def Source(
    repo_url: str, path: str = "", target_revision: str = "", chart: str = "", ref: str = ""
) -> ApplicationSource:
    return ApplicationSource(
        repo_url=repo_url, path=path, target_revision=target_revision, chart=chart, ref=ref
    )


def HistoryEntry(  # noqa: PLR0917 - as the read side's dataclass was called
    id: int,
    revision: str,
    deployed_at: datetime | None = None,
    deploy_started_at: datetime | None = None,
    revisions: tuple[str, ...] = (),
    initiated_by: str = "",
    automated: bool = False,
) -> RevisionHistory:
    return RevisionHistory(
        id=id,
        revision=revision,
        deployed_at=deployed_at,
        deploy_started_at=deploy_started_at,
        revisions=revisions,
        initiator=OperationInitiator(username=initiated_by, automated=automated),
    )


def Operation(  # noqa: PLR0917 - one argument per attribute read
    phase: OperationPhase,
    revision: str,
    started_at: datetime | None = None,
    finished_at: datetime | None = None,
    message: str = "",
    initiated_by: str = "",
    automated: bool = False,
    retry_count: int = 0,
    revisions: tuple[str, ...] = (),
) -> OperationState:
    """`status.operationState` syncing to `revision` (its resolved revision)."""
    return OperationState(
        operation=RequestedOperation(
            sync=SyncOperation(),
            initiated_by=OperationInitiator(username=initiated_by, automated=automated),
        ),
        phase=phase,
        started_at=started_at,
        finished_at=finished_at,
        message=message,
        retry_count=retry_count,
        sync_result=SyncOperationResult(revision=revision, revisions=revisions),
    )


def Resource(  # noqa: PLR0917 - as the read side's dataclass was called
    group: str,
    kind: str,
    namespace: str,
    name: str,
    version: str = "",
    status: Sync = Sync.UNKNOWN,
    health: Health | None = None,
    health_message: str = "",
) -> ResourceStatus:
    return ResourceStatus(
        group=group,
        version=version,
        kind=kind,
        namespace=namespace,
        name=name,
        status=status,
        health_state=(
            HealthState(status=health, message=health_message) if health is not None else None
        ),
    )


def Condition(type: str, message: str = "", at: datetime | None = None) -> ApplicationCondition:
    return ApplicationCondition(type=type, message=message, last_transition_time=at)
