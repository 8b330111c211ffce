from __future__ import annotations

import pytest

from probe.config import UNKNOWN, ConfigError, Kind, installed_version
from support import make_config, run_probe


def test_defaults() -> None:
    config = make_config()
    assert config.kind is Kind.BACKEND
    assert config.service_name == "backend"
    assert (config.host, config.port) == ("0.0.0.0", 8080)
    assert config.environment == "local"
    assert config.graceful_timeout_s == 10
    assert config.backend_timeout_s == 2.0
    assert config.required_config == ()
    assert config.missing_config == ()


def test_build_metadata_falls_back() -> None:
    config = make_config(SERVICE_VERSION="", GIT_SHA="  ")
    assert config.version == installed_version() == "0.1.0"
    assert (config.revision, config.image, config.built_at) == (UNKNOWN, UNKNOWN, UNKNOWN)


def test_values_from_env() -> None:
    config = make_config(
        SERVICE_KIND="Frontend",
        PORT="9000",
        SERVICE_VERSION="2.0.0",
        GIT_SHA="deadbeef",
        IMAGE="registry.local/web:2.0.0",
        BUILT_AT="2025-01-02T03:04:05Z",
        BACKEND_URL="http://backend:8080",
        BACKEND_TIMEOUT_S="0.5",
    )
    assert config.kind is Kind.FRONTEND
    assert config.service_name == "frontend"
    assert config.port == 9000
    assert (config.version, config.revision) == ("2.0.0", "deadbeef")
    assert (config.image, config.built_at) == ("registry.local/web:2.0.0", "2025-01-02T03:04:05Z")
    assert (config.backend_url, config.backend_timeout_s) == ("http://backend:8080", 0.5)


def test_required_config_records_missing_names() -> None:
    config = make_config(REQUIRED_CONFIG=" DB_URL, API_KEY ,,", DB_URL="postgres://db", API_KEY="")
    assert config.required_config == ("DB_URL", "API_KEY")
    assert config.missing_config == ("API_KEY",)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("PORT", "abc"),
        ("PORT", "70000"),
        ("SERVICE_KIND", "foo"),
        ("BACKEND_TIMEOUT_S", "soon"),
        ("BACKEND_TIMEOUT_S", "0"),
        ("GRACEFUL_TIMEOUT_S", "-1"),
        ("GRACEFUL_TIMEOUT_S", "nan"),
        ("LOG_LEVEL", "loud"),
        ("REQUIRED_CONFIG", "GOOD,not-a-name"),
    ],
)
def test_invalid_values_name_the_variable(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name):
        make_config(**{name: value})


@pytest.mark.parametrize(("name", "value"), [("PORT", "abc"), ("SERVICE_KIND", "foo")])
def test_process_rejects_invalid_config_with_exit_2(name: str, value: str) -> None:
    result = run_probe({name: value})
    assert result.returncode == 2
    assert name in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert result.stdout == ""
