"""What a cluster holds that is not in Git, created by the embedded platform the way the infra
repo's bootstrap creates it on EKS: objects applied into the runtime on every start, owned by no
Application (so no app shows, prunes or claims them), from what the workspace keeps.

- **The guard's Secrets** (the deploy repo's platform/guard/kustomization.yaml says they are not
  in Git): `gitops-guard-argocd-token` (`token`: the platform's API token) and
  `gitops-guard-deploy-key` (`ssh-privatekey` and `known_hosts`: a deploy key generated once per
  workspace, 0600 under `secrets/`, never printed). The guard's pod mounts them as files.
- **The API server's Service**: `argocd-server` in the Argo CD namespace, without a selector,
  and an EndpointSlice naming the API server's address, as a cluster has it. Pods reach the API
  by its cluster name (`http://argocd-server.argocd.svc.cluster.local`) through the Service's
  stable port, which keeps working when the platform restarts on another API port: the slice
  is applied again with the new one.
- **The network's Git names** (`network_env`): the embedded Git host serves bare repositories by
  path, so each repository's real URLs (HTTPS and SSH, as the deploy repo writes them) are
  mapped to its path with git's own `url.<base>.insteadOf`, passed to every pod through the
  environment. A pod's push goes to the bare repository and through its pre-receive gate.

Applied again on every start, they survive restarts by being derived from the workspace; the
runtime prunes whatever an earlier start applied and this one does not.
"""

from __future__ import annotations

import base64
import logging
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from console.config import PlatformConfig
from console.local.kube.endpointslices import SERVICE_NAME_LABEL
from console.local.kube.runtime import ApplyResult

log = logging.getLogger(__name__)

OWNER = "(bootstrap)"  # not a valid Application name: no app can own or prune these objects
TOKEN_SECRET = "gitops-guard-argocd-token"  # noqa: S105 - a name (platform/guard/deployment.yaml)
DEPLOY_KEY_SECRET = "gitops-guard-deploy-key"  # noqa: S105 - a Secret's name
ARGOCD_SERVICE = "argocd-server"
ARGOCD_PORT = 80  # the Service port the guard's `--argocd http://argocd-server...` implies
_LABELS = {"app.kubernetes.io/managed-by": "gitops-up", "app.kubernetes.io/part-of": "bootstrap"}
# The embedded Git host is reached by path, not over SSH: there is no host key to know.
KNOWN_HOSTS = "# the embedded Git host serves bare repositories by path: no SSH host keys\n"


class BootstrapError(RuntimeError):
    """The bootstrap objects cannot be made or applied; the message says why."""


class Applier(Protocol):
    """The runtime, as console.local.kube.processes.ProcessRuntime offers it."""

    async def apply(
        self, app: str, namespace: str, objects: Sequence[Mapping[str, Any]], prune: bool
    ) -> list[ApplyResult]: ...


def deploy_key(directory: Path) -> Path:
    """The workspace's deploy key (`<directory>/deploy-key`, 0600, its `.pub` beside it),
    generated with ssh-keygen the first time."""
    key = directory / "deploy-key"
    if key.is_file():
        return key
    keygen = shutil.which("ssh-keygen")
    if keygen is None:
        raise BootstrapError("ssh-keygen not found: the guard's deploy key is generated with it")
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = directory / ".deploy-key.tmp"
    for stale in (tmp, tmp.with_name(tmp.name + ".pub")):
        stale.unlink(missing_ok=True)
    done = subprocess.run(
        [keygen, "-q", "-t", "ed25519", "-N", "", "-C", "gitops-guard@gitops-up", "-f", str(tmp)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise BootstrapError(f"ssh-keygen failed ({done.returncode}): {done.stderr.strip()}")
    tmp.chmod(0o600)
    tmp.with_name(tmp.name + ".pub").replace(key.with_name(key.name + ".pub"))
    tmp.replace(key)  # last: a key file is complete or absent
    return key


def _secret(name: str, namespace: str, data: Mapping[str, str], type_: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": namespace, "labels": dict(_LABELS)},
        "type": type_,
        "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()},
    }


def objects(
    config: PlatformConfig, *, api_host: str, api_port: int, token: str, key: Path
) -> list[dict[str, Any]]:
    """The objects the platform's bootstrap applies (see the module docstring)."""
    guard_ns, argocd_ns = config.guard.namespace, config.argocd.namespace
    return [
        _secret(TOKEN_SECRET, guard_ns, {"token": token}, "Opaque"),
        _secret(
            DEPLOY_KEY_SECRET,
            guard_ns,
            {"ssh-privatekey": key.read_text(encoding="utf-8"), "known_hosts": KNOWN_HOSTS},
            "kubernetes.io/ssh-auth",
        ),
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": ARGOCD_SERVICE, "namespace": argocd_ns, "labels": dict(_LABELS)},
            # No selector: its endpoints are the slice below, not pods.
            "spec": {
                "ports": [
                    {"name": "http", "port": ARGOCD_PORT, "targetPort": 8080, "protocol": "TCP"}
                ]
            },
        },
        {
            "apiVersion": "discovery.k8s.io/v1",
            "kind": "EndpointSlice",
            "metadata": {
                "name": f"{ARGOCD_SERVICE}-api",
                "namespace": argocd_ns,
                "labels": {**_LABELS, SERVICE_NAME_LABEL: ARGOCD_SERVICE},
            },
            "addressType": "IPv6" if ":" in api_host else "IPv4",
            "endpoints": [{"addresses": [api_host], "conditions": {"ready": True}}],
            "ports": [{"name": "http", "port": api_port, "protocol": "TCP"}],
        },
    ]


async def apply(runtime: Applier, objs: Sequence[Mapping[str, Any]]) -> None:
    """Apply `objs` as the bootstrap's (pruning what an earlier start applied and these do not
    name); BootstrapError naming what failed."""
    results = await runtime.apply(OWNER, "default", objs, True)
    failed = [
        f"{r.key.kind} {r.key.namespace}/{r.key.name}: {r.message}" for r in results if not r.ok
    ]
    if failed:
        raise BootstrapError("bootstrap objects refused: " + "; ".join(failed))


def ssh_url(git_host: str, path: str) -> str:
    """The SSH spelling of `<git_host>/<path>` (`git@github.com:acme/x.git`), as the deploy
    template writes the guard's `--deploy-repo`."""
    host = git_host.split("://", 1)[-1].split("/", 1)[0].split(":", 1)[0]
    return f"git@{host}:{path}"


def network_env(repos: Mapping[str, str], git_host: str, org: str) -> dict[str, str]:
    """Git configuration, through the environment (GIT_CONFIG_COUNT/KEY/VALUE), that sends each
    repository's real URLs (`https://<host>/<org>/<name>.git` and its SSH spelling) to its local
    path. `repos`: name -> local path (what the Git host serves)."""
    pairs: list[tuple[str, str]] = []
    for name, local in sorted(repos.items()):
        https = f"{git_host.rstrip('/')}/{org}/{name}.git"
        for url in (https, ssh_url(git_host, f"{org}/{name}.git")):
            pairs.append((f"url.{local}.insteadOf", url))
    env = {"GIT_CONFIG_COUNT": str(len(pairs))}
    for i, (key, value) in enumerate(pairs):
        env[f"GIT_CONFIG_KEY_{i}"], env[f"GIT_CONFIG_VALUE_{i}"] = key, value
    return env
