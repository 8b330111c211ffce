"""The schema of repos.yaml, the one declaration of the polyrepo.

Loading is strict (unknown keys are errors) and every problem is reported with the file, the
line where it is known and the dotted field path, so `gitops` prints it and exits 2, no traceback.
"""

from __future__ import annotations

import reprlib
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError

# RFC 1035 label: Kubernetes Service and namespace names, Argo CD app name parts.
DNS_LABEL = r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$"
GITHUB_NAME = r"^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,99})$"
AWS_REGION = r"^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d$"
REGISTRY = r"^[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:\d+)?(/[a-z0-9._/-]+)?$"

DnsLabel = Annotated[str, StringConstraints(pattern=DNS_LABEL)]

MAX_BYTES = 1 << 20  # a declaration of hundreds of services is a few dozen KiB
MAX_VALUES = 100_000  # values in the document with its YAML aliases expanded
LABEL_MAX = 63  # Argo CD tracks an app's resources by a label value: at most 63 characters
GUARD_APP = "gitops-guard"  # the guard's own Application (templates/deploy/argocd/apps)
ROOT_APP = "root"  # the app-of-apps (templates/deploy/argocd/root.yaml)
PLATFORM_IMAGE = "gitops-platform"  # the platform's own image, beside the services' images


class ServiceKind(StrEnum):
    BACKEND = "backend"
    FRONTEND = "frontend"


class RepoRole(StrEnum):
    INFRA = "infra"
    APPS = "apps"
    DEPLOY = "deploy"


TEMPLATE_OF_ROLE = {RepoRole.INFRA: "infra", RepoRole.APPS: "app", RepoRole.DEPLOY: "deploy"}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class Environment(_Strict):
    """One stage of promotion. Unset timings default by position: the first environment fails
    fast (short deadlines, so a bad rollout shows within seconds), later ones are conservative."""

    name: DnsLabel
    replicas: Annotated[int, Field(ge=1, le=50)] = 1
    progress_deadline_s: Annotated[int, Field(ge=5, le=3600)] | None = None
    min_ready_s: Annotated[int, Field(ge=0, le=600)] | None = None
    rollback_grace_s: Annotated[int, Field(ge=0, le=3600)] | None = None
    auto_rollback: bool = True
    # The analysis of a release that turned Healthy (console.guard.analysis): how long it is
    # watched, its thresholds and the least traffic a verdict needs; 0 seconds turns it off.
    analysis_s: Annotated[int, Field(ge=0, le=3600)] | None = None
    max_error_ratio: Annotated[float, Field(ge=0, le=1)] | None = None
    max_p95_latency_ms: Annotated[int, Field(ge=1, le=600_000)] | None = None
    analysis_min_requests: Annotated[int, Field(ge=1, le=1_000_000)] | None = None

    @model_validator(mode="before")
    @classmethod
    def _from_name(cls, value: Any) -> Any:
        # `environments: [dev, prod]` is the common short form.
        return {"name": value} if isinstance(value, str) else value


class Service(_Strict):
    name: DnsLabel
    kind: ServiceKind
    port: Annotated[int, Field(ge=1024, le=65535)]
    backend: DnsLabel | None = Field(
        default=None, description="frontend only: the backend service it reports on"
    )
    environments: list[DnsLabel] | None = Field(
        default=None, description="environments this service deploys to (default: all)"
    )


class Repo(_Strict):
    name: Annotated[str, StringConstraints(pattern=GITHUB_NAME)]
    template: Literal["infra", "app", "deploy"]
    destination: str

    @field_validator("destination")
    @classmethod
    def _relative(cls, value: str) -> str:
        path = Path(value)
        if not value or path.is_absolute() or ".." in path.parts:
            raise ValueError("must be a relative path inside the destination directory")
        return value


class Repos(_Strict):
    infra: Repo
    apps: Repo
    deploy: Repo

    def items(self) -> list[tuple[RepoRole, Repo]]:
        return [
            (RepoRole.INFRA, self.infra),
            (RepoRole.APPS, self.apps),
            (RepoRole.DEPLOY, self.deploy),
        ]


