"""Argo CD Application JSON (a `v1alpha1Application`, from the REST API, its stream or the
Kubernetes API) read into the frozen model of `console.fleet.model`.

Lenient where servers differ, strict where the structure is wrong:
  - missing or null fields read as empty (Go's `omitempty` and zero values), unknown fields are
    ignored, unknown health/sync/phase values read as UNKNOWN;
  - a value of the wrong JSON type raises `MalformedError`, whose message names the field path
    (`status.history[2].id: expected an integer`), so a bad answer is reported, never guessed;
  - integers may also come as decimal strings (protojson's int64 encoding; Argo CD itself
    writes numbers);
  - timestamps are RFC 3339 and read as timezone-aware datetimes.
Only the fields the model holds are checked; the rest of the object is not validated.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from console.fleet.model import (
    App,
    Condition,
    Health,
    HistoryEntry,
    Operation,
    OperationPhase,
    Resource,
    Source,
    Sync,
)

_EMPTY: Mapping[str, Any] = {}
_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?"
    r"(?:([Zz])|([+-])(\d{2}):(\d{2}))"
)
_INT = re.compile(r"-?\d{1,19}")


class MalformedError(ValueError):
    """An answer that is not an Application (list): `path` names the offending field."""

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"{path}: {problem}" if path else problem)
        self.path = path
        self.problem = problem


# --- typed field access (path strings are only built on the way down or on error) -------------


def _at(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _as_obj(value: object, path: str) -> Mapping[str, Any]:
    if value is None:
        return _EMPTY
    if not isinstance(value, Mapping):
        raise MalformedError(path, "expected an object")
    return value


def _obj(parent: Mapping[str, Any], key: str, path: str) -> Mapping[str, Any]:
    return _as_obj(parent.get(key), _at(path, key))


def _list(parent: Mapping[str, Any], key: str, path: str) -> list[Any]:
    value = parent.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise MalformedError(_at(path, key), "expected a list")
    return value


def _str(parent: Mapping[str, Any], key: str, path: str) -> str:
    value = parent.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise MalformedError(_at(path, key), "expected a string")
    return value


def _bool(parent: Mapping[str, Any], key: str, path: str, default: bool = False) -> bool:
    value = parent.get(key)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise MalformedError(_at(path, key), "expected a boolean")
    return value


def _int(parent: Mapping[str, Any], key: str, path: str) -> int:
    value = parent.get(key)
    if value is None:
        return 0
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and _INT.fullmatch(value):
        return int(value)
    raise MalformedError(_at(path, key), "expected an integer")


def _strs(parent: Mapping[str, Any], key: str, path: str) -> tuple[str, ...]:
    items = _list(parent, key, path)
    for i, item in enumerate(items):
        if not isinstance(item, str):
            raise MalformedError(f"{_at(path, key)}[{i}]", "expected a string")
    return tuple(items)


def _str_map(parent: Mapping[str, Any], key: str, path: str) -> dict[str, str]:
    where = _at(path, key)
    out: dict[str, str] = {}
    for k, v in _as_obj(parent.get(key), where).items():
        if not isinstance(k, str):
            raise MalformedError(where, "expected an object with string keys")
        if not isinstance(v, str):
            raise MalformedError(_at(where, k), "expected a string")
        out[k] = v
    return out


def parse_time(value: object, path: str = "") -> datetime | None:
    """An RFC 3339 timestamp as an aware datetime; None for null or "". Fractions beyond
    microseconds (Go's RFC3339Nano) are truncated."""
    if value is None or value == "":
        return None
    parsed = _rfc3339(value) if isinstance(value, str) else None
    if parsed is None:
        raise MalformedError(path, "expected an RFC 3339 timestamp")
    return parsed


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


def _time(parent: Mapping[str, Any], key: str, path: str) -> datetime | None:
    value = parent.get(key)
    return None if value is None else parse_time(value, _at(path, key))


def _items(parent: Mapping[str, Any], key: str, path: str) -> list[tuple[Mapping[str, Any], str]]:
    """The objects of list `key`, each with its path (`status.history[2]`)."""
    where = _at(path, key)
    out = []
    for i, item in enumerate(_list(parent, key, path)):
        item_path = f"{where}[{i}]"
        if not isinstance(item, Mapping):
            raise MalformedError(item_path, "expected an object")
        out.append((item, item_path))
    return out


# --- the parts of an Application ---------------------------------------------------------------


def _source(obj: Mapping[str, Any], path: str) -> Source:
    return Source(
        repo_url=_str(obj, "repoURL", path),
        path=_str(obj, "path", path),
        target_revision=_str(obj, "targetRevision", path),
        chart=_str(obj, "chart", path),
        ref=_str(obj, "ref", path),
    )


def _sources(spec: Mapping[str, Any], path: str) -> tuple[Source, ...]:
    """The sources Argo CD syncs from, with its precedence (ApplicationSpec.GetSources): a
    source hydrator's sync source, else `sources` when not empty, else `source`."""
    if spec.get("sourceHydrator") is not None:
        where = _at(path, "sourceHydrator")
        hydrator = _obj(spec, "sourceHydrator", path)
        dry = _obj(hydrator, "drySource", where)
        sync = _obj(hydrator, "syncSource", where)
        return (
            Source(
                repo_url=_str(sync, "repoURL", _at(where, "syncSource"))
                or _str(dry, "repoURL", _at(where, "drySource")),
                path=_str(sync, "path", _at(where, "syncSource")),
                target_revision=_str(sync, "targetBranch", _at(where, "syncSource")),
            ),
        )
    many = _items(spec, "sources", path)
    if many:
        return tuple(_source(item, item_path) for item, item_path in many)
    if spec.get("source") is not None:
        return (_source(_obj(spec, "source", path), _at(path, "source")),)
    return ()


def _initiator(parent: Mapping[str, Any], path: str) -> tuple[str, bool]:
    where = _at(path, "initiatedBy")
    by = _obj(parent, "initiatedBy", path)
    return _str(by, "username", where), _bool(by, "automated", where)


def _history(obj: Mapping[str, Any], path: str) -> HistoryEntry:
    username, automated = _initiator(obj, path)
    return HistoryEntry(
        id=_int(obj, "id", path),
        revision=_str(obj, "revision", path),
        deployed_at=_time(obj, "deployedAt", path),
        deploy_started_at=_time(obj, "deployStartedAt", path),
        revisions=_strs(obj, "revisions", path),
        initiated_by=username,
        automated=automated,
    )


def _operation(state: Mapping[str, Any], path: str) -> Operation:
    op_path = _at(path, "operation")
    requested = _obj(state, "operation", path)
    sync_path = _at(op_path, "sync")
    sync = _obj(requested, "sync", op_path)
    result_path = _at(path, "syncResult")
    result = _obj(state, "syncResult", path)
    username, automated = _initiator(requested, op_path)
    return Operation(
        phase=OperationPhase.parse(_str(state, "phase", path)),
        # What it syncs to: the resolved revision once known, else the one asked for.
        revision=_str(result, "revision", result_path) or _str(sync, "revision", sync_path),
        started_at=_time(state, "startedAt", path),
        finished_at=_time(state, "finishedAt", path),
        message=_str(state, "message", path),
        initiated_by=username,
        automated=automated,
        retry_count=_int(state, "retryCount", path),
        revisions=_strs(result, "revisions", result_path) or _strs(sync, "revisions", sync_path),
    )


def _resource(obj: Mapping[str, Any], path: str) -> Resource:
    health = obj.get("health")
    health_obj = _obj(obj, "health", path)
    health_path = _at(path, "health")
    return Resource(
        group=_str(obj, "group", path),
        kind=_str(obj, "kind", path),
        namespace=_str(obj, "namespace", path),
        name=_str(obj, "name", path),
        version=_str(obj, "version", path),
        status=Sync.parse(_str(obj, "status", path)),
        # No health object: a kind Argo CD has no health check for.
        health=Health.parse(_str(health_obj, "status", health_path))
        if health is not None
        else None,
        health_message=_str(health_obj, "message", health_path),
    )


def _condition(obj: Mapping[str, Any], path: str) -> Condition:
    return Condition(
        type=_str(obj, "type", path),
        message=_str(obj, "message", path),
        at=_time(obj, "lastTransitionTime", path),
    )


def _application(obj: object, instance: str, path: str) -> App:
    if not isinstance(obj, Mapping):
        raise MalformedError(path, "expected an object")
    root: Mapping[str, Any] = obj
    meta_path = _at(path, "metadata")
    if root.get("metadata") is None:
        raise MalformedError(meta_path, "missing")
    meta = _obj(root, "metadata", path)
    name = _str(meta, "name", meta_path)
    if not name:
        raise MalformedError(_at(meta_path, "name"), "missing")

    spec_path, status_path = _at(path, "spec"), _at(path, "status")
    spec = _obj(root, "spec", path)
    dest = _obj(spec, "destination", spec_path)
    dest_path = _at(spec_path, "destination")
    policy_path = _at(spec_path, "syncPolicy")
    auto_path = _at(policy_path, "automated")
    policy = _obj(spec, "syncPolicy", spec_path)
    automated = _obj(policy, "automated", policy_path)
    has_auto = policy.get("automated") is not None

    status = _obj(root, "status", path)
    sync_path, health_path = _at(status_path, "sync"), _at(status_path, "health")
    sync = _obj(status, "sync", status_path)
    health = _obj(status, "health", status_path)
    state = status.get("operationState")
    summary_path = _at(status_path, "summary")

    return App(
        name=name,
        namespace=_str(meta, "namespace", meta_path),
        project=_str(spec, "project", spec_path),
        labels=_str_map(meta, "labels", meta_path),
        annotations=_str_map(meta, "annotations", meta_path),
        sources=_sources(spec, spec_path),
        dest_server=_str(dest, "server", dest_path),
        dest_name=_str(dest, "name", dest_path),
        dest_namespace=_str(dest, "namespace", dest_path),
        # `automated: {}` enables auto-sync; `enabled: false` (Argo CD >= 3.0) turns it off.
        auto_sync=has_auto and _bool(automated, "enabled", auto_path, default=True),
        self_heal=_bool(automated, "selfHeal", auto_path),
        prune=_bool(automated, "prune", auto_path),
        sync=Sync.parse(_str(sync, "status", sync_path)),
        sync_revision=_str(sync, "revision", sync_path),
        sync_revisions=_strs(sync, "revisions", sync_path),
        health=Health.parse(_str(health, "status", health_path)),
        health_message=_str(health, "message", health_path),
        operation=(
            _operation(
                _obj(status, "operationState", status_path), _at(status_path, "operationState")
            )
            if state is not None
            else None
        ),
        history=tuple(_history(h, p) for h, p in _items(status, "history", status_path)),
        resources=tuple(_resource(r, p) for r, p in _items(status, "resources", status_path)),
        images=_strs(_obj(status, "summary", status_path), "images", summary_path),
        conditions=tuple(_condition(c, p) for c, p in _items(status, "conditions", status_path)),
        reconciled_at=_time(status, "reconciledAt", status_path),
        resource_version=_str(meta, "resourceVersion", meta_path),
        instance=instance,
    )


# --- entry points ------------------------------------------------------------------------------


def parse_application(obj: Mapping[str, Any], instance: str = "", *, path: str = "") -> App:
    """One Application; `instance` names the source it came from. `path` prefixes field paths
    in errors (e.g. `result.application` for a stream frame). Raises MalformedError."""
    return _application(obj, instance, path)


def parse_application_list(obj: Mapping[str, Any], instance: str = "") -> tuple[list[App], str]:
    """A `v1alpha1ApplicationList` (or a Kubernetes ApplicationList): its applications and its
    `metadata.resourceVersion` ("" when absent). Raises MalformedError."""
    if not isinstance(obj, Mapping):
        raise MalformedError("", "expected an object")
    root: Mapping[str, Any] = obj
    meta = _obj(root, "metadata", "")
    apps = [_application(item, instance, p) for item, p in _items(root, "items", "")]
    return apps, _str(meta, "resourceVersion", "metadata")
