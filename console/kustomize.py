"""Render a source the way Argo CD's repo server does: a Kustomize directory by shelling out to
`kustomize build` (or `kubectl kustomize`), found on PATH; a plain directory by reading its
manifests. The embedded repo server and the deploy repo's gate both render through here."""

from __future__ import annotations

import json
from pathlib import Path, PurePosixPath
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from console import tools

KUSTOMIZATIONS = ("kustomization.yaml", "kustomization.yml", "Kustomization")


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
    names = set(KUSTOMIZATIONS)
    return sorted({p.parent for p in root.rglob("*") if p.name in names and ".git" not in p.parts})


def directory_objects(directory: Path, path: str) -> list[dict[str, Any]]:
    """A directory source's objects (Argo CD's default: its YAML and JSON files, not recursing);
    KustomizeError names the file that is not a manifest (`path` is how the source is named)."""
    yaml = YAML(typ="safe")
    objects: list[dict[str, Any]] = []
    for file in sorted(directory.iterdir()):
        if not file.is_file() or file.suffix not in (".yaml", ".yml", ".json"):
            continue
        where = f"{PurePosixPath(path) / file.name}"
        try:
            text = file.read_text(encoding="utf-8")
            docs = [json.loads(text)] if file.suffix == ".json" else list(yaml.load_all(text))
        except (YAMLError, json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise KustomizeError(f"{where}: {exc}") from None
        for doc in docs:
            if doc is None:
                continue
            if not isinstance(doc, dict) or not doc.get("kind") or not doc.get("apiVersion"):
                raise KustomizeError(f"{where}: not a Kubernetes object (no apiVersion/kind)")
            objects.append(doc)
    return objects
