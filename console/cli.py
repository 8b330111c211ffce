"""`gitops`: the platform's one entry point.

Errors in what the user gave us (arguments, repos.yaml, destinations) print one clear message per
problem and exit 2; a failed check exits 1; nothing prints a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import signal
import sys
from collections.abc import Callable, Sequence
from typing import Any

from console.commands.common import EXIT_FAILED, EXIT_USAGE, Terminated, UsageError
from console.config import ConfigError
from console.git import GitError

Handler = Callable[[argparse.Namespace], int]


def _lazy(module: str, function: str = "run") -> Handler:
    """A handler that imports its command module only when the command runs."""

    def handler(args: argparse.Namespace) -> int:
        result: int = getattr(importlib.import_module(f"console.commands.{module}"), function)(args)
        return result

    return handler


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
    p.set_defaults(func=_lazy("scaffold", "run_scaffold"))

    p = sub.add_parser(
        "update",
        help="run `copier update` over the generated repos (from the template source each records)",
    )
    common(p, template=False)
    p.add_argument("--dest", required=True, help="the directory `gitops scaffold --dest` created")
    p.set_defaults(func=_lazy("scaffold", "run_update"))

    p = sub.add_parser(
        "promote",
        help="pin an image tag in an environment's overlay of the deploy repo, as a commit",
        description="Edits overlays/ENV/SERVICE/kustomization.yaml and commits it. With --push it "
        "works on a fresh clone of the remote and pushes with fetch-rebase-retry; an HTTPS token "
        "is read from $GITOPS_GIT_TOKEN, never from the command line.",
    )
    p.add_argument("--deploy-repo", required=True, help="a deploy repo work tree, path or URL")
    p.add_argument("--env", required=True, help="the environment to promote into")
    p.add_argument(
        "--service",
        required=True,
        action="append",
        help="the service whose image to pin; repeat it to promote several in one commit",
    )
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--tag", help="the image tag (the full commit SHA CI built)")
    src.add_argument("--from-env", help="take the tag that environment runs")
    p.add_argument("--source-commit", help="apps-repo commit the image was built from (trailer)")
    p.add_argument("--push", action="store_true", help="push to the remote (retrying on a race)")
    p.add_argument("--force", action="store_true", help="promote a tag a rollback marked bad")
    p.add_argument("--attempts", type=int, default=5, help="push attempts (default: %(default)s)")
    p.set_defaults(func=_lazy("promote"))

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
    p.set_defaults(func=_lazy("check"))

    _add_demo(sub)
    _add_up(sub)
    _add_guard(sub)
    _add_status(sub)
    _add_console(sub)
    return parser


def _add_demo(sub: Any) -> None:
    p = sub.add_parser(
        "demo",
        help="the drill: deploy, push a change that breaks readiness, watch the platform roll back",
        description="Starts the embedded platform on a workspace, deploys the known-good version, "
        "pushes a change to the apps repo that passes CI but never becomes ready once deployed, "
        "and watches the rollout halt, the guard roll back in Git and the known-good version "
        "serve again, under load. Prints the timeline and writes a post-mortem under the "
        "workspace. Exit 0 only when the known-good version runs again, one rollback commit "
        "exists and no request failed; 1 otherwise; 2 for usage errors; 130 when interrupted. "
        "That is the default scenario, readiness: --scenario picks another failure, --all runs "
        "every scenario in a row on one platform (the game day) and prints one table.",
    )
    p.add_argument(
        "--workspace",
        metavar="DIR",
        help="the workspace to use or create (default: a new one under "
        "$XDG_STATE_HOME/gitops/demos/)",
    )
    p.add_argument("--config", default="repos.yaml", help="the polyrepo declaration")
    p.add_argument(
        "--headless", action="store_true", help="print the steps as they happen (no console)"
    )
    p.add_argument("--json", action="store_true", help="end stdout with one line of JSON")
    p.add_argument("--keep", action="store_true", help="leave the platform running after the drill")
    which = p.add_mutually_exclusive_group()
    which.add_argument(
        "--scenario",
        metavar="NAME",
        default="readiness",
        help="the failure to rehearse: readiness (default), crashloop, bad-image, "
        "broken-manifest, platform-crash, error-rate, latency, healthy (docs/platform/drill.md)",
    )
    which.add_argument(
        "--all",
        action="store_true",
        help="the game day: every scenario the platform supports, in a row on one platform, "
        "and one table",
    )
    p.add_argument(
        "--with-analysis",
        action="store_true",
        help="with --all: also the scenarios that need the guard's metric analysis",
    )
    p.set_defaults(func=_lazy("demo"))


def _add_up(sub: Any) -> None:
    p = sub.add_parser(
        "up",
        help="run the embedded platform (Git host, CI, registry, Argo CD, pods) in the foreground",
    )
    p.add_argument("--workspace", required=True, help="where remotes, images, state and logs live")
    p.add_argument("--config", default="repos.yaml", help="the polyrepo declaration")
    p.add_argument(
        "--poll-seconds", type=float, default=180.0, help="Git polling fallback (default: 180)"
    )
    p.add_argument(
        "--port",
        type=int,
        default=0,
        help="the API's port on 127.0.0.1 (default: any free one; platform.json names it)",
    )
    p.add_argument(
        "--no-guard",
        action="store_true",
        help="do not start the rollback controller (run `gitops guard --workspace` yourself)",
    )
    p.set_defaults(func=_lazy("up"))


def _add_guard(sub: Any) -> None:
    p = sub.add_parser(
        "guard",
        help="the rollback controller: roll an unhealthy app back by a commit to the deploy repo",
    )
    target = p.add_mutually_exclusive_group(required=True)
    target.add_argument(
        "--workspace", help="guard the embedded platform `gitops up` runs on this workspace"
    )
    target.add_argument("--argocd", metavar="URL", help="the Argo CD API server to watch")
    p.add_argument("--token-file", help="a file holding the Argo CD API token (with --argocd)")
    p.add_argument("--deploy-repo", metavar="URL", help="the deploy repo to write rollbacks to")
    p.add_argument("--ssh-key", help="the deploy key to push with (an SSH private key file)")
    tls = p.add_mutually_exclusive_group()
    tls.add_argument("--ca", help="a CA bundle to verify Argo CD's certificate with")
    tls.add_argument("--insecure", action="store_true", help="do not verify Argo CD's certificate")
    p.add_argument(
        "--listen",
        default=None,
        metavar="HOST:PORT",
        help="where /metrics, /healthz, /readyz and /events answer (default: $HOST:$PORT when "
        "PORT is set, else 0.0.0.0:9090; with --workspace 127.0.0.1 on any free port)",
    )
    p.add_argument("--workdir", help="where the guard keeps its clone (default: a temp dir)")
    p.add_argument(
        "--events-file",
        metavar="FILE",
        help="append the events to this JSON Lines file too (default: $GITOPS_GUARD_EVENTS; "
        "with --workspace its guard/events.jsonl)",
    )
    p.add_argument(
        "--prometheus",
        metavar="URL",
        help="a Prometheus HTTP API for apps whose analysis-provider is prometheus "
        "(default: $GITOPS_GUARD_PROMETHEUS)",
    )
    p.add_argument(
        "--prometheus-queries",
        metavar="FILE",
        help="YAML: the PromQL of requests, errors, buckets and started, each with {selector} "
        "for the pods (default: the probe services' metric names)",
    )
    p.set_defaults(func=_lazy("guard"))


class _Once(argparse.Action):
    """A flag that names the one target: given again, it is noted (in `repeated`) for the
    command to refuse, instead of the last one silently winning."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        if getattr(namespace, self.dest, None) is not None:
            earlier = getattr(namespace, "repeated", None) or []
            namespace.repeated = [*earlier, option_string or self.dest]
        setattr(namespace, self.dest, values)