class Aws(_Strict):
    region: Annotated[str, StringConstraints(pattern=AWS_REGION)]
    cluster_name: DnsLabel


class ArgoCD(_Strict):
    namespace: DnsLabel = "argocd"


class Guard(_Strict):
    """The rollback controller as the deploy repo runs it."""

    image: (
        Annotated[
            str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9._/:-]*(@sha256:[0-9a-f]{64})?$")
        ]
        | None
    ) = None
    namespace: DnsLabel = "gitops-system"


class PlatformConfig(_Strict):
    org: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})$")]
    git_host: Annotated[str, StringConstraints(pattern=r"^https?://[^\s/]+(/[^\s]*)?$")] = (
        "https://github.com"
    )
    template_source: str | None = Field(
        default=None,
        description="where generated repos update their templates from (default: "
        "<git_host>/<org>/gitops-platform.git)",
    )
    codeowners: Annotated[str, StringConstraints(pattern=r"^@[\w./-]+$")] | None = None
    environments: Annotated[list[Environment], Field(min_length=1)]
    services: Annotated[list[Service], Field(min_length=1)]
    registry: Annotated[str, StringConstraints(pattern=REGISTRY)]
    aws: Aws
    argocd: ArgoCD = ArgoCD()
    guard: Guard = Guard()
    repos: Repos

    @property
    def environment_names(self) -> list[str]:
        return [env.name for env in self.environments]

    @property
    def template_url(self) -> str:
        return self.template_source or f"{self.git_host.rstrip('/')}/{self.org}/gitops-platform.git"

    @property
    def guard_image(self) -> str:
        return self.guard.image or f"{self.registry}/{PLATFORM_IMAGE}:0.1.0"

    @property
    def owners(self) -> str:
        return self.codeowners or f"@{self.org}/platform"

    def service(self, name: str) -> Service:
        return next(s for s in self.services if s.name == name)


@dataclass(frozen=True)
class ConfigIssue:
    """One problem in the file: where (field path, line) and what."""

    loc: tuple[str | int, ...]
    message: str
    line: int | None = None

    @property
    def field(self) -> str:
        out = ""
        for part in self.loc:
            out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
        return out or "(top level)"


class ConfigError(Exception):
    """repos.yaml is not usable; str() lists every issue as `file:line: field: message`."""

    def __init__(self, path: Path, issues: Sequence[ConfigIssue]) -> None:
        self.path = path
        self.issues = list(issues)
        super().__init__(self.render())

    def render(self) -> str:
        lines = []
        for issue in self.issues:
            where = f"{self.path}:{issue.line}" if issue.line else f"{self.path}"
            lines.append(f"{where}: {issue.field}: {issue.message}")
        return "\n".join(lines)


def semantic_issues(config: PlatformConfig) -> list[ConfigIssue]:
    """Cross-field rules the per-field schema cannot express. Pure: config in, issues out."""
    return [
        *_environment_issues(config),
        *_service_issues(config),
        *_repo_issues(config),
        *_generated_name_issues(config),
    ]


def _environment_issues(config: PlatformConfig) -> list[ConfigIssue]:
    issues, seen = [], set()
    for i, env in enumerate(config.environments):
        if env.name in seen:
            issues.append(
                ConfigIssue(("environments", i, "name"), f"duplicate environment {env.name!r}")
            )
        seen.add(env.name)
    return issues


def _service_issues(config: PlatformConfig) -> list[ConfigIssue]:
    issues: list[ConfigIssue] = []
    env_names = config.environment_names
    first_index: dict[str, int] = {}
    port_owner: dict[int, str] = {}
    for i, svc in enumerate(config.services):
        if svc.name in first_index:
            issues.append(
                ConfigIssue(
                    ("services", i, "name"),
                    f"duplicate service {svc.name!r} "
                    f"(first declared as services[{first_index[svc.name]}])",
                )
            )
        first_index.setdefault(svc.name, i)
        owner = port_owner.setdefault(svc.port, svc.name)
        if owner != svc.name:
            issues.append(
                ConfigIssue(
                    ("services", i, "port"), f"port {svc.port} clashes with service {owner!r}"
                )
            )
        issues += [
            ConfigIssue(
                ("services", i, "environments", j),
                f"unknown environment {name!r} (declared: {', '.join(env_names)})",
            )
            for j, name in enumerate(svc.environments or [])
            if name not in env_names
        ]
        issues += _backend_issues(config, i, svc)
    return issues


