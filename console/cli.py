"""`gitops`: the platform's one entry point.

Errors in what the user gave us (arguments, repos.yaml, destinations) print one clear message per
problem and exit 2; a failed check exits 1; nothing prints a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from console.check.model import Result
from console.check.report import as_json, table
from console.check.runner import CheckUsageError, check_names, detect, run_matrix
from console.config import ConfigError, PlatformConfig, load_config
from console.git import GitError
from console.gitpush import PushRejectedError, RetriesExhaustedError
from console.promote.overlay import OverlayError
from console.promote.promote import PromoteError, PromoteRequest, promote
from console.scaffold import drift
from console.scaffold.render import ScaffoldError, scaffold
from console.scaffold.template_source import TemplateNotFoundError, TemplateSource, resolve
from console.scaffold.update import update_all

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    """Bad input from the user: printed as `gitops: error: ...`, exit 2."""


def _progress(message: str) -> None:
    print(f"  {message}", file=sys.stderr, flush=True)


def _config(args: argparse.Namespace) -> tuple[PlatformConfig, Path]:
    path = Path(args.config)
    return load_config(path), path.resolve().parent


def _source(args: argparse.Namespace) -> TemplateSource:
    try:
        return resolve(args.template, args.vcs_ref)
    except TemplateNotFoundError as exc:
        raise UsageError(str(exc)) from None


def cmd_scaffold(args: argparse.Namespace) -> int:
    config, config_dir = _config(args)
    source = _source(args)
    if args.check:
        drifts = drift.check(config, config_dir, source, _progress)
        if drifts:
            print("the committed renderings drifted from the templates:", file=sys.stderr)
            for item in drifts:
                print(f"  {item}", file=sys.stderr)
            print("run `uv run gitops scaffold --refresh` and commit the result", file=sys.stderr)
            return EXIT_FAILED
        print("no drift: the committed renderings match the templates")
        return EXIT_OK
    if args.refresh:
        for path in drift.refresh(config, config_dir, source, _progress):
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
    for repo in scaffold(config, source, Path(args.dest).expanduser().resolve(), _progress):
        print(f"{repo.role.value:6} {repo.name:24} {repo.path}")
    return EXIT_OK


def cmd_update(args: argparse.Namespace) -> int:
    config, _ = _config(args)
    dest = Path(args.dest).expanduser().resolve()
    results = update_all(config, dest, args.vcs_ref, _progress)
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


def cmd_promote(args: argparse.Namespace) -> int:
    req = PromoteRequest(
        service=args.service,
        env=args.env,
        tag=args.tag,
        from_env=args.from_env,
        source_commit=args.source_commit,
        force=args.force,
    )
    try:
        out = promote(args.deploy_repo, req, push=args.push, attempts=args.attempts)
    except (PromoteError, OverlayError) as exc:
        raise UsageError(str(exc)) from None
    except (PushRejectedError, RetriesExhaustedError) as exc:
        print(f"gitops: promotion not pushed: {exc}", file=sys.stderr)
        return EXIT_FAILED
    if out.sha is None:
        print(f"{out.service} in {out.env} is already at {out.tag}: nothing to do")
        return EXIT_OK
    where = f"pushed after {out.attempts} attempt(s)" if out.pushed else "committed locally"
    print(
        f"promoted {out.service} {out.previous} -> {out.tag} in {out.env}: {out.sha[:12]} ({where})"
    )
    return EXIT_OK


def cmd_check(args: argparse.Namespace) -> int:
    if args.paths:
        paths = [Path(p) for p in args.paths]
    else:
        config, config_dir = _config(args)
        paths = [config_dir / repo.destination for _, repo in config.repos.items()]
    try:
        repos = [detect(p) for p in paths]
    except CheckUsageError as exc:
        raise UsageError(str(exc)) from None
    crd_dir = Path(args.crd_dir) if args.crd_dir else None

    def progress(result: Result) -> None:
        print(
            f"  {result.status.value:7} {result.repo} / {result.check} ({result.seconds}s)",
            file=sys.stderr,
            flush=True,
        )

    unknown = sorted(set(args.only) - set(check_names()))
    if unknown:
        raise UsageError(f"unknown check {', '.join(unknown)} (--only: {', '.join(check_names())})")
    report = run_matrix(repos, crd_dir, progress, only=args.only)
    print(as_json(report, args.strict) if args.json else table(report))
    return EXIT_FAILED if report.failed(args.strict) else EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gitops",
        description="A GitOps delivery platform: scaffold, run and watch deploy → fail → recover.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def common(p: argparse.ArgumentParser, template: bool = True) -> None:
        p.add_argument(
            "--config", default="repos.yaml", help="the polyrepo declaration (default: %(default)s)"
        )
        p.add_argument(
            "--vcs-ref", default=None, help="template git ref to render (tag, branch, sha)"
        )
        if not template:
            return
        p.add_argument(
            "--template",
            default=None,
            help="template path or git URL (default: this checkout at HEAD, with local changes)",
        )

    p = sub.add_parser("scaffold", help="render the infra, apps and deploy repos from repos.yaml")
    common(p)
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--dest", help="directory to create the three repos in")
    mode.add_argument(
        "--check", action="store_true", help="compare the committed renderings with the templates"
    )
    mode.add_argument(
        "--refresh", action="store_true", help="re-render the committed renderings in place"
    )
    p.set_defaults(func=cmd_scaffold)

    p = sub.add_parser(
        "update",
        help="run `copier update` over the generated repos (from the template source each records)",
    )
    common(p, template=False)
    p.add_argument("--dest", required=True, help="the directory `gitops scaffold --dest` created")
    p.set_defaults(func=cmd_update)

    p = sub.add_parser(
        "promote",
        help="pin an image tag in an environment's overlay of the deploy repo, as a commit",
        description="Edits overlays/ENV/SERVICE/kustomization.yaml and commits it. With --push it "
        "works on a fresh clone of the remote and pushes with fetch-rebase-retry; an HTTPS token "
        "is read from $GITOPS_GIT_TOKEN, never from the command line.",
    )
    p.add_argument("--deploy-repo", required=True, help="a deploy repo work tree, path or URL")
    p.add_argument("--env", required=True, help="the environment to promote into")
    p.add_argument("--service", required=True, help="the service whose image to pin")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--tag", help="the image tag (the full commit SHA CI built)")
    src.add_argument("--from-env", help="take the tag that environment runs")
    p.add_argument("--source-commit", help="apps-repo commit the image was built from (trailer)")
    p.add_argument("--push", action="store_true", help="push to the remote (retrying on a race)")
    p.add_argument("--force", action="store_true", help="promote a tag a rollback marked bad")
    p.add_argument("--attempts", type=int, default=5, help="push attempts (default: %(default)s)")
    p.set_defaults(func=cmd_promote)

    p = sub.add_parser(
        "check",
        help="run the offline validation matrix over generated repos",
        description="Lints, policy and schema checks, renders and tests, all offline. Exit 1 on "
        "any failure; a missing tool is skipped, and a failure with --strict.",
    )
    p.add_argument("paths", nargs="*", help="generated repos (default: those in --config)")
    p.add_argument("--config", default="repos.yaml", help="used when no PATH is given")
    p.add_argument("--crd-dir", help="a directory of CRDs to validate Argo CD objects against")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    p.add_argument("--strict", action="store_true", help="treat skipped checks as failures")
    p.add_argument(
        "--only", action="append", default=[], metavar="CHECK", help="run just this check (repeat)"
    )
    p.set_defaults(func=cmd_check)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code: int = args.func(args)
    except ConfigError as exc:
        print(exc.render(), file=sys.stderr)
        return EXIT_USAGE
    except GitError as exc:
        print(f"gitops: git failed: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except (UsageError, ScaffoldError) as exc:
        print(f"gitops: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("gitops: interrupted", file=sys.stderr)
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
