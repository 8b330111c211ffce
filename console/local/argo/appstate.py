"""The read model of the embedded platform: the Applications the controller publishes and the API
server serves, in Argo CD's own JSON.

Argo CD splits its work between an application controller, which owns state (it reconciles and
writes each Application's `status` and `operationState`), and an API server, which only reads
that state and takes requests (list, get, watch, sync, refresh, logs, webhooks). This module is
the seam between the two here:

- `ApplicationRecord` is one Application: its manifest as read from Git (`apiVersion`, `kind`,
  `metadata`, `spec`), the live `ApplicationStatus` the controller computed, the requested
  `Operation` (as in Argo CD: set by a sync request or an automated sync, kept while the
  operation runs, cleared when it completes) and a `resource_version` that increases with every
  change, as a Kubernetes resourceVersion does.
- `to_json` renders a record as Argo CD serialises a `v1alpha1Application` (Go's encoding/json on
  the Go types: camelCase, RFC 3339 UTC timestamps, `omitempty` fields left out when empty, struct
  fields always present); `from_json` reads one back, so the controller can persist records as
  JSON and resume.
- `ApplicationSource` is the protocol the API server depends on; the controller implements it,
  or publishes into `InMemorySource`.
- `InMemorySource` is a complete, thread-safe implementation of the protocol over a dict of
  records. It is not a test double: it is the hand-off point between controller and API. The
  controller publishes with `put`, `update` and `delete` (from any thread), publishes resource
  trees and pod logs with `set_resource_tree` and `append_log`, and consumes what users asked for
  (`SyncRequest`, `RefreshRequest`, `WebhookDelivery`) from `requests()` or `take_requests()`.
"""

from __future__ import annotations

import asyncio
import builtins
import threading
import uuid
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, ClassVar, Literal, Protocol, TypeAlias, cast

from console.timestamps import rfc3339

API_VERSION = "argoproj.io/v1alpha1"
KIND = "Application"
DEFAULT_NAMESPACE = "argocd"
HISTORY_LIMIT = 10  # Argo CD's default revisionHistoryLimit

EventType = Literal["ADDED", "MODIFIED", "DELETED"]
SyncStatusCode = Literal["Synced", "OutOfSync", "Unknown"]
OperationPhase = Literal["Running", "Succeeded", "Failed", "Error", "Terminating"]
Json: TypeAlias = dict[str, Any]

SYNC_STATUSES: tuple[SyncStatusCode, ...] = ("Synced", "OutOfSync", "Unknown")
OPERATION_PHASES: tuple[OperationPhase, ...] = (
    "Running",
    "Succeeded",
    "Failed",
    "Error",
    "Terminating",
)
RUNNING_PHASES: frozenset[str] = frozenset({"Running", "Terminating"})


# --- errors: what a source raises, with the gRPC code and HTTP status Argo CD answers with ----


class ApiError(Exception):
    """A request the source refuses. `grpc_code` and `http_status` are what Argo CD's API (a gRPC
    gateway) answers; `reason` is the Kubernetes `Status` reason for the same error."""

    grpc_code: ClassVar[int] = 2  # Unknown
    http_status: ClassVar[int] = 500
    reason: ClassVar[str] = "InternalError"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidArgumentError(ApiError):
    grpc_code = 3
    http_status = 400
    reason = "BadRequest"


class NotFoundError(ApiError):
    grpc_code = 5
    http_status = 404
    reason = "NotFound"


class ApplicationNotFoundError(NotFoundError):
    """No Application of that name; the message is Argo CD's (Kubernetes') wording."""

    def __init__(self, name: str) -> None:
        super().__init__(f'applications.argoproj.io "{name}" not found')
        self.name = name


class FailedPreconditionError(ApiError):
    grpc_code = 9
    http_status = 400
    reason = "BadRequest"


class OperationInProgressError(FailedPreconditionError):
    """A sync was requested while another operation is requested or running."""

    def __init__(self, name: str) -> None:
        super().__init__("another operation is already in progress")
        self.name = name


class UnavailableError(ApiError):
    """The source cannot take the request now (a full queue); the client may retry."""

    grpc_code = 14
    http_status = 503
    reason = "ServiceUnavailable"


# --- JSON helpers --------------------------------------------------------------------------


def format_time(value: datetime) -> str:
    """A timestamp as Kubernetes' metav1.Time marshals it: RFC 3339, UTC, whole seconds, `Z`."""
    return rfc3339(value)


def format_time_nano(value: datetime) -> str:
    """RFC 3339 with fractional seconds (Go's time.RFC3339Nano), UTC."""
    if value.tzinfo is None:
        raise ValueError(f"naive datetime {value!r}: timestamps must be timezone-aware")
    text = value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f").rstrip("0").rstrip(".")
    return text + "Z"


