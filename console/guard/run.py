"""Assembling a guard: where it watches (Argo CD, or the embedded platform of a workspace),
where it writes (the deploy repo), where it reports (events, /metrics), until `stop` is set."""

from __future__ import annotations

import asyncio
import shlex
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from console import tokenfile
from console.fleet.argocd import ArgoCDSource
from console.guard.analyzer import SampleProvider
from console.guard.controller import Guard
from console.guard.events import EventLog
from console.guard.http import create_guard_api
from console.guard.pods import PodsProvider
from console.guard.prometheus import PrometheusProvider, Queries, QueriesError
from console.guard.rollback import RollbackWriter
from console.platforminfo import PlatformInfo, PlatformInfoError
from console.serving import bind_socket, serve, socket_url

Progress = Callable[[str], None]


class GuardConfigError(ValueError):
    """Bad flags or files: the message names which."""


@dataclass(frozen=True)
class Target:
    argocd_url: str
    token: str
    deploy_repo: str
    workdir: Path
    events_path: Path | None = None
    verify: bool | str = True
    ssh_key: Path | None = None
    prometheus_url: str | None = None  # the analysis' `prometheus` provider reads there
    prometheus_queries: Queries = field(default_factory=Queries)  # --prometheus-queries FILE


def _read_token(path: Path) -> str:
    try:
        return tokenfile.read_token(path)
    except tokenfile.TokenFileError as exc:
        raise GuardConfigError(str(exc)) from None


def from_workspace(workspace: Path) -> Target:
    """The embedded platform `gitops up` runs on `workspace`, from its platform.json."""
    try:
        info = PlatformInfo.read(workspace)
        deploy = info.remotes["deploy"]
    except PlatformInfoError as exc:
        raise GuardConfigError(str(exc)) from None
    except KeyError:
        raise GuardConfigError(f"{info.path}: names no deploy remote") from None
    return Target(
        argocd_url=info.argocd_url,
        token=_read_token(info.token_file),
        deploy_repo=deploy,
        workdir=workspace / "guard",
        events_path=workspace / "guard" / "events.jsonl",
    )


def from_flags(
    argocd: str,
    token_file: str | None,
    deploy_repo: str | None,
    *,
    ssh_key: str | None = None,
    ca: str | None = None,
    insecure: bool = False,
    workdir: str | None = None,
    events: str | None = None,
    prometheus: str | None = None,
    prometheus_queries: str | None = None,
) -> Target:
    parts = urlsplit(argocd)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise GuardConfigError(f"--argocd {argocd}: expected http(s)://HOST[:PORT]")
    if not token_file:
        raise GuardConfigError("--token-file is required with --argocd")
    if not deploy_repo:
        raise GuardConfigError("--deploy-repo is required with --argocd")
    key = Path(ssh_key) if ssh_key else None
    if key is not None and not key.is_file():
        raise GuardConfigError(f"{key}: no such SSH key file (--ssh-key)")
    if ca and not Path(ca).is_file():
        raise GuardConfigError(f"{ca}: no such CA bundle (--ca)")
    if prometheus is not None:
        where = urlsplit(prometheus)
        if where.scheme not in ("http", "https") or not where.hostname:
            raise GuardConfigError(f"--prometheus {prometheus}: expected http(s)://HOST[:PORT]")
    try:
        queries = Queries.from_file(Path(prometheus_queries)) if prometheus_queries else Queries()
    except QueriesError as exc:
        raise GuardConfigError(str(exc)) from None
    return Target(
        argocd_url=argocd.rstrip("/"),
        token=_read_token(Path(token_file)),
        deploy_repo=deploy_repo,
        workdir=Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="gitops-guard-")),
        events_path=Path(events) if events else None,
        verify=False if insecure else (ca or True),
        ssh_key=key,
        prometheus_url=prometheus,
        prometheus_queries=queries,
    )


def git_env(ssh_key: Path | None) -> dict[str, str]:
    """Git's environment for pushing with a deploy key: that key only, the host key learnt on
    first use (a cluster's known_hosts can be mounted instead), never a prompt."""
    if ssh_key is None:
        return {"GIT_TERMINAL_PROMPT": "0"}
    ssh = [
        "ssh",
        "-i",
        str(ssh_key),
        "-o",
        "IdentitiesOnly=yes",
        "-o",
        "StrictHostKeyChecking=accept-new",
        "-o",
        "BatchMode=yes",
    ]
    return {"GIT_TERMINAL_PROMPT": "0", "GIT_SSH_COMMAND": shlex.join(ssh)}


DEFAULT_LISTEN = "0.0.0.0:9090"  # the manifest's `metrics` port
EVENTS_ENV = "GITOPS_GUARD_EVENTS"  # where to append the events, when --events-file is not given
PROMETHEUS_ENV = "GITOPS_GUARD_PROMETHEUS"  # the prometheus provider's URL, else --prometheus


def default_listen(environ: Mapping[str, str]) -> str:
    """Where the guard listens unless --listen says: PORT (and HOST, default 0.0.0.0) when the
    environment sets PORT, the twelve-factor way a platform hands a process its port (the
    embedded platform's pods get both); else 0.0.0.0:9090. HOST alone is not enough: some
    shells set it to the machine's name."""
    port = environ.get("PORT", "").strip()
    if not port:
        return DEFAULT_LISTEN
    return f"{environ.get('HOST', '').strip() or '0.0.0.0'}:{port}"  # noqa: S104 - a pod's port


def parse_listen(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise GuardConfigError(f"--listen {text}: expected HOST:PORT, e.g. 0.0.0.0:9090")
    return host or "0.0.0.0", int(port)  # noqa: S104 - the metrics port of a pod


async def run_guard(
    target: Target,
    stop: asyncio.Event,
    *,
    listen: tuple[str, int] = ("127.0.0.1", 0),
    progress: Progress = print,
    on_ready: Callable[[str], None] | None = None,
) -> None:
    """Run a guard on `target` until `stop` is set. `on_ready` gets the URL of its endpoint."""
    target.workdir.mkdir(parents=True, exist_ok=True)
    source = ArgoCDSource(
        target.argocd_url, target.token, name=target.argocd_url, verify=target.verify
    )
    writer = RollbackWriter(target.deploy_repo, target.workdir, env=git_env(target.ssh_key))
    # The pods' /metrics answer on the cluster's network, never through a proxy.
    scraper = httpx.AsyncClient(trust_env=False, follow_redirects=False)
    providers: dict[str, SampleProvider] = {"pods": PodsProvider(source, scraper)}
    if target.prometheus_url:
        providers["prometheus"] = PrometheusProvider(
            target.prometheus_url, source, scraper, target.prometheus_queries
        )
    guard = Guard(source, writer, events=EventLog(target.events_path), providers=providers)
    sock = bind_socket(*listen)
    url = socket_url(sock)
    server_stop = asyncio.Event()
    server = asyncio.create_task(
        serve(create_guard_api(guard), shutdown_event=server_stop, sock=sock)
    )
    progress(f"guard: watching {target.argocd_url}; metrics and events on {url}")
    if on_ready is not None:
        on_ready(url)
    try:
        await guard.run(stop)
    finally:
        server_stop.set()
        await server
        await source.aclose()
        await scraper.aclose()
