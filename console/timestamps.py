"""The timestamp formats the platform writes, in one place: RFC 3339 in UTC with a `Z`, to the
second as Kubernetes' metav1.Time and Argo CD write them, or to the millisecond for the
platform's own event logs and drill records. A naive datetime is refused: the platform never
guesses a time zone."""

from __future__ import annotations

from datetime import UTC, datetime


def _utc(at: datetime | float) -> datetime:
    if isinstance(at, int | float):
        return datetime.fromtimestamp(at, UTC)
    if at.tzinfo is None:
        raise ValueError(f"naive datetime {at!r}: timestamps must be timezone-aware")
    return at.astimezone(UTC)


def rfc3339(at: datetime | float) -> str:
    """`2026-12-06T08:00:00Z`, from an aware datetime or a Unix time."""
    return _utc(at).strftime("%Y-%m-%dT%H:%M:%SZ")


def rfc3339_ms(at: datetime | float) -> str:
    """`2026-12-06T08:00:00.123Z`, from an aware datetime or a Unix time."""
    return _utc(at).isoformat(timespec="milliseconds").replace("+00:00", "Z")
