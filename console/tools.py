"""Finding external tools: this environment's own scripts first (uv installs the `check` extra
here), then PATH. One place, so every caller reports a missing tool the same way."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

ENV_BIN = Path(sys.executable).parent


def find(name: str) -> str | None:
    local = ENV_BIN / name
    if local.is_file():
        return str(local)
    return shutil.which(name)


@dataclass(frozen=True)
class Ran:
    returncode: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return (self.stdout + "\n" + self.stderr).strip()


def run(
    args: Sequence[str], cwd: Path, timeout: float = 600, env: dict[str, str] | None = None
) -> Ran:
    """Run a tool with an argument list (never a shell string) and capture its output."""
    try:
        proc = subprocess.run(
            list(args),
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return Ran(124, "", f"{Path(args[0]).name} timed out after {timeout:g}s")
    return Ran(proc.returncode, proc.stdout, proc.stderr)
