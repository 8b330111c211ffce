"""Argo CD Application JSON (a `v1alpha1Application`, from the REST API, its stream or the
Kubernetes API) read into the model of `console.application` (`console.fleet.model.App`).

The model is lenient where servers differ (missing or null fields read as empty, unknown fields
are ignored, unknown health/sync/phase values read as UNKNOWN, integers may come as decimal
strings, timestamps are RFC 3339) and strict where the structure is wrong. Here its validation
errors become `MalformedError`, whose message names the field path
(`status.history[2].id: expected an integer`), so a bad answer is reported, never guessed.
Only the fields the model holds are checked; the rest of the object is not validated.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from pydantic_core import PydanticCustomError

from console import application
from console.fleet.model import App
from console.fleet.source import SourceError

_EMPTY: Mapping[str, Any] = {}
# pydantic's error types, in the words the read side reports them with.
_PROBLEMS = {
    "string_type": "expected a string",
    "bool_type": "expected a boolean",
    "int_type": "expected an integer",
    "list_type": "expected a list",
    "tuple_type": "expected a list",
    "dict_type": "expected an object",
    "model_type": "expected an object",
    "model_attributes_type": "expected an object",
    "dataclass_type": "expected an object",
}


class MalformedError(ValueError):
    """An answer that is not an Application (list): `path` names the offending field."""

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"{path}: {problem}" if path else problem)
        self.path = path
        self.problem = problem


def _at(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _malformed(exc: ValidationError, path: str) -> MalformedError:
    error = exc.errors(include_url=False, include_context=False, include_input=False)[0]
    where = path
    for part in error["loc"]:
        where = f"{where}[{part}]" if isinstance(part, int) else _at(where, str(part))
    problem = error["msg"] if error["type"] == "malformed" else _PROBLEMS.get(error["type"])
    return MalformedError(where, problem or error["msg"])


def parse_time(value: object, path: str = "") -> datetime | None:
    """An RFC 3339 timestamp as an aware datetime; None for null or "". Fractions beyond
    microseconds (Go's RFC3339Nano) are truncated."""
    try:
        return application.parse_time(value)
    except PydanticCustomError as exc:
        raise MalformedError(path, exc.message()) from None


def parse_application(obj: object, instance: str = "", *, path: str = "") -> App:
    """One Application; `instance` names the source it came from. `path` prefixes field paths
    in errors (e.g. `result.application` for a stream frame). Raises MalformedError."""
    if not isinstance(obj, Mapping):
        raise MalformedError(path, "expected an object")
    if obj.get("metadata") is None:
        raise MalformedError(_at(path, "metadata"), "missing")
    try:
        app = App.from_json({**obj, "instance": instance} if instance else obj)
    except ValidationError as exc:
        raise _malformed(exc, path) from None
    if not app.name:
        raise MalformedError(_at(path, "metadata.name"), "missing")
    return app


def parse_application_list(obj: object, instance: str = "") -> tuple[list[App], str]:
    """A `v1alpha1ApplicationList` (or a Kubernetes ApplicationList): its applications and its
    `metadata.resourceVersion` ("" when absent). Raises MalformedError."""
    if not isinstance(obj, Mapping):
        raise MalformedError("", "expected an object")
    meta = obj.get("metadata")
    if meta is None:
        meta = _EMPTY
    if not isinstance(meta, Mapping):
        raise MalformedError("metadata", "expected an object")
    items = obj.get("items")
    if items is None:
        items = []
    if not isinstance(items, list):
        raise MalformedError("items", "expected a list")
    apps = [parse_application(item, instance, path=f"items[{i}]") for i, item in enumerate(items)]
    version = meta.get("resourceVersion")
    if version is not None and not isinstance(version, str):
        raise MalformedError("metadata.resourceVersion", "expected a string")
    return apps, version or ""


def application_from(body: object, url: str, instance: str, *, path: str = "") -> App:
    """`parse_application` for a client of `url`: a malformed answer is its SourceError."""
    try:
        return parse_application(body, instance, path=path)
    except MalformedError as exc:
        raise SourceError.malformed(url, str(exc)) from None


def application_list_from(body: object, url: str, instance: str) -> tuple[list[App], str]:
    """`parse_application_list` for a client of `url`: a malformed answer is its SourceError."""
    try:
        return parse_application_list(body, instance)
    except MalformedError as exc:
        raise SourceError.malformed(url, str(exc)) from None
