"""What an Application's resource tree (Argo CD's `v1alpha1ApplicationTree`) says about its pods:
the ones that cannot run. Argo CD's app health only aggregates the top-level resources, so a
Deployment whose new pods cannot pull their image stays Progressing until its deadline; the tree
shows the pods Degraded at once (gitops-engine: a waiting reason starting with "Err" or ending in
"Error" or "BackOff")."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ResourceRef:
    """One live object of an app, as Argo CD names it (`v1alpha1ResourceRef`)."""

    kind: str
    namespace: str
    name: str
    version: str = "v1"
    group: str = ""


@dataclass(frozen=True)
class PodProblem:
    pod: str
    reason: str  # the "Status Reason" info item: ImagePullBackOff, CrashLoopBackOff, ...
    message: str = ""

    def __str__(self) -> str:
        detail = f": {self.message}" if self.message else ""
        return f"pod {self.pod} {self.reason}{detail}"


def info(node: Mapping[str, Any], name: str) -> str:
    """A tree node's info item `name` ("Status Reason", "Revision", ...); "" when absent."""
    for item in node.get("info") or []:
        if isinstance(item, Mapping) and item.get("name") == name:
            return str(item.get("value") or "")
    return ""


def revision(node: Mapping[str, Any]) -> int | None:
    """A ReplicaSet's `Rev:N` info item (its deployment.kubernetes.io/revision), as a number."""
    value = info(node, "Revision").removeprefix("Rev:")
    return int(value) if value.isdigit() else None


def _parent(node: Mapping[str, Any], kind: str) -> str:
    for ref in node.get("parentRefs") or []:
        if isinstance(ref, Mapping) and ref.get("kind") == kind:
            return str(ref.get("name") or "")
    return ""


def _old_replica_sets(nodes: list[Any]) -> set[str]:
    """ReplicaSets that are not their Deployment's newest (by revision): the pods of an earlier
    template. A tree without revisions marks none old."""
    newest: dict[str, int] = {}
    revisions: dict[str, tuple[str, int]] = {}
    for node in nodes:
        if isinstance(node, Mapping) and node.get("kind") == "ReplicaSet":
            rev = revision(node)
            if rev is not None:
                owner = _parent(node, "Deployment")
                revisions[str(node.get("name") or "")] = (owner, rev)
                newest[owner] = max(newest.get(owner, rev), rev)
    return {name for name, (owner, rev) in revisions.items() if rev < newest[owner]}


def current_pods(tree: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    """(namespace, name) of the pods of a tree's newest templates: the revision the app runs
    now, without the pods a rollout is replacing."""
    nodes = list(tree.get("nodes") or [])
    old = _old_replica_sets(nodes)
    return tuple(
        (str(node.get("namespace") or ""), str(node.get("name") or ""))
        for node in nodes
        if isinstance(node, Mapping)
        and node.get("kind") == "Pod"
        and node.get("name")
        and _parent(node, "ReplicaSet") not in old
    )


def failing_pods(tree: Mapping[str, Any]) -> tuple[PodProblem, ...]:
    """The Degraded pods of a tree's newest templates, in its order: a revision is judged by the
    pods of its own template, never by those a rollout (or a rollback) is replacing. Anything
    malformed is skipped (a tree is a hint for the guard, never a reason to fail)."""
    out = []
    nodes = list(tree.get("nodes") or [])
    old = _old_replica_sets(nodes)
    for node in nodes:
        if not isinstance(node, Mapping) or node.get("kind") != "Pod":
            continue
        if _parent(node, "ReplicaSet") in old:
            continue
        health = node.get("health")
        if not isinstance(health, Mapping) or health.get("status") != "Degraded":
            continue
        out.append(
            PodProblem(
                pod=str(node.get("name") or ""),
                reason=info(node, "Status Reason") or "Degraded",
                message=str(health.get("message") or ""),
            )
        )
    return tuple(out)
