"""What every command shares: exit codes, the usage error, progress lines and loading repos.yaml."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from console.config import PlatformConfig, load_config

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    """Bad input from the user: printed as `gitops: error: ...`, exit 2."""


def progress(message: str) -> None:
    print(f"  {message}", file=sys.stderr, flush=True)


def load(args: argparse.Namespace) -> tuple[PlatformConfig, Path]:
    """repos.yaml from --config, and the directory it lives in."""
    path = Path(args.config)
    return load_config(path), path.resolve().parent
