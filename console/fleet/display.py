"""How status rows read as text: symbols next to words (never colour alone), short revisions,
ages, and `gitops status`'s table. Pure: the clock is an argument."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime

from console.fleet.model import Health, Sync
from console.fleet.status import StatusRow

# Narrow, non-emoji characters (East Asian width "N"), so columns line up in every terminal.
HEALTH_SYMBOLS = {
    Health.HEALTHY: "✓",
    Health.PROGRESSING: "↻",
    Health.DEGRADED: "✗",
    Health.SUSPENDED: "◌",
    Health.MISSING: "∅",
    Health.UNKNOWN: "?",
}
SYNC_SYMBOLS = {Sync.SYNCED: "✓", Sync.OUT_OF_SYNC: "⇡", Sync.UNKNOWN: "?"}
NONE = "-"
COLUMNS = (
    "APP",
    "ENV",
    "SYNC",
    "HEALTH",
    "REVISION",
    "IMAGE TAG",
    "LIVE",
    "DEPLOYED",
    "AUTO-SYNC",
    "ROLLBACKS",
)
_HEX = re.compile(r"(?:sha256:)?([0-9a-f]{12,64})")


def health_label(health: Health) -> str:
    return f"{HEALTH_SYMBOLS[health]} {health.value}"


def sync_label(sync: Sync) -> str:
    return f"{SYNC_SYMBOLS[sync]} {sync.value}"


def short(value: str | None) -> str:
    """A commit sha or digest as its first 7 hex digits; other values (a chart version, a
    semver tag) as they are."""
    if not value:
        return NONE
    m = _HEX.fullmatch(value)
    return m[1][:7] if m else value


def image_tag(image: str) -> str:
    """The tag of `registry:5000/name:tag` (the digest of `name@sha256:...`); "" for none."""
    name, at, digest = image.partition("@")
    if at:
        return digest
    last = name.rpartition("/")[2]  # a registry's port is not a tag
    return last.partition(":")[2]


def images_label(images: Sequence[str]) -> str:
    """The first image's tag; `+N` when the app runs N more distinct tags."""
    tags = list(dict.fromkeys(t for t in map(image_tag, images) if t))
    if not tags:
        return NONE
    more = f"+{len(tags) - 1}" if len(tags) > 1 else ""
    return short(tags[0]) + more


def age(since: datetime | None, now: datetime) -> str:
    """`45s`, `3m`, `5h`, `12d`: the largest whole unit, as kubectl lists ages."""
    if since is None:
        return NONE
    seconds = max(0, int((now - since).total_seconds()))  # a skewed clock reads as just now
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def cells(row: StatusRow, now: datetime) -> tuple[str, ...]:
    return (
        row.name,
        row.env or NONE,
        sync_label(row.sync),
        health_label(row.health),
        short(row.revision),
        images_label(row.images),
        short(row.live_version),
        age(row.deployed_at, now),
        "on" if row.auto_sync else "off",
        NONE if row.rollbacks is None else str(row.rollbacks),
    )


def render_table(rows: Sequence[StatusRow], now: datetime) -> str:
    """The rows as aligned columns under a header, two spaces apart; ends without a newline.
    An ANALYSIS column only when the guard's analyses are known for some row."""
    analysed = any(row.analysis for row in rows)
    header = (*COLUMNS, "ANALYSIS") if analysed else COLUMNS
    table = [
        header,
        *(
            (*cells(row, now), row.analysis or NONE) if analysed else cells(row, now)
            for row in rows
        ),
    ]
    widths = [max(len(line[i]) for line in table) for i in range(len(header))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in table
    )