def parse_time(value: object) -> datetime | None:
    """An RFC 3339 timestamp (None, "" or JSON null: None), always timezone-aware."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ValueError(f"timestamp {value!r} is not a string")
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _put_time(out: Json, key: str, value: datetime | None) -> None:
    if value is not None:
        out[key] = format_time(value)


def _obj(data: object, where: str) -> Mapping[str, Any]:
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise ValueError(f"{where} is not an object")
    return data


def _list(data: object, where: str) -> builtins.list[Any]:
    if data is None:
        return []
    if not isinstance(data, builtins.list):
        raise ValueError(f"{where} is not a list")
    return data


def _source_json(source: Mapping[str, Any]) -> Json:
    """An ApplicationSource: `repoURL` is never omitted (no omitempty in Argo CD's type)."""
    out: Json = {"repoURL": source.get("repoURL", "")}
    out.update((k, v) for k, v in source.items() if k != "repoURL")
    return out


def _strs(values: object, where: str) -> tuple[str, ...]:
    items = _list(values, where)
    if not all(isinstance(v, str) for v in items):
        raise ValueError(f"{where} is not a list of strings")
    return tuple(items)


# --- the status model -----------------------------------------------------------------------


@dataclass(frozen=True)
class HealthState:
    """Argo CD's HealthStatus (of a resource) and AppHealthStatus (of an application).

    `status` is Healthy, Progressing, Degraded, Suspended, Missing or Unknown (health.HealthStatus
    members are strings and fit)."""

    status: str = ""
    message: str = ""
    last_transition_time: datetime | None = None

    def to_json(self) -> Json:
        out: Json = {}
        if self.status:
            out["status"] = str(self.status)
        if self.message:
            out["message"] = self.message
        _put_time(out, "lastTransitionTime", self.last_transition_time)
        return out

    @classmethod
    def from_json(cls, data: object) -> HealthState:
        d = _obj(data, "health")
        return cls(
            status=str(d.get("status") or ""),
            message=str(d.get("message") or ""),
            last_transition_time=parse_time(d.get("lastTransitionTime")),
        )


@dataclass(frozen=True)
class ComparedTo:
    """The source and destination the comparison was made against (copies of the spec's)."""

    source: Mapping[str, Any] = field(default_factory=dict)
    destination: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> Json:
        return {"source": _source_json(self.source), "destination": dict(self.destination)}

    @classmethod
    def from_json(cls, data: object) -> ComparedTo:
        d = _obj(data, "comparedTo")
        return cls(
            source=dict(_obj(d.get("source"), "comparedTo.source")),
            destination=dict(_obj(d.get("destination"), "comparedTo.destination")),
        )


@dataclass(frozen=True)
class SyncStatus:
    status: SyncStatusCode = "Unknown"
    revision: str = ""
    compared_to: ComparedTo = field(default_factory=ComparedTo)

    def __post_init__(self) -> None:
        if self.status not in SYNC_STATUSES:
            raise ValueError(f"sync status {self.status!r} is not one of {SYNC_STATUSES}")

    def to_json(self) -> Json:
        out: Json = {"status": self.status, "comparedTo": self.compared_to.to_json()}
        if self.revision:
            out["revision"] = self.revision
        return out

    @classmethod
    def from_json(cls, data: object) -> SyncStatus:
        d = _obj(data, "sync")
        status = d.get("status") or "Unknown"
        if status not in SYNC_STATUSES:
            raise ValueError(f"sync.status {status!r} is not one of {SYNC_STATUSES}")
        return cls(
            status=cast(SyncStatusCode, status),
            revision=str(d.get("revision") or ""),
            compared_to=ComparedTo.from_json(d.get("comparedTo")),
        )


@dataclass(frozen=True)
class OperationInitiator:
    """Who started an operation: a user (`username`) or the controller (`automated`)."""

    username: str = ""
    automated: bool = False

    def to_json(self) -> Json:
        out: Json = {}
        if self.username:
            out["username"] = self.username
        if self.automated:
            out["automated"] = True
        return out

    @classmethod
    def from_json(cls, data: object) -> OperationInitiator:
        d = _obj(data, "initiatedBy")
        return cls(username=str(d.get("username") or ""), automated=bool(d.get("automated")))


@dataclass(frozen=True)
class RevisionHistory:
    """One entry of `status.history`: a sync that was performed."""

    id: int
    revision: str
    deployed_at: datetime
    deploy_started_at: datetime | None = None
    source: Mapping[str, Any] = field(default_factory=dict)
    initiated_by: OperationInitiator = field(default_factory=OperationInitiator)

    def to_json(self) -> Json:
        out: Json = {}
        if self.revision:
            out["revision"] = self.revision
        out["deployedAt"] = format_time(self.deployed_at)
        out["id"] = self.id
        out["source"] = _source_json(self.source)
        _put_time(out, "deployStartedAt", self.deploy_started_at)
        out["initiatedBy"] = self.initiated_by.to_json()
        return out

    @classmethod
    def from_json(cls, data: object) -> RevisionHistory:
        d = _obj(data, "history[]")
        deployed_at = parse_time(d.get("deployedAt"))
        if deployed_at is None:
            raise ValueError("history[].deployedAt is missing")
        return cls(
            id=int(d.get("id") or 0),
            revision=str(d.get("revision") or ""),
            deployed_at=deployed_at,
            deploy_started_at=parse_time(d.get("deployStartedAt")),
            source=dict(_obj(d.get("source"), "history[].source")),
            initiated_by=OperationInitiator.from_json(d.get("initiatedBy")),
        )


@dataclass(frozen=True)
class SyncOperation:
    """What a sync does: the revision (empty: the spec's targetRevision), prune, dry run."""

    revision: str = ""
    prune: bool = False
    dry_run: bool = False
    sync_options: tuple[str, ...] = ()

    def to_json(self) -> Json:
        out: Json = {}
        if self.revision:
            out["revision"] = self.revision
        if self.prune:
            out["prune"] = True
        if self.dry_run:
            out["dryRun"] = True
        if self.sync_options:
            out["syncOptions"] = list(self.sync_options)
        return out

    @classmethod
    def from_json(cls, data: object) -> SyncOperation:
        d = _obj(data, "operation.sync")
        return cls(
            revision=str(d.get("revision") or ""),
            prune=bool(d.get("prune")),
            dry_run=bool(d.get("dryRun")),
            sync_options=_strs(d.get("syncOptions"), "operation.sync.syncOptions"),
        )


@dataclass(frozen=True)
class Operation:
    """A requested (`Application.operation`) or running (`operationState.operation`) operation.
    `retry` is the RetryStrategy in its JSON form (`limit`, `backoff`), as in the spec."""

    sync: SyncOperation | None = None
    initiated_by: OperationInitiator = field(default_factory=OperationInitiator)
    retry: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> Json:
        out: Json = {}
        if self.sync is not None:
            out["sync"] = self.sync.to_json()
        out["initiatedBy"] = self.initiated_by.to_json()
        out["retry"] = dict(self.retry)
        return out

    @classmethod
    def from_json(cls, data: object) -> Operation:
        d = _obj(data, "operation")
        return cls(
            sync=SyncOperation.from_json(d["sync"]) if d.get("sync") is not None else None,
            initiated_by=OperationInitiator.from_json(d.get("initiatedBy")),
            retry=dict(_obj(d.get("retry"), "operation.retry")),
        )


@dataclass(frozen=True)
class ResourceResult:
    """The outcome of one resource in a sync (`syncResult.resources[]`). `status` is Synced,
    SyncFailed, Pruned or PruneSkipped; `hook_phase` Running, Succeeded, Failed, Error..."""

    group: str
    version: str
    kind: str
    namespace: str
    name: str
    status: str = ""
    message: str = ""
    hook_phase: str = ""
    sync_phase: str = ""
    images: tuple[str, ...] = ()

    def to_json(self) -> Json:
        out: Json = {
            "group": self.group,
            "version": self.version,
            "kind": self.kind,
            "namespace": self.namespace,
            "name": self.name,
        }
        for key, value in (
            ("status", self.status),
            ("message", self.message),
            ("hookPhase", self.hook_phase),
            ("syncPhase", self.sync_phase),
        ):
            if value:
                out[key] = value
        if self.images:
            out["images"] = list(self.images)
        return out

    @classmethod
    def from_json(cls, data: object) -> ResourceResult:
        d = _obj(data, "syncResult.resources[]")
        return cls(
            group=str(d.get("group") or ""),
            version=str(d.get("version") or ""),
            kind=str(d.get("kind") or ""),
            namespace=str(d.get("namespace") or ""),
            name=str(d.get("name") or ""),
            status=str(d.get("status") or ""),
            message=str(d.get("message") or ""),
            hook_phase=str(d.get("hookPhase") or ""),
            sync_phase=str(d.get("syncPhase") or ""),
            images=_strs(d.get("images"), "syncResult.resources[].images"),
        )


@dataclass(frozen=True)
class SyncOperationResult:
    revision: str
    resources: tuple[ResourceResult, ...] = ()
    source: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> Json:
        out: Json = {}
        if self.resources:
            out["resources"] = [r.to_json() for r in self.resources]
        out["revision"] = self.revision
        out["source"] = _source_json(self.source)
        return out

    @classmethod
    def from_json(cls, data: object) -> SyncOperationResult:
        d = _obj(data, "syncResult")
        return cls(
            revision=str(d.get("revision") or ""),
            resources=tuple(
                ResourceResult.from_json(r)
                for r in _list(d.get("resources"), "syncResult.resources")
            ),
            source=dict(_obj(d.get("source"), "syncResult.source")),
        )


@dataclass(frozen=True)
class OperationState:
    operation: Operation
    phase: OperationPhase
    started_at: datetime
    message: str = ""
    finished_at: datetime | None = None
    sync_result: SyncOperationResult | None = None
    retry_count: int = 0

    def __post_init__(self) -> None:
        if self.phase not in OPERATION_PHASES:
            raise ValueError(f"operation phase {self.phase!r} is not one of {OPERATION_PHASES}")

    @property
    def running(self) -> bool:
        return self.phase in RUNNING_PHASES

    def to_json(self) -> Json:
        out: Json = {"operation": self.operation.to_json(), "phase": self.phase}
        if self.message:
            out["message"] = self.message
        if self.sync_result is not None:
            out["syncResult"] = self.sync_result.to_json()
        out["startedAt"] = format_time(self.started_at)
        _put_time(out, "finishedAt", self.finished_at)
        if self.retry_count:
            out["retryCount"] = self.retry_count
        return out

    @classmethod
    def from_json(cls, data: object) -> OperationState:
        d = _obj(data, "operationState")
        phase = d.get("phase")
        if phase not in OPERATION_PHASES:
            raise ValueError(f"operationState.phase {phase!r} is not one of {OPERATION_PHASES}")
        started_at = parse_time(d.get("startedAt"))
        if started_at is None:
            raise ValueError("operationState.startedAt is missing")
        return cls(
            operation=Operation.from_json(d.get("operation")),
            phase=cast(OperationPhase, phase),
            started_at=started_at,
            message=str(d.get("message") or ""),
            finished_at=parse_time(d.get("finishedAt")),
            sync_result=(
                SyncOperationResult.from_json(d["syncResult"])
                if d.get("syncResult") is not None
                else None
            ),
            retry_count=int(d.get("retryCount") or 0),
        )


@dataclass(frozen=True)
class ResourceStatus:
    """One managed resource of an application (`status.resources[]`)."""

    group: str = ""
    version: str = ""
    kind: str = ""
    namespace: str = ""
    name: str = ""
    status: str = ""  # its sync status: Synced, OutOfSync, Unknown
    health: HealthState | None = None  # None for kinds without a health check
    requires_pruning: bool = False

    def to_json(self) -> Json:
        out: Json = {}
        for key, value in (
            ("group", self.group),
            ("version", self.version),
            ("kind", self.kind),
            ("namespace", self.namespace),
            ("name", self.name),
            ("status", self.status),
        ):
            if value:
                out[key] = value
        if self.health is not None:
            out["health"] = self.health.to_json()
        if self.requires_pruning:
            out["requiresPruning"] = True
        return out

    @classmethod
    def from_json(cls, data: object) -> ResourceStatus:
        d = _obj(data, "resources[]")
        return cls(
            group=str(d.get("group") or ""),
            version=str(d.get("version") or ""),
            kind=str(d.get("kind") or ""),
            namespace=str(d.get("namespace") or ""),
            name=str(d.get("name") or ""),
            status=str(d.get("status") or ""),
            health=HealthState.from_json(d["health"]) if d.get("health") is not None else None,
            requires_pruning=bool(d.get("requiresPruning")),
        )


@dataclass(frozen=True)
class ApplicationSummary:
    images: tuple[str, ...] = ()
    external_urls: tuple[str, ...] = ()

    def to_json(self) -> Json:
        out: Json = {}
        if self.external_urls:
            out["externalURLs"] = list(self.external_urls)
        if self.images:
            out["images"] = list(self.images)
        return out

    @classmethod
    def from_json(cls, data: object) -> ApplicationSummary:
        d = _obj(data, "summary")
        return cls(
            images=_strs(d.get("images"), "summary.images"),
            external_urls=_strs(d.get("externalURLs"), "summary.externalURLs"),
        )


@dataclass(frozen=True)
class ApplicationCondition:
    """`type` is Argo CD's: ComparisonError, SyncError, InvalidSpecError, UnknownError,
    OrphanedResourceWarning, SharedResourceWarning..."""

    type: str
    message: str
    last_transition_time: datetime | None = None

    def to_json(self) -> Json:
        out: Json = {"type": self.type, "message": self.message}
        _put_time(out, "lastTransitionTime", self.last_transition_time)
        return out

    @classmethod
    def from_json(cls, data: object) -> ApplicationCondition:
        d = _obj(data, "conditions[]")
        return cls(
            type=str(d.get("type") or ""),
            message=str(d.get("message") or ""),
            last_transition_time=parse_time(d.get("lastTransitionTime")),
        )


@dataclass(frozen=True)
class ApplicationStatus:
    """The subset of Argo CD's ApplicationStatus the embedded platform maintains."""

    sync: SyncStatus = field(default_factory=SyncStatus)
    health: HealthState = field(default_factory=HealthState)
    history: tuple[RevisionHistory, ...] = ()
    operation_state: OperationState | None = None
    resources: tuple[ResourceStatus, ...] = ()
    summary: ApplicationSummary = field(default_factory=ApplicationSummary)
    conditions: tuple[ApplicationCondition, ...] = ()
    reconciled_at: datetime | None = None
    observed_at: datetime | None = None
    source_type: str = ""  # "Kustomize" once the source was rendered
    controller_namespace: str = ""

    def to_json(self) -> Json:
        # Field order and omitempty as in Argo CD's Go type; struct-typed fields (sync, health,
        # summary, sourceHydrator) are always present, as encoding/json never omits a struct.
        out: Json = {}
        if self.resources:
            out["resources"] = [r.to_json() for r in self.resources]
        out["sync"] = self.sync.to_json()
        out["health"] = self.health.to_json()
        if self.history:
            out["history"] = [h.to_json() for h in self.history]
        if self.conditions:
            out["conditions"] = [c.to_json() for c in self.conditions]
        _put_time(out, "reconciledAt", self.reconciled_at)
        if self.operation_state is not None:
            out["operationState"] = self.operation_state.to_json()
        _put_time(out, "observedAt", self.observed_at)
        if self.source_type:
            out["sourceType"] = self.source_type
        out["summary"] = self.summary.to_json()
        if self.controller_namespace:
            out["controllerNamespace"] = self.controller_namespace
        out["sourceHydrator"] = {}
        return out

    @classmethod
    def from_json(cls, data: object) -> ApplicationStatus:
        d = _obj(data, "status")
        return cls(
            sync=SyncStatus.from_json(d.get("sync")),
            health=HealthState.from_json(d.get("health")),
            history=tuple(RevisionHistory.from_json(h) for h in _list(d.get("history"), "history")),
            operation_state=(
                OperationState.from_json(d["operationState"])
                if d.get("operationState") is not None
                else None
            ),
            resources=tuple(
                ResourceStatus.from_json(r) for r in _list(d.get("resources"), "resources")
            ),
            summary=ApplicationSummary.from_json(d.get("summary")),
            conditions=tuple(
                ApplicationCondition.from_json(c) for c in _list(d.get("conditions"), "conditions")
            ),
            reconciled_at=parse_time(d.get("reconciledAt")),
            observed_at=parse_time(d.get("observedAt")),
            source_type=str(d.get("sourceType") or ""),
            controller_namespace=str(d.get("controllerNamespace") or ""),
        )


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
    next_id = history[-1].id + 1 if history else 0
    entry = RevisionHistory(
        id=next_id,
        revision=revision,
        deployed_at=deployed_at,
        deploy_started_at=deploy_started_at,
        source=dict(source or {}),
        initiated_by=initiated_by or OperationInitiator(),
    )
    return (*history, entry)[-limit:] if limit > 0 else ()


# --- the record ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ApplicationRecord:
    """One Application as the API serves it.

    `manifest` is the Application as read from Git (apiVersion, kind, metadata, spec); treat it as
    immutable. `uid`, `created_at`, `generation` and `resource_version` are the object's
    identity and versions: a source fills them in when the record is published (a new uid and the
    current time for a new application; `generation` counts changes to anything but metadata;
    `resource_version` is the source-wide change counter at the record's last change)."""

    manifest: Mapping[str, Any]
    status: ApplicationStatus = field(default_factory=ApplicationStatus)
    operation: Operation | None = None
    resource_version: int = 0
    uid: str = ""
    created_at: datetime | None = None
    generation: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.manifest, Mapping):
            raise ValueError("an Application manifest must be a mapping")
        if self.manifest.get("kind") != KIND:
            raise ValueError(f"not an Application: kind {self.manifest.get('kind')!r}")
        api_version = self.manifest.get("apiVersion")
        if api_version != API_VERSION:
            raise ValueError(f"Application apiVersion {api_version!r} is not {API_VERSION}")
        name = self.metadata.get("name")
        if not isinstance(name, str) or not name:
            raise ValueError("an Application needs metadata.name")
        if not isinstance(self.manifest.get("spec", {}), Mapping):
            raise ValueError(f"Application {name}: spec is not a mapping")

    @property
    def metadata(self) -> Mapping[str, Any]:
        return _obj(self.manifest.get("metadata"), "metadata")

    @property
    def spec(self) -> Mapping[str, Any]:
        return _obj(self.manifest.get("spec"), "spec")

    @property
    def name(self) -> str:
        return str(self.metadata["name"])

    @property
    def namespace(self) -> str:
        return str(self.metadata.get("namespace") or DEFAULT_NAMESPACE)

    @property
    def project(self) -> str:
        return str(self.spec.get("project") or "default")

    @property
    def labels(self) -> Mapping[str, str]:
        return {str(k): str(v) for k, v in _obj(self.metadata.get("labels"), "labels").items()}

    @property
    def source(self) -> Mapping[str, Any]:
        return _obj(self.spec.get("source"), "spec.source")

    @property
    def target_revision(self) -> str:
        return str(self.source.get("targetRevision") or "HEAD")

    @property
    def automated(self) -> bool:
        """True when the spec enables automated sync (`syncPolicy.automated`, not disabled)."""
        policy = _obj(self.spec.get("syncPolicy"), "spec.syncPolicy")
        automated = policy.get("automated")
        if not isinstance(automated, Mapping):
            return False
        return automated.get("enabled", True) is not False

    @property
    def operation_in_progress(self) -> bool:
        """A sync was requested and not yet started, or an operation is running."""
        state = self.status.operation_state
        return self.operation is not None or (state is not None and state.running)


