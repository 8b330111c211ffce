"""Two Argo CDs the platform did not generate ("bring your own"), as their REST APIs answer
(full shape: what Argo CD v3 writes for an Application, none of the platform's labels): 40 apps
in the two common layouts, for the placement's end-to-end tests.

- eu: one Argo CD for every environment, apps named `<service>-<env>` (an app-of-apps made
  them, so they carry its tracking label), plus Argo CD itself, its app-of-apps and two add-ons;
- us: apps placed by their destination namespace (`prod`, `<service>-prod`, `<service>-prd`),
  some named `<service>-<env>` too, plus add-ons without an environment.
"""

from __future__ import annotations

import copy
import uuid
from typing import Any

from console.application import ApplicationStatus
from console.local.argo.appstate import ApplicationRecord

REVISION = "9f3c2a1e8b7d6c5f4a3b2c1d0e9f8a7b6c5d4e3f"
CREATED = "2026-07-30T08:00:00Z"
DEPLOYED = "2026-08-01T11:40:00Z"

SHOP = ("cart", "catalog", "checkout", "payments", "search", "users", "notifications")
EU_OTHERS = ("argocd", "apps", "cert-manager", "ingress-nginx")
# (name, destination namespace) of the us Argo CD.
US_APPS = (
    ("ledger", "prod"),
    ("ledger-staging", "staging"),
    ("reporting", "reporting-prod"),
    ("reporting-staging", "reporting-staging"),
    ("billing-prd", "billing-prd"),  # `prd` means prod only where the operator says so
    ("fraud", "fraud-prod"),
    ("fraud-dev", "fraud-dev"),
    ("cart-prod", "cart"),
    ("search-prod", "search"),
    ("payments", "prod"),
    ("invoices", "invoices-prd"),
    ("shipping-staging", "logistics"),
)
US_OTHERS = (("root", "argocd"), ("kube-prometheus-stack", "monitoring"), ("external-dns", ""))


def application(
    name: str,
    namespace: str,
    *,
    repo: str,
    path: str,
    project: str = "default",
    health: str = "Healthy",
    instance: str = "",
) -> dict[str, Any]:
    """One Application as Argo CD's REST API answers it: synced at REVISION, with history."""
    source = {"repoURL": repo, "path": path, "targetRevision": "HEAD"}
    destination = {"server": "https://kubernetes.default.svc"}
    if namespace:
        destination["namespace"] = namespace
    labels = {"app.kubernetes.io/instance": instance} if instance else {}
    metadata: dict[str, Any] = {
        "name": name,
        "namespace": "argocd",
        "uid": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{repo}#{name}")),
        "resourceVersion": "48213",
        "generation": 12,
        "creationTimestamp": CREATED,
        "finalizers": ["resources-finalizer.argocd.argoproj.io"],
        "managedFields": [{"manager": "argocd-server", "operation": "Update"}],
    }
    if labels:
        metadata["labels"] = labels
    return {
        "metadata": metadata,
        "spec": {
            "source": source,
            "destination": destination,
            "project": project,
            "syncPolicy": {"automated": {"prune": True, "selfHeal": True}},
        },
        "status": {
            "resources": [
                {
                    "group": "apps",
                    "version": "v1",
                    "kind": "Deployment",
                    "namespace": namespace or "default",
                    "name": name,
                    "status": "Synced",
                    "health": {"status": health},
                }
            ],
            "sync": {
                "status": "Synced",
                "comparedTo": {"source": source, "destination": destination},
                "revision": REVISION,
            },
            "health": {"status": health, "lastTransitionTime": DEPLOYED},
            "history": [
                {
                    "revision": REVISION,
                    "deployedAt": DEPLOYED,
                    "id": 3,
                    "source": source,
                    "deployStartedAt": "2026-08-01T11:39:40Z",
                    "initiatedBy": {"automated": True},
                }
            ],
            "reconciledAt": DEPLOYED,
            "sourceType": "Kustomize",
            "summary": {"images": [f"ghcr.io/acme/{name}:1.4.2"]},
            "controllerNamespace": "argocd",
        },
    }


def eu() -> list[dict[str, Any]]:
    repo = "https://github.com/acme/k8s-eu.git"
    apps = [
        application(f"{svc}-{env}", f"shop-{env}", repo=repo, path=f"{env}/{svc}", instance="apps")
        for svc in SHOP
        for env in ("dev", "staging", "prod")
    ]
    for name in EU_OTHERS:
        namespace = "argocd" if name in ("argocd", "apps") else name
        apps.append(application(name, namespace, repo=repo, path=f"platform/{name}"))
    return apps


def us() -> list[dict[str, Any]]:
    repo = "https://gitlab.example.com/ops/us-cluster.git"
    return [
        application(name, namespace, repo=repo, path=f"apps/{name}", project="us")
        for name, namespace in (*US_APPS, *US_OTHERS)
    ]


# Where each app sits with `--map-env prd=prod`: (service, env), or None (OTHER APPS).
EXPECTED_EU: dict[str, tuple[str, str] | None] = {
    **{f"{svc}-{env}": (svc, env) for svc in SHOP for env in ("dev", "staging", "prod")},
    **dict.fromkeys(EU_OTHERS),
}
EXPECTED_US: dict[str, tuple[str, str] | None] = {
    "ledger": ("ledger", "prod"),
    "ledger-staging": ("ledger", "staging"),
    "reporting": ("reporting", "prod"),
    "reporting-staging": ("reporting", "staging"),
    "billing-prd": ("billing", "prod"),
    "fraud": ("fraud", "prod"),
    "fraud-dev": ("fraud", "dev"),
    "cart-prod": ("cart", "prod"),
    "search-prod": ("search", "prod"),
    "payments": ("payments", "prod"),
    "invoices": ("invoices", "prod"),
    "shipping-staging": ("shipping", "staging"),
    **dict.fromkeys(name for name, _ in US_OTHERS),
}


def records(docs: list[dict[str, Any]]) -> list[ApplicationRecord]:
    """The same apps as the embedded API's store holds them, to serve with its stream."""
    out = []
    for doc in docs:
        manifest = {"apiVersion": "argoproj.io/v1alpha1", "kind": "Application"}
        manifest |= {k: copy.deepcopy(v) for k, v in doc.items() if k != "status"}
        out.append(ApplicationRecord(manifest, ApplicationStatus.from_json(doc["status"])))
    return out
