"""The targets one console shows: each an AppSource to follow, plus what the console reads
beside it (the services' `/version` URLs, the deploy repo, the guard's event file) and what it
may do there (sync only through an Argo CD API).

Built from the same flags and files as `gitops status` (console.fleet.targets); several of
them make one fleet.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from console.fleet import targets as fleet_targets
from console.fleet.source import AppSource
from console.platforminfo import PlatformInfo, PlatformInfoError

Kind = Literal["workspace", "argocd", "context"]


@dataclass(frozen=True)
class ConsoleTarget:
    name: str  # unique in the console: the workspace's directory, the API's host, the context
    kind: Kind
    open: Callable[[], AppSource]  # raises SourceError (a CA bundle that does not load, ...)
    services: Mapping[str, str] = field(default_factory=dict)  # "<service>-<env>" -> base URL
    deploy_repo: str | None = None  # a path or URL; None: no commits, pins or rollbacks
    guard_events: Path | None = None  # the guard's JSON Lines file, when known

    @property
    def why_no_sync(self) -> str | None:
        """Why this target cannot sync, or None when it can."""
        if self.kind == "context":
            return (
                f"{self.name} is a kubeconfig context: the Kubernetes API cannot start a sync "
                "(use --argocd for this cluster's Argo CD)"
            )
        return None


def workspace(root: Path, *, deploy_repo: str | None = None) -> ConsoleTarget:
    """The embedded platform of a workspace; raises TargetError like `gitops status`."""
    base = fleet_targets.from_workspace(root, deploy_repo=deploy_repo)
    events: Path | None = None
    try:
        guard_events = PlatformInfo.read(root).guard_events
        events = Path(guard_events) if guard_events else None
    except PlatformInfoError:
        events = None  # from_workspace read it a moment ago; a guard file is optional anyway
    return ConsoleTarget(
        name=root.name or str(root),
        kind="workspace",
        open=base.open,
        services=base.services,
        deploy_repo=base.deploy_repo,
        guard_events=events,
    )


def argocd(base: fleet_targets.Target) -> ConsoleTarget:
    """An Argo CD API server (`fleet_targets.from_argocd`), named by its host."""
    host = urlsplit(base.name).netloc.rpartition("@")[2]
    return ConsoleTarget(
        name=host or base.name, kind="argocd", open=base.open, deploy_repo=base.deploy_repo
    )


def context(
    name: str, kubeconfig: Path | None = None, *, deploy_repo: str | None = None
) -> ConsoleTarget:
    base = fleet_targets.from_context(name, kubeconfig, deploy_repo=deploy_repo)
    return ConsoleTarget(name=name, kind="context", open=base.open, deploy_repo=base.deploy_repo)


def unique(targets: Sequence[ConsoleTarget]) -> list[ConsoleTarget]:
    """The targets with distinct names: a repeated one gets `#2`, `#3` (two contexts of the
    same name in different kubeconfigs)."""
    seen: dict[str, int] = {}
    out = []
    for target in targets:
        count = seen.get(target.name, 0) + 1
        seen[target.name] = count
        name = target.name if count == 1 else f"{target.name}#{count}"
        out.append(replace(target, name=name))
    return out
