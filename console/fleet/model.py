"""The read side's domain model: frozen views of Argo CD Applications, as every source returns
them (the Argo CD REST API and its stream, the Kubernetes API, the embedded platform).

Sources parse whatever a server answers into these objects (console.fleet.parse) and consumers
(the guard, the console, `gitops status`) never see raw JSON. Values a server may leave out are
empty strings, empty tuples or None, never missing attributes; unknown enum values read as
UNKNOWN so a newer Argo CD cannot crash an older console.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Self

from console.contract import ENV_LABEL, SERVICE_LABEL


class _Lenient(StrEnum):
    """An enum that reads any value: an unknown one (a newer Argo CD's) is "Unknown"."""

    @classmethod
    def parse(cls, value: object) -> Self:
        try:
            return cls(str(value))
        except ValueError:
            return cls("Unknown")


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


@dataclass(frozen=True)
class Source:
    """One of the Application's sources (`spec.source`, or each of `spec.sources`)."""

    repo_url: str
    path: str = ""
    target_revision: str = ""
    chart: str = ""
    ref: str = ""


@dataclass(frozen=True)
class HistoryEntry:
    """One entry of `status.history`: a sync that succeeded."""

    id: int
    revision: str  # the first source's revision ("" for a multi-source app's entry)
    deployed_at: datetime | None = None
    deploy_started_at: datetime | None = None
    revisions: tuple[str, ...] = ()  # multi-source apps: one per source
    initiated_by: str = ""  # a username, or "" when automated
    automated: bool = False


@dataclass(frozen=True)
class Operation:
    """`status.operationState`: the last (or the running) sync."""

    phase: OperationPhase
    revision: str  # what it syncs to (syncResult.revision once known, else operation.sync.revision)
    started_at: datetime | None = None
    finished_at: datetime | None = None
    message: str = ""
    initiated_by: str = ""
    automated: bool = False
    retry_count: int = 0
    revisions: tuple[str, ...] = ()


@dataclass(frozen=True)
class Resource:
    """One entry of `status.resources`."""

    group: str
    kind: str
    namespace: str
    name: str
    version: str = ""
    status: Sync = Sync.UNKNOWN
    health: Health | None = None  # None: a kind without health (ConfigMap, ...)
    health_message: str = ""

    @property
    def ref(self) -> str:
        kind = f"{self.group}/{self.kind}" if self.group else self.kind
        return f"{kind} {self.namespace}/{self.name}" if self.namespace else f"{kind} {self.name}"


@dataclass(frozen=True)
class Condition:
    type: str
    message: str = ""
    at: datetime | None = None


@dataclass(frozen=True)
class App:
    """An Argo CD Application as one source saw it at one moment."""

    name: str
    namespace: str = ""
    project: str = ""
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)
    sources: tuple[Source, ...] = ()
    dest_server: str = ""
    dest_name: str = ""
    dest_namespace: str = ""
    auto_sync: bool = False
    self_heal: bool = False
    prune: bool = False
    sync: Sync = Sync.UNKNOWN
    sync_revision: str = ""
    sync_revisions: tuple[str, ...] = ()
    health: Health = Health.UNKNOWN
    health_message: str = ""
    operation: Operation | None = None
    history: tuple[HistoryEntry, ...] = ()
    resources: tuple[Resource, ...] = ()
    images: tuple[str, ...] = ()
    conditions: tuple[Condition, ...] = ()
    reconciled_at: datetime | None = None
    resource_version: str = ""
    instance: str = ""  # which Argo CD / cluster this came from (the source's name)

    @property
    def key(self) -> str:
        """Stable across sources of one instance: `namespace/name`."""
        return f"{self.namespace}/{self.name}" if self.namespace else self.name

    @property
    def source(self) -> Source | None:
        return self.sources[0] if self.sources else None

    @property
    def service(self) -> str:
        return self.labels.get(SERVICE_LABEL, "")

    @property
    def env(self) -> str:
        return self.labels.get(ENV_LABEL, "")
