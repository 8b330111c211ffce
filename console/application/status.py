"""`status` and `operation`: what Argo CD's controller writes of an Application (and the
embedded platform's controller too), with the read side's accessors."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from pydantic import AliasChoices, Field

from console.application.base import (
    HISTORY_LIMIT,
    AnyMap,
    ArgoModel,
    Bool,
    Health,
    Int,
    OperationPhase,
    PhaseField,
    SourceMap,
    Str,
    Strs,
    Sync,
    SyncField,
    Time,
    model,
)

# --- status parts ------------------------------------------------------------------------------


@model
class HealthState(ArgoModel):
    """Argo CD's HealthState (of a resource) and AppHealthStatus (of an application). `status`
    is kept as written ("" when absent); `code` reads it leniently."""

    status: Str = ""
    message: Str = ""
    last_transition_time: Time = None

    @property
    def code(self) -> Health:
        return Health.parse(self.status)


@model
class ComparedTo(ArgoModel):
    """The source and destination the comparison was made against (copies of the spec's)."""

    _keep = frozenset({"source", "destination"})
    source: SourceMap = Field(default_factory=dict)
    destination: AnyMap = Field(default_factory=dict)


@model
class SyncStatus(ArgoModel):
    _keep = frozenset({"status", "comparedTo"})
    status: SyncField = Sync.UNKNOWN
    compared_to: ComparedTo = Field(default_factory=ComparedTo)
    revision: Str = ""
    revisions: Strs = ()


@model
class OperationInitiator(ArgoModel):
    """Who started an operation: a user (`username`) or the controller (`automated`)."""

    username: Str = ""
    automated: Bool = False


@model
class RevisionHistory(ArgoModel):
    """One entry of `status.history`: a sync that succeeded. `initiator` is Argo CD's
    `initiatedBy`; `initiated_by` (a username) and `automated` read it."""

    _keep = frozenset({"deployedAt", "id", "source", "initiatedBy"})
    revision: Str = ""
    deployed_at: Time = None
    id: Int = 0
    source: SourceMap = Field(default_factory=dict)
    deploy_started_at: Time = None
    initiator: OperationInitiator = Field(
        default_factory=OperationInitiator,
        serialization_alias="initiatedBy",
        validation_alias=AliasChoices("initiatedBy", "initiator"),
    )
    revisions: Strs = ()  # multi-source apps: one per source

    @property
    def initiated_by(self) -> str:
        return self.initiator.username

    @property
    def automated(self) -> bool:
        return self.initiator.automated


@model
class SyncOperation(ArgoModel):
    """What a sync does: the revision (empty: the spec's targetRevision), prune, dry run."""

    revision: Str = ""
    prune: Bool = False
    dry_run: Bool = False
    sync_options: Strs = ()
    revisions: Strs = ()


@model
class Operation(ArgoModel):
    """A requested (`Application.operation`) or running (`operationState.operation`) operation.
    `retry` is the RetryStrategy in its JSON form (`limit`, `backoff`), as in the spec."""

    _keep = frozenset({"initiatedBy", "retry"})
    sync: SyncOperation | None = None
    initiated_by: OperationInitiator = Field(default_factory=OperationInitiator)
    retry: AnyMap = Field(default_factory=dict)


@model
class ResourceResult(ArgoModel):
    """The outcome of one resource in a sync (`syncResult.resources[]`). `status` is Synced,
    SyncFailed, Pruned or PruneSkipped; `hook_phase` Running, Succeeded, Failed, Error..."""

    _keep = frozenset({"group", "version", "kind", "namespace", "name"})
    group: Str = ""
    version: Str = ""
    kind: Str = ""
    namespace: Str = ""
    name: Str = ""
    status: Str = ""
    message: Str = ""
    hook_phase: Str = ""
    sync_phase: Str = ""
    images: Strs = ()


@model
class SyncOperationResult(ArgoModel):
    _keep = frozenset({"revision", "source"})
    resources: tuple[ResourceResult, ...] = ()
    revision: Str = ""
    source: SourceMap = Field(default_factory=dict)
    revisions: Strs = ()


@model
class OperationState(ArgoModel):
    """`status.operationState`: the last (or the running) operation."""

    _keep = frozenset({"operation", "phase", "startedAt"})
    operation: Operation = Field(default_factory=Operation)
    phase: PhaseField = OperationPhase.UNKNOWN
    message: Str = ""
    sync_result: SyncOperationResult | None = None
    started_at: Time = None
    finished_at: Time = None
    retry_count: Int = 0

    @property
    def running(self) -> bool:
        return self.phase.running

    @property
    def revision(self) -> str:
        """What it syncs to: the resolved revision once known, else the one asked for."""
        resolved = self.sync_result.revision if self.sync_result is not None else ""
        asked = self.operation.sync.revision if self.operation.sync is not None else ""
        return resolved or asked

    @property
    def revisions(self) -> tuple[str, ...]:
        resolved = self.sync_result.revisions if self.sync_result is not None else ()
        asked = self.operation.sync.revisions if self.operation.sync is not None else ()
        return resolved or asked

    @property
    def initiated_by(self) -> str:
        return self.operation.initiated_by.username

    @property
    def automated(self) -> bool:
        return self.operation.initiated_by.automated


@model
class ResourceStatus(ArgoModel):
    """One managed resource of an application (`status.resources[]`). `health_state` is Argo
    CD's `health` object (None for kinds without a health check); `health` reads its status."""

    _keep = frozenset({"health"})
    group: Str = ""
    version: Str = ""
    kind: Str = ""
    namespace: Str = ""
    name: Str = ""
    status: SyncField = Sync.UNKNOWN  # its sync status
    health_state: HealthState | None = Field(
        default=None,
        serialization_alias="health",
        validation_alias=AliasChoices("health", "health_state"),
    )
    requires_pruning: Bool = False

    @property
    def health(self) -> Health | None:
        return self.health_state.code if self.health_state is not None else None

    @property
    def health_message(self) -> str:
        return self.health_state.message if self.health_state is not None else ""

    @property
    def ref(self) -> str:
        kind = f"{self.group}/{self.kind}" if self.group else self.kind
        return f"{kind} {self.namespace}/{self.name}" if self.namespace else f"{kind} {self.name}"


@model
class ApplicationSummary(ArgoModel):
    external_urls: Strs = Field(
        default=(),
        serialization_alias="externalURLs",
        validation_alias=AliasChoices("externalURLs", "external_urls"),
    )
    images: Strs = ()


@model
class ApplicationCondition(ArgoModel):
    """`type` is Argo CD's: ComparisonError, SyncError, InvalidSpecError, UnknownError,
    OrphanedResourceWarning, SharedResourceWarning..."""

    _keep = frozenset({"type", "message"})
    type: Str = ""
    message: Str = ""
    last_transition_time: Time = None

    @property
    def at(self) -> datetime | None:
        return self.last_transition_time


@model
class ApplicationStatus(ArgoModel):
    """The subset of Argo CD's ApplicationStatus the embedded platform maintains and the read
    side reads. Struct-typed fields (sync, health, summary, sourceHydrator) are always written,
    as encoding/json never omits a struct."""

    _keep = frozenset({"sync", "health", "summary", "sourceHydrator"})
    resources: tuple[ResourceStatus, ...] = ()
    sync: SyncStatus = Field(default_factory=SyncStatus)
    health: HealthState = Field(default_factory=HealthState)
    history: tuple[RevisionHistory, ...] = ()
    conditions: tuple[ApplicationCondition, ...] = ()
    reconciled_at: Time = None
    operation_state: OperationState | None = None
    observed_at: Time = None
    source_type: Str = ""  # "Kustomize" once the source was rendered
    summary: ApplicationSummary = Field(default_factory=ApplicationSummary)
    controller_namespace: Str = ""
    source_hydrator: AnyMap = Field(default_factory=dict)


def add_history(
    history: Sequence[RevisionHistory],
    *,
    revision: str,
    deployed_at: datetime,
    deploy_started_at: datetime | None = None,
    source: Mapping[str, Any] | None = None,
    initiated_by: OperationInitiator | None = None,
    limit: int = HISTORY_LIMIT,
) -> tuple[RevisionHistory, ...]:
    """`history` with a new entry appended, as Argo CD does: the id is the last one's plus one
    (0 for the first), and only the newest `limit` entries are kept."""
    entry = RevisionHistory(
        id=history[-1].id + 1 if history else 0,
        revision=revision,
        deployed_at=deployed_at,
        deploy_started_at=deploy_started_at,
        source=dict(source or {}),
        initiator=initiated_by or OperationInitiator(),
    )
    return (*history, entry)[-limit:] if limit > 0 else ()
