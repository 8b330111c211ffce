"""An app's rendered manifests at a revision: from Argo CD's GetManifests answer (a
`repositoryManifestResponse`, each object's JSON as a string), or rendered here from a deploy
repo's tree with Kustomize (`render_tree`), for what Argo CD cannot render: a draft not yet
committed, or a target with no API to ask."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from console import kustomize
from console.fleet.parse import MalformedError

Object = dict[str, Any]


@dataclass(frozen=True)
class Rendered:
    revision: str  # as resolved by the renderer ("" when it does not say)
    objects: tuple[Object, ...]


def parse_manifests(body: object) -> Rendered:
    """A `repositoryManifestResponse`; MalformedError names the field that is not one."""
    if not isinstance(body, Mapping):
        raise MalformedError("", "expected a repositoryManifestResponse object")
    texts = body.get("manifests") or []
    if not isinstance(texts, list):
        raise MalformedError("manifests", "expected a list of strings")
    objects = []
    for i, text in enumerate(texts):
        try:
            obj = json.loads(text) if isinstance(text, str) else None
        except ValueError:
            obj = None
        if not isinstance(obj, dict):
            raise MalformedError(f"manifests[{i}]", "expected an object's JSON")
        objects.append(obj)
    revision = body.get("revision")
    return Rendered(revision if isinstance(revision, str) else "", tuple(objects))


def render_tree(root: Path, path: str) -> tuple[str, tuple[Object, ...]]:
    """(source type, objects): what `path` of the tree at `root` renders to, as Argo CD's repo
    server renders it: "Kustomize" where a kustomization is, else "Directory", its manifests.
    Raises KustomizeError. Blocking."""
    rel = PurePosixPath(path or ".")
    if rel.is_absolute() or ".." in rel.parts:
        raise kustomize.KustomizeError(f"{path}: the source path must stay inside the repository")
    directory = root / rel
    if not directory.is_dir():
        raise kustomize.KustomizeError(f"{path}: app path does not exist")
    if any((directory / name).is_file() for name in kustomize.KUSTOMIZATIONS):
        try:
            stream = kustomize.build(directory)
        except kustomize.KustomizeError as exc:
            raise kustomize.KustomizeError(str(exc).replace(str(root) + "/", "")) from None
        return "Kustomize", tuple(kustomize.objects(stream, path))
    return "Directory", tuple(kustomize.directory_objects(directory, path))
