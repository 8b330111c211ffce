"""`gitops promote`."""

from __future__ import annotations

import argparse
import sys

from console.commands.common import EXIT_FAILED, EXIT_OK, UsageError
from console.gitpush import PushRejectedError, RetriesExhaustedError
from console.promote.overlay import OverlayError
from console.promote.promote import PromoteError, PromoteRequest, promote_all


def run(args: argparse.Namespace) -> int:
    services: list[str] = args.service
    reqs = [
        PromoteRequest(
            service=service,
            env=args.env,
            tag=args.tag,
            from_env=args.from_env,
            source_commit=args.source_commit,
            force=args.force,
        )
        for service in services
    ]
    try:
        outcomes = promote_all(args.deploy_repo, reqs, push=args.push, attempts=args.attempts)
    except (PromoteError, OverlayError) as exc:
        raise UsageError(str(exc)) from None
    except (PushRejectedError, RetriesExhaustedError) as exc:
        print(f"gitops: promotion not pushed: {exc}", file=sys.stderr)
        return EXIT_FAILED
    for out in outcomes:
        if out.sha is None:
            print(f"{out.service} in {out.env} is already at {out.tag}: nothing to do")
            continue
        where = f"pushed after {out.attempts} attempt(s)" if out.pushed else "committed locally"
        change = f"{out.service} {out.previous} -> {out.tag} in {out.env}"
        print(f"promoted {change}: {out.sha[:12]} ({where})")
    return EXIT_OK
