"""Results of the validation matrix: one per (check, repo)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path


class Status(StrEnum):
    PASS = "pass"  # noqa: S105 - a status, not a password
    FAIL = "fail"
    SKIPPED = "skipped"
    NOT_APPLICABLE = "n/a"


class Kind(StrEnum):
    INFRA = "infra"
    APP = "app"
    DEPLOY = "deploy"


@dataclass(frozen=True)
class Repo:
    path: Path
    kind: Kind
    name: str = ""  # set where the directory name alone is ambiguous

    @property
    def label(self) -> str:
        return self.name or self.path.name


@dataclass(frozen=True)
class Outcome:
    """What one check concluded: findings mean failure; a skip carries its reason."""

    findings: tuple[str, ...] = ()
    skipped: str | None = None

    @classmethod
    def skip(cls, reason: str) -> Outcome:
        return cls(skipped=reason)

    @classmethod
    def of(cls, findings: list[str]) -> Outcome:
        return cls(findings=tuple(findings))


@dataclass(frozen=True)
class Result:
    check: str
    repo: str
    status: Status
    findings: tuple[str, ...] = ()
    reason: str = ""
    seconds: float = 0.0

    @property
    def first(self) -> str:
        return self.findings[0] if self.findings else self.reason


@dataclass
class Report:
    repos: list[Repo]
    checks: list[str]
    results: list[Result] = field(default_factory=list)

    def failed(self, strict: bool) -> bool:
        bad = {Status.FAIL, Status.SKIPPED} if strict else {Status.FAIL}
        return any(r.status in bad for r in self.results)
