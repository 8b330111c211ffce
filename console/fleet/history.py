"""Deploy-repo history from `git log` with trailers: promotions and rollbacks, auditable from Git
alone."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from console.contract import ROLLBACK_APP, ROLLBACK_OF, ROLLBACK_REASON, ROLLBACK_TO
from console.git import git

_FIELD, _RECORD, _TRAILER = "\x1f", "\x1e", "\x1d"


@dataclass(frozen=True)
class Commit:
    sha: str
    subject: str
    author: str
    timestamp: int
    trailers: tuple[tuple[str, str], ...]
    parents: tuple[str, ...] = ()

    def trailer(self, key: str) -> str | None:
        """The last value of trailer `key` (case-insensitive, as git treats trailer keys)."""
        values = [v for k, v in self.trailers if k.lower() == key.lower()]
        return values[-1] if values else None


@dataclass(frozen=True)
class Rollback:
    """One rollback commit, read back from its trailers."""

    sha: str
    app: str
    of: str
    to: str
    reason: str
    timestamp: int


def log(repo: Path, rev: str = "HEAD", paths: Sequence[str] = ()) -> list[Commit]:
    """Commits reachable from `rev`, newest first, with their parsed trailers."""
    fmt = _FIELD.join(
        ["%H", "%s", "%an <%ae>", "%ct", "%(trailers:only,unfold,separator=%x1d)", "%P"]
    )
    out = git(["log", f"--format={fmt}{_RECORD}", rev, "--", *paths], repo)
    commits = []
    for raw in out.split(_RECORD):
        record = raw.strip("\n")
        if not record:
            continue
        sha, subject, author, ts, trailer_text, parents = record.split(_FIELD)
        trailers = []
        for line in trailer_text.split(_TRAILER):
            key, sep, value = line.partition(":")
            if sep and key.strip():
                trailers.append((key.strip(), value.strip()))
        commits.append(
            Commit(sha, subject, author, int(ts), tuple(trailers), tuple(parents.split()))
        )
    return commits


def rollbacks(commits: Sequence[Commit]) -> list[Rollback]:
    """The rollback commits among `commits` (those carrying a Rollback-Of trailer)."""
    out = []
    for c in commits:
        of = c.trailer(ROLLBACK_OF)
        if of:
            out.append(
                Rollback(
                    sha=c.sha,
                    app=c.trailer(ROLLBACK_APP) or "",
                    of=of,
                    to=c.trailer(ROLLBACK_TO) or "",
                    reason=c.trailer(ROLLBACK_REASON) or "",
                    timestamp=c.timestamp,
                )
            )
    return out
