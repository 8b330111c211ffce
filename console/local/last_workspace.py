"""The workspace `gitops up` used last, so `gitops status` (and later the console) find the
embedded platform without `--workspace`.

Kept in `$XDG_STATE_HOME/gitops/last-workspace` (default `~/.local/state`): state, not
configuration, so it survives reboots but nobody edits it.
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

log = logging.getLogger(__name__)


def state_file() -> Path:
    base = os.environ.get("XDG_STATE_HOME", "")
    # The XDG spec says a relative value is invalid and must be ignored.
    root = Path(base) if base and os.path.isabs(base) else Path.home() / ".local" / "state"
    return root / "gitops" / "last-workspace"


def remember(path: Path) -> None:
    """Record `path` (made absolute) as the last workspace. Never fails the caller: a read-only
    home only costs the default of `--workspace`."""
    target = state_file()
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        # Atomic: a concurrent `gitops status` reads the old path or the new one, never half.
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".last-workspace.")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(f"{Path(path).absolute()}\n")
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as exc:
        log.warning("cannot record the last workspace in %s: %s", target, exc.strerror or exc)


def recall() -> Path | None:
    """The last workspace recorded, or None when none was (or the record is unreadable)."""
    try:
        text = state_file().read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return None
    return Path(text) if text and os.path.isabs(text) else None
