"""A fixed fleet for the console's tests and snapshots: two services in three environments,
the root app and the guard; a deploy repo's history with promotions, a guard rollback and an
operator rollback; the guard's events; the live versions. Built from the model directly, with a
fixed clock, so every age and mark is the same on every run."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any

from console.contract import ENV_LABEL, SERVICE_LABEL
from console.fleet.history import Commit
from console.fleet.model import Health, OperationPhase, Sync
from console.guard.events import Event as GuardEvent
from console.tui.store import RepoFacts
from tests.fleet.build import App, HistoryEntry, Operation, Resource, Source

NOW = datetime(2026, 8, 1, 12, 0, tzinfo=UTC)
DEPLOY = "/srv/git/deploy.git"
REGISTRY = "registry.local:5000/acme"

# Deploy-repo commits (oldest first) and the image tags (apps-repo shas) they pin.
C1, C2, C3, C4, C5, C6 = (f"{d}" * 40 for d in "123456")
TAG_A, TAG_B, TAG_C = "a1" * 20, "b2" * 20, "c3" * 20


def at(minutes_ago: float) -> datetime:
    return NOW - timedelta(minutes=minutes_ago)


def ts(minutes_ago: float) -> int:
    return int(at(minutes_ago).timestamp())


COMMITS = (  # newest first, as `git log` lists them
    Commit(
        C6,
        "revert(frontend-prod): roll back c5c5c5c to 4444444",
        "Ada Lovelace <ada@example.com>",
        ts(30),
        (
            ("Rollback-Of", C5),
            ("Rollback-To", C4),
            ("Rollback-App", "frontend-prod"),
            ("Rollback-Reason", "operator ada: checkout errors after the release"),
        ),
    ),
    Commit(
        C5,
        "chore(deploy): promote frontend c3c3c3c to prod",
        "ci <ci@example.com>",
        ts(45),
        (("Promoted-Service", "frontend"), ("Promoted-Tag", TAG_C), ("Promoted-From", "staging")),
    ),
    Commit(
        C4,
        "revert(backend-dev): roll back 3333333 to 2222222",
        "gitops-guard <gitops-guard@users.noreply.local>",
        ts(90),
        (
            ("Rollback-Of", C3),
            ("Rollback-To", C2),
            ("Rollback-App", "backend-dev"),
            ("Rollback-Reason", "Degraded for 30s: pod backend-7f CrashLoopBackOff"),
        ),
    ),
    Commit(
        C3,
        "chore(deploy): promote backend b2b2b2b to dev",
        "ci <ci@example.com>",
        ts(100),
        (("Promoted-Service", "backend"), ("Promoted-Tag", TAG_B)),
    ),
    Commit(
        C2,
        "chore(deploy): promote backend a1a1a1a to dev",
        "ci <ci@example.com>",
        ts(200),
        (("Promoted-Service", "backend"), ("Promoted-Tag", TAG_A)),
    ),
    Commit(C1, "feat: bootstrap the deploy repo", "ci <ci@example.com>", ts(300), ()),
)
# A linear history: each commit's parent is the next older one.
COMMITS = (*(replace(c, parents=(o.sha,)) for c, o in pairwise(COMMITS)), COMMITS[-1])
REPO = RepoFacts.of(C6, COMMITS)


def pins() -> dict[tuple[str, str], str]:
    """(revision, path) -> the tag pinned there."""
    out: dict[tuple[str, str], str] = {}
    for rev in (C1, C2, C3, C4, C5, C6):
        for env in ("dev", "staging", "prod"):
            out[(rev, f"overlays/{env}/backend")] = TAG_A
            out[(rev, f"overlays/{env}/frontend")] = TAG_A
    out[(C3, "overlays/dev/backend")] = TAG_B
    out[(C5, "overlays/prod/frontend")] = TAG_C
    out[(C6, "overlays/prod/frontend")] = TAG_A
    out[(C6, "overlays/prod/backend")] = TAG_B  # Git asks for b2, prod still runs a1: drift
    return out


def rendered(path: str, tag: str | None) -> list[dict[str, Any]]:
    """What `path` (overlays/<env>/<service>) renders to with `tag` pinned, as a repo server
    would render it: the service's Deployment, Service and ConfigMap."""
    env, service = path.split("/")[-2:] if path.startswith("overlays/") else ("", path)
    meta = {"namespace": env, "labels": {"app.kubernetes.io/name": service}}
    container = {
        "name": service,
        "image": f"{REGISTRY}/{service}:{tag or 'unreleased'}",
        "env": [{"name": "ENVIRONMENT", "value": env}, {"name": "VERSION", "value": tag or ""}],
        "ports": [{"containerPort": 8080}],
    }
    return [
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": service, **meta},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": {"app.kubernetes.io/name": service}},
                "template": {
                    "metadata": {"labels": meta["labels"]},
                    "spec": {"containers": [container]},
                },
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": service, **meta},
            "spec": {"ports": [{"port": 80, "targetPort": 8080}]},
        },
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": f"{service}-config", **meta},
            "data": {"LOG_LEVEL": "info", "RELEASE": tag or ""},
        },
    ]


