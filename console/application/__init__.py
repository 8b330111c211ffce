"""Argo CD's Application (`v1alpha1Application`) as one model, for every side that reads or
writes one: the embedded platform's controller, store, API answers and saved state, and the
read side's clients (the Argo CD REST API and its stream, the Kubernetes API).

Frozen, slotted pydantic dataclasses with Argo CD's JSON names (camelCase aliases; Python code
uses snake_case): `base` holds the conventions (enums, times, omitempty), `status` the status
and operation parts, `spec` metadata and spec; `Application` (here) puts them together.

Reading is lenient where servers differ and strict where the structure is wrong: missing or
null fields read as empty (Go's zero values), unknown fields are ignored, unknown health, sync
and phase values read as "Unknown" (so a newer Argo CD cannot crash us), integers may come as
decimal strings (protojson's int64), timestamps are RFC 3339; a value of the wrong JSON type is
a validation error that names the field.

Writing (`to_json`) is what Go's encoding/json writes for Argo CD's types: fields in the Go
order, `omitempty` ones left out when empty, the rest (`_keep`) always present, timestamps as
metav1.Time marshals them (RFC 3339, UTC, whole seconds).

The read side's accessors (`app.health`, `app.sync_revision`, `app.operation`, ...) are
properties over the Argo CD shape, so the guard, the console and the drill read one type.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from pydantic import AliasChoices, Field

from console.application.base import (
    API_VERSION,
    DEFAULT_NAMESPACE,
    HISTORY_LIMIT,
    KIND,
    ArgoModel,
    Health,
    Json,
    OperationPhase,
    Str,
    Sync,
    format_time,
    format_time_nano,
    model,
    parse_time,
)
from console.application.spec import (
    ApplicationSource,
    ApplicationSpec,
    Automated,
    Destination,
    ObjectMeta,
    SourceHydrator,
    SyncPolicy,
)
from console.application.status import (
    ApplicationCondition,
    ApplicationStatus,
    ApplicationSummary,
    ComparedTo,
    HealthState,
    Operation,
    OperationInitiator,
    OperationState,
    ResourceResult,
    ResourceStatus,
    RevisionHistory,
    SyncOperation,
    SyncOperationResult,
    SyncStatus,
    add_history,
)
from console.contract import ENV_LABEL, SERVICE_LABEL

# --- the Application ---------------------------------------------------------------------------


@model
class Application(ArgoModel):
    """An Argo CD Application as one source saw it at one moment. `requested` is Argo CD's
    `Application.operation` (a sync asked for and not yet finished); `operation` is the last or
    running one (`status.operationState`), which is what readers ask about. `instance` names the
    source it came from (which Argo CD or cluster); it is not part of the JSON."""

    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: ApplicationSpec = Field(default_factory=ApplicationSpec)
    status: ApplicationStatus = Field(default_factory=ApplicationStatus)
    requested: Operation | None = Field(
        default=None,
        serialization_alias="operation",
        validation_alias=AliasChoices("operation", "requested"),
    )
    instance: Str = Field(default="", exclude=True)

    # -- identity --

    @property
    def name(self) -> str:
        return self.metadata.name

    @property
    def namespace(self) -> str:
        return self.metadata.namespace

    @property
    def key(self) -> str:
        """Stable across sources of one instance: `namespace/name`."""
        return f"{self.namespace}/{self.name}" if self.namespace else self.name

    @property
    def labels(self) -> Mapping[str, str]:
        return self.metadata.labels

    @property
    def annotations(self) -> Mapping[str, str]:
        return self.metadata.annotations

    @property
    def resource_version(self) -> str:
        return self.metadata.resource_version

    @property
    def service(self) -> str:
        return self.labels.get(SERVICE_LABEL, "")

    @property
    def env(self) -> str:
        return self.labels.get(ENV_LABEL, "")

    # -- spec --

    @property
    def project(self) -> str:
        return self.spec.project

    @property
    def sources(self) -> tuple[ApplicationSource, ...]:
        """The sources Argo CD syncs from, with its precedence (ApplicationSpec.GetSources): a
        source hydrator's sync source, else `sources` when not empty, else `source`."""
        hydrator = self.spec.source_hydrator
        if hydrator is not None:
            sync, dry = hydrator.sync_source, hydrator.dry_source
            return (
                ApplicationSource(
                    repo_url=sync.repo_url or dry.repo_url,
                    path=sync.path,
                    target_revision=sync.target_branch,
                ),
            )
        if self.spec.sources:
            return self.spec.sources
        return (self.spec.source,) if self.spec.source is not None else ()

    @property
    def source(self) -> ApplicationSource | None:
        return self.sources[0] if self.sources else None

    @property
    def dest_server(self) -> str:
        return self.spec.destination.server

    @property
    def dest_name(self) -> str:
        return self.spec.destination.name

    @property
    def dest_namespace(self) -> str:
        return self.spec.destination.namespace

    @property
    def auto_sync(self) -> bool:
        automated = self.spec.sync_policy.automated
        return automated is not None and automated.enabled

    @property
    def self_heal(self) -> bool:
        automated = self.spec.sync_policy.automated
        return automated is not None and automated.self_heal

    @property
    def prune(self) -> bool:
        automated = self.spec.sync_policy.automated
        return automated is not None and automated.prune

    # -- status --

    @property
    def sync(self) -> Sync:
        return self.status.sync.status

    @property
    def sync_revision(self) -> str:
        """The revision the app was last compared with (the first source's)."""
        return self.status.sync.revision

    @property
    def sync_revisions(self) -> tuple[str, ...]:
        return self.status.sync.revisions

    @property
    def health(self) -> Health:
        return self.status.health.code

    @property
    def health_message(self) -> str:
        return self.status.health.message

    @property
    def operation(self) -> OperationState | None:
        return self.status.operation_state

    @property
    def deployed_revision(self) -> str:
        """The revision the app's last (or running) sync deploys; its newest history entry when
        no operation is recorded."""
        op = self.operation
        if op is not None and op.revision:
            return op.revision
        return self.history[-1].revision if self.history else ""

    @property
    def history(self) -> tuple[RevisionHistory, ...]:
        return self.status.history

    @property
    def resources(self) -> tuple[ResourceStatus, ...]:
        return self.status.resources

    @property
    def images(self) -> tuple[str, ...]:
        return self.status.summary.images

    @property
    def conditions(self) -> tuple[ApplicationCondition, ...]:
        return self.status.conditions

    @property
    def reconciled_at(self) -> datetime | None:
        return self.status.reconciled_at


__all__ = [
    "API_VERSION",
    "DEFAULT_NAMESPACE",
    "ENV_LABEL",
    "HISTORY_LIMIT",
    "KIND",
    "SERVICE_LABEL",
    "Application",
    "ApplicationCondition",
    "ApplicationSource",
    "ApplicationSpec",
    "ApplicationStatus",
    "ApplicationSummary",
    "ArgoModel",
    "Automated",
    "ComparedTo",
    "Destination",
    "Health",
    "HealthState",
    "Json",
    "ObjectMeta",
    "Operation",
    "OperationInitiator",
    "OperationPhase",
    "OperationState",
    "ResourceResult",
    "ResourceStatus",
    "RevisionHistory",
    "SourceHydrator",
    "Sync",
    "SyncOperation",
    "SyncOperationResult",
    "SyncPolicy",
    "SyncStatus",
    "add_history",
    "format_time",
    "format_time_nano",
    "parse_time",
]
