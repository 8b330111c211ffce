"""The import contracts in pyproject.toml (`[tool.importlinter]`), checked by import-linter
itself, as a real process: nothing in console/ imports upward, widgets import no I/O and no
actions, the embedded platform's rooms keep their order (ADR 0009), and no package's parts import
each other in a cycle."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_import_contracts_are_kept() -> None:
    command = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    assert command, "import-linter is a dev dependency: `uv sync` installs lint-imports"
    done = subprocess.run(
        [command, "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "Contracts: 4 kept, 0 broken." in done.stdout


HEAVY = ("textual", "quart", "hypercorn", "kubernetes", "httpx", "copier")
PROBE = """
import sys
from console import cli
try:
    cli.main(sys.argv[1:])
except SystemExit:
    pass
print("imported:" + ",".join(m for m in {heavy!r} if m in sys.modules), file=sys.stderr)
"""


def test_help_imports_no_command_s_dependencies() -> None:
    """`gitops --help` (and a command's `--help`) stays fast: commands import their modules
    only when they run (`cli._lazy`), so neither the console's Textual nor the platform's Quart,
    the Kubernetes client, httpx or Copier is imported to print the usage."""
    for argv in (["--help"], ["up", "--help"], ["console", "--help"]):
        done = subprocess.run(
            [sys.executable, "-c", PROBE.format(heavy=HEAVY), *argv],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert "usage:" in done.stdout, done.stderr
        [imported] = [ln for ln in done.stderr.splitlines() if ln.startswith("imported:")]
        assert imported == "imported:", (argv, done.stderr)
