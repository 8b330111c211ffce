"""The backend kind: readiness depends on the configuration its deployment must supply."""

from __future__ import annotations

from probe.config import Config
from probe.health import CheckResult, failed, passed


def config_check(config: Config) -> CheckResult:
    # REQUIRED_CONFIG is the hook a drill uses to break readiness through the
    # deployment alone: name a variable the deployment does not set.
    if config.missing_config:
        return failed("missing or empty: " + ", ".join(config.missing_config))
    if not config.required_config:
        return passed("no required variables")
    return passed("set: " + ", ".join(config.required_config))
