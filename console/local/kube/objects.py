"""A Kubernetes object's identity and content, as every part of the platform reads it: its key
(group, kind, namespace, name), the digest of what Git says about it, and the images it runs.

Pure. These are Kubernetes' concepts, not Argo CD's: the runtime keys what it runs by them, and
Argo CD's sync (`console.local.argo.sync`) compares desired with live objects through them.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, order=True)
class ObjectKey:
    group: str
    kind: str
    namespace: str
    name: str

    def __str__(self) -> str:
        kind = f"{self.group}/{self.kind}" if self.group else self.kind
        return f"{kind} {self.namespace}/{self.name}" if self.namespace else f"{kind} {self.name}"


def key_of(obj: Mapping[str, Any], default_namespace: str = "") -> ObjectKey:
    api = str(obj.get("apiVersion", ""))
    group = api.rpartition("/")[0]
    meta = obj.get("metadata") or {}
    namespace = str(meta.get("namespace") or default_namespace)
    return ObjectKey(group, str(obj.get("kind", "")), namespace, str(meta.get("name", "")))


_SERVER_FIELDS = ("resourceVersion", "uid", "creationTimestamp", "generation", "managedFields")


def fingerprint(obj: Mapping[str, Any]) -> str:
    """A digest of what Git says about an object: status and server-set metadata left out."""
    body = {k: v for k, v in obj.items() if k != "status"}
    meta = {k: v for k, v in (body.get("metadata") or {}).items() if k not in _SERVER_FIELDS}
    body["metadata"] = meta
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()


def images(objects: Iterable[Mapping[str, Any]]) -> list[str]:
    """Every container image the objects' pod templates run, sorted (what Argo CD shows as an
    application's `status.summary.images`)."""
    found = set()
    for obj in objects:
        template = ((obj.get("spec") or {}).get("template") or {}).get("spec") or {}
        for container in (template.get("containers") or []) + (
            template.get("initContainers") or []
        ):
            if container.get("image"):
                found.add(str(container["image"]))
    return sorted(found)
