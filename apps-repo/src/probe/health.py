"""Liveness and readiness reports in the shape the platform's probes and console read."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

Status = Literal["pass", "fail"]
Report = dict[str, Any]


@dataclass(frozen=True, slots=True)
class CheckResult:
    status: Status
    output: str = ""

    def as_json(self) -> dict[str, str]:
        return {"status": self.status, "output": self.output}


# Checks are synchronous and cheap: probes call them every few seconds.
Check = Callable[[], CheckResult]


def passed(output: str = "") -> CheckResult:
    return CheckResult("pass", output)


def failed(output: str) -> CheckResult:
    return CheckResult("fail", output)


@dataclass(slots=True)
class Lifecycle:
    """Whether the process is still taking work; set when a shutdown signal arrives."""

    draining: bool = False

    def check(self) -> CheckResult:
        return failed("shutting down") if self.draining else passed("serving")


def liveness(lifecycle: Lifecycle) -> tuple[Report, int]:
    # Liveness only says the process can answer; it never looks at dependencies,
    # or a dependency outage would make the kubelet restart healthy pods.
    if lifecycle.draining:
        return {"status": "fail", "output": "shutting down"}, 500
    return {"status": "pass"}, 200


def readiness(checks: Mapping[str, Check]) -> tuple[Report, int]:
    results = {name: check() for name, check in checks.items()}
    ok = all(result.status == "pass" for result in results.values())
    report: Report = {
        "status": "pass" if ok else "fail",
        "checks": {name: result.as_json() for name, result in results.items()},
    }
    return report, 200 if ok else 503
