"""`gitops status`: every Application of one target, as a table or JSON (docs/platform/status.md).

Anything that stops the read (flags, files, an unreachable or refusing server, a malformed
answer, an unreadable deploy repo) is one line and exit 2."""

from __future__ import annotations

import argparse
import asyncio
import json
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from console.commands.common import EXIT_OK, UsageError
from console.commands.placing import from_args
from console.fleet.deployrepo import DeployRepoError
from console.fleet.display import render_table
from console.fleet.gather import gather_status
from console.fleet.source import SourceError
from console.fleet.status import StatusRow, rows_json
from console.fleet.targets import Target, TargetError, from_argocd, from_context, from_workspace
from console.guard.events import analysis_of, read_events
from console.local.last_workspace import recall


def target(args: argparse.Namespace) -> Target:
    """The target the flags name; without one, the workspace `gitops up` used last."""
    if repeated := getattr(args, "repeated", None):
        raise UsageError(
            f"{repeated[0]} was given twice: `gitops status` reads one target "
            "(`gitops console` shows several)"
        )
    if args.token_file and not args.argocd:
        raise UsageError("--token-file goes with --argocd")
    if (args.ca or args.insecure) and not args.argocd:
        raise UsageError("--ca and --insecure go with --argocd")
    if (args.kubeconfig or args.namespace) and not args.context:
        raise UsageError("--kubeconfig and --namespace go with --context")
    if args.argocd:
        if not args.token_file:
            raise UsageError("--token-file is required with --argocd")
        return from_argocd(
            args.argocd,
            Path(args.token_file).expanduser(),
            ca=Path(args.ca).expanduser() if args.ca else None,
            insecure=args.insecure,
            deploy_repo=args.deploy_repo,
        )
    if args.context:
        return from_context(
            args.context,
            Path(args.kubeconfig).expanduser() if args.kubeconfig else None,
            namespace=args.namespace,
            deploy_repo=args.deploy_repo,
        )
    workspace = Path(args.workspace).expanduser() if args.workspace else recall()
    if workspace is None:
        raise UsageError(
            "no workspace known: run `gitops up --workspace DIR`, "
            "or pass --workspace, --argocd or --context"
        )
    return from_workspace(workspace.absolute(), deploy_repo=args.deploy_repo)


def with_analyses(rows: list[StatusRow], events_file: Path | None) -> list[StatusRow]:
    """Each row with the guard's analysis of its revision, from the guard's events file."""
    if events_file is None or not events_file.is_file():
        return rows
    events = read_events(events_file)
    out = []
    for row in rows:
        found = analysis_of(events, row.name, row.revision) if row.revision else None
        out.append(replace(row, analysis=found[0]) if found else row)
    return out


def run(args: argparse.Namespace) -> int:
    try:
        chosen = target(args)
        rules = from_args(args)
        rows = asyncio.run(gather_status(chosen, placing=rules))
        rows = with_analyses(rows, chosen.guard_events)
    except (TargetError, SourceError, DeployRepoError) as exc:
        raise UsageError(str(exc)) from None
    if args.json:
        print(json.dumps(rows_json(rows), indent=2))
    elif rows:
        print(render_table(rows, datetime.now(UTC)))
    else:
        print("no applications")
    return EXIT_OK
