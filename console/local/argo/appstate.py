"""The embedded platform's Applications as the controller publishes them and the API server
serves them, in Argo CD's own JSON.

Argo CD splits its work between an application controller, which owns state (it reconciles and
writes each Application's `status` and `operationState`), and an API server, which only reads
that state and takes requests (list, get, watch, sync, refresh, logs, webhooks). This module is
the seam between the two here:

- `ApplicationRecord` is one Application: its manifest as read from Git (`apiVersion`, `kind`,
  `metadata`, `spec`, kept verbatim: Argo CD echoes the spec as written), the live
  `ApplicationStatus` the controller computed and the requested `Operation` (both the shared
  model of `console.application`; the operation is set by a sync request or an automated sync,
  kept while the operation runs, cleared when it completes) and a `resource_version` that
  increases with every change, as a Kubernetes resourceVersion does.
- `to_json` renders a record as Argo CD serialises a `v1alpha1Application`; `from_json` reads
  one back.
- `ApplicationSource` is the protocol the API server depends on; the controller publishes into
  `console.local.argo.inmemory.InMemorySource`, which implements it.
"""

from __future__ import annotations

import builtins
import functools
import json
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

from console.application import (
    API_VERSION,
    DEFAULT_NAMESPACE,
    KIND,
    ApplicationStatus,
    Json,
    Operation,
    format_time,
    parse_time,
)
from console.fleet.logs import LogQuery
from console.local.argo.podlogs import LogEntry
from console.local.argo.reposerver import Manifests
from console.local.argo.requests import SyncRequest

EventType = Literal["ADDED", "MODIFIED", "DELETED"]


def as_object(data: object, where: str) -> Mapping[str, Any]:
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise ValueError(f"{where} is not an object")
    return data


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
        return as_object(self.manifest.get("metadata"), "metadata")

    @property
    def spec(self) -> Mapping[str, Any]:
        return as_object(self.manifest.get("spec"), "spec")

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
        return {str(k): str(v) for k, v in as_object(self.metadata.get("labels"), "labels").items()}

    @property
    def source(self) -> Mapping[str, Any]:
        return as_object(self.spec.get("source"), "spec.source")

    @property
    def target_revision(self) -> str:
        return str(self.source.get("targetRevision") or "HEAD")

    @property
    def automated(self) -> bool:
        """True when the spec enables automated sync (`syncPolicy.automated`, not disabled)."""
        policy = as_object(self.spec.get("syncPolicy"), "spec.syncPolicy")
        automated = policy.get("automated")
        if not isinstance(automated, Mapping):
            return False
        return automated.get("enabled", True) is not False

    @functools.cached_property
    def _texts(self) -> dict[bool, str]:
        # A record never changes (a change is a new record): its JSON is written once, however
        # many watchers and listings send it.
        return {}

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
    if record.created_at is not None:
        out_meta["creationTimestamp"] = format_time(record.created_at)
    for key in ("labels", "annotations", "ownerReferences", "finalizers"):
        if meta.get(key):
            out_meta[key] = plain_copy(meta[key])
    out: Json = {}
    if type_meta:
        out["apiVersion"] = API_VERSION
        out["kind"] = KIND
    out["metadata"] = out_meta
    out["spec"] = plain_copy({k: v for k, v in record.spec.items()})
    out["status"] = record.status.to_json()
    if record.operation is not None:
        out["operation"] = record.operation.to_json()
    return out


def dumps(obj: object) -> str:
    """Compact JSON, as the API writes every answer."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def json_text(record: ApplicationRecord, *, type_meta: bool = False) -> str:
    """`dumps(to_json(record, type_meta=...))`, computed once per record."""
    texts = record._texts
    text = texts.get(type_meta)
    if text is None:
        text = texts[type_meta] = dumps(to_json(record, type_meta=type_meta))
    return text


def from_json(data: Mapping[str, Any]) -> ApplicationRecord:
    """An Application JSON (as `to_json` writes it, or as `kubectl get -o json` shows it) read
    back as a record: metadata.uid, resourceVersion, generation and creationTimestamp become the
    record's identity fields."""
    meta = dict(as_object(data.get("metadata"), "metadata"))
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
        "spec": plain_copy(dict(as_object(data.get("spec"), "spec"))),
    }
    return ApplicationRecord(
        manifest=manifest,
        status=ApplicationStatus.from_json(as_object(data.get("status"), "status")),
        operation=Operation.from_json(data["operation"]) if data.get("operation") else None,
        resource_version=int(rv) if rv.isdigit() else 0,
        uid=uid,
        created_at=created_at,
        generation=generation,
    )


def plain_copy(value: Any) -> Any:
    """A deep copy of YAML/JSON data as plain dicts and lists."""
    if isinstance(value, Mapping):
        return {str(k): plain_copy(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain_copy(v) for v in value]
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
        if res.health_state is not None:
            node["health"] = res.health_state.to_json()
        nodes.append(node)
    return {"nodes": nodes} if nodes else {}


# --- the protocol the API depends on --------------------------------------------------------


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

    async def sync(self, request: SyncRequest) -> ApplicationRecord:
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

    def live_object(self, name: str, kind: str, namespace: str, resource_name: str) -> Json:
        """One live object of the application (a pod). Raises ApplicationNotFoundError,
        NotFoundError."""
        ...

    def pod_logs(self, name: str, query: LogQuery) -> AsyncIterator[LogEntry]:
        """The log lines of the application's pods that `query` asks for, oldest first; with
        `follow`, until the consumer stops. Validates immediately, before returning the
        iterator: raises ApplicationNotFoundError, or NotFoundError for an unknown pod."""
        ...

    async def manifests(self, name: str, revision: str | None) -> Manifests:
        """The objects the application's source renders to at `revision` (default: its target
        revision), as the repo server renders them. Raises ApplicationNotFoundError,
        UnimplementedError when the source renders nothing, ApiError when the revision cannot
        be resolved or rendered."""
        ...

    async def webhook(self, event: bytes, headers: Mapping[str, str]) -> None:
        """A Git host's push event (raw body and request headers; GitHub's format). Must
        return within milliseconds: queue it and process it elsewhere (the Git host's hook has
        a 2 s budget). Raise UnavailableError when the queue is full."""
        ...
