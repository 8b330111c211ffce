"""`gitops console`: the operator console over one or several targets (docs/platform/console.md).

Targets are given in order and may repeat: `--workspace DIR`, `--argocd URL` (followed by its
`--token-file`, `--ca` or `--insecure`), `--context NAME` (followed by its `--kubeconfig`);
`--deploy-repo` goes with the target before it. Without any, the workspace `gitops up` used
last. Bad flags or files are one line and exit 2, checked before the screen opens.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from console.commands.common import EXIT_OK, UsageError

if TYPE_CHECKING:  # the parser is built for every command: the read side loads only for this one
    from console.tui.targets import ConsoleTarget

NO_TARGET = (
    "no workspace known: run `gitops up --workspace DIR`, or pass --workspace, --argocd or "
    "--context"
)


@dataclass
class Spec:
    """One target as the flags describe it, before any file is read."""

    kind: str  # workspace, argocd, context
    value: str  # the directory, URL or context name
    options: dict[str, Any] = field(default_factory=dict)


# Which target kind each option belongs to (None: any).
OPTION_OF = {
    "token_file": "argocd",
    "ca": "argocd",
    "insecure": "argocd",
    "kubeconfig": "context",
    "deploy_repo": None,
}


class SpecAction(argparse.Action):
    """A flag that adds to the targets parsed so far: `--workspace`, `--argocd`, `--context`
    start a new target; the options (OPTION_OF) belong to the target named before them
    (`--token-file` after `--argocd`, ...)."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: str | Sequence[Any] | None,
        option_string: str | None = None,
    ) -> None:
        specs: list[Spec] = list(getattr(namespace, "specs", None) or [])
        if self.dest not in OPTION_OF:
            namespace.specs = [*specs, Spec(self.dest, str(values))]
            return
        kind = OPTION_OF[self.dest]
        value: Any = True if self.nargs == 0 else str(values)
        if self.dest == "deploy_repo" and not specs:
            namespace.pending_deploy_repo = value  # for the default workspace
            return
        # Errors are kept for later: argparse would print its usage, and a raise here would
        # escape the CLI's handler; `targets` reports the first as one line.
        problems: list[str] = list(getattr(namespace, "problems", None) or [])
        if not specs or (kind is not None and specs[-1].kind != kind):
            problems.append(f"{option_string} goes after the --{kind or 'target'} it is for")
        elif self.dest in specs[-1].options:
            problems.append(
                f"{option_string} is given twice for --{specs[-1].kind} {specs[-1].value}"
            )
        else:
            specs[-1].options[self.dest] = value
        namespace.specs, namespace.problems = specs, problems


# The flags of `gitops console`: each target (repeatable) and the options of the target before
# them, as (flag, metavar, action, help); metavar None: a switch.
_FLAGS: tuple[tuple[str, str | None, type[argparse.Action], str], ...] = (
    ("--workspace", "DIR", SpecAction, "the embedded platform on DIR (repeatable)"),
    ("--argocd", "URL", SpecAction, "an Argo CD API server (repeatable; with its --token-file)"),
    ("--context", "NAME", SpecAction, "a kubeconfig context (repeatable)"),
    ("--token-file", "F", SpecAction, "the Argo CD API token of the --argocd before it"),
    ("--ca", "FILE", SpecAction, "a CA bundle for the --argocd before it"),
    ("--insecure", None, SpecAction, "do not verify the certificate of the --argocd before it"),
    (
        "--kubeconfig",
        "F",
        SpecAction,
        "the kubeconfig of the --context before it (default: $KUBECONFIG)",
    ),
    (
        "--deploy-repo",
        "PATH_OR_URL",
        SpecAction,
        "the deploy repo of the target before it (default: the workspace's)",
    ),
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    for flag, metavar, action, help_text in _FLAGS:
        if metavar is None:
            p.add_argument(flag, nargs=0, action=action, help=help_text)
        else:
            p.add_argument(flag, metavar=metavar, action=action, help=help_text)


def _path(value: Any) -> Path | None:
    return Path(str(value)).expanduser() if value else None


def build_target(spec: Spec) -> ConsoleTarget:
    from console.fleet import targets as fleet_targets  # noqa: PLC0415 - see the module imports
    from console.tui import targets as tui_targets  # noqa: PLC0415

    opts = spec.options
    deploy = opts.get("deploy_repo")
    if spec.kind == "workspace":
        return tui_targets.workspace(Path(spec.value).expanduser().absolute(), deploy_repo=deploy)
    if spec.kind == "argocd":
        token = _path(opts.get("token_file"))
        if token is None:
            raise UsageError(f"--argocd {spec.value} needs its --token-file")
        if opts.get("ca") and opts.get("insecure"):
            raise UsageError(f"--argocd {spec.value}: --ca and --insecure exclude each other")
        base = fleet_targets.from_argocd(
            spec.value,
            token,
            ca=_path(opts.get("ca")),
            insecure=bool(opts.get("insecure")),
            deploy_repo=deploy,
        )
        return tui_targets.argocd(base)
    return tui_targets.context(spec.value, _path(opts.get("kubeconfig")), deploy_repo=deploy)


def targets(args: argparse.Namespace) -> list[ConsoleTarget]:
    """The targets the flags name, checked; raises UsageError."""
    from console.fleet.targets import TargetError  # noqa: PLC0415 - see the module imports
    from console.local.last_workspace import recall  # noqa: PLC0415 - see the module imports
    from console.tui.targets import unique  # noqa: PLC0415 - see the module imports

    problems: list[str] = list(getattr(args, "problems", None) or [])
    if problems:
        raise UsageError(problems[0])
    specs: list[Spec] = list(getattr(args, "specs", None) or [])
    if not specs:
        workspace = recall()
        if workspace is None:
            raise UsageError(NO_TARGET)
        pending = getattr(args, "pending_deploy_repo", None)
        specs = [Spec("workspace", str(workspace), {"deploy_repo": pending} if pending else {})]
    try:
        built = [build_target(spec) for spec in specs]
    except TargetError as exc:
        raise UsageError(str(exc)) from None
    checked = unique(built)
    asyncio.run(_preflight(checked))
    return checked


async def _preflight(found: Sequence[ConsoleTarget]) -> None:
    """Open (and close) every source once: a CA bundle or kubeconfig that does not load is a
    usage error now, not a banner later. Servers are not contacted."""
    from console.fleet.source import SourceError  # noqa: PLC0415 - see the module imports

    for target in found:
        try:
            source = target.open()
        except (SourceError, ValueError) as exc:
            raise UsageError(str(exc)) from None
        await source.aclose()


def run(args: argparse.Namespace) -> int:
    from console.commands.placing import from_args  # noqa: PLC0415 - see the module imports
    from console.tui.app import ConsoleApp  # noqa: PLC0415 - Textual loads only for this command

    ConsoleApp(targets(args), placing=from_args(args)).run()
    return EXIT_OK
