"""A deploy repo as the console reads it: its head (cheap, polled), its history as RepoFacts
(re-read when the head moves) and the image tag an overlay pins at a revision (read once: a
commit's content never changes). Reading is console.fleet.deployrepo's; blocking: call from a
thread.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path, PurePosixPath

from console.fleet.deployrepo import DeployRepo as _Reader
from console.fleet.deployrepo import DeployRepoError
from console.promote.overlay import OverlayError, read_tag
from console.tui.store import RepoFacts

KUSTOMIZATION = "kustomization.yaml"
RepoError = DeployRepoError  # what the adapter catches


class DeployRepo:
    def __init__(self, location: str, scratch: Path) -> None:
        self.location = location
        self._reader = _Reader(location, scratch)

    def head(self) -> str:
        """The sha the repo's default branch points at now."""
        return self._reader.head()

    def read(self, head: str) -> RepoFacts:
        """The commits reachable from `head`, newest first."""
        return RepoFacts.of(head, self._reader.commits(head))

    def pins(self, wanted: Iterable[tuple[str, str, str]]) -> Mapping[tuple[str, str], str | None]:
        """(revision, path) -> the tag `path/kustomization.yaml` pins for the service at that
        revision; None when it pins none or cannot be read (not an overlay, no such revision)."""
        out: dict[tuple[str, str], str | None] = {}
        for rev, path, service in wanted:
            file = str(PurePosixPath(path) / KUSTOMIZATION)
            try:
                out[(rev, path)] = read_tag(self._reader.show(rev, file), service, file)
            except (DeployRepoError, OverlayError):
                out[(rev, path)] = None
        return out
