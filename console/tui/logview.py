"""The lines the logs view holds: a ring of the newest RING_LINES, however long a stream
follows, and the search over it. Pure."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator, Sequence

from console.fleet.logs import LogLine

RING_LINES = 10_000


def matches(line: LogLine, needle: str) -> bool:
    """Case-insensitive, in the line's text or its pod's name; an empty needle matches all."""
    if not needle:
        return True
    folded = needle.casefold()
    return folded in line.content.casefold() or folded in line.pod.casefold()


class LogRing:
    """The newest `limit` lines; older ones are dropped (and counted) as new ones come."""

    def __init__(self, limit: int = RING_LINES) -> None:
        self.limit = limit
        self._lines: deque[LogLine] = deque(maxlen=limit)
        self.received = 0  # every line ever added

    def __len__(self) -> int:
        return len(self._lines)

    def __iter__(self) -> Iterator[LogLine]:
        return iter(self._lines)

    @property
    def dropped(self) -> int:
        return self.received - len(self._lines)

    def extend(self, lines: Sequence[LogLine]) -> None:
        self._lines.extend(lines)
        self.received += len(lines)

    def clear(self) -> None:
        self._lines.clear()
        self.received = 0

    def matching(self, needle: str) -> list[LogLine]:
        return [line for line in self._lines if matches(line, needle)]
