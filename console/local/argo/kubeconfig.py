"""Credentials of the embedded platform's API: the bearer token, its 0600 file, and a kubeconfig
that the official `kubernetes` client (and kubectl) load to read the Applications.

The token is a secret: nothing here logs or prints it, and every file holding it is created
with mode 0600 from the start (never widened, never chmod-ed after the fact).
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

_MODE = 0o600


def new_token() -> str:
    """A fresh bearer token: 256 random bits, URL-safe."""
    return secrets.token_urlsafe(32)


def _write_private(path: Path, text: str, *, exclusive: bool) -> None:
    flags = os.O_WRONLY | os.O_CREAT | (os.O_EXCL if exclusive else os.O_TRUNC)
    flags |= getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(path, flags, _MODE)
    try:
        if os.fstat(fd).st_mode & 0o077:
            os.fchmod(fd, _MODE)  # an existing file (exclusive=False) may have been wider
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            fd = -1
            handle.write(text)
    finally:
        if fd >= 0:
            os.close(fd)


def write_token_file(path: str | os.PathLike[str], token: str) -> Path:
    """Write `token` to a new file readable by its owner only (0600). Refuses to overwrite an
    existing file (FileExistsError): a stale token file is removed deliberately, not clobbered."""
    if not token or "\n" in token:
        raise ValueError("a token is one non-empty line")
    target = Path(path)
    _write_private(target, token + "\n", exclusive=True)
    return target


def write_kubeconfig(
    path: str | os.PathLike[str],
    server_url: str,
    token: str,
    context: str = "gitops-local",
    namespace: str = "argocd",
) -> Path:
    """Write a kubeconfig (0600) with one cluster, user and context named `context`, the
    current context, whose default namespace is `namespace`, authenticating with `token`.

    `kubernetes.config.load_kube_config(config_file=path, context=context)` loads it, as does
    `kubectl --kubeconfig path`. JSON is valid YAML, so it is written as JSON. Replaces an
    existing file at `path`."""
    if not server_url.startswith(("http://", "https://")):
        raise ValueError(f"server URL {server_url!r} is not http(s)")
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "preferences": {},
        "clusters": [{"name": context, "cluster": {"server": server_url.rstrip("/")}}],
        "users": [{"name": context, "user": {"token": token}}],
        "contexts": [
            {
                "name": context,
                "context": {"cluster": context, "user": context, "namespace": namespace},
            }
        ],
        "current-context": context,
    }
    target = Path(path)
    tmp = target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp")
    _write_private(tmp, json.dumps(config, indent=2) + "\n", exclusive=True)
    try:
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return target