def to_json(record: ApplicationRecord, *, type_meta: bool = False) -> Json:
    """The record as Argo CD's API serialises a `v1alpha1Application`.

    Argo CD's REST API leaves out `apiVersion` and `kind`; the Kubernetes API includes them
    (`type_meta=True`)."""
    meta = dict(record.metadata)
    out_meta: Json = {"name": record.name}
    for key in ("generateName", "namespace"):
        if meta.get(key):
            out_meta[key] = meta[key]
    out_meta.setdefault("namespace", record.namespace)
    if record.uid:
        out_meta["uid"] = record.uid
    if record.resource_version:
        out_meta["resourceVersion"] = str(record.resource_version)
    if record.generation:
        out_meta["generation"] = record.generation
    # Go writes a zero creationTimestamp as null; a published record always has one, and the
    # swagger type (a string) has no null, so an unset one is left out.
    _put_time(out_meta, "creationTimestamp", record.created_at)
    for key in ("labels", "annotations", "ownerReferences", "finalizers"):
        if meta.get(key):
            out_meta[key] = _plain(meta[key])
    out: Json = {}
    if type_meta:
        out["apiVersion"] = API_VERSION
        out["kind"] = KIND
    out["metadata"] = out_meta
    out["spec"] = _plain({k: v for k, v in record.spec.items()})
    out["status"] = record.status.to_json()
    if record.operation is not None:
        out["operation"] = record.operation.to_json()
    return out


