"""How long a bad release cost, one definition for the console's rollback history and the drill's
post-mortem (pure):

    detect_s   the bad revision's sync started -> the rollback commit pushed
    recover_s  the rollback pushed -> Healthy and Synced on it
    mttr_s     the bad revision's sync started -> Healthy and Synced on the rollback
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class Durations:
    detect_s: float | None = None
    recover_s: float | None = None
    mttr_s: float | None = None


def seconds(start: datetime | None, end: datetime | None) -> float | None:
    """Seconds from `start` to `end`, to the millisecond; None when either is unknown. Never
    negative: records of whole seconds (Argo CD's) may put an end just before its start."""
    if start is None or end is None:
        return None
    return round(max(0.0, (end - start).total_seconds()), 3)


def recovery(
    sync_started: datetime | None, pushed: datetime | None, recovered: datetime | None
) -> Durations:
    return Durations(
        detect_s=seconds(sync_started, pushed),
        recover_s=seconds(pushed, recovered),
        mttr_s=seconds(sync_started, recovered),
    )
