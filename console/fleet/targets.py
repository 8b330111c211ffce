"""Where the fleet is read from, as `gitops status` (and later the console) is told: the embedded
platform of a workspace (its platform.json), an Argo CD API server, or a kubeconfig context.

A Target says how to open its AppSource, which service URLs answer `/version`, and which deploy
repo holds its rollback commits. Problems with what the user gave (a missing platform.json, an
unreadable token file) are TargetErrors: one line that says what to fix.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from console import tokenfile
from console.fleet.argocd import ArgoCDSource
from console.fleet.kube import KubeSource
from console.fleet.model import App
from console.fleet.source import AppSource
from console.platforminfo import PlatformInfo, PlatformInfoError


class TargetError(ValueError):
    """A target that cannot be set up; the message names the flag or file."""


@dataclass(frozen=True)
class Target:
    name: str  # what messages call it: a URL, a context, a workspace
    open: Callable[[], AppSource]  # raises SourceError (a CA bundle that does not load, ...)
    services: Mapping[str, str] = field(default_factory=dict)  # "<service>-<env>" -> base URL
    deploy_repo: str | None = None  # a path or URL; None: rollbacks are not counted
    guard_events: Path | None = None  # the guard's JSON Lines events, when known


def _check_url(url: str, what: str) -> None:
    """Checked before anything is read: a bad URL is a usage error, not a failed read."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise TargetError(f"{what} {url}: not an http(s)://HOST[:PORT] URL")


def read_token(path: Path) -> str:
    try:
        return tokenfile.read_token(path)
    except tokenfile.TokenFileError as exc:
        raise TargetError(str(exc)) from None


def from_workspace(root: Path, *, deploy_repo: str | None = None) -> Target:
    """The embedded platform `gitops up --workspace root` runs, from its platform.json."""
    if not root.is_dir():
        raise TargetError(f"{root}: no such workspace directory")
    try:
        info = PlatformInfo.read(root)
    except PlatformInfoError as exc:
        raise TargetError(str(exc)) from None
    url, services = info.argocd_url, info.services
    deploy = deploy_repo or info.remotes.get("deploy")
    if not deploy:
        raise TargetError(f"{info.path}: names no deploy remote")
    _check_url(url, f"{info.path}: argocd_url")
    token = read_token(info.token_file)
    return Target(
        name=url,
        open=lambda: ArgoCDSource(url, token, name=root.name or str(root)),
        services=services,
        deploy_repo=deploy,
        guard_events=Path(info.guard_events) if info.guard_events else None,
    )


def from_argocd(
    url: str,
    token_file: Path,
    *,
    ca: Path | None = None,
    insecure: bool = False,
    deploy_repo: str | None = None,
) -> Target:
    """An Argo CD API server, with a bearer token from `token_file`."""
    _check_url(url, "--argocd")  # a usage error first, before the token is read
    token = read_token(token_file)
    verify: bool | str = False if insecure else (str(ca) if ca else True)
    return Target(
        name=url,
        open=lambda: ArgoCDSource(url, token, verify=verify),
        deploy_repo=deploy_repo,
    )


def from_context(
    context: str,
    kubeconfig: Path | None = None,
    *,
    namespace: str | None = None,
    deploy_repo: str | None = None,
) -> Target:
    """The Applications a kubeconfig context can read (every namespace unless `namespace`)."""
    return Target(
        name=f"context {context}",
        open=lambda: KubeSource(kubeconfig, context, namespace),
        deploy_repo=deploy_repo,
    )


def probe_urls(apps: list[App], services: Mapping[str, str]) -> dict[str, str]:
    """App name -> the base URL of the Service its `/version` answers on. platform.json keys
    Services `<service>-<namespace>`; an app's namespace is its destination (the env, here)."""
    urls: dict[str, str] = {}
    for app in apps:
        keys = [app.name]
        if app.service:
            keys[:0] = [f"{app.service}-{app.dest_namespace}", f"{app.service}-{app.env}"]
        url = next((services[k] for k in keys if k in services), None)
        if url is not None:
            urls[app.name] = url
    return urls
