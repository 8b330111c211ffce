"""A fleet for the `gitops status` tests, as Argo CD's REST API answers it (full shape: every
field Argo CD writes, omitempty, RFC 3339 UTC): every health and sync value, a multi-source
app, an app with no status at all, a health value this client does not know; plus the same
objects as the embedded platform's records, the deploy repo's rollback commits, and the
`/version` servers the services answer on."""

from __future__ import annotations

import copy
import json
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from console.application import ApplicationStatus
from console.git import git
from console.local.argo.appstate import ApplicationRecord
from tests.fleet.support import NOW

SHA_A, SHA_B, SHA_C = "a" * 40, "b" * 40, "c" * 40
SHA3 = "3" * 40
CHART = "7.3.4"
REGISTRY = "registry.local:5000/acme"
DEPLOY_URL = "https://github.com/acme/platform-deploy.git"


def _time(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def service_app(
    service: str,
    env: str,
    *,
    health: str,
    sync: str,
    revision: str,
    images: list[str],
    deployed: list[tuple[int, str, datetime]],
    policy: dict[str, Any] | None,
) -> dict[str, Any]:
    """One service's Application in one environment, as Argo CD v3 answers it."""
    name = f"{service}-{env}"
    history = [
        {
            "revision": rev,
            "deployedAt": _time(at),
            "id": hid,
            "source": {"repoURL": DEPLOY_URL, "path": f"overlays/{env}/{service}"},
            "deployStartedAt": _time(at - timedelta(seconds=20)),
            "initiatedBy": {"automated": True},
        }
        for hid, rev, at in deployed
    ]
    spec: dict[str, Any] = {
        "source": {
            "repoURL": DEPLOY_URL,
            "path": f"overlays/{env}/{service}",
            "targetRevision": "main",
        },
        "destination": {"server": "https://kubernetes.default.svc", "namespace": env},
        "project": "acme-platform",
        "revisionHistoryLimit": 10,
    }
    if policy is not None:
        spec["syncPolicy"] = policy
    status: dict[str, Any] = {
        "resources": [
            {
                "group": "apps",
                "version": "v1",
                "kind": "Deployment",
                "namespace": env,
                "name": service,
                "status": sync,
                "health": {"status": health},
            },
            {"version": "v1", "kind": "Service", "namespace": env, "name": service},
        ],
        "sync": {
            "status": sync,
            "comparedTo": {"source": spec["source"], "destination": spec["destination"]},
            "revision": revision,
        },
        "health": {"status": health, "lastTransitionTime": _time(NOW - timedelta(minutes=1))},
        "reconciledAt": _time(NOW),
        "sourceType": "Kustomize",
        "summary": {"images": images} if images else {},
        "controllerNamespace": "argocd",
    }
    if history:
        status["history"] = history
    return {
        "metadata": {
            "name": name,
            "namespace": "argocd",
            "uid": str(uuid.uuid5(uuid.NAMESPACE_URL, name)),
            "resourceVersion": "1",
            "generation": 3,
            "creationTimestamp": "2026-07-30T08:00:00Z",
            "labels": {"gitops.platform/service": service, "gitops.platform/env": env},
            "annotations": {"gitops.platform/auto-rollback": "true"},
            "finalizers": ["resources-finalizer.argocd.argoproj.io"],
            "managedFields": [{"manager": "argocd-controller", "operation": "Update"}],
        },
        "spec": spec,
        "status": status,
    }


AUTO = {"automated": {"prune": True, "selfHeal": True}, "syncOptions": ["CreateNamespace=true"]}
AUTO_DISABLED = {"automated": {"enabled": False, "prune": True}}


def _image(service: str, tag: str) -> str:
    return f"{REGISTRY}/{service}:{tag}"


def multi_source_app() -> dict[str, Any]:
    """A Helm chart plus a values repo (`sources`/`revisions`), with a health value this client
    does not know (a newer Argo CD's)."""
    return {
        "metadata": {
            "name": "payments-prod",
            "namespace": "argocd",
            "uid": "0e6f2f0e-2b8e-4c43-9d0c-5f1a8a5b4a11",
            "resourceVersion": "184467",
            "generation": 42,
            "creationTimestamp": "2026-07-30T08:00:00Z",
            "labels": {"gitops.platform/service": "payments", "gitops.platform/env": "prod"},
        },
        "spec": {
            "project": "payments",
            "sources": [
                {
                    "repoURL": "https://charts.example.com",
                    "chart": "payments",
                    "targetRevision": CHART,
                    "helm": {"valueFiles": ["$values/prod/values.yaml"]},
                },
                {"repoURL": "https://github.com/acme/values.git", "targetRevision": "main"},
            ],
            "destination": {"name": "prod-eu", "namespace": "payments"},
            "syncPolicy": {"automated": {"prune": True}, "retry": {"limit": 2}},
        },
        "status": {
            "sync": {
                "status": "OutOfSync",
                "comparedTo": {"destination": {"name": "prod-eu", "namespace": "payments"}},
                "revisions": [CHART, SHA3],
            },
            "health": {"status": "Hibernating"},
            "history": [
                {
                    "id": 8,
                    "deployedAt": _time(NOW - timedelta(minutes=2)),
                    "revisions": [CHART, SHA_B],
                    "initiatedBy": {"username": "alice@example.com"},
                },
                {
                    "id": 7,
                    "deployedAt": _time(NOW - timedelta(hours=5)),
                    "revisions": [CHART, SHA_A],
                    "initiatedBy": {"automated": True},
                },
            ],
            "sourceTypes": ["Helm", "Directory"],
            "summary": {"images": ["registry.example.com/payments@sha256:" + "d" * 64]},
        },
    }


def empty_status_app() -> dict[str, Any]:
    """The root app-of-apps just created: no labels, no status at all."""
    return {
        "metadata": {"name": "root", "namespace": "argocd", "resourceVersion": "2"},
        "spec": {
            "project": "acme-control",
            "source": {"repoURL": DEPLOY_URL, "path": "argocd/apps", "targetRevision": "main"},
            "destination": {"server": "https://kubernetes.default.svc", "namespace": "argocd"},
        },
    }


def fleet() -> list[dict[str, Any]]:
    """Every health value (one of them unknown to this client) and every sync value."""
    m = timedelta(minutes=1)
    return [
        service_app(
            "frontend",
            "prod",
            health="Missing",
            sync="OutOfSync",
            revision=SHA_C,
            images=[],
            deployed=[],
            policy=AUTO,
        ),
        service_app(
            "backend",
            "prod",
            health="Degraded",
            sync="Synced",
            revision=SHA_C,
            images=[_image("backend", SHA_C), _image("sidecar", "1.4.2")],
            deployed=[(0, SHA_A, NOW - 4 * 1440 * m), (1, SHA_C, NOW - 3 * 1440 * m)],
            policy=None,
        ),
        service_app(
            "backend",
            "dev",
            health="Healthy",
            sync="Synced",
            revision=SHA_A,
            images=[_image("backend", SHA_A)],
            deployed=[(4, SHA_A, NOW - 3 * m)],
            policy=AUTO,
        ),
        service_app(
            "frontend",
            "dev",
            health="Suspended",
            sync="Unknown",
            revision=SHA_A,
            images=[_image("frontend", SHA_A)],
            deployed=[(2, SHA_A, NOW - timedelta(seconds=45))],
            policy=AUTO_DISABLED,
        ),
        service_app(
            "backend",
            "staging",
            health="Progressing",
            sync="OutOfSync",
            revision=SHA_B,
            images=[_image("backend", SHA_A)],
            deployed=[(0, SHA_A, NOW - 2 * 60 * m)],
            policy=AUTO,
        ),
        multi_source_app(),
        empty_status_app(),
    ]


def records() -> list[ApplicationRecord]:
    """The fleet as the embedded platform holds it: the manifest from Git, the status the
    controller keeps (which has one sync revision: a multi-source app's `revisions` and its
    history's are not kept, so its revision reads as unknown there)."""
    out = []
    for doc in fleet():
        manifest = {"apiVersion": "argoproj.io/v1alpha1", "kind": "Application"}
        manifest |= {k: copy.deepcopy(v) for k, v in doc.items() if k != "status"}
        status = copy.deepcopy(doc.get("status") or {})
        for entry in [status.get("sync") or {}, *status.get("history", [])]:
            entry.pop("revisions", None)
        out.append(ApplicationRecord(manifest, ApplicationStatus.from_json(status)))
    return out


def list_answer(items: list[dict[str, Any]]) -> bytes:
    """A `v1alpha1ApplicationList` as Argo CD's REST API answers it."""
    return json.dumps({"metadata": {"resourceVersion": "184470"}, "items": items}).encode()


def deploy_repo(path: Path) -> Path:
    """A deploy repo whose history holds rollbacks (two of backend-prod, one of frontend-dev,
    one of an app no longer in the fleet), a promotion and a plain commit."""
    path.mkdir(parents=True)
    git(["init", "--quiet", "--initial-branch", "main"], path)
    commits = [
        "chore: bootstrap",
        f"chore(promote): backend {SHA_C[:7]} to prod\n\nPromoted-Service: backend\n"
        f"Promoted-Tag: {SHA_C}",
        f"revert(backend-prod): roll back to {SHA_A[:7]}\n\nRollback-Of: {SHA_B}\n"
        f"Rollback-To: {SHA_A}\nRollback-App: backend-prod\nRollback-Reason: Degraded for 5m",
        f"revert(frontend-dev): roll back\n\nRollback-Of: {SHA_C}\nRollback-To: {SHA_A}\n"
        "Rollback-App: frontend-dev\nRollback-Reason: operator bob: bad config",
        f"revert(backend-prod): roll back again\n\nRollback-Of: {SHA_C}\nRollback-To: {SHA_A}\n"
        "Rollback-App: backend-prod\nRollback-Reason: Degraded for 5m",
        f"revert(gone-dev): roll back\n\nRollback-Of: {SHA_C}\nRollback-App: gone-dev",
    ]
    for message in commits:
        git(["commit", "--quiet", "--allow-empty", "--no-verify", "-m", message], path)
    return path


class _VersionHandler(BaseHTTPRequestHandler):
    server: VersionServer

    def do_GET(self) -> None:
        self.server.arrived(self.path)
        status, body = self.server.answer
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep test output clean


class VersionServer(ThreadingHTTPServer):
    """A real HTTP server on 127.0.0.1 answering every GET with `answer`. With `hang`, each
    request is held until `released` is set (at the latest when the server closes): a service
    that does not answer. `inflight` and `most` count the requests being held or answered."""

    daemon_threads = True

    def __init__(self, answer: tuple[int, Any] = (200, {}), *, hang: bool = False) -> None:
        super().__init__(("127.0.0.1", 0), _VersionHandler)
        self.answer = answer
        self.hang = hang
        self.released = threading.Event()
        self.lock = threading.Condition()
        self.inflight = self.most = 0
        self.paths: list[str] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def arrived(self, path: str) -> None:
        with self.lock:
            self.paths.append(path)
            self.inflight += 1
            self.most = max(self.most, self.inflight)
            self.lock.notify_all()
        if self.hang:
            self.released.wait(30)
        with self.lock:
            self.inflight -= 1  # before answering: a client starts its next request after


@contextmanager
def serving(server: VersionServer) -> Iterator[VersionServer]:
    # A short poll interval: shutdown() returns within it.
    thread = threading.Thread(
        target=server.serve_forever, args=(0.05,), name="version-server", daemon=True
    )
    thread.start()
    try:
        yield server
    finally:
        server.released.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
