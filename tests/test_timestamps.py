"""The platform's timestamp formats: what Kubernetes and Argo CD write, and the millisecond form of
its own logs; a naive datetime is refused rather than guessed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from console.timestamps import rfc3339, rfc3339_ms

AT = datetime(2026, 12, 6, 8, 0, 1, 123456, tzinfo=UTC)


def test_to_the_second_and_to_the_millisecond_in_utc() -> None:
    east = AT.astimezone(timezone(timedelta(hours=2)))
    assert rfc3339(east) == "2026-12-06T08:00:01Z"
    assert rfc3339_ms(east) == "2026-12-06T08:00:01.123Z"
    assert rfc3339(AT.timestamp()) == "2026-12-06T08:00:01Z"
    assert rfc3339_ms(AT.timestamp()) == "2026-12-06T08:00:01.123Z"


def test_a_naive_datetime_is_refused() -> None:
    with pytest.raises(ValueError, match="naive datetime"):
        rfc3339(datetime(2026, 12, 6, 8, 0))
