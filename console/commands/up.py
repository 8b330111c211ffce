"""`gitops up`: run the embedded platform in the foreground until Ctrl-C or SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from pathlib import Path

from console.commands.common import EXIT_FAILED, EXIT_OK, UsageError, load, progress
from console.local.kube.dataplane_client import DataPlaneError
from console.local.up import up
from console.local.workspace import WorkspaceBusyError
from console.serving import PortInUseError


def run(args: argparse.Namespace) -> int:
    config, _ = load(args)
    workspace = Path(args.workspace).expanduser()
    if not 0 <= args.port <= 65535:
        raise UsageError(f"--port {args.port}: not a TCP port (0-65535)")
    if workspace.exists() and not workspace.is_dir():
        raise UsageError(f"{workspace}: not a directory (--workspace)")
    workspace.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(
        filename=workspace / "platform.log",
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per probe otherwise

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await up(
            config,
            workspace,
            stop,
            poll_s=args.poll_seconds,
            port=args.port,
            guard=not args.no_guard,
            progress=progress,
        )

    try:
        asyncio.run(main())
    except (PortInUseError, WorkspaceBusyError) as exc:
        raise UsageError(str(exc)) from None
    except DataPlaneError as exc:
        print(f"gitops: error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    print("stopped", file=sys.stderr)
    return EXIT_OK
