"""What runs under backend-dev, for the logs and tree views' tests: its resource tree in Argo
CD's `v1alpha1ApplicationTree` shape (as the embedded platform's publisher builds it: managed
resources, Deployment → ReplicaSets → Pods with Argo CD's info items), its pods' live objects
(`GET .../resource`), and their log lines. One pod runs two containers (backend and a proxy
sidecar); an older ReplicaSet still has a pod in CrashLoopBackOff and an empty one is history."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from tests.tui import data

APP = "backend-dev"
NS = "dev"
RS_NEW, RS_OLD, RS_EMPTY = "backend-5d8f7c9b4", "backend-6c9d7f8b5", "backend-7b6c5d4e3"
POD_A, POD_B, POD_OLD = f"{RS_NEW}-x2x7q", f"{RS_NEW}-k9wq2", f"{RS_OLD}-zz8rt"
IMAGE = f"{data.REGISTRY}/backend:{data.TAG_B}"


def _time(minutes_ago: float) -> str:
    return data.at(minutes_ago).strftime("%Y-%m-%dT%H:%M:%SZ")


def _ref(kind: str, name: str, group: str = "apps") -> dict[str, Any]:
    return {"group": group, "kind": kind, "namespace": NS, "name": name}


def _pod(
    name: str, rs: str, reason: str, health: dict[str, str], *, restarts: int, ready: str
) -> dict[str, Any]:
    info = [
        {"name": "Status Reason", "value": reason},
        {"name": "Node", "value": "localhost"},
        {"name": "Containers", "value": ready},
    ]
    if restarts:
        info.append({"name": "Restart Count", "value": str(restarts)})
    return {
        "version": "v1",
        "kind": "Pod",
        "namespace": NS,
        "name": name,
        "uid": f"uid-{name}",
        "parentRefs": [_ref("ReplicaSet", rs)],
        "info": info,
        "health": health,
        "images": [IMAGE],
        "createdAt": _time(20 if rs == RS_NEW else 90),
    }


def tree() -> dict[str, Any]:
    message = "back-off 5m0s restarting failed container=backend"
    return {
        "nodes": [
            {
                "version": "v1",
                "kind": "ConfigMap",
                "namespace": NS,
                "name": "backend-config",
                "uid": "uid-cm",
                "health": {"status": "Healthy"},
            },
            {
                "version": "v1",
                "kind": "Service",
                "namespace": NS,
                "name": "backend",
                "uid": "uid-svc",
                "health": {"status": "Healthy"},
            },
            {
                "group": "apps",
                "version": "v1",
                "kind": "Deployment",
                "namespace": NS,
                "name": "backend",
                "uid": "uid-deploy",
                "health": {"status": "Healthy"},
                "createdAt": _time(600),
            },
            {
                "group": "apps",
                "version": "v1",
                "kind": "ReplicaSet",
                "namespace": NS,
                "name": RS_EMPTY,
                "uid": "uid-rs0",
                "parentRefs": [_ref("Deployment", "backend")],
                "info": [{"name": "Revision", "value": "Rev:1"}],
                "health": {"status": "Healthy"},
            },
            {
                "group": "apps",
                "version": "v1",
                "kind": "ReplicaSet",
                "namespace": NS,
                "name": RS_OLD,
                "uid": "uid-rs1",
                "parentRefs": [_ref("Deployment", "backend")],
                "info": [{"name": "Revision", "value": "Rev:2"}],
                "health": {"status": "Healthy"},
                "createdAt": _time(90),
            },
            {
                "group": "apps",
                "version": "v1",
                "kind": "ReplicaSet",
                "namespace": NS,
                "name": RS_NEW,
                "uid": "uid-rs2",
                "parentRefs": [_ref("Deployment", "backend")],
                "info": [{"name": "Revision", "value": "Rev:3"}],
                "health": {"status": "Healthy"},
                "createdAt": _time(20),
            },
            _pod(
                POD_OLD,
                RS_OLD,
                "CrashLoopBackOff",
                {"status": "Degraded", "message": message},
                restarts=7,
                ready="0/2",
            ),
            _pod(POD_A, RS_NEW, "Running", {"status": "Healthy"}, restarts=0, ready="2/2"),
            _pod(POD_B, RS_NEW, "Running", {"status": "Healthy"}, restarts=1, ready="2/2"),
        ]
    }


def pod_manifest(name: str, rs: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": NS,
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": rs}],
        },
        "spec": {
            "containers": [
                {"name": "backend", "image": IMAGE, "ports": [{"containerPort": 8080}]},
                {"name": "proxy", "image": "envoyproxy/envoy:v1.31.0"},
            ]
        },
        "status": {"phase": "Running", "podIP": "127.0.0.1"},
    }


def live_objects() -> dict[tuple[str, str, str], dict[str, Any]]:
    return {
        ("Pod", NS, pod): pod_manifest(pod, rs)
        for pod, rs in ((POD_A, RS_NEW), (POD_B, RS_NEW), (POD_OLD, RS_OLD))
    }


# (pod, container, content, seconds after LOGS_START)
LOGS_START: datetime = data.at(5)
LOGS = (
    (POD_A, "backend", "starting backend 0.4.1 (commit b2b2b2b)", 0),
    (POD_A, "proxy", "envoy: all clusters initialized", 1),
    (POD_A, "backend", "listening on :8080", 1),
    (POD_B, "backend", "starting backend 0.4.1 (commit b2b2b2b)", 2),
    (POD_B, "backend", "listening on :8080", 3),
    (POD_A, "backend", "GET /healthz 200 0.4ms", 10),
    (POD_A, "backend", "POST /api/orders 201 12.1ms", 31),
    (POD_B, "backend", "ERROR payment gateway timeout after 5000ms (order 4411)", 47),
    (POD_A, "proxy", '[2026-08-01T11:55:52Z] "POST /api/orders" 201 - 12 ms', 52),
    (POD_A, "backend", "GET /api/orders/4410 200 3.0ms", 60),
    (POD_B, "backend", "WARN retrying payment for order 4411 (attempt 2)", 61),
    (POD_A, "backend", "GET /healthz 200 0.3ms", 70),
)


def log_time(seconds: float) -> datetime:
    return LOGS_START + timedelta(seconds=seconds)
