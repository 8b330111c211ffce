"""repos.yaml → the Copier answers of each generated repo. Pure functions, no I/O."""

from __future__ import annotations

from typing import Any

from console.config import PlatformConfig, Repo, RepoRole


def answers_for(config: PlatformConfig, role: RepoRole) -> dict[str, Any]:
    """The `data` Copier renders the `role` repo with; the keys are the questions in copier.yml."""
    repo: Repo = getattr(config.repos, role.value)
    return {
        "template": repo.template,
        "org": config.org,
        "git_host": config.git_host,
        "infra_repo": config.repos.infra.name,
        "apps_repo": config.repos.apps.name,
        "deploy_repo": config.repos.deploy.name,
        "codeowners": config.owners,
        "environments": [_environment(config, i) for i in range(len(config.environments))],
        "services": [_service(config, s.name) for s in config.services],
        "registry": config.registry,
        "aws_region": config.aws.region,
        "cluster_name": config.aws.cluster_name,
        "argocd_namespace": config.argocd.namespace,
        "guard_image": config.guard_image,
        "guard_namespace": config.guard.namespace,
    }


# (progress deadline, min ready, rollback grace) in seconds: the first environment fails fast.
FIRST_ENV_TIMINGS = (30, 2, 10)
LATER_ENV_TIMINGS = (600, 10, 60)


def _environment(config: PlatformConfig, index: int) -> dict[str, Any]:
    env = config.environments[index]
    deadline, min_ready, grace = FIRST_ENV_TIMINGS if index == 0 else LATER_ENV_TIMINGS
    return {
        "name": env.name,
        "replicas": env.replicas,
        "progress_deadline_s": env.progress_deadline_s or deadline,
        "min_ready_s": env.min_ready_s if env.min_ready_s is not None else min_ready,
        "rollback_grace_s": env.rollback_grace_s if env.rollback_grace_s is not None else grace,
        "auto_rollback": env.auto_rollback,
    }


def _service(config: PlatformConfig, name: str) -> dict[str, Any]:
    svc = config.service(name)
    out: dict[str, Any] = {"name": svc.name, "kind": svc.kind.value, "port": svc.port}
    if svc.kind.value == "frontend":
        # Default the reported backend to the first one declared, so templates never guess.
        out["backend"] = svc.backend or next(
            s.name for s in config.services if s.kind.value == "backend"
        )
    out["environments"] = svc.environments or config.environment_names
    return out
