"""Argo CD's Application (`v1alpha1Application`) as one model, for every side that reads or
writes one: the embedded platform's controller, store, API answers and saved state, and the
read side's clients (the Argo CD REST API and its stream, the Kubernetes API).

Pydantic models with Argo CD's JSON names (camelCase aliases; Python code uses snake_case).

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

import dataclasses
import functools
import inspect
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta, timezone
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Self, TypeAlias, TypeVar, cast

from pydantic import (
    AliasChoices,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    Strict,
    model_validator,
)
from pydantic.alias_generators import to_camel
from pydantic.dataclasses import dataclass as pydantic_dataclass
from pydantic.fields import FieldInfo
from pydantic_core import PydanticCustomError

from console.timestamps import rfc3339

API_VERSION = "argoproj.io/v1alpha1"
KIND = "Application"
DEFAULT_NAMESPACE = "argocd"
HISTORY_LIMIT = 10  # Argo CD's default revisionHistoryLimit
SERVICE_LABEL = "gitops.platform/service"
ENV_LABEL = "gitops.platform/env"

Json: TypeAlias = dict[str, Any]


# --- enums: lenient, so a value a newer Argo CD adds reads as Unknown --------------------------


class _Lenient(StrEnum):
    """An enum that reads any value: an unknown one (a newer Argo CD's) is "Unknown"."""

    @classmethod
    def parse(cls, value: object) -> Self:
        member = cls._value2member_map_.get(str(value))
        return cast(Self, member) if member is not None else cls("Unknown")

    @classmethod
    def _validate(cls, value: object) -> Self:
        if isinstance(value, cls):
            return value
        if not isinstance(value, str):
            raise PydanticCustomError("malformed", "expected a string")
        return cls.parse(value)


class Health(_Lenient):
    """Argo CD's health statuses, worst last but one (Argo CD ranks Unknown between)."""

    HEALTHY = "Healthy"
    SUSPENDED = "Suspended"
    PROGRESSING = "Progressing"
    MISSING = "Missing"
    DEGRADED = "Degraded"
    UNKNOWN = "Unknown"


class Sync(_Lenient):
    SYNCED = "Synced"
    OUT_OF_SYNC = "OutOfSync"
    UNKNOWN = "Unknown"


class OperationPhase(_Lenient):
    RUNNING = "Running"
    TERMINATING = "Terminating"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    ERROR = "Error"
    UNKNOWN = "Unknown"

    @property
    def failed(self) -> bool:
        return self in (OperationPhase.FAILED, OperationPhase.ERROR)

    @property
    def running(self) -> bool:
        return self in (OperationPhase.RUNNING, OperationPhase.TERMINATING)


# --- times -----------------------------------------------------------------------------------

_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?"
    r"(?:([Zz])|([+-])(\d{2}):(\d{2}))"
)
_INT = re.compile(r"-?\d{1,19}")


def format_time(value: datetime) -> str:
    """A timestamp as Kubernetes' metav1.Time marshals it: RFC 3339, UTC, whole seconds, `Z`."""
    return rfc3339(value)


def format_time_nano(value: datetime) -> str:
    """RFC 3339 with fractional seconds (Go's time.RFC3339Nano), UTC."""
    if value.tzinfo is None:
        raise ValueError(f"naive datetime {value!r}: timestamps must be timezone-aware")
    text = value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f").rstrip("0").rstrip(".")
    return text + "Z"


@functools.lru_cache(maxsize=8192)  # a fleet's answers repeat the same history times
def _rfc3339(text: str) -> datetime | None:
    m = _RFC3339.fullmatch(text)
    if m is None:
        return None
    year, month, day, hour, minute, second = (int(m[i]) for i in range(1, 7))
    micro = int((m[7] or "0")[:6].ljust(6, "0"))
    try:
        if m[8]:
            tz: timezone = UTC
        else:
            offset = timedelta(hours=int(m[10]), minutes=int(m[11]))
            tz = timezone(-offset if m[9] == "-" else offset)
        return datetime(year, month, day, hour, minute, second, micro, tzinfo=tz)
    except ValueError:
        return None