def from_json(data: Mapping[str, Any]) -> ApplicationRecord:
    """An Application JSON (as `to_json` writes it, or as `kubectl get -o json` shows it) read
    back as a record: metadata.uid, resourceVersion, generation and creationTimestamp become the
    record's identity fields."""
    meta = dict(_obj(data.get("metadata"), "metadata"))
    uid = str(meta.pop("uid", "") or "")
    rv = str(meta.pop("resourceVersion", "") or "0")
    generation = int(meta.pop("generation", 0) or 0)
    created_at = parse_time(meta.pop("creationTimestamp", None))
    for key in ("managedFields", "selfLink"):
        meta.pop(key, None)
    manifest: Json = {
        "apiVersion": data.get("apiVersion", API_VERSION),
        "kind": data.get("kind", KIND),
        "metadata": meta,
        "spec": _plain(dict(_obj(data.get("spec"), "spec"))),
    }
    return ApplicationRecord(
        manifest=manifest,
        status=ApplicationStatus.from_json(data.get("status")),
        operation=Operation.from_json(data["operation"]) if data.get("operation") else None,
        resource_version=int(rv) if rv.isdigit() else 0,
        uid=uid,
        created_at=created_at,
        generation=generation,
    )


def _plain(value: Any) -> Any:
    """A deep copy of YAML/JSON data as plain dicts and lists."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def resource_tree(record: ApplicationRecord) -> Json:
    """A `v1alpha1ApplicationTree` of the application's managed resources (no children): what
    Argo CD shows before it has seen any live child (ReplicaSet, Pod) of them."""
    nodes: builtins.list[Json] = []
    for res in record.status.resources:
        node: Json = {}
        for key, value in (
            ("group", res.group),
            ("version", res.version),
            ("kind", res.kind),
            ("namespace", res.namespace),
            ("name", res.name),
        ):
            if value:
                node[key] = value
        if res.health is not None:
            node["health"] = res.health.to_json()
        nodes.append(node)
    return {"nodes": nodes} if nodes else {}


# --- the protocol the API depends on --------------------------------------------------------


@dataclass(frozen=True)
class LogEntry:
    """One line a pod's container wrote."""

    content: str
    timestamp: datetime
    pod_name: str
    container: str = ""


