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
# (analysis seconds, max error ratio, max p95 ms, min requests): a short look in the first
# environment, a longer one on more traffic later (templates/deploy/~lib.jinja says the same).
FIRST_ENV_ANALYSIS = (20, 0.05, 500, 20)
LATER_ENV_ANALYSIS = (120, 0.05, 500, 100)


def _environment(config: PlatformConfig, index: int) -> dict[str, Any]:
    env = config.environments[index]
    deadline, min_ready, grace = FIRST_ENV_TIMINGS if index == 0 else LATER_ENV_TIMINGS
    seconds, ratio, p95, least = FIRST_ENV_ANALYSIS if index == 0 else LATER_ENV_ANALYSIS

    def given(value: Any, default: Any) -> Any:
        return value if value is not None else default

    return {
        "name": env.name,
        "replicas": env.replicas,
        "progress_deadline_s": env.progress_deadline_s or deadline,
        "min_ready_s": given(env.min_ready_s, min_ready),
        "rollback_grace_s": given(env.rollback_grace_s, grace),
        "auto_rollback": env.auto_rollback,
        "analysis_s": given(env.analysis_s, seconds),
        "max_error_ratio": given(env.max_error_ratio, ratio),
        "max_p95_latency_ms": given(env.max_p95_latency_ms, p95),
        "analysis_min_requests": given(env.analysis_min_requests, least),
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
