"""The pods' log lines the API serves (`/api/v1/applications/{name}/logs`): the last lines of
each pod of each app, in a bounded ring per pod, with followers woken on every new line."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime

from console.fleet.logs import LogQuery
from console.local.argo.wakeup import Wakeup


@dataclass(frozen=True)
class LogEntry:
    """One line a pod's container wrote."""

    content: str
    timestamp: datetime
    pod_name: str
    container: str = ""


_Line = tuple[int, LogEntry]  # with its sequence number, global across pods


class PodLogs:
    """Thread-safe: lines are appended from the runtime's threads and streamed on any loop."""

    def __init__(self, max_lines: int = 10_000) -> None:
        self._lock = threading.Lock()
        self._max_lines = max_lines
        self._logs: dict[str, dict[str, deque[_Line]]] = {}
        self._seq = 0
        self._signal = Wakeup()

    def append(self, app: str, entry: LogEntry) -> None:
        with self._lock:
            pods = self._logs.setdefault(app, {})
            lines = pods.setdefault(entry.pod_name, deque(maxlen=self._max_lines))
            self._seq += 1
            lines.append((self._seq, entry))
            waiters = self._signal.take()
        self._signal.wake(waiters)

    def has_pod(self, app: str, pod: str) -> bool:
        with self._lock:
            return pod in self._logs.get(app, {})

    def forget(self, app: str) -> None:
        with self._lock:
            self._logs.pop(app, None)

    def _lines(self, app: str, pod: str | None, container: str | None, after: int) -> list[_Line]:
        pods = self._logs.get(app, {})
        selected = [pods.get(pod, deque())] if pod is not None else list(pods.values())
        return [
            (seq, entry)
            for lines in selected
            for seq, entry in lines
            if seq > after and (not container or entry.container in ("", container))
        ]

    async def stream(self, app: str, query: LogQuery) -> AsyncIterator[LogEntry]:
        """The lines `query` asks for of `app`'s pods, oldest first."""
        pod, container, tail_lines = query.pod, query.container, query.tail_lines
        with self._lock:
            lines = self._lines(app, pod, container, 0)
            last = self._seq
        if tail_lines is not None:
            by_pod: dict[str, list[_Line]] = {}
            for seq, entry in lines:
                by_pod.setdefault(entry.pod_name, []).append((seq, entry))
            lines = (
                [line for pod_lines in by_pod.values() for line in pod_lines[-tail_lines:]]
                if tail_lines > 0
                else []
            )
        for _, entry in sorted(lines, key=lambda line: line[0]):
            yield entry
        while query.follow:
            with self._lock:
                new = self._lines(app, pod, container, last)
                last = self._seq
                waiter = None if new else self._signal.register()
            for _, entry in sorted(new, key=lambda line: line[0]):
                yield entry
            if waiter is not None:
                await self._signal.wait(waiter, self._lock)
