"""Runtime configuration, read once from environment variables at startup.

Environment variables are the only source of configuration so that a deployment
(and a drill that edits one) fully determines how the service behaves. Empty
values count as unset.

Both kinds:
    SERVICE_KIND        backend | frontend (default backend)
    SERVICE_NAME        default: the kind
    HOST, PORT          default 0.0.0.0, 8080
    ENVIRONMENT         default "local"
    SERVICE_VERSION     default: the installed package version, else 0.0.0+unknown
    GIT_SHA, IMAGE, BUILT_AT   build metadata, default "unknown"
    LOG_LEVEL           DEBUG | INFO | WARNING | ERROR | CRITICAL (default INFO)
    GRACEFUL_TIMEOUT_S  seconds in-flight requests get after SIGTERM (default 10)
Backend:
    REQUIRED_CONFIG     comma-separated variable names that must be set for readiness
Frontend:
    BACKEND_URL         http(s) base URL of the backend; readiness fails without it
    BACKEND_TIMEOUT_S   deadline for one look at the backend (default 2.0)

An invalid value raises ConfigError; ``python -m probe`` then exits 2.
"""

from __future__ import annotations

import enum
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import metadata

DISTRIBUTION = "probe-services"
UNKNOWN_VERSION = "0.0.0+unknown"
UNKNOWN = "unknown"

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


class Kind(enum.StrEnum):
    BACKEND = "backend"
    FRONTEND = "frontend"


class ConfigError(ValueError):
    """A configuration value is invalid; the message names the variable."""


@dataclass(frozen=True, slots=True)
class Config:
    kind: Kind
    service_name: str
    host: str
    port: int
    environment: str
    version: str
    revision: str
    image: str
    built_at: str
    log_level: str
    graceful_timeout_s: float
    # Frontend only.
    backend_url: str
    backend_timeout_s: float
    # Backend only: names from REQUIRED_CONFIG and those of them unset at startup.
    required_config: tuple[str, ...]
    missing_config: tuple[str, ...]


def load_config(environ: Mapping[str, str] | None = None) -> Config:
    """Build a Config from ``environ`` (default: the process environment).

    Empty values count as unset, so a Dockerfile ``ENV X=${X}`` with an empty
    build argument falls back to the default instead of shadowing it.
    """
    env = {k: v.strip() for k, v in (os.environ if environ is None else environ).items()}

    def get(name: str, default: str) -> str:
        return env.get(name) or default

    kind_raw = get("SERVICE_KIND", Kind.BACKEND.value).lower()
    try:
        kind = Kind(kind_raw)
    except ValueError:
        choices = " or ".join(k.value for k in Kind)
        raise ConfigError(f"SERVICE_KIND must be {choices}, got {kind_raw!r}") from None

    required = tuple(n.strip() for n in get("REQUIRED_CONFIG", "").split(",") if n.strip())
    for name in required:
        if not _ENV_NAME.match(name):
            raise ConfigError(f"REQUIRED_CONFIG holds an invalid variable name: {name!r}")

    log_level = get("LOG_LEVEL", "INFO").upper()
    if log_level not in _LOG_LEVELS:
        raise ConfigError(f"LOG_LEVEL must be one of {', '.join(_LOG_LEVELS)}, got {log_level!r}")

    return Config(
        kind=kind,
        service_name=get("SERVICE_NAME", kind.value),
        host=get("HOST", "0.0.0.0"),  # noqa: S104 - a container must listen on all interfaces
        port=_port(get("PORT", "8080")),
        environment=get("ENVIRONMENT", "local"),
        version=get("SERVICE_VERSION", "") or installed_version(),
        revision=get("GIT_SHA", UNKNOWN),
        image=get("IMAGE", UNKNOWN),
        built_at=get("BUILT_AT", UNKNOWN),
        log_level=log_level,
        graceful_timeout_s=_seconds("GRACEFUL_TIMEOUT_S", get("GRACEFUL_TIMEOUT_S", "10"), 0.0),
        backend_url=get("BACKEND_URL", ""),
        backend_timeout_s=_seconds("BACKEND_TIMEOUT_S", get("BACKEND_TIMEOUT_S", "2.0"), 0.001),
        required_config=required,
        missing_config=tuple(name for name in required if not env.get(name)),
    )


def installed_version() -> str:
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return UNKNOWN_VERSION


def _port(raw: str) -> int:
    try:
        port = int(raw)
    except ValueError:
        raise ConfigError(f"PORT must be an integer, got {raw!r}") from None
    if not 1 <= port <= 65535:
        raise ConfigError(f"PORT must be between 1 and 65535, got {port}")
    return port


def _seconds(name: str, raw: str, minimum: float) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number of seconds, got {raw!r}") from None
    if not minimum <= value < float("inf"):
        raise ConfigError(f"{name} must be at least {minimum:g} seconds, got {raw!r}")
    return value
