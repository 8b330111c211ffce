"""Render generated repos with Copier: always into a temporary directory first, then move into
place, so a failure never leaves a half-written repo behind."""

from __future__ import annotations

import shutil
import tempfile
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import copier
from copier.errors import CopierError, DirtyLocalWarning
from jinja2 import TemplateError
from ruamel.yaml import YAML

from console.config import PlatformConfig, RepoRole
from console.git import GitError, init_with_commit
from console.scaffold.answers import answers_for
from console.scaffold.template_source import TemplateSource

ANSWERS_FILE = ".copier-answers.yml"
Progress = Callable[[str], None]


class ScaffoldError(Exception):
    """Rendering could not be done; the message names the repo and the cause."""


@dataclass(frozen=True)
class Rendered:
    role: RepoRole
    name: str
    path: Path


def _quiet(_: str) -> None:
    return None


@contextmanager
def _copier_warnings() -> Iterator[None]:
    # Rendering a dirty checkout is the point of drift checks; Copier's warning about it is noise.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DirtyLocalWarning)
        yield


# Every Copier run here: answers come from `data` (no prompts), files are replaced, and the
# templates' tasks and migrations never run (unsafe=False).
COPIER_OPTIONS: dict[str, Any] = {
    "defaults": True,
    "overwrite": True,
    "quiet": True,
    "unsafe": False,
}


def render_one(source: TemplateSource, data: dict[str, Any], dest: Path) -> None:
    """Copier-render one repo into `dest` (which must not exist yet)."""
    try:
        with _copier_warnings():
            copier.run_copy(
                source.location,
                dest,
                data=data,
                vcs_ref=source.vcs_ref,
                **COPIER_OPTIONS,
            )
    except (CopierError, TemplateError, ValueError, OSError, GitError) as exc:
        raise ScaffoldError(f"{data['template']} template ({source.location}): {exc}") from None


def render_all(
    config: PlatformConfig,
    source: TemplateSource,
    workdir: Path,
    progress: Progress = _quiet,
) -> list[Rendered]:
    """Render every repo of `config` into `workdir/<destination>`."""
    out = []
    repos = config.repos.items()
    for n, (role, repo) in enumerate(repos, start=1):
        target = workdir / repo.destination
        progress(f"[{n}/{len(repos)}] rendering {repo.name} (template {repo.template})")
        render_one(source, answers_for(config, role), target)
        out.append(Rendered(role, repo.name, target))
    return out


def normalise_answers(repo_dir: Path, template_url: str) -> None:
    """Make a committed copy's answers file independent of where and from which commit it was
    rendered: `_src_path` becomes the public template URL and `_commit` is dropped."""
    path = repo_dir / ANSWERS_FILE
    yaml = YAML(typ="rt")
    yaml.indent(mapping=2, sequence=2, offset=0)  # the layout Copier's to_nice_yaml wrote
    yaml.width = 4096
    data = yaml.load(path.read_text(encoding="utf-8"))
    data["_src_path"] = template_url
    data.pop("_commit", None)
    with path.open("w", encoding="utf-8") as fh:
        yaml.dump(data, fh)


def scaffold(
    config: PlatformConfig,
    source: TemplateSource,
    dest_root: Path,
    progress: Progress = _quiet,
) -> list[Rendered]:
    """Render every repo into `dest_root/<destination>`, each a git repo with one first commit."""
    targets = [(role, repo, dest_root / repo.destination) for role, repo in config.repos.items()]
    for _, repo, target in targets:
        if target.exists() and any(target.iterdir()):
            raise ScaffoldError(
                f"{target} already exists and is not empty: choose another --dest, "
                f"or run `gitops update` to update the {repo.name} repo"
            )
    created_root = not dest_root.exists()
    dest_root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".gitops-scaffold-", dir=dest_root))
    try:
        rendered = render_all(config, source, staging, progress)
        for item in rendered:
            progress(f"committing {item.name}")
            try:
                template = getattr(config.repos, item.role.value).template
                init_with_commit(
                    item.path, f"chore: scaffold {item.name} from the {template} template"
                )
            except GitError as exc:
                raise ScaffoldError(f"{item.name}: {exc}") from None
        final = []
        for item, (_, _, target) in zip(rendered, targets, strict=True):
            target.parent.mkdir(parents=True, exist_ok=True)
            if target.exists():
                target.rmdir()  # checked empty above
            item.path.rename(target)
            final.append(Rendered(item.role, item.name, target))
        return final
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        if created_root and not any(dest_root.iterdir()):
            dest_root.rmdir()
        raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
