"""`platform.json`: how clients find the embedded platform `gitops up` runs on a workspace. One
type writes it (`gitops up`, once every Application was deployed) and every client reads it
(`gitops status`, the console, the drill, `gitops guard --workspace`).

    {"argocd_url": "http://127.0.0.1:PORT", "token_file": ".../token",
     "kubeconfig": ".../kubeconfig", "remotes": {"infra": URL, "apps": URL, "deploy": URL},
     "services": {"<service>-<namespace>": "http://127.0.0.1:PORT"}, "pid": PID,
     "guard_url": "http://127.0.0.1:PORT", "guard_events": ".../events.jsonl"}

The last two are absent when the platform runs without its guard. The file appears by one
rename of a complete file, and `gitops up` removes it before it stops serving, so a client that
reads one may trust it names a platform that was ready (`pid` tells whether it still runs).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from console import tokenfile

FILE = "platform.json"


class PlatformInfoError(ValueError):
    """No usable platform.json; the message names the file and what to do."""


@dataclass(frozen=True)
class PlatformInfo:
    argocd_url: str
    token_file: Path
    kubeconfig: Path
    remotes: dict[str, str]
    services: dict[str, str]
    pid: int
    guard_url: str = ""
    guard_events: str = ""
    path: Path = field(default=Path(FILE), compare=False)  # where it was read from

    @classmethod
    def read(cls, workspace: Path) -> PlatformInfo:
        """The workspace's platform.json; PlatformInfoError when it is missing or malformed."""
        path = workspace / FILE
        try:
            doc: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
            return cls(
                argocd_url=str(doc["argocd_url"]),
                token_file=Path(str(doc["token_file"])),
                kubeconfig=Path(str(doc.get("kubeconfig") or "")),
                remotes={str(k): str(v) for k, v in dict(doc["remotes"]).items()},
                services={str(k): str(v) for k, v in dict(doc.get("services") or {}).items()},
                pid=int(doc.get("pid") or 0),  # 0: not said (a hand-written file)
                guard_url=str(doc.get("guard_url") or ""),
                guard_events=str(doc.get("guard_events") or ""),
                path=path,
            )
        except FileNotFoundError:
            raise PlatformInfoError(
                f"{path}: not found; is `gitops up --workspace {workspace}` running?"
            ) from None
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise PlatformInfoError(
                f"{path}: not a platform.json ({type(exc).__name__}: {exc})"
            ) from None

    def token(self) -> str:
        """The API token from `token_file` (tokenfile.TokenFileError names the file)."""
        return tokenfile.read_token(self.token_file)

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "argocd_url": self.argocd_url,
            "token_file": str(self.token_file),
            "kubeconfig": str(self.kubeconfig),
            "remotes": dict(self.remotes),
            "services": dict(self.services),
            "pid": self.pid,
        }
        if self.guard_url:
            doc["guard_url"] = self.guard_url
        if self.guard_events:
            doc["guard_events"] = self.guard_events
        return doc

    def write(self, workspace: Path) -> Path:
        """Write it to the workspace in one rename of a complete file; its path."""
        path = workspace / FILE
        tmp = path.with_name(f".{FILE}.tmp")
        tmp.write_text(json.dumps(self.to_json(), indent=2) + "\n", encoding="utf-8")
        os.replace(tmp, path)
        return path
