"""What the embedded platform's API knows of each kind, as an API server and kubectl would say it:
the API group a kind comes from, how the runtime handles it (its `Role`), the order a sync
applies kinds in, what makes an object malformed or invalid, a ConfigMap's or Secret's data
decoded, and kubectl's name for an object.

Pure. A kind from another API group than its own (a Knative Service) is not the kind the platform
runs: it is recorded only, and `not_run_reason` says so.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Any, Literal

from console.local.kube.objects import ObjectKey, key_of

Role = Literal["deployment", "service", "config", "recorded", "unsupported"]

# The API groups each kind the platform runs or records comes from ("" is the core group).
GROUPS: dict[str, frozenset[str]] = {
    "Deployment": frozenset({"apps"}),
    "Service": frozenset({""}),
    "ConfigMap": frozenset({""}),
    "Secret": frozenset({""}),
    "ServiceAccount": frozenset({""}),
    "PodDisruptionBudget": frozenset({"policy"}),
    "NetworkPolicy": frozenset({"networking.k8s.io"}),
    # RBAC: recorded, not enforced (pods here run as the platform's user).
    "Role": frozenset({"rbac.authorization.k8s.io"}),
    "RoleBinding": frozenset({"rbac.authorization.k8s.io"}),
    "EndpointSlice": frozenset({"discovery.k8s.io"}),
}
ROLES: dict[str, Role] = {
    "Deployment": "deployment",
    "Service": "service",
    "ConfigMap": "config",
    "Secret": "config",
}
# Apply order (Argo CD's kind order, reduced to what matters here); stable within a rank.
APPLY_RANK = {
    "ConfigMap": 0,
    "Secret": 0,
    "ServiceAccount": 0,
    "Role": 0,
    "RoleBinding": 0,
    "EndpointSlice": 0,
    "Service": 2,
    "Deployment": 3,
}
NOT_ENFORCED = frozenset({"NetworkPolicy", "Role", "RoleBinding"})
OTHER_RANK = 1


class InvalidObject(ValueError):
    """An object the API server would reject; the message says why."""


def object_key(obj: Mapping[str, Any], namespace: str) -> ObjectKey:
    if not isinstance(obj, Mapping):
        return ObjectKey("", "", namespace, "")
    return key_of(obj, namespace)


def api_version(obj: Mapping[str, Any]) -> str:
    if not isinstance(obj, Mapping):
        return ""
    return str(obj.get("apiVersion") or "").rpartition("/")[2]


def malformed(obj: Mapping[str, Any]) -> str | None:
    if not isinstance(obj, Mapping):
        return f"not a Kubernetes object: {type(obj).__name__}"
    if not obj.get("apiVersion") or not obj.get("kind"):
        return "object has no apiVersion or kind"
    if not isinstance(obj.get("metadata"), Mapping) or not (obj.get("metadata") or {}).get("name"):
        return f"{obj.get('kind')}: metadata.name is required"
    return None


def role_of(key: ObjectKey) -> Role:
    if key.group not in GROUPS.get(key.kind, ()):
        return "unsupported"
    return ROLES.get(key.kind, "recorded")


def apply_rank(key: ObjectKey) -> int:
    if role_of(key) == "unsupported":
        return OTHER_RANK
    return APPLY_RANK.get(key.kind, OTHER_RANK)


def kubectl_name(key: ObjectKey) -> str:
    """kubectl's name for an object: `deployment.apps/backend`, `service/backend`."""
    kind = key.kind.lower() + (f".{key.group}" if key.group else "")
    return f"{kind}/{key.name}"


def not_run_reason(key: ObjectKey) -> str:
    if key.kind in GROUPS:
        group = key.group or "core"
        return f"kind {key.kind} of API group {group} is not run by the embedded platform"
    return f"kind {key.kind} is not run by the embedded platform"


def config_values(key: ObjectKey, manifest: Mapping[str, Any]) -> dict[str, str]:
    """A ConfigMap's or Secret's keys as environment values; raises InvalidObject as the API server
    would refuse the object."""
    where = f'{key.kind} "{key.name}" is invalid'
    values: dict[str, str] = {}
    encoded_field = "binaryData" if key.kind == "ConfigMap" else "data"
    plain_field = "data" if key.kind == "ConfigMap" else "stringData"
    encoded = manifest.get(encoded_field) or {}
    plain = manifest.get(plain_field) or {}
    if not isinstance(encoded, Mapping) or not isinstance(plain, Mapping):
        raise InvalidObject(f"{where}: {encoded_field} and {plain_field} must be maps")
    for name, value in encoded.items():
        try:
            raw = base64.b64decode(str(value), validate=True)
        except (binascii.Error, ValueError):
            raise InvalidObject(f"{where}: {encoded_field}[{name}]: illegal base64 data") from None
        values[str(name)] = raw.decode("utf-8", errors="surrogateescape")
    for name, value in plain.items():
        if not isinstance(value, str):
            raise InvalidObject(f"{where}: {plain_field}[{name}]: must be a string")
        values[str(name)] = value
    return values
