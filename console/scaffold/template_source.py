"""Where the Copier templates come from, and which revision of them to render."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from console.git import git, is_repo_root

# The checkout this package runs from holds copier.yml at its root.
PROJECT_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class TemplateSource:
    """A template location (path or URL) and the git ref to render (None: the latest tag)."""

    location: str
    vcs_ref: str | None

    def has_uncommitted_changes(self) -> bool:
        """Copier renders a local HEAD with its uncommitted changes as a snapshot commit that
        exists nowhere else, so repos rendered from it cannot be `copier update`d later."""
        if not self.is_local or self.vcs_ref != "HEAD":
            return False
        return bool(git(["status", "--porcelain"], Path(self.location), check=False).strip())

    @property
    def is_local(self) -> bool:
        return "://" not in self.location and not self.location.startswith(("gh:", "gl:", "git@"))


class TemplateNotFoundError(Exception):
    pass


def resolve(location: str | None, vcs_ref: str | None) -> TemplateSource:
    """The default is this checkout at HEAD including uncommitted changes, which is what drift
    checks must compare against; Copier would otherwise render the latest tag."""
    if location is None:
        root = PROJECT_ROOT
        if not (root / "copier.yml").is_file():
            raise TemplateNotFoundError(
                f"no copier.yml at {root}: run from a gitops-platform checkout or pass --template"
            )
        location = str(root)
    source = TemplateSource(location, vcs_ref)
    if source.is_local:
        path = Path(location).expanduser().resolve()
        if not (path / "copier.yml").is_file():
            raise TemplateNotFoundError(f"{path}: no copier.yml here (--template)")
        ref = vcs_ref if vcs_ref is not None else ("HEAD" if is_repo_root(path) else None)
        return TemplateSource(str(path), ref)
    return source
