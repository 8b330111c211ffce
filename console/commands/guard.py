"""`gitops guard`: run the rollback controller in the foreground until Ctrl-C or SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from pathlib import Path

from console.commands.common import EXIT_OK, UsageError, progress
from console.fleet.source import SourceError
from console.guard.run import (
    EVENTS_ENV,
    PROMETHEUS_ENV,
    GuardConfigError,
    default_listen,
    from_flags,
    from_workspace,
    parse_listen,
    run_guard,
)
from console.serving import PortInUseError


def run(args: argparse.Namespace) -> int:
    try:
        if args.workspace:
            target = from_workspace(Path(args.workspace).expanduser().resolve())
            listen = parse_listen(args.listen or "127.0.0.1:0")
        else:
            target = from_flags(
                args.argocd,
                args.token_file,
                args.deploy_repo,
                ssh_key=args.ssh_key,
                ca=args.ca,
                insecure=args.insecure,
                workdir=args.workdir,
                events=args.events_file or os.environ.get(EVENTS_ENV),
                prometheus=args.prometheus or os.environ.get(PROMETHEUS_ENV),
                prometheus_queries=args.prometheus_queries,
            )
            listen = parse_listen(args.listen or default_listen(os.environ))
    except GuardConfigError as exc:
        raise UsageError(str(exc)) from None
    logging.basicConfig(
        stream=sys.stderr, level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s"
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await run_guard(target, stop, listen=listen, progress=progress)

    try:
        asyncio.run(main())
    except (PortInUseError, SourceError) as exc:
        raise UsageError(str(exc)) from None
    print("stopped", file=sys.stderr)
    return EXIT_OK
