"""A `gitops up` workspace on disk: where each part keeps its files, the Service ports a resumed
platform serves on again, and the lock that keeps one platform per workspace."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Workspace:
    root: Path

    @property
    def remotes(self) -> Path:
        return self.root / "remotes"

    @property
    def token_file(self) -> Path:
        return self.root / "token"

    @property
    def kubeconfig(self) -> Path:
        return self.root / "kubeconfig"

    @property
    def platform_json(self) -> Path:
        return self.root / "platform.json"

    @property
    def guard_events(self) -> Path:
        """Where the guard's pod appends its events (it is told so through its environment)."""
        return self.root / "guard" / "events.jsonl"

    @property
    def secrets(self) -> Path:
        """What the bootstrap keeps to make the cluster's Secrets from (the deploy key), 0700."""
        return self.root / "secrets"

    @property
    def bootstrapped(self) -> Path:
        """Written once the first bootstrap finished: without it a start bootstraps (again)."""
        return self.root / ".bootstrapped"

    @property
    def service_ports_json(self) -> Path:
        return self.root / "service-ports.json"

    def load_service_ports(self) -> dict[tuple[str, str], int]:
        """The Service ports of the last run, so a resumed platform serves on the same ports."""
        try:
            doc = json.loads(self.service_ports_json.read_text(encoding="utf-8"))
            return {(str(ns), str(svc)): int(port) for ns, svc, port in doc}
        except (OSError, ValueError, TypeError):
            return {}

    def save_service_ports(self, ports: dict[tuple[str, str], int]) -> None:
        tmp = self.service_ports_json.with_suffix(".tmp")
        tmp.write_text(json.dumps(sorted([ns, svc, p] for (ns, svc), p in ports.items())))
        os.replace(tmp, self.service_ports_json)

    def make(self) -> None:
        for sub in ("remotes", "images", "runtime", "cache", "logs", "guard"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        self.secrets.mkdir(mode=0o700, exist_ok=True)

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """One platform per workspace: a second `gitops up` on it is refused, not run twice."""
        path = self.root / ".lock"
        with path.open("a+", encoding="utf-8") as fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                fh.seek(0)
                owner = fh.read().strip() or "another process"
                raise WorkspaceBusyError(
                    f"{self.root} is in use by `gitops up` (pid {owner}); stop it first"
                ) from None
            fh.seek(0)
            fh.truncate()
            fh.write(str(os.getpid()))
            fh.flush()
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)


class WorkspaceBusyError(RuntimeError):
    pass
