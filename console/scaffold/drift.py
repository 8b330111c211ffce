"""`gitops scaffold --check` and `--refresh`: keep the committed renderings (infra-repo/,
apps-repo/, deploy-repo/) identical to what the templates produce from repos.yaml."""

from __future__ import annotations

import filecmp
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from console.config import PlatformConfig
from console.scaffold.render import Progress, _quiet, normalise_answers, render_all
from console.scaffold.template_source import TemplateSource

IGNORED_DIRS = {".git", "__pycache__", ".venv", ".pytest_cache", ".ruff_cache", ".mypy_cache"}


@dataclass(frozen=True)
class Drift:
    path: str  # relative to the config directory, e.g. apps-repo/README.md
    change: str  # "missing" (rendered, not committed), "extra" (committed, not rendered), "differs"

    def __str__(self) -> str:
        return f"{self.change:8} {self.path}"


def _files(root: Path) -> dict[str, Path]:
    out: dict[str, Path] = {}
    if not root.is_dir():
        return out
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in IGNORED_DIRS)
        for name in filenames:
            full = Path(dirpath) / name
            out[full.relative_to(root).as_posix()] = full
    return out


def compare_trees(rendered: Path, committed: Path, label: str) -> list[Drift]:
    """Every file that differs in presence, content or executable bit."""
    want, have = _files(rendered), _files(committed)
    drifts = [Drift(f"{label}/{p}", "missing") for p in sorted(want.keys() - have.keys())]
    drifts += [Drift(f"{label}/{p}", "extra") for p in sorted(have.keys() - want.keys())]
    for rel in sorted(want.keys() & have.keys()):
        a, b = want[rel], have[rel]
        same_mode = os.access(a, os.X_OK) == os.access(b, os.X_OK)
        if not same_mode or not filecmp.cmp(a, b, shallow=False):
            drifts.append(Drift(f"{label}/{rel}", "differs"))
    return drifts


def _render_committed_form(
    config: PlatformConfig, source: TemplateSource, workdir: Path, progress: Progress
) -> None:
    for item in render_all(config, source, workdir, progress):
        normalise_answers(item.path, config.template_url)


def check(
    config: PlatformConfig, config_dir: Path, source: TemplateSource, progress: Progress = _quiet
) -> list[Drift]:
    """Render into a temp dir and compare with the committed copies next to repos.yaml."""
    with tempfile.TemporaryDirectory(prefix="gitops-check-") as tmp:
        _render_committed_form(config, source, Path(tmp), progress)
        drifts: list[Drift] = []
        for _, repo in config.repos.items():
            drifts += compare_trees(
                Path(tmp) / repo.destination, config_dir / repo.destination, repo.destination
            )
        return drifts


def refresh(
    config: PlatformConfig, config_dir: Path, source: TemplateSource, progress: Progress = _quiet
) -> list[Path]:
    """Re-render the committed copies in place (render first, then swap each directory)."""
    # Staged outside the checkout: Copier snapshots the dirty work tree for every render.
    staging = Path(tempfile.mkdtemp(prefix="gitops-refresh-"))
    try:
        _render_committed_form(config, source, staging / "new", progress)
        written = []
        for _, repo in config.repos.items():
            target = config_dir / repo.destination
            old = staging / "old" / repo.destination
            old.parent.mkdir(parents=True, exist_ok=True)
            if target.exists():
                shutil.move(target, old)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(staging / "new" / repo.destination, target)
            written.append(target)
        return written
    finally:
        shutil.rmtree(staging, ignore_errors=True)