def _add_status(sub: Any) -> None:
    p = sub.add_parser(
        "status",
        help="every Application: sync, health, Git revision, image, live version, rollbacks",
        description="Reads one target: the embedded platform of a workspace (default: the last "
        "one `gitops up` used), an Argo CD API server, or a kubeconfig context. Exit 2, with one "
        "line, when it cannot be read.",
    )
    target = p.add_mutually_exclusive_group()
    target.add_argument(
        "--workspace", metavar="DIR", action=_Once, help="the embedded platform on DIR"
    )
    target.add_argument("--argocd", metavar="URL", action=_Once, help="an Argo CD API server")
    target.add_argument("--context", metavar="NAME", action=_Once, help="a kubeconfig context")
    p.add_argument(
        "--token-file", metavar="F", action=_Once, help="the Argo CD API token (with --argocd)"
    )
    tls = p.add_mutually_exclusive_group()
    tls.add_argument("--ca", metavar="FILE", help="a CA bundle for Argo CD's certificate")
    tls.add_argument("--insecure", action="store_true", help="do not verify Argo CD's certificate")
    p.add_argument("--kubeconfig", metavar="F", help="with --context (default: $KUBECONFIG)")
    p.add_argument(
        "--namespace", metavar="NS", help="with --context: read this namespace only (default: all)"
    )
    p.add_argument(
        "--deploy-repo",
        metavar="PATH_OR_URL",
        help="count rollback commits in this deploy repo (default: the workspace's)",
    )
    p.add_argument("--json", action="store_true", help="print the rows as JSON")
    _add_placing(p)
    p.set_defaults(func=_lazy("status"))


def _add_placing(p: argparse.ArgumentParser) -> None:
    from console.commands import placing  # noqa: PLC0415 - light; keeps cli small

    placing.add_arguments(p)


def _add_console(sub: Any) -> None:
    from console.commands.console import add_arguments  # noqa: PLC0415 - light; keeps cli small

    p = sub.add_parser(
        "console",
        help="the operator console: the fleet, app details, rollbacks, events; sync, rollback, "
        "promote",
        description="A terminal UI over one or several targets: embedded platforms (--workspace, "
        "default: the last one `gitops up` used), Argo CD API servers (--argocd URL --token-file "
        "F) and kubeconfig contexts (--context NAME). Repeat them to see one fleet.",
    )
    add_arguments(p)
    _add_placing(p)
    p.set_defaults(func=_lazy("console"))


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
    except UsageError as exc:
        print(f"gitops: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except Terminated as exc:
        print(f"gitops: interrupted by {signal.Signals(exc.signum).name}", file=sys.stderr)
        return 128 + exc.signum
    except KeyboardInterrupt:
        print("gitops: interrupted", file=sys.stderr)
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
