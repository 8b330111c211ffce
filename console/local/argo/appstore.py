"""What the controller keeps of each Application across restarts, and where it keeps it.

On a cluster this lives in etcd: the Application's status (history, operation state) and the
objects it applied, which keep running while Argo CD restarts. The embedded platform has no
etcd and its pods die with it, so the controller saves a `SavedApp` after every operation and a
restarted platform restores it: the history and operation state come back as they were, and the
runtime re-creates the applied objects (the pods restart) instead of the controller deploying
them again, which would add a history entry for a revision that was already deployed.

Monotonic times do not survive a restart, so a restored last operation counts as finished at
restore time (a failed sync's retry backoff starts again from there), and an operation that was
still running when the platform died is forgotten: the app is compared afresh and synced again
if it is out of sync, as Argo CD resumes an interrupted operation.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from console.application import OperationState, RevisionHistory
from console.local.argo.sync import ObjectKey, Phase, SyncAttempt
from console.local.state import State

FORMAT = 1  # bump when the document's shape changes incompatibly


@dataclass(frozen=True)
class SavedApp:
    manifest: Mapping[str, Any]
    history: tuple[RevisionHistory, ...] = ()
    operation_state: OperationState | None = None
    # Its monotonic times are not kept (0.0 and None when loaded): the restore sets them.
    last_op: SyncAttempt | None = None
    applied: tuple[Mapping[str, Any], ...] = ()  # the objects the runtime was given
    applied_children: Mapping[ObjectKey, str] = field(default_factory=dict)  # the root's


class AppStore(Protocol):
    def save(self, name: str, app: SavedApp) -> None: ...

    def delete(self, name: str) -> None: ...

    def load(self) -> dict[str, SavedApp]: ...


class CorruptStateError(ValueError):
    """A stored document cannot be read back; the message names the app and the field."""


def _plain(obj: Mapping[str, Any]) -> dict[str, Any]:
    """A deep, JSON-only copy (manifests may be ruamel's commented maps)."""
    out: dict[str, Any] = json.loads(json.dumps(obj))
    return out


def to_doc(app: SavedApp) -> dict[str, Any]:
    op = app.last_op
    return {
        "format": FORMAT,
        "manifest": _plain(app.manifest),
        "history": [h.to_json() for h in app.history],
        "operationState": app.operation_state.to_json() if app.operation_state else None,
        "lastOperation": (
            {
                "revision": op.revision,
                "phase": op.phase.value,
                "message": op.message,
                "automated": op.automated,
                "username": op.username,
                "retryCount": op.retry_count,
            }
            if op is not None
            else None
        ),
        "applied": [_plain(o) for o in app.applied],
        "appliedChildren": [
            [k.group, k.kind, k.namespace, k.name, fp]
            for k, fp in sorted(app.applied_children.items())
        ],
    }


def from_doc(name: str, doc: Mapping[str, Any]) -> SavedApp:
    where = f"application {name!r}"
    try:
        if doc.get("format") != FORMAT:
            raise ValueError(f"format {doc.get('format')!r} is not {FORMAT}")
        op = doc.get("lastOperation")
        state = doc.get("operationState")
        manifest = doc["manifest"]
        if not isinstance(manifest, dict):
            raise ValueError("manifest is not an object")
        history = tuple(RevisionHistory.from_json(h) for h in doc.get("history") or [])
        operation_state = OperationState.from_json(state) if state is not None else None
        # The model reads any Argo CD's answer leniently; what we saved ourselves is complete.
        if any(h.deployed_at is None for h in history):
            raise ValueError("history[].deployedAt is missing")
        if operation_state is not None and operation_state.started_at is None:
            raise ValueError("operationState.startedAt is missing")
        return SavedApp(
            manifest=manifest,
            history=history,
            operation_state=operation_state,
            last_op=(
                SyncAttempt(
                    revision=str(op["revision"]),
                    phase=Phase(op["phase"]),
                    started_at=0.0,
                    message=str(op.get("message") or ""),
                    automated=bool(op.get("automated", True)),
                    username=str(op.get("username") or ""),
                    retry_count=int(op.get("retryCount") or 0),
                )
                if op is not None
                else None
            ),
            applied=tuple(dict(o) for o in doc.get("applied") or []),
            applied_children={
                ObjectKey(str(g), str(k), str(ns), str(n)): str(fp)
                for g, k, ns, n, fp in doc.get("appliedChildren") or []
            },
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise CorruptStateError(f"{where}: {exc}") from None


class SqliteAppStore:
    """Saved apps in the workspace's state.db (`applications` table)."""

    def __init__(self, state: State) -> None:
        self.state = state

    def save(self, name: str, app: SavedApp) -> None:
        self.state.save_application(name, to_doc(app))

    def delete(self, name: str) -> None:
        self.state.delete_application(name)

    def load(self) -> dict[str, SavedApp]:
        return {name: from_doc(name, doc) for name, doc in self.state.applications().items()}


class MemoryAppStore:
    """Saved apps in a dict, round-tripped through the document form as SQLite would."""

    def __init__(self) -> None:
        self.docs: dict[str, dict[str, Any]] = {}

    def save(self, name: str, app: SavedApp) -> None:
        self.docs[name] = to_doc(app)

    def delete(self, name: str) -> None:
        self.docs.pop(name, None)

    def load(self) -> dict[str, SavedApp]:
        return {name: from_doc(name, doc) for name, doc in self.docs.items()}
