"""Which applications a request asks for: Kubernetes label and field selectors, and the filters
of Argo CD's ApplicationQuery."""

from __future__ import annotations

import builtins
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from quart import request

from console.local.argo.appstate import ApplicationRecord
from console.local.argo.errors import InvalidArgumentError
from console.local.git.webhook import normalize_url

_SET_REQ = re.compile(r"^\s*([A-Za-z0-9./_-]+)\s+(in|notin)\s*\(([^)]*)\)\s*$")
_EQ_REQ = re.compile(r"^\s*([A-Za-z0-9./_-]+)\s*(==|=|!=)\s*([A-Za-z0-9._-]*)\s*$")
_EXISTS_REQ = re.compile(r"^\s*(!?)\s*([A-Za-z0-9./_-]+)\s*$")

Matcher = Callable[[Mapping[str, str]], bool]


def _split_requirements(selector: str) -> builtins.list[str]:
    parts: builtins.list[str] = []
    current: builtins.list[str] = []
    depth = 0
    for char in selector:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return [p for p in parts if p.strip()]


def _requirement(text: str) -> Matcher:
    if m := _SET_REQ.match(text):
        key, op = m[1], m[2]
        values = {v.strip() for v in m[3].split(",") if v.strip()}
        if op == "in":
            return lambda labels: labels.get(key) in values
        return lambda labels: labels.get(key) not in values
    if m := _EQ_REQ.match(text):
        key, op, value = m[1], m[2], m[3]
        if op == "!=":
            return lambda labels: labels.get(key) != value
        return lambda labels: labels.get(key) == value
    if m := _EXISTS_REQ.match(text):
        negate, key = m[1] == "!", m[2]
        return lambda labels: (key in labels) != negate
    raise InvalidArgumentError(f"unable to parse requirement: {text.strip()!r}")


def parse_selector(selector: str) -> Matcher:
    """A Kubernetes label selector (`k=v`, `k==v`, `k!=v`, `k in (a,b)`, `k notin (a,b)`, `k`,
    `!k`, comma-separated, all must hold) as a predicate on labels. Raises InvalidArgumentError
    for a malformed selector."""
    requirements = [_requirement(part) for part in _split_requirements(selector)]
    return lambda labels: all(req(labels) for req in requirements)


def parse_field_selector(selector: str) -> Callable[[ApplicationRecord], bool]:
    """A Kubernetes field selector over `metadata.name` and `metadata.namespace` (`=`, `==`,
    `!=`); other fields are refused, as the API server refuses unsupported field labels."""
    checks: builtins.list[Callable[[ApplicationRecord], bool]] = []
    for part in _split_requirements(selector):
        m = _EQ_REQ.match(part)
        if m is None or m[1] not in ("metadata.name", "metadata.namespace"):
            raise InvalidArgumentError(f'field label not supported: "{part.strip()}"')
        key, negate, value = m[1], m[2] == "!=", m[3]

        def check(
            record: ApplicationRecord, key: str = key, negate: bool = negate, value: str = value
        ) -> bool:
            actual = record.name if key == "metadata.name" else record.namespace
            return (actual == value) != negate

        checks.append(check)
    return lambda record: all(check(record) for check in checks)


@dataclass(frozen=True)
class Query:
    """The application filters of Argo CD's ApplicationQuery."""

    name: str = ""
    projects: frozenset[str] = frozenset()
    selector: Matcher | None = None
    repo: str = ""
    namespace: str = ""

    @classmethod
    def from_request(cls) -> Query:
        args = request.args
        selector = args.get("selector", "")
        projects = [*args.getlist("projects"), *args.getlist("project")]
        return cls(
            name=args.get("name", ""),
            projects=frozenset(p for p in projects if p),
            selector=parse_selector(selector) if selector else None,
            repo=args.get("repo", ""),
            namespace=args.get("appNamespace", ""),
        )

    def matches(self, record: ApplicationRecord) -> bool:
        if self.name and record.name != self.name:
            return False
        if self.projects and record.project not in self.projects:
            return False
        if self.namespace and record.namespace != self.namespace:
            return False
        if self.repo and normalize_url(str(record.source.get("repoURL", ""))) != normalize_url(
            self.repo
        ):
            return False
        return self.selector is None or self.selector(record.labels)


def sorted_records(records: Iterable[ApplicationRecord]) -> builtins.list[ApplicationRecord]:
    return sorted(records, key=lambda r: (r.namespace, r.name))
