"""The seed's first constraint, checked: delivery goes through Git only. No workflow or task may
deploy imperatively (kubectl apply, helm install/upgrade, argocd app sync)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

IMPERATIVE = re.compile(
    r"\bkubectl\s+(?:[-\w=./]+\s+)*?(apply|create|replace|patch|delete|edit|set|scale|rollout)\b"
    r"|\bhelm\s+(?:[-\w=./]+\s+)*?(install|upgrade|rollback|uninstall)\b"
    r"|\bargocd\s+app\s+(sync|rollback|set|patch|delete)\b"
)


def imperative_commands(script: str) -> list[str]:
    """The offending lines of a shell script (pure)."""
    return [line.strip() for line in script.splitlines() if IMPERATIVE.search(line)]


def _runs(workflow: Any) -> list[tuple[str, str]]:
    out = []
    jobs = workflow.get("jobs", {}) if isinstance(workflow, dict) else {}
    for job_name, job in (jobs or {}).items():
        for i, step in enumerate((job or {}).get("steps", []) or []):
            if isinstance(step, dict) and isinstance(step.get("run"), str):
                out.append((f"jobs.{job_name}.steps[{i}]", step["run"]))
    return out


def scan_repo(repo: Path) -> list[str]:
    findings = []
    yaml = YAML(typ="safe")
    for path in sorted((repo / ".github" / "workflows").glob("*.y*ml")):
        rel = path.relative_to(repo)
        try:
            workflow = yaml.load(path.read_text(encoding="utf-8"))
        except YAMLError as exc:
            findings.append(f"{rel}: not valid YAML: {exc}")
            continue
        for where, script in _runs(workflow):
            findings += [f"{rel}: {where}: {cmd}" for cmd in imperative_commands(script)]
    mise = repo / "mise.toml"
    if mise.is_file():
        findings += [f"mise.toml: {cmd}" for cmd in imperative_commands(mise.read_text())]
    return findings