def _backend_issues(config: PlatformConfig, i: int, svc: Service) -> list[ConfigIssue]:
    backends = [s.name for s in config.services if s.kind is ServiceKind.BACKEND]
    if svc.kind is not ServiceKind.FRONTEND:
        if svc.backend is not None:
            return [ConfigIssue(("services", i, "backend"), "only a frontend has a backend")]
        return []
    if svc.backend is not None and svc.backend not in backends:
        return [
            ConfigIssue(
                ("services", i, "backend"),
                f"{svc.backend!r} is not a backend service "
                f"(backends: {', '.join(backends) or 'none'})",
            )
        ]
    if svc.backend is None and not backends:
        return [
            ConfigIssue(("services", i, "kind"), "a frontend needs a backend service to report on")
        ]
    return []


def _repo_issues(config: PlatformConfig) -> list[ConfigIssue]:
    issues: list[ConfigIssue] = []
    destinations: dict[str, str] = {}
    names: dict[str, str] = {}
    for role, repo in config.repos.items():
        expected = TEMPLATE_OF_ROLE[role]
        if repo.template != expected:
            issues.append(
                ConfigIssue(
                    ("repos", role.value, "template"),
                    f"the {role} repo uses template {expected!r}",
                )
            )
        dest = Path(repo.destination).as_posix()
        if destinations.setdefault(dest, role.value) != role.value:
            issues.append(
                ConfigIssue(
                    ("repos", role.value, "destination"),
                    f"{dest!r} is also the destination of the {destinations[dest]} repo",
                )
            )
        if names.setdefault(repo.name, role.value) != role.value:
            issues.append(
                ConfigIssue(
                    ("repos", role.value, "name"),
                    f"{repo.name!r} is also the {names[repo.name]} repo",
                )
            )
    return issues


def _generated_name_issues(config: PlatformConfig) -> list[ConfigIssue]:
    """Names the templates derive from the declaration must not meet: two files of one name
    would overwrite each other, and two objects of one name would be one object."""
    issues: list[ConfigIssue] = []
    apps: dict[str, str] = {GUARD_APP: "the rollback guard", ROOT_APP: "the app-of-apps"}
    for i, svc in enumerate(config.services):
        here = ("services", i, "name")
        for env in svc.environments or config.environment_names:
            name, this = f"{svc.name}-{env}", f"{svc.name} in {env}"
            other = apps.setdefault(name, this)
            if other != this:
                issues.append(
                    ConfigIssue(
                        here,
                        f"the Application {name!r} ({this}) is also that of {other}",
                    )
                )
            elif len(name) > LABEL_MAX:
                issues.append(
                    ConfigIssue(
                        here,
                        f"the Application {name!r} is {len(name)} characters; Argo CD tracks an "
                        f"app's resources by a label of at most {LABEL_MAX}",
                    )
                )
        if svc.name == PLATFORM_IMAGE and config.guard.image is None:
            issues.append(
                ConfigIssue(
                    here,
                    f"its image {config.registry}/{svc.name} is also the platform's own "
                    "(guard.image)",
                )
            )
    reserved = {
        config.argocd.namespace: "Argo CD's (argocd.namespace)",
        config.guard.namespace: "the guard's (guard.namespace)",
    }
    for j, stage in enumerate(config.environments):
        if stage.name in reserved:
            issues.append(
                ConfigIssue(
                    ("environments", j, "name"),
                    f"its namespace {stage.name!r} is also {reserved[stage.name]}",
                )
            )
    return issues


