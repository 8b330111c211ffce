"""The platform's own image, as the embedded image store holds it: built from the source this
`gitops` runs from and the repo root's Dockerfile, tagged with the reference the deploy repo's
guard Deployment names (`guard.image` in repos.yaml, the `images:` of
platform/guard/kustomization.yaml), so the `gitops-guard` Application runs here as on EKS.

The source may be a checkout with uncommitted edits, or no checkout at all: the build context is
exactly what the Dockerfile copies (the allow-list of .dockerignore: pyproject.toml, uv.lock,
README.md, console/ without bytecode), snapshotted into a temporary git repository, plus the
Dockerfile. Its digest is known before building (the snapshot's tree, the Dockerfile, uv.lock,
the build args), so a start whose source did not change builds nothing.

The tag moves: the platform rebuilds its own image from its working copy, so the same
`name:tag` names new content after the source changed (ImageStore.build's `move_tag`). Every
service image stays immutable. A pod already running keeps the build it started from; the
guard's Deployment pulls `Always`, so its next container start runs the new one.
"""

from __future__ import annotations

import shutil
import tempfile
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import console
from console.git import FALLBACK_IDENTITY, commit_all, git
from console.local.ci.images import Image, ImageStore, image_digest, parse_reference

Progress = Callable[[str], None]
DOCKERFILE = "Dockerfile"
CONTEXT_FILES = ("pyproject.toml", "uv.lock", "README.md", DOCKERFILE)
PACKAGE = "console"
_IGNORED = shutil.ignore_patterns("__pycache__", "*.py[cod]")
# A fixed identity and date: the same source is the same commit (the digest needs only its
# tree; a stable commit keeps the image's recorded source_commit stable too).
_COMMIT_ENV = {
    **FALLBACK_IDENTITY.env(),
    "GIT_AUTHOR_DATE": "2000-01-01T00:00:00Z",
    "GIT_COMMITTER_DATE": "2000-01-01T00:00:00Z",
}


class PlatformImageError(RuntimeError):
    """The platform image cannot be built here; the message says why."""


def source_root() -> Path:
    """Where the `console` package that runs now sits, with its project files beside it."""
    return Path(console.__file__).resolve().parent.parent


@dataclass(frozen=True)
class Snapshot:
    repo: Path
    commit: str
    tree: str
    version: str  # pyproject's project.version


def snapshot(root: Path, dest: Path) -> Snapshot:
    """The build context of `root` as one commit of a new repository at `dest`."""
    missing = [n for n in CONTEXT_FILES if not (root / n).is_file()]
    if missing or not (root / PACKAGE).is_dir():
        raise PlatformImageError(
            f"{root}: not the platform's source (missing {', '.join(missing) or PACKAGE}); the "
            "embedded platform builds its own image from a checkout of it"
        )
    dest.mkdir(parents=True)
    for name in CONTEXT_FILES:
        shutil.copy2(root / name, dest / name)
    shutil.copytree(root / PACKAGE, dest / PACKAGE, ignore=_IGNORED)
    git(["init", "--quiet", "--initial-branch", "main"], dest)
    commit_all(dest, "platform image", env=_COMMIT_ENV, force=True)
    commit = git(["rev-parse", "HEAD"], dest).strip()
    tree = git(["rev-parse", "HEAD^{tree}"], dest).strip()
    with (dest / "pyproject.toml").open("rb") as fh:
        version = str(tomllib.load(fh).get("project", {}).get("version", ""))
    return Snapshot(dest, commit, tree, version)


def build_args(snap: Snapshot) -> dict[str, str]:
    """The Dockerfile's ARGs: VERSION only. GIT_SHA is left out on purpose: the source may hold
    uncommitted edits, so no commit would be true, and a commit that changes nothing the image
    holds must not make a new image."""
    return {"VERSION": snap.version}


def ensure(
    store: ImageStore,
    ref: str,
    *,
    root: Path | None = None,
    progress: Progress = print,
    log: Path | None = None,
) -> Image:
    """`ref` in `store`, built from `root` (default: `source_root()`) when the store does not
    hold this source's build under it yet. Raises PlatformImageError, or the store's
    BuildError."""
    parsed = parse_reference(ref)
    if parsed.digest or parsed.tag is None:
        raise PlatformImageError(
            f"guard.image {ref} is pinned by digest: the embedded platform builds its image from "
            "source and cannot make that digest; give repos.yaml's guard.image a tag"
        )
    with tempfile.TemporaryDirectory(prefix="gitops-platform-image-") as tmp:
        snap = snapshot(root or source_root(), Path(tmp) / "context")
        args = build_args(snap)
        digest = image_digest(
            snap.tree,
            (snap.repo / DOCKERFILE).read_bytes(),
            (snap.repo / "uv.lock").read_bytes(),
            args,
        )
        current = store.get(parsed.name, parsed.tag)
        if current is not None and current.digest == digest:
            progress(f"platform image {ref}: up to date ({digest[:19]})")
            return current
        why = "new" if current is None else "the source changed"
        progress(f"building the platform image {ref} ({why}; a few seconds with uv's cache)")
        image = store.build(
            snap.repo,
            snap.commit,
            parsed.name,
            parsed.tag,
            args,
            dockerfile=DOCKERFILE,
            log=log,
            move_tag=True,
        )
        progress(f"platform image {ref}: {image.digest[:19]}")
        return image