class ApplicationSource(Protocol):
    """What the API server reads and asks. The controller implements it (or publishes into an
    `InMemorySource`). Every method may be called from the API server's event loop; the
    synchronous ones must not block.

    Errors: raise `ApplicationNotFoundError` for an unknown application, and another `ApiError`
    subclass for any other refusal; the API answers with the error's codes and message."""

    def version(self) -> int:
        """The source-wide resource version: that of the latest change (a publish or a delete).
        `list()` right after `version()` (with no await between) reflects every change up to
        it, so `watch(version())` continues the listing without a gap."""
        ...

    def list(self) -> builtins.list[ApplicationRecord]:
        """Every application, in any order."""
        ...

    def get(self, name: str) -> ApplicationRecord | None: ...

    def watch(self, since: int) -> AsyncIterator[tuple[EventType, ApplicationRecord]]:
        """Changes with a resource version above `since`, in version order, as they happen,
        forever: ADDED for an application created after `since`, MODIFIED for a change, DELETED
        (with its last state) for a removal. A source may coalesce several changes to one
        application into one event carrying its latest state; it never emits an event for an
        application that did not change."""
        ...

    async def sync(
        self,
        name: str,
        revision: str | None,
        prune: bool,
        dry_run: bool,
        initiated_by: str,
        *,
        sync_options: Sequence[str] = (),
    ) -> ApplicationRecord:
        """Request a sync (Argo CD's `Application.operation`) and return the application with
        the operation set. Raises ApplicationNotFoundError, or OperationInProgressError when an
        operation is already requested or running. Returns promptly: the sync itself runs in the
        controller."""
        ...

    async def refresh(self, name: str, hard: bool) -> None:
        """Request a comparison with Git now (`hard`: also bypass the manifest cache). Raises
        ApplicationNotFoundError. May return before the refresh is done."""
        ...

    def resource_tree(self, name: str) -> dict[str, Any]:
        """The application's `v1alpha1ApplicationTree` JSON. Raises ApplicationNotFoundError."""
        ...

    def pod_logs(
        self,
        name: str,
        pod: str | None,
        container: str | None,
        tail_lines: int | None,
        follow: bool = False,
    ) -> AsyncIterator[LogEntry]:
        """Log lines of one pod of the application (all of its pods when `pod` is None), oldest
        first; the last `tail_lines` of each pod when given; with `follow`, then every new line
        until the consumer stops. Validates immediately, before returning the iterator: raises
        ApplicationNotFoundError, or NotFoundError for an unknown pod."""
        ...

    async def webhook(self, event: bytes, headers: Mapping[str, str]) -> None:
        """A Git host's push event (raw body and request headers; GitHub's format). Must
        return within milliseconds: queue it and process it elsewhere (the Git host's hook has
        a 2 s budget). Raise UnavailableError when the queue is full."""
        ...