def _values_within(document: Any, limit: int) -> bool:
    """Whether the document, with its aliases expanded, holds at most `limit` values. Aliases
    are shared objects in the loaded document; walking them as a validator (or a message)
    would is what an alias bomb makes unbounded, so the walk stops at the limit."""
    count, stack = 0, [document]
    while stack:
        node = stack.pop()
        count += 1
        if count > limit:
            return False
        if isinstance(node, dict):
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return True


def line_of(document: Any, loc: Sequence[str | int]) -> int | None:
    """1-based line of the deepest node of `loc` found in a ruamel round-trip document."""
    node, line = document, None
    for part in loc:
        if isinstance(node, CommentedMap) and isinstance(part, str) and part in node:
            line = node.lc.key(part)[0] + 1
            node = node[part]
        elif isinstance(node, CommentedSeq) and isinstance(part, int) and 0 <= part < len(node):
            line = node.lc.item(part)[0] + 1
            node = node[part]
        else:
            break
    return line


def _describe(value: Any) -> str:
    # reprlib bounds the work as well as the text: a value may be large (and shared) in memory.
    short = reprlib.Repr()
    short.maxstring, short.maxother, short.maxlevel = 60, 60, 3
    short.maxlist = short.maxdict = short.maxtuple = short.maxset = 4
    text = short.repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _yaml_kind(value: Any) -> str:
    if isinstance(value, list):
        return "list"
    return "string" if isinstance(value, str) else type(value).__name__


def _too_big(size: int, path: Path) -> ConfigError:
    return ConfigError(
        path,
        [
            ConfigIssue(
                (), f"the file is {size / (1 << 20):.1f} MiB; repos.yaml may be at most 1 MiB"
            )
        ],
    )


def parse_config(text: str, path: Path) -> PlatformConfig:
    """Parse and validate repos.yaml content; raises ConfigError naming `path`."""
    if (size := len(text.encode("utf-8"))) > MAX_BYTES:
        raise _too_big(size, path)
    yaml = YAML(typ="rt")
    try:
        document = yaml.load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        problem = exc.problem or exc.context or "invalid YAML"
        if (
            exc.context
            and exc.context_mark
            and exc.problem_mark
            and exc.context_mark.line != mark.line
        ):
            problem += f" ({exc.context} on line {exc.context_mark.line + 1})"
        raise ConfigError(path, [ConfigIssue((), f"YAML syntax error: {problem}", line)]) from None
    except YAMLError as exc:
        raise ConfigError(path, [ConfigIssue((), f"YAML error: {exc}")]) from None
    if not _values_within(document, MAX_VALUES):
        raise ConfigError(
            path, [ConfigIssue((), f"YAML aliases expand to more than {MAX_VALUES} values")]
        )
    if not isinstance(document, dict):
        kind = "an empty file" if document is None else f"a {_yaml_kind(document)}"
        raise ConfigError(
            path, [ConfigIssue((), f"expected a mapping at the top level, got {kind}")]
        )
    try:
        config = PlatformConfig.model_validate(document)
    except ValidationError as exc:
        issues = []
        for err in exc.errors():
            loc = tuple(
                p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-"))
            )
            msg = err["msg"]
            if err["type"] not in {"missing", "extra_forbidden"} and "input" in err:
                msg = f"{msg} (got {_describe(err['input'])})"
            if err["type"] == "extra_forbidden":
                msg = "unknown field"
            issues.append(ConfigIssue(loc, msg, line_of(document, loc)))
        raise ConfigError(path, issues) from None
    issues = [
        ConfigIssue(i.loc, i.message, line_of(document, i.loc)) for i in semantic_issues(config)
    ]
    if issues:
        raise ConfigError(path, issues)
    return config


def load_config(path: Path) -> PlatformConfig:
    """Read and validate repos.yaml at `path`."""
    try:
        if (size := path.stat().st_size) > MAX_BYTES:
            raise _too_big(size, path)
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(path, [ConfigIssue((), "file not found")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(path, [ConfigIssue((), f"cannot read: {exc}")]) from None
    return parse_config(text, path)