def parse_time(value: object) -> datetime | None:
    """An RFC 3339 timestamp as an aware datetime; None for null or "". Fractions beyond
    microseconds (Go's RFC3339Nano) are truncated. Raises ValueError."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):  # YAML loaders and our own code hand datetimes
        return value  # a naive one is refused when written (format_time), as before
    parsed = _rfc3339(value) if isinstance(value, str) else None
    if parsed is None:
        raise PydanticCustomError("malformed", "expected an RFC 3339 timestamp")
    return parsed


def _int(value: object) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and _INT.fullmatch(value):
        return int(value)
    raise PydanticCustomError("malformed", "expected an integer")


def _source_json(source: Mapping[str, Any]) -> Json:
    """An ApplicationSource: `repoURL` is never omitted (no omitempty in Argo CD's type)."""
    out: Json = {"repoURL": source.get("repoURL", "")}
    out.update((k, v) for k, v in source.items() if k != "repoURL")
    return out


Str = Annotated[str, Strict()]
Bool = Annotated[bool, Strict()]
Int = Annotated[int, BeforeValidator(_int)]
Time = Annotated[
    datetime | None,
    BeforeValidator(parse_time),
    PlainSerializer(format_time, when_used="unless-none"),
]
Strs = tuple[Str, ...]
StrMap = dict[Str, Str]
AnyMap = dict[Str, Any]
# A source kept as written (Argo CD's ApplicationSource has many more fields than we read).
SourceMap = Annotated[dict[Str, Any], PlainSerializer(_source_json)]
SyncCode = Annotated[Sync, BeforeValidator(Sync._validate)]
PhaseCode = Annotated[OperationPhase, BeforeValidator(OperationPhase._validate)]

_SCALARS = frozenset({str, int, bool, float, tuple})


def _is_empty(value: object) -> bool:
    """Go's zero values, which `omitempty` leaves out: "", 0, false, an empty list, null. An
    empty object is written (Go never omits a struct, and the maps we keep are always there);
    a part is never compared (model equality is slow and never says empty)."""
    return value is None or (value.__class__ in _SCALARS and not value)


def _is_none(value: object) -> bool:
    return value is None


_CONFIG = ConfigDict(
    alias_generator=to_camel,
    populate_by_name=True,
    serialize_by_alias=True,
    extra="ignore",
)


def _drop_nulls(cls: type, data: Any) -> Any:
    # JSON null is Go's zero value: read it as absent, so the field's default applies.
    if isinstance(data, dict) and None in data.values():
        return {k: v for k, v in data.items() if v is not None}
    return data


class ArgoModel:
    """The base of every part: Argo CD's JSON names, frozen, unknown fields ignored, null read
    as absent, and Go's omitempty when written.

    Parts are pydantic dataclasses with slots (`@pydantic_dataclass(...)` over `@_part`): a
    fleet holds thousands of Applications of dozens of parts each, and a BaseModel instance is
    three objects (itself, its `__dict__`, its fields-set) where a slotted one is one: a third
    of the memory and of the garbage collector's work."""

    __slots__ = ()
    # JSON names Go always writes (fields without omitempty); None is never written.
    _keep: ClassVar[frozenset[str]] = frozenset()

    @classmethod
    def from_json(cls, data: object) -> Self:
        """Read from Argo CD's JSON (or this model's own dump). Raises pydantic's
        ValidationError, whose `loc` names the field."""
        part: Self = cls.__pydantic_validator__.validate_python(data)  # type: ignore[attr-defined]
        return part

    def to_json(self) -> Json:
        """As Argo CD's API writes it."""
        serializer = self.__pydantic_serializer__  # type: ignore[attr-defined]
        out: Json = serializer.to_python(self, mode="json", by_alias=True)
        return out

    def evolve(self, **changes: Any) -> Self:
        """A copy with `changes` (by field name), validated as a new part is."""
        return dataclasses.replace(self, **changes)  # type: ignore[type-var]


_T = TypeVar("_T", bound=type[ArgoModel])


def _part(cls: _T) -> _T:
    """Go's omitempty as a per-field `exclude_if`, evaluated by pydantic-core while it dumps (a
    wrap serializer per part made every answer five times slower to write), and JSON null read
    as absent. Apply under `@pydantic_dataclass`."""
    keep = cls.__dict__.get("_keep", frozenset())
    for name, annotation in inspect.get_annotations(cls).items():
        if str(annotation).startswith("ClassVar"):
            continue
        default = cls.__dict__.get(name, dataclasses.MISSING)
        info = default if isinstance(default, FieldInfo) else Field(default=default)
        alias = info.serialization_alias or to_camel(name)
        if info.exclude_if is None and alias not in keep:
            info = FieldInfo.merge_field_infos(info, exclude_if=_is_empty)
        elif info.exclude_if is None and info.default is None:  # always written, never null
            info = FieldInfo.merge_field_infos(info, exclude_if=_is_none)
        setattr(cls, name, info)
    cls._drop_nulls = model_validator(mode="before")(_drop_nulls)  # type: ignore[attr-defined]
    return cls


# --- status parts ------------------------------------------------------------------------------


@pydantic_dataclass(frozen=True, slots=True, config=_CONFIG)
@_part
class HealthState(ArgoModel):
    """Argo CD's HealthState (of a resource) and AppHealthStatus (of an application). `status`
    is kept as written ("" when absent); `code` reads it leniently."""

    status: Str = ""
    message: Str = ""
    last_transition_time: Time = None

    @property
    def code(self) -> Health:
        return Health.parse(self.status)


@pydantic_dataclass(frozen=True, slots=True, config=_CONFIG)
@_part
class ComparedTo(ArgoModel):
    """The source and destination the comparison was made against (copies of the spec's)."""

    _keep = frozenset({"source", "destination"})
    source: SourceMap = Field(default_factory=dict)
    destination: AnyMap = Field(default_factory=dict)


@pydantic_dataclass(frozen=True, slots=True, config=_CONFIG)
@_part
class SyncStatus(ArgoModel):
    _keep = frozenset({"status", "comparedTo"})
    status: SyncCode = Sync.UNKNOWN
    compared_to: ComparedTo = Field(default_factory=ComparedTo)
    revision: Str = ""
    revisions: Strs = ()


@pydantic_dataclass(frozen=True, slots=True, config=_CONFIG)
@_part
class OperationInitiator(ArgoModel):
    """Who started an operation: a user (`username`) or the controller (`automated`)."""

    username: Str = ""
    automated: Bool = False


@pydantic_dataclass(frozen=True, slots=True, config=_CONFIG)
@_part
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


@pydantic_dataclass(frozen=True, slots=True, config=_CONFIG)
@_part
class SyncOperation(ArgoModel):
    """What a sync does: the revision (empty: the spec's targetRevision), prune, dry run."""

    revision: Str = ""
    prune: Bool = False
    dry_run: Bool = False
    sync_options: Strs = ()
    revisions: Strs = ()


@pydantic_dataclass(frozen=True, slots=True, config=_CONFIG)
@_part
class Operation(ArgoModel):
    """A requested (`Application.operation`) or running (`operationState.operation`) operation.
    `retry` is the RetryStrategy in its JSON form (`limit`, `backoff`), as in the spec."""

    _keep = frozenset({"initiatedBy", "retry"})
    sync: SyncOperation | None = None
    initiated_by: OperationInitiator = Field(default_factory=OperationInitiator)
    retry: AnyMap = Field(default_factory=dict)


@pydantic_dataclass(frozen=True, slots=True, config=_CONFIG)
@_part
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


@pydantic_dataclass(frozen=True, slots=True, config=_CONFIG)
@_part
class SyncOperationResult(ArgoModel):
    _keep = frozenset({"revision", "source"})
    resources: tuple[ResourceResult, ...] = ()
    revision: Str = ""
    source: SourceMap = Field(default_factory=dict)
    revisions: Strs = ()


@pydantic_dataclass(frozen=True, slots=True, config=_CONFIG)
@_part
class OperationState(ArgoModel):
    """`status.operationState`: the last (or the running) operation."""

    _keep = frozenset({"operation", "phase", "startedAt"})
    operation: Operation = Field(default_factory=Operation)
    phase: PhaseCode = OperationPhase.UNKNOWN
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


@pydantic_dataclass(frozen=True, slots=True, config=_CONFIG)
@_part
class ResourceStatus(ArgoModel):
    """One managed resource of an application (`status.resources[]`). `health_state` is Argo
    CD's `health` object (None for kinds without a health check); `health` reads its status."""

    _keep = frozenset({"health"})
    group: Str = ""
    version: Str = ""
    kind: Str = ""
    namespace: Str = ""
    name: Str = ""
    status: SyncCode = Sync.UNKNOWN  # its sync status
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


@pydantic_dataclass(frozen=True, slots=True, config=_CONFIG)
@_part
class ApplicationSummary(ArgoModel):
    external_urls: Strs = Field(
        default=(),
        serialization_alias="externalURLs",
        validation_alias=AliasChoices("externalURLs", "external_urls"),
    )
    images: Strs = ()


@pydantic_dataclass(frozen=True, slots=True, config=_CONFIG)
@_part
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


@pydantic_dataclass(frozen=True, slots=True, config=_CONFIG)
@_part
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


# --- metadata and spec (read side: only what is read; the rest is ignored) --------------------


@pydantic_dataclass(frozen=True, slots=True, config=_CONFIG)
@_part
class ObjectMeta(ArgoModel):
    name: Str = ""
    namespace: Str = ""
    uid: Str = ""
    resource_version: Str = ""
    generation: Int = 0
    creation_timestamp: Time = None
    labels: StrMap = Field(default_factory=dict)
    annotations: StrMap = Field(default_factory=dict)


@pydantic_dataclass(frozen=True, slots=True, config=_CONFIG)
@_part
class ApplicationSource(ArgoModel):
    """One of the Application's sources (`spec.source`, or each of `spec.sources`)."""

    repo_url: Str = Field(
        default="",
        serialization_alias="repoURL",
        validation_alias=AliasChoices("repoURL", "repo_url"),
    )
    path: Str = ""
    target_revision: Str = ""
    chart: Str = ""
    ref: Str = ""


@pydantic_dataclass(frozen=True, slots=True, config=_CONFIG)
@_part
class _HydratorSource(ArgoModel):
    repo_url: Str = Field(
        default="",
        serialization_alias="repoURL",
        validation_alias=AliasChoices("repoURL", "repo_url"),
    )
    path: Str = ""
    target_branch: Str = ""


@pydantic_dataclass(frozen=True, slots=True, config=_CONFIG)
@_part
class SourceHydrator(ArgoModel):
    dry_source: _HydratorSource = Field(default_factory=_HydratorSource)
    sync_source: _HydratorSource = Field(default_factory=_HydratorSource)


@pydantic_dataclass(frozen=True, slots=True, config=_CONFIG)
@_part
class Destination(ArgoModel):
    server: Str = ""
    name: Str = ""
    namespace: Str = ""


@pydantic_dataclass(frozen=True, slots=True, config=_CONFIG)
@_part
class Automated(ArgoModel):
    enabled: Bool = True  # `automated: {}` enables it; `enabled: false` (Argo CD >= 3.0) not
    prune: Bool = False
    self_heal: Bool = False
    allow_empty: Bool = False


@pydantic_dataclass(frozen=True, slots=True, config=_CONFIG)
@_part
class SyncPolicy(ArgoModel):
    automated: Automated | None = None


@pydantic_dataclass(frozen=True, slots=True, config=_CONFIG)
@_part
class ApplicationSpec(ArgoModel):
    project: Str = ""
    source: ApplicationSource | None = None
    sources: tuple[ApplicationSource, ...] = ()
    source_hydrator: SourceHydrator | None = None
    destination: Destination = Field(default_factory=Destination)
    sync_policy: SyncPolicy = Field(default_factory=SyncPolicy)


# --- the Application ---------------------------------------------------------------------------


@pydantic_dataclass(frozen=True, slots=True, config=_CONFIG)
@_part
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
        """What runs, or is being rolled out: the last operation's revision, else the compared
        one (an app synced before any operation was recorded)."""
        op = self.operation
        return op.revision if op is not None and op.revision else self.sync_revision

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