# --- what users ask for: the requests the controller consumes ---------------------------------


@dataclass(frozen=True)
class SyncRequest:
    app: str
    revision: str | None
    prune: bool
    dry_run: bool
    initiated_by: str
    sync_options: tuple[str, ...] = ()


@dataclass(frozen=True)
class RefreshRequest:
    app: str
    hard: bool


@dataclass(frozen=True)
class WebhookDelivery:
    body: bytes
    headers: tuple[tuple[str, str], ...]
    received_at: datetime

    def header(self, name: str) -> str | None:
        wanted = name.lower()
        return next((v for k, v in self.headers if k.lower() == wanted), None)


Request: TypeAlias = SyncRequest | RefreshRequest | WebhookDelivery


# --- InMemorySource -------------------------------------------------------------------------


class _Signal:
    """Wakes async waiters on any event loop from any thread. register/take are called with the
    owner's lock held; wake without it."""

    def __init__(self) -> None:
        self._waiters: builtins.list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = []

    def register(self) -> asyncio.Future[None]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        self._waiters.append((loop, future))
        return future

    def discard(self, future: asyncio.Future[None]) -> None:
        self._waiters = [(lp, f) for lp, f in self._waiters if f is not future]

    def take(self) -> builtins.list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]]:
        waiters, self._waiters = self._waiters, []
        return waiters

    @staticmethod
    def wake(waiters: Iterable[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]]) -> None:
        for loop, future in waiters:
            if not loop.is_closed():
                loop.call_soon_threadsafe(_resolve, future)


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def _utcnow() -> datetime:
    return datetime.now(UTC)


