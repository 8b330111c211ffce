"""What the deploy repo's history says about one app's rollbacks: the facts the policy needs from
Git, so that a restarted guard decides exactly as the one before it."""

from __future__ import annotations

from dataclasses import dataclass, field

from console.fleet.history import Rollback


@dataclass(frozen=True)
class GitFacts:
    """For one app: the revisions rolled back (`Rollback-Of`, with `Rollback-App` naming it) and
    the rollback commits themselves."""

    rolled_back: frozenset[str] = field(default_factory=frozenset)  # bad revisions
    rollback_commits: frozenset[str] = field(default_factory=frozenset)
    # The rollback commits as Git records them (trailers, time), newest first.
    records: tuple[Rollback, ...] = field(default=(), compare=False)

    def is_bad(self, revision: str) -> bool:
        return revision in self.rolled_back

    def is_rollback(self, revision: str) -> bool:
        return revision in self.rollback_commits
