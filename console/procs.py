"""The one place that asks the operating system about a process by its pid: whether it runs (a
zombie waiting to be reaped does not), its state, and an identity beyond the pid (its start time)
so that a reused pid is never mistaken for the process recorded. Linux reads /proc; elsewhere the
state and identity are unknown (None) and `alive` falls back to signal 0."""

from __future__ import annotations

import os
from pathlib import Path


def _stat_fields(pid: int) -> list[str] | None:
    """/proc/<pid>/stat after the command name (which may hold spaces and parentheses)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8")
    except OSError:
        return None
    return stat.rpartition(")")[2].split()


def process_start(pid: int) -> str | None:
    """An identity for a live process beyond its pid (Linux: its start time in clock ticks);
    None when unknown or gone."""
    fields = _stat_fields(pid)
    return fields[19] if fields is not None and len(fields) > 19 else None


def process_state(pid: int) -> str | None:
    """A live process's state letter (R, S, D, Z for a zombie, ...); None when there is none."""
    fields = _stat_fields(pid)
    return fields[0] if fields else None


def alive(pid: int) -> bool:
    """Whether `pid` runs: a zombie does not; a process of another user does."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return process_state(pid) not in ("Z", "X")
