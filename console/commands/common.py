"""What every command shares: exit codes, the usage error, progress lines and loading repos.yaml."""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from types import FrameType

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


class Terminated(KeyboardInterrupt):
    """A termination signal, raised where the program is so that `finally` and cleanup run as
    for Ctrl-C; `gitops` exits 128 + the signal's number."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


@contextlib.contextmanager
def terminable() -> Iterator[None]:
    """SIGTERM and SIGHUP interrupt the work like SIGINT does (their default is to end the
    process at once, which would leave a half-written destination behind)."""

    def interrupt(signum: int, _frame: FrameType | None) -> None:
        raise Terminated(signum)

    previous = {sig: signal.signal(sig, interrupt) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