class InMemorySource:
    """A complete ApplicationSource over a dict of records: the hand-off point between the
    controller, which publishes into it, and the API server, which serves it.

    Thread-safe: publish from any thread (the controller's loop, a worker thread); the async
    methods may run on any event loop. Watchers are woken on every change; unchanged records are
    not changes (publishing the same state again emits nothing).

    For the controller:
      - `put(record)` publishes an application's manifest and status (new or changed);
        `update(name, fn)` changes one atomically (use it for every change after the first
        publish, e.g. to clear `operation` when the requested sync completes, so that a
        request arriving meanwhile is not overwritten); `delete(name)` removes one.
      - `set_resource_tree(name, tree)` publishes the live tree (pods, ReplicaSets...);
        without one the tree lists the managed resources of `status.resources`.
      - `append_log(app, pod, content)` records a pod's log line (the last `max_log_lines` per
        pod are kept).
      - `requests()` (async, waits) or `take_requests()` (does not wait) hand over, in order,
        what users asked for: SyncRequest (a wake-up: the record's `operation`, set at the
        same time, is the request itself, as in Argo CD), RefreshRequest and WebhookDelivery
        (GitHub push events, already checked to be a push by the API).
    """

    def __init__(
        self,
        records: Iterable[ApplicationRecord] = (),
        *,
        max_pending: int = 1000,
        max_log_lines: int = 10_000,
        max_tombstones: int = 10_000,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self._lock = threading.Lock()
        self._clock = clock
        self._max_pending = max_pending
        self._max_log_lines = max_log_lines
        self._max_tombstones = max_tombstones
        self._records: dict[str, ApplicationRecord] = {}
        self._added_at: dict[str, int] = {}  # version at which the app (re)appeared
        # Deleted apps: their last state (resource_version = the deletion's) and when they
        # appeared, so a watcher that knew them gets DELETED and one that did not gets nothing.
        self._tombstones: dict[str, tuple[ApplicationRecord, int]] = {}
        self._trees: dict[str, Json] = {}
        self._logs: dict[str, dict[str, deque[tuple[int, LogEntry]]]] = {}
        self._log_seq = 0
        self._inbox: deque[Request] = deque()
        self._changes = _Signal()
        self._inbox_signal = _Signal()
        self._log_signal = _Signal()
        initial = builtins.list(records)
        self._version = max((r.resource_version for r in initial), default=0)
        for record in initial:
            self.put(record)

    # -- publishing (the controller's side) --

    def put(self, record: ApplicationRecord) -> ApplicationRecord:
        """Publish an application (new or changed); returns the stored record, with its
        identity and versions filled in. Publishing an unchanged record is a no-op."""
        with self._lock:
            old = self._records.get(record.name)
            stored = self._store(record, old)
            waiters = self._changes.take() if stored is not old else []
        _Signal.wake(waiters)
        return stored

    def update(
        self, name: str, change: Callable[[ApplicationRecord], ApplicationRecord]
    ) -> ApplicationRecord:
        """Replace an application by `change(current)` atomically; `change` runs under the
        source's lock, so it must be quick and must not call the source. Raises
        ApplicationNotFoundError."""
        with self._lock:
            old = self._records.get(name)
            if old is None:
                raise ApplicationNotFoundError(name)
            new = change(old)
            if new.name != name:
                raise ValueError(f"update of {name!r} returned application {new.name!r}")
            stored = self._store(new, old)
            waiters = self._changes.take() if stored is not old else []
        _Signal.wake(waiters)
        return stored

    def delete(self, name: str) -> ApplicationRecord | None:
        """Remove an application; returns its last state, None when there was none."""
        with self._lock:
            old = self._records.pop(name, None)
            if old is None:
                return None
            self._version += 1
            tomb = replace(old, resource_version=self._version)
            self._tombstones.pop(name, None)
            self._tombstones[name] = (tomb, self._added_at.pop(name))
            while len(self._tombstones) > self._max_tombstones:
                self._tombstones.pop(next(iter(self._tombstones)))
            self._trees.pop(name, None)
            self._logs.pop(name, None)
            waiters = self._changes.take()
        _Signal.wake(waiters)
        return tomb

    def set_resource_tree(self, name: str, tree: Mapping[str, Any]) -> None:
        """Publish the application's live `v1alpha1ApplicationTree` JSON."""
        with self._lock:
            if name not in self._records:
                raise ApplicationNotFoundError(name)
            self._trees[name] = _plain(tree)

    def append_log(
        self,
        app: str,
        pod: str,
        content: str,
        *,
        container: str = "",
        timestamp: datetime | None = None,
    ) -> None:
        """Record one log line of a pod of `app` (the app need not be published yet)."""
        entry = LogEntry(content, timestamp or self._clock(), pod, container)
        with self._lock:
            pods = self._logs.setdefault(app, {})
            lines = pods.setdefault(pod, deque(maxlen=self._max_log_lines))
            self._log_seq += 1
            lines.append((self._log_seq, entry))
            waiters = self._log_signal.take()
        _Signal.wake(waiters)

    def take_requests(self) -> builtins.list[Request]:
        """Every pending request, oldest first, without waiting."""
        with self._lock:
            pending = builtins.list(self._inbox)
            self._inbox.clear()
        return pending

    async def requests(self) -> AsyncIterator[Request]:
        """Pending requests, oldest first, waiting for new ones forever."""
        while True:
            with self._lock:
                item = self._inbox.popleft() if self._inbox else None
                waiter = self._inbox_signal.register() if item is None else None
            if waiter is not None:
                await self._wait(self._inbox_signal, waiter)
            elif item is not None:
                yield item

    # -- reading (the API's side) --

    def version(self) -> int:
        with self._lock:
            return self._version

    def list(self) -> builtins.list[ApplicationRecord]:
        with self._lock:
            return builtins.list(self._records.values())

    def get(self, name: str) -> ApplicationRecord | None:
        with self._lock:
            return self._records.get(name)

    async def watch(self, since: int) -> AsyncIterator[tuple[EventType, ApplicationRecord]]:
        while True:
            with self._lock:
                events = self._changes_since(since)
                waiter = None if events else self._changes.register()
            if waiter is not None:
                await self._wait(self._changes, waiter)
                continue
            for event in events:
                yield event
                since = event[1].resource_version

    async def sync(
        self,
        name: str,
        revision: str | None,
        prune: bool,
        dry_run: bool,
        initiated_by: str,
        *,
        sync_options: Sequence[str] = (),
    ) -> ApplicationRecord:
        request = SyncRequest(name, revision, prune, dry_run, initiated_by, tuple(sync_options))
        with self._lock:
            old = self._records.get(name)
            if old is None:
                raise ApplicationNotFoundError(name)
            if old.operation_in_progress:
                raise OperationInProgressError(name)
            self._check_room()
            retry = _obj(_obj(old.spec.get("syncPolicy"), "syncPolicy").get("retry"), "retry")
            operation = Operation(
                sync=SyncOperation(
                    revision=revision or "",
                    prune=prune,
                    dry_run=dry_run,
                    sync_options=tuple(sync_options),
                ),
                initiated_by=OperationInitiator(username=initiated_by),
                retry=_plain(retry),
            )
            stored = self._store(replace(old, operation=operation), old)
            self._inbox.append(request)
            waiters = self._changes.take() + self._inbox_signal.take()
        _Signal.wake(waiters)
        return stored

    async def refresh(self, name: str, hard: bool) -> None:
        with self._lock:
            if name not in self._records:
                raise ApplicationNotFoundError(name)
            pending = [r for r in self._inbox if isinstance(r, RefreshRequest) and r.app == name]
            if any(r.hard or not hard for r in pending):
                return  # an equal or stronger refresh is already queued
            self._check_room()
            self._inbox.append(RefreshRequest(name, hard))
            waiters = self._inbox_signal.take()
        _Signal.wake(waiters)

    def resource_tree(self, name: str) -> dict[str, Any]:
        with self._lock:
            record = self._records.get(name)
            if record is None:
                raise ApplicationNotFoundError(name)
            tree = self._trees.get(name)
            return _plain(tree) if tree is not None else resource_tree(record)

    def pod_logs(
        self,
        name: str,
        pod: str | None,
        container: str | None,
        tail_lines: int | None,
        follow: bool = False,
    ) -> AsyncIterator[LogEntry]:
        with self._lock:
            if name not in self._records:
                raise ApplicationNotFoundError(name)
            if pod is not None and pod not in self._logs.get(name, {}):
                raise NotFoundError(f'pods "{pod}" not found')
        return self._log_stream(name, pod, container, tail_lines, follow)

    async def webhook(self, event: bytes, headers: Mapping[str, str]) -> None:
        delivery = WebhookDelivery(bytes(event), tuple(headers.items()), self._clock())
        with self._lock:
            if len(self._inbox) >= self._max_pending:
                raise UnavailableError("Queue is full, discarding webhook payload")
            self._inbox.append(delivery)
            waiters = self._inbox_signal.take()
        _Signal.wake(waiters)

    # -- internals --

    def _check_room(self) -> None:
        if len(self._inbox) >= self._max_pending:
            raise UnavailableError("too many pending requests; retry later")

    def _store(self, record: ApplicationRecord, old: ApplicationRecord | None) -> ApplicationRecord:
        """Stamp and store `record` (lock held); returns `old` itself when nothing changed."""
        manifest = _plain(record.manifest)
        if old is not None:
            same = replace(
                record,
                manifest=manifest,
                resource_version=old.resource_version,
                uid=old.uid,
                created_at=old.created_at,
                generation=old.generation,
            )
            if same == old:
                return old
            spec_changed = (
                {k: v for k, v in manifest.items() if k != "metadata"}
                != {k: v for k, v in old.manifest.items() if k != "metadata"}
                or record.status != old.status
                or record.operation != old.operation
            )
            # Applications have no status subresource: any change but metadata's is a new
            # generation.
            generation = old.generation + 1 if spec_changed else old.generation
            uid, created_at = old.uid, old.created_at
        else:
            generation = record.generation or 1
            uid = record.uid or str(uuid.uuid4())
            created_at = record.created_at or self._clock()
        self._version += 1
        stored = replace(
            record,
            manifest=manifest,
            resource_version=self._version,
            uid=uid,
            created_at=created_at,
            generation=generation,
        )
        if old is None:
            self._added_at[stored.name] = self._version
        self._records[stored.name] = stored
        return stored

    def _changes_since(self, since: int) -> builtins.list[tuple[EventType, ApplicationRecord]]:
        events: builtins.list[tuple[EventType, ApplicationRecord]] = []
        for name, record in self._records.items():
            if record.resource_version > since:
                events.append(("ADDED" if self._added_at[name] > since else "MODIFIED", record))
        for tomb, added_at in self._tombstones.values():
            if tomb.resource_version > since and added_at <= since:
                events.append(("DELETED", tomb))
        events.sort(key=lambda e: e[1].resource_version)
        return events

    async def _wait(self, signal: _Signal, waiter: asyncio.Future[None]) -> None:
        try:
            await waiter
        finally:
            if not waiter.done():
                with self._lock:
                    signal.discard(waiter)

    def _log_lines(
        self, name: str, pod: str | None, container: str | None, after: int
    ) -> builtins.list[tuple[int, LogEntry]]:
        pods = self._logs.get(name, {})
        selected = [pods.get(pod, deque())] if pod is not None else builtins.list(pods.values())
        return [
            (seq, entry)
            for lines in selected
            for seq, entry in lines
            if seq > after and (not container or entry.container in ("", container))
        ]

    async def _log_stream(
        self,
        name: str,
        pod: str | None,
        container: str | None,
        tail_lines: int | None,
        follow: bool,
    ) -> AsyncIterator[LogEntry]:
        with self._lock:
            lines = self._log_lines(name, pod, container, 0)
            last = self._log_seq
        if tail_lines is not None:
            by_pod: dict[str, builtins.list[tuple[int, LogEntry]]] = {}
            for seq, entry in lines:
                by_pod.setdefault(entry.pod_name, []).append((seq, entry))
            lines = (
                [line for pod_lines in by_pod.values() for line in pod_lines[-tail_lines:]]
                if tail_lines > 0
                else []
            )
        for _, entry in sorted(lines, key=lambda line: line[0]):
            yield entry
        while follow:
            with self._lock:
                new = self._log_lines(name, pod, container, last)
                last = self._log_seq
                waiter = None if new else self._log_signal.register()
            for _, entry in sorted(new, key=lambda line: line[0]):
                yield entry
            if waiter is not None:
                await self._wait(self._log_signal, waiter)
