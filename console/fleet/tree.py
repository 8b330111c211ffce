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
class PodProblem:
    pod: str
    reason: str  # the "Status Reason" info item: ImagePullBackOff, CrashLoopBackOff, ...
    message: str = ""

    def __str__(self) -> str:
        detail = f": {self.message}" if self.message else ""
        return f"pod {self.pod} {self.reason}{detail}"


def _info(node: Mapping[str, Any], name: str) -> str:
    for item in node.get("info") or []:
        if isinstance(item, Mapping) and item.get("name") == name:
            return str(item.get("value") or "")
    return ""


def failing_pods(tree: Mapping[str, Any]) -> tuple[PodProblem, ...]:
    """The Degraded pods of a tree, in its order; anything malformed is skipped (a tree is a
    hint for the guard, never a reason to fail)."""
    out = []
    for node in tree.get("nodes") or []:
        if not isinstance(node, Mapping) or node.get("kind") != "Pod":
            continue
        health = node.get("health")
        if not isinstance(health, Mapping) or health.get("status") != "Degraded":
            continue
        out.append(
            PodProblem(
                pod=str(node.get("name") or ""),
                reason=_info(node, "Status Reason") or "Degraded",
                message=str(health.get("message") or ""),
            )
        )
    return tuple(out)
