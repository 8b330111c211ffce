"""What the operator says about where unlabelled apps sit (console.fleet.placement.Placing),
from flags and an optional file, shared by `gitops console` and `gitops status`:

    --env NAME              NAME is an environment (a name or namespace suffix, a namespace)
    --map-env TOKEN=ENV     a namespace, or a `-TOKEN` suffix of a name or namespace, means ENV
    --app-map FILE          the same in YAML (or JSON), plus single apps:
                                environments: [dev, qa, prod]
                                map-env: {team-a-prd: prod, prd: prod}
                                apps: {legacy-billing: {service: billing, env: prod}}
    --config repos.yaml     its environments are environments

Bad input is a PlacingError naming the flag or the file and field.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from console.config import MAX_BYTES  # one size limit for every declaration file
from console.fleet.placement import Placing

FILE_KEYS = ("environments", "map-env", "apps")


class PlacingError(ValueError):
    """A flag or file that cannot say where apps sit; the message names it."""


def _token(value: object) -> str | None:
    """A name as the rules compare it, or None when it cannot be one."""
    if not isinstance(value, str):
        return None
    text = value.strip()
    return text if text and not any(c.isspace() or c in "=/" for c in text) else None


def _pair(flag: str, value: str) -> tuple[str, str]:
    token, sep, env = value.partition("=")
    a, b = _token(token), _token(env)
    if not sep or a is None or b is None:
        raise PlacingError(f"{flag} {value!r}: expected NAMESPACE=ENV (or SUFFIX=ENV)")
    return a, b


def _mapping(where: str, value: Any) -> Mapping[Any, Any]:
    if not isinstance(value, Mapping):
        raise PlacingError(f"{where}: expected a mapping")
    return value


def parse_map(text: str, path: str) -> Placing:
    """The file's rules; raises PlacingError naming `path` and the field."""
    if len(text.encode("utf-8")) > MAX_BYTES:
        raise PlacingError(f"{path}: larger than 1 MiB")
    try:
        document = YAML(typ="safe", pure=True).load(text)
    except YAMLError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else "invalid YAML"
        raise PlacingError(f"{path}: not YAML: {first}") from None
    if document is None:
        return Placing()
    top = _mapping(path, document)
    unknown = [str(k) for k in top if k not in FILE_KEYS]
    if unknown:
        raise PlacingError(f"{path}: {unknown[0]}: not one of {', '.join(FILE_KEYS)}")
    names = top.get("environments") or []
    if not isinstance(names, list):
        raise PlacingError(f"{path}: environments: expected a list of names")
    envs: set[str] = set()
    for i, name in enumerate(names):
        token = _token(name)
        if token is None:
            raise PlacingError(f"{path}: environments[{i}]: expected a name, got {name!r}")
        envs.add(token)
    aliases: dict[str, str] = {}
    for key, env in _mapping(f"{path}: map-env", top.get("map-env") or {}).items():
        a, b = _token(key), _token(env)
        if a is None or b is None:
            raise PlacingError(f"{path}: map-env.{key}: expected TOKEN: ENV names")
        aliases[a] = b
    apps: dict[str, tuple[str, str]] = {}
    for name, spec in _mapping(f"{path}: apps", top.get("apps") or {}).items():
        where = f"{path}: apps.{name}"
        fields = _mapping(where, spec)
        extra = [str(k) for k in fields if k not in ("service", "env")]
        if extra:
            raise PlacingError(f"{where}.{extra[0]}: not one of service, env")
        service, env = _token(fields.get("service")), _token(fields.get("env"))
        if service is None or env is None:
            missing = "service" if service is None else "env"
            raise PlacingError(f"{where}.{missing}: expected a name")
        apps[str(name)] = (service, env)
    return Placing(apps=apps, envs=aliases, names=frozenset(envs))


def load_map(path: Path) -> Placing:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise PlacingError(f"--app-map {path}: cannot read it: {reason}") from None
    return parse_map(text, str(path))


def placing(
    envs: Iterable[str] = (),
    map_env: Iterable[str] = (),
    app_map: Path | None = None,
    environments: Iterable[str] = (),
) -> Placing:
    """The rules of the flags (`--env`, `--map-env`, `--app-map`) and repos.yaml's
    `environments`; the flags win over the file."""
    base = load_map(app_map) if app_map is not None else Placing()
    names = set(base.names) | set(environments)
    for env in envs:
        token = _token(env)
        if token is None:
            raise PlacingError(f"--env {env!r}: expected an environment's name")
        names.add(token)
    aliases = dict(base.envs)
    aliases.update(_pair("--map-env", value) for value in map_env)
    return Placing(apps=base.apps, envs=aliases, names=frozenset(names))
