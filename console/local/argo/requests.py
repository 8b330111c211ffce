"""What users ask for through the API, handed to the controller in order: a sync (a wake-up: the
Application's `operation`, set at the same time, is the request itself, as in Argo CD), a
refresh, or a Git host's push event."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TypeAlias


@dataclass(frozen=True)
class SyncRequest:
    app: str
    revision: str | None
    prune: bool
    dry_run: bool
    initiated_by: str
    sync_options: tuple[str, ...] = ()


@dataclass(frozen=True)
class RefreshRequest:
    app: str
    hard: bool


@dataclass(frozen=True)
class WebhookDelivery:
    body: bytes
    headers: tuple[tuple[str, str], ...]
    received_at: datetime

    def header(self, name: str) -> str | None:
        wanted = name.lower()
        return next((v for k, v in self.headers if k.lower() == wanted), None)


Request: TypeAlias = SyncRequest | RefreshRequest | WebhookDelivery
