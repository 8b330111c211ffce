"""`gitops check`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from console.check.model import Result
from console.check.report import as_json, table
from console.check.runner import CheckUsageError, check_names, detect, run_matrix
from console.commands.common import EXIT_FAILED, EXIT_OK, UsageError, load


def _progress(result: Result) -> None:
    line = f"  {result.status.value:7} {result.repo} / {result.check} ({result.seconds}s)"
    print(line, file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    unknown = sorted(set(args.only) - set(check_names()))
    if unknown:
        raise UsageError(f"unknown check {', '.join(unknown)} (--only: {', '.join(check_names())})")
    if args.paths:
        paths = [Path(p) for p in args.paths]
    else:
        config, config_dir = load(args)
        paths = [config_dir / repo.destination for _, repo in config.repos.items()]
    try:
        repos = [detect(p) for p in paths]
    except CheckUsageError as exc:
        raise UsageError(str(exc)) from None
    crd_dir = Path(args.crd_dir) if args.crd_dir else None
    report = run_matrix(repos, crd_dir, _progress, only=args.only)
    print(as_json(report, args.strict) if args.json else table(report))
    return EXIT_FAILED if report.failed(args.strict) else EXIT_OK
