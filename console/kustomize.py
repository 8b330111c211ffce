"""Render a Kustomize directory the way Argo CD's repo server does: by shelling out to
`kustomize build` (or `kubectl kustomize`), found on PATH."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from console import tools


class KustomizeError(Exception):
    """Rendering failed, or no renderer is installed; the message says which and why."""


def renderer() -> list[str]:
    """The command that renders a directory given as the last argument."""
    if (kustomize := tools.find("kustomize")) is not None:
        return [kustomize, "build"]
    if (kubectl := tools.find("kubectl")) is not None:
        return [kubectl, "kustomize"]
    raise KustomizeError(
        "neither `kustomize` nor `kubectl` is on PATH: install one (see mise.toml)"
    )


def build(directory: Path) -> str:
    """The rendered YAML stream of `directory`."""
    ran = tools.run([*renderer(), str(directory)], cwd=directory, timeout=120)
    if ran.returncode != 0:
        raise KustomizeError(f"{directory}: {ran.stderr.strip() or ran.stdout.strip()}")
    return ran.stdout


def objects(stream: str, where: str = "") -> list[dict[str, Any]]:
    """The Kubernetes objects of a rendered stream."""
    try:
        docs = list(YAML(typ="safe").load_all(stream))
    except YAMLError as exc:
        raise KustomizeError(f"{where}: rendered output is not YAML: {exc}") from None
    return [d for d in docs if isinstance(d, dict)]


def kustomizations(root: Path) -> list[Path]:
    """Every directory under `root` holding a kustomization file, sorted."""
    names = {"kustomization.yaml", "kustomization.yml", "Kustomization"}
    return sorted({p.parent for p in root.rglob("*") if p.name in names and ".git" not in p.parts})
