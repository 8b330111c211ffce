"""The one reader of bearer-token files (`--token-file`, and the `token_file` that platform.json
names): one non-empty line, and a warning, as ssh gives for a key, when others may read it."""

from __future__ import annotations

import stat
import sys
from collections.abc import Callable
from pathlib import Path


class TokenFileError(ValueError):
    """The file cannot be read or does not hold a token; the message names the file."""


def _stderr(line: str) -> None:
    print(line, file=sys.stderr)


def read_token(path: Path, warn: Callable[[str], None] = _stderr) -> str:
    """The token in `path`. Its content is never part of a message."""
    try:
        token = path.read_text(encoding="utf-8").strip()
        mode = stat.S_IMODE(path.stat().st_mode)
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise TokenFileError(f"{path}: cannot read the token file: {reason}") from None
    if not token or any(c in token for c in "\r\n"):
        raise TokenFileError(f"{path}: the token file must hold one non-empty line")
    if mode & 0o077:
        warn(
            f"gitops: warning: {path} holds a token and others may read it "
            f"(mode {mode:04o}); chmod 600 {path}"
        )
    return token