def history(*entries: tuple[int, str, float]) -> tuple[HistoryEntry, ...]:
    return tuple(
        HistoryEntry(
            id=hid,
            revision=rev,
            deployed_at=at(ago),
            deploy_started_at=at(ago) - timedelta(seconds=20),
            automated=True,
        )
        for hid, rev, ago in entries
    )


def service_app(
    service: str,
    env: str,
    *,
    revision: str,
    tag: str,
    health: Health = Health.HEALTHY,
    sync: Sync = Sync.SYNCED,
    deployed: tuple[HistoryEntry, ...] = (),
    auto_sync: bool = True,
    message: str = "",
    operation: Operation | None = None,
    instance: str = "demo",
) -> App:
    path = f"overlays/{env}/{service}"
    return App(
        name=f"{service}-{env}",
        namespace="argocd",
        project="acme-platform",
        labels={SERVICE_LABEL: service, ENV_LABEL: env},
        sources=(Source("https://github.com/acme/platform-deploy.git", path, "main"),),
        dest_server="https://kubernetes.default.svc",
        dest_namespace=env,
        auto_sync=auto_sync,
        self_heal=auto_sync,
        prune=auto_sync,
        sync=sync,
        sync_revision=revision,
        health=health,
        health_message=message,
        operation=operation,
        history=deployed,
        resources=(
            Resource("apps", "Deployment", env, service, "v1", sync, health, message),
            Resource("", "Service", env, service, "v1", Sync.SYNCED, Health.HEALTHY),
            Resource("", "ConfigMap", env, f"{service}-config", "v1", Sync.SYNCED, None),
        ),
        images=(f"{REGISTRY}/{service}:{tag}",),
        resource_version="1",
        instance=instance,
    )


def other_app(name: str, path: str) -> App:
    return App(
        name=name,
        namespace="argocd",
        project="acme-control",
        labels={"gitops.platform/component": name},
        sources=(Source("https://github.com/acme/platform-deploy.git", path, "main"),),
        auto_sync=True,
        sync=Sync.SYNCED,
        sync_revision=C6,
        health=Health.HEALTHY,
        history=history((1, C6, 30)),
        resource_version="1",
        instance="demo",
    )


def fleet() -> list[App]:
    return [
        service_app(
            "backend",
            "dev",
            revision=C4,
            tag=TAG_A,
            deployed=history((1, C2, 200), (2, C3, 100), (3, C4, 89)),
        ),
        service_app(
            "backend",
            "staging",
            revision=C6,
            tag=TAG_A,
            health=Health.PROGRESSING,
            deployed=history((1, C2, 180), (2, C6, 2)),
            operation=Operation(OperationPhase.RUNNING, C6, started_at=at(1)),
        ),
        service_app(
            "backend",
            "prod",
            revision=C6,
            tag=TAG_A,
            health=Health.DEGRADED,
            sync=Sync.OUT_OF_SYNC,
            message="Deployment backend exceeded its progress deadline",
            deployed=history((1, C2, 170), (2, C6, 25)),
            auto_sync=False,
        ),
        service_app(
            "frontend",
            "dev",
            revision=C6,
            tag=TAG_A,
            deployed=history((1, C2, 160), (2, C6, 29)),
        ),
        service_app(
            "frontend",
            "prod",
            revision=C6,
            tag=TAG_A,
            deployed=history((1, C2, 150), (2, C5, 44), (3, C6, 29)),
        ),
        other_app("root", "argocd/apps"),
        other_app("gitops-guard", "platform/guard"),
    ]


# /version answers by app name: backend-prod answers with what it runs, not what Git asks.
LIVE = {
    "backend-dev": TAG_A,
    "backend-staging": None,
    "backend-prod": TAG_A,
    "frontend-dev": TAG_A,
    "frontend-prod": TAG_A,
}
SERVICES = {f"{name}-x": f"http://127.0.0.1:9/{name}" for name in LIVE}

GUARD_EVENTS = (
    GuardEvent(at(300), "Watching", "", "watching 7 applications on demo"),
    GuardEvent(at(95), "Unhealthy", "backend-dev", "3333333 is Degraded", {"revision": C3}),
    GuardEvent(
        at(90),
        "Rollback",
        "backend-dev",
        "rolled back 3333333 to 2222222: Degraded for 30s",
        {"bad": C3, "good": C2, "commit": C4, "detect_s": 41.5, "reason": "Degraded for 30s"},
    ),
    GuardEvent(
        at(88),
        "Recovered",
        "backend-dev",
        "Healthy and Synced on the rollback 4444444",
        {"commit": C4, "mttr_s": 161.5},
    ),
)
