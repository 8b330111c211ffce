"""Argo CD's JSON as the Application model's parts read and write it: lenient enums, RFC 3339
times, strict scalars, Go's omitempty, and `ArgoModel`, the base of every part."""

from __future__ import annotations

import dataclasses
import functools
import inspect
import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, timezone
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Self, TypeAlias, TypeVar, cast

from pydantic import (
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
from typing_extensions import dataclass_transform

from console.timestamps import rfc3339

API_VERSION = "argoproj.io/v1alpha1"
KIND = "Application"
DEFAULT_NAMESPACE = "argocd"
HISTORY_LIMIT = 10  # Argo CD's default revisionHistoryLimit

Json: TypeAlias = dict[str, Any]


# --- enums: lenient, so a value a newer Argo CD adds reads as Unknown --------------------------


class _Lenient(StrEnum):
    """An enum that reads any value: an unknown one (a newer Argo CD's) is "Unknown"."""

    @classmethod
    def parse(cls, value: object) -> Self:
        member = cls._value2member_map_.get(value if isinstance(value, str) else str(value))
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
SyncField = Annotated[Sync, BeforeValidator(Sync._validate)]
PhaseField = Annotated[OperationPhase, BeforeValidator(OperationPhase._validate)]

_SCALARS = frozenset({str, int, bool, float, tuple})


def _is_empty(value: object) -> bool:
    """Go's zero values, which `omitempty` leaves out: "", 0, false, an empty list, null. An
    empty object is written (Go never omits a struct, and the maps we keep are always there);
    a part is never compared (model equality is slow and never says empty)."""
    return value is None or (value.__class__ in _SCALARS and not value)


def _is_none(value: object) -> bool:
    return value is None


CONFIG = ConfigDict(
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

    Parts are pydantic dataclasses with slots (`@model`: `@part` under `@pydantic_dataclass`): a
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


def part(cls: _T) -> _T:
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


@dataclass_transform(frozen_default=True, field_specifiers=(Field,))
def model(cls: _T) -> _T:
    """A part of the Application: a frozen, slotted pydantic dataclass with `part`'s omitempty."""
    return cast(_T, pydantic_dataclass(frozen=True, slots=True, config=CONFIG)(part(cls)))
