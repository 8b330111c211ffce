"""An Application's resource tree (Argo CD's `v1alpha1ApplicationTree`) as the rows the tree
view lists: the app, its top-level resources, and below each its children by `parentRefs`
(Deployment → ReplicaSet → Pod), each with its health, status reason and restarts. Pure.

A Deployment's old ReplicaSets without pods (Argo CD keeps up to ten revisions) are left out:
they run nothing and would bury the ones that do."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from console.fleet.model import Health
from console.fleet.parse import MalformedError, parse_time
from console.fleet.tree import info, revision

_Key = tuple[str, str, str, str]  # group, kind, namespace, name


@dataclass(frozen=True)
class TreeRow:
    prefix: str  # the tree's drawing: "├─ ", "│  └─ "
    kind: str
    name: str
    namespace: str = ""
    health: Health | None = None
    status: str = ""  # a pod's Status Reason, else the health message
    restarts: int | None = None  # pods only
    ready: str = ""  # a pod's "Containers" info item: "1/1"
    created: datetime | None = None

    @property
    def is_pod(self) -> bool:
        return self.kind == "Pod"

    @property
    def key(self) -> str:
        return f"{self.kind}/{self.namespace}/{self.name}"


def _key(ref: Mapping[str, Any]) -> _Key:
    return (
        str(ref.get("group") or ""),
        str(ref.get("kind") or ""),
        str(ref.get("namespace") or ""),
        str(ref.get("name") or ""),
    )


def _health(node: Mapping[str, Any]) -> tuple[Health | None, str]:
    health = node.get("health")
    if not isinstance(health, Mapping):
        return None, ""
    try:
        status = Health(str(health.get("status") or ""))
    except ValueError:
        status = Health.UNKNOWN
    return status, str(health.get("message") or "")


def _created(node: Mapping[str, Any]) -> datetime | None:
    try:
        return parse_time(node.get("createdAt"))
    except MalformedError:
        return None


def _row(node: Mapping[str, Any], prefix: str) -> TreeRow:
    health, message = _health(node)
    kind = str(node.get("kind") or "")
    restarts: int | None = None
    status = message
    if kind == "Pod":
        count = info(node, "Restart Count")
        restarts = int(count) if count.isdigit() else 0
        reason = info(node, "Status Reason")
        status = f"{reason}: {message}" if reason and message else reason or message
    return TreeRow(
        prefix=prefix,
        kind=kind,
        name=str(node.get("name") or ""),
        namespace=str(node.get("namespace") or ""),
        health=health,
        status=status,
        restarts=restarts,
        ready=info(node, "Containers") if kind == "Pod" else "",
        created=_created(node),
    )


def tree_rows(
    app: str, tree: Mapping[str, Any], health: Health | None = None, message: str = ""
) -> list[TreeRow]:
    """The app's row, then its resources depth first, children under their parents. Nodes
    whose parents the tree does not hold, or whose parentRefs go round in a cycle, are shown
    at the top level: nothing is lost."""
    nodes = [n for n in tree.get("nodes") or [] if isinstance(n, Mapping) and n.get("kind")]
    keys = {_key(n) for n in nodes}
    children: dict[_Key, list[Mapping[str, Any]]] = {}
    top: list[Mapping[str, Any]] = []
    for node in nodes:
        parents = [_key(ref) for ref in node.get("parentRefs") or [] if isinstance(ref, Mapping)]
        parent = next((p for p in parents if p in keys), None)
        if parent is None:
            top.append(node)
        else:
            children.setdefault(parent, []).append(node)
    rows = [TreeRow("", "Application", app, health=health, status=message)]
    seen: set[_Key] = set()

    def visible(kids: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
        # The empty ReplicaSets of earlier revisions: history, not what runs.
        sets = [k for k in kids if k.get("kind") == "ReplicaSet"]
        newest = max(((revision(k) or 0) for k in sets), default=0)
        out = []
        for kid in kids:
            old = kid.get("kind") == "ReplicaSet" and (revision(kid) or 0) < newest
            if old and not children.get(_key(kid)):
                seen.add(_key(kid))  # left out on purpose, not lost
            else:
                out.append(kid)
        return out

    def walk(kids: Sequence[Mapping[str, Any]], indent: str) -> None:
        shown = visible(kids)
        for i, node in enumerate(shown):
            key = _key(node)
            if key in seen:  # a cycle of parentRefs: each node once
                continue
            seen.add(key)
            last = i == len(shown) - 1
            rows.append(_row(node, indent + ("└─ " if last else "├─ ")))
            walk(children.get(key, []), indent + ("   " if last else "│  "))

    walk(top, "")
    rest = [n for n in nodes if _key(n) not in seen]
    if rest:  # in a cycle of parentRefs, with no root to hang from: shown at the top level
        walk(rest, "")
    return rows
