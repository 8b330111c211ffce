"""`gitops scaffold` and `gitops update`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from console.commands.common import EXIT_FAILED, EXIT_OK, UsageError, load, progress, terminable
from console.scaffold import drift
from console.scaffold.render import ScaffoldError, scaffold
from console.scaffold.template_source import TemplateNotFoundError, TemplateSource, resolve
from console.scaffold.update import update_all


def _source(args: argparse.Namespace) -> TemplateSource:
    try:
        return resolve(args.template, args.vcs_ref)
    except TemplateNotFoundError as exc:
        raise UsageError(str(exc)) from None


def run_scaffold(args: argparse.Namespace) -> int:
    try:
        with terminable():
            return _scaffold(args)
    except ScaffoldError as exc:
        raise UsageError(str(exc)) from None


def _scaffold(args: argparse.Namespace) -> int:
    config, config_dir = load(args)
    source = _source(args)
    if args.check:
        drifts = drift.check(config, config_dir, source, progress)
        if drifts:
            print("the committed renderings drifted from the templates:", file=sys.stderr)
            for item in drifts:
                print(f"  {item}", file=sys.stderr)
            print("run `uv run gitops scaffold --refresh` and commit the result", file=sys.stderr)
            return EXIT_FAILED
        print("no drift: the committed renderings match the templates")
        return EXIT_OK
    if args.refresh:
        for path in drift.refresh(config, config_dir, source, progress):
            print(f"refreshed {path}")
        return EXIT_OK
    if args.dest is None:
        raise UsageError("scaffold needs --dest DIR (or --check / --refresh)")
    if source.has_uncommitted_changes():
        print(
            f"gitops: warning: {source.location} has uncommitted changes; the repos record a "
            "snapshot of them that `gitops update` cannot find later (commit first, or pass "
            "--vcs-ref TAG)",
            file=sys.stderr,
        )
    for repo in scaffold(config, source, Path(args.dest).expanduser().resolve(), progress):
        print(f"{repo.role.value:6} {repo.name:24} {repo.path}")
    return EXIT_OK


def run_update(args: argparse.Namespace) -> int:
    config, _ = load(args)
    dest = Path(args.dest).expanduser().resolve()
    try:
        with terminable():
            results = update_all(config, dest, args.vcs_ref, progress)
    except ScaffoldError as exc:
        raise UsageError(str(exc)) from None
    conflicts = False
    for res in results:
        state = f"{len(res.changed)} file(s) changed" if res.changed else "up to date"
        print(f"{res.name:24} {state}")
        for rej in res.conflicts:
            conflicts = True
            print(f"  conflict: {res.path / rej}")
    if any(r.changed for r in results):
        print("review with `git diff` in each repo, then commit")
    return EXIT_FAILED if conflicts else EXIT_OK
