"""An apps/v1 Deployment as the Deployment controller reads it: the spec with the API's defaults
and validation (in the API server's words where it would refuse the object), label selectors, and
the pod-template hash that names a template's ReplicaSet and pods.

Pure. `DeploymentSpec.from_manifest` raises `RolloutError` subclasses naming the field:
`InvalidDeployment` for what Kubernetes itself would reject, `UnsupportedDeployment` for what the
embedded platform does not implement.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

# Kubernetes API defaults for apps/v1 Deployments.
DEFAULT_MAX_SURGE = "25%"
DEFAULT_MAX_UNAVAILABLE = "25%"
DEFAULT_PROGRESS_DEADLINE_S = 600

IntOrPercent = int | str
_PERCENT = re.compile(r"^(\d+)%$")
# The alphabet of Kubernetes' rand.SafeEncodeString: no vowels (no words), no look-alikes.
_SAFE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


class RolloutError(ValueError):
    """A Deployment the planner cannot run; the message names the manifest field."""


class InvalidDeployment(RolloutError):
    """A Deployment Kubernetes itself would reject."""


class UnsupportedDeployment(RolloutError):
    """A valid Deployment using something the embedded platform does not implement."""


class Strategy(StrEnum):
    ROLLING_UPDATE = "RollingUpdate"
    RECREATE = "Recreate"


def scaled_value(value: IntOrPercent, total: int, *, round_up: bool, field_name: str) -> int:
    """An int-or-percent resolved against `total` the way Kubernetes'
    GetScaledValueFromIntOrPercent does."""
    if isinstance(value, bool):
        raise InvalidDeployment(f"{field_name} must be an integer or a percentage, got {value!r}")
    if isinstance(value, int):
        if value < 0:
            raise InvalidDeployment(f"{field_name} must be greater than or equal to 0, got {value}")
        return value
    match = _PERCENT.match(value) if isinstance(value, str) else None
    if match is None:
        raise InvalidDeployment(f"{field_name} must be an integer or a percentage, got {value!r}")
    scaled = int(match.group(1)) * total
    return -(-scaled // 100) if round_up else scaled // 100


def _literal_value(value: IntOrPercent) -> int:
    # The number as written, ignoring '%': what Kubernetes validation compares with zero.
    if isinstance(value, str):
        match = _PERCENT.match(value)
        return int(match.group(1)) if match else -1
    return value


@dataclass(frozen=True, slots=True, kw_only=True)
class DeploymentSpec:
    """What the planner needs from a Deployment's spec."""

    name: str
    template_hash: str
    replicas: int = 1
    max_surge: IntOrPercent = DEFAULT_MAX_SURGE
    max_unavailable: IntOrPercent = DEFAULT_MAX_UNAVAILABLE
    min_ready_s: int = 0
    progress_deadline_s: int = DEFAULT_PROGRESS_DEADLINE_S
    strategy: Strategy = Strategy.ROLLING_UPDATE

    def __post_init__(self) -> None:
        for key, value in (
            ("replicas", self.replicas),
            ("minReadySeconds", self.min_ready_s),
            ("progressDeadlineSeconds", self.progress_deadline_s),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise InvalidDeployment(f"spec.{key} must be an integer >= 0, got {value!r}")
        if self.progress_deadline_s <= self.min_ready_s:
            raise InvalidDeployment(
                "spec.progressDeadlineSeconds must be greater than minReadySeconds "
                f"({self.progress_deadline_s} <= {self.min_ready_s})"
            )
        if self.strategy is Strategy.ROLLING_UPDATE:
            # Resolving validates both values' form (ints >= 0 or "N%").
            self.fenceposts()
            if _literal_value(self.max_unavailable) > 100 and isinstance(self.max_unavailable, str):
                raise InvalidDeployment(
                    "spec.strategy.rollingUpdate.maxUnavailable must not be greater than 100%"
                )
            if _literal_value(self.max_surge) == 0 and _literal_value(self.max_unavailable) == 0:
                raise InvalidDeployment(
                    "spec.strategy.rollingUpdate.maxUnavailable may not be 0 when maxSurge is 0"
                )

    def fenceposts(self) -> tuple[int, int]:
        """(maxSurge, maxUnavailable) as pod counts: surge rounds up, unavailable down, and when
        rounding leaves both at 0 unavailable becomes 1 (Kubernetes' ResolveFenceposts)."""
        surge = scaled_value(
            self.max_surge,
            self.replicas,
            round_up=True,
            field_name="spec.strategy.rollingUpdate.maxSurge",
        )
        unavailable = scaled_value(
            self.max_unavailable,
            self.replicas,
            round_up=False,
            field_name="spec.strategy.rollingUpdate.maxUnavailable",
        )
        if surge == 0 and unavailable == 0:
            unavailable = 1
        return surge, unavailable

    @property
    def surge(self) -> int:
        """Pods allowed above `replicas` (0 for Recreate)."""
        return self.fenceposts()[0] if self.strategy is Strategy.ROLLING_UPDATE else 0

    @property
    def unavailable(self) -> int:
        """Pods allowed below `replicas` while rolling (Kubernetes' MaxUnavailable: at most
        `replicas`, and 0 for Recreate)."""
        if self.strategy is not Strategy.ROLLING_UPDATE or self.replicas == 0:
            return 0
        return min(self.fenceposts()[1], self.replicas)

    @property
    def min_available(self) -> int:
        return self.replicas - self.unavailable

    @property
    def replica_set(self) -> str:
        """The name Kubernetes would give the new ReplicaSet; used in condition messages."""
        return f"{self.name}-{self.template_hash}"

    @classmethod
    def from_manifest(cls, deployment: Mapping[str, Any]) -> DeploymentSpec:
        """Read an apps/v1 Deployment, applying the API defaults."""
        name = str((deployment.get("metadata") or {}).get("name") or "")
        if not name:
            raise InvalidDeployment("metadata.name is required")
        spec = deployment.get("spec") or {}
        if spec.get("paused"):
            raise UnsupportedDeployment(
                f"Deployment {name!r}: spec.paused is not supported by the embedded platform"
            )
        template = spec.get("template")
        if not isinstance(template, Mapping):
            raise InvalidDeployment(f"Deployment {name!r}: spec.template is required")
        _check_selector(name, spec.get("selector"), template)
        strategy = spec.get("strategy") or {}
        kind = strategy.get("type", Strategy.ROLLING_UPDATE.value)
        if kind not in (Strategy.ROLLING_UPDATE.value, Strategy.RECREATE.value):
            raise InvalidDeployment(
                f"Deployment {name!r}: spec.strategy.type must be RollingUpdate or Recreate, "
                f"got {kind!r}"
            )
        rolling = strategy.get("rollingUpdate") or {}
        try:
            return cls(
                name=name,
                template_hash=template_hash(template),
                replicas=spec.get("replicas", 1),
                max_surge=rolling.get("maxSurge", DEFAULT_MAX_SURGE),
                max_unavailable=rolling.get("maxUnavailable", DEFAULT_MAX_UNAVAILABLE),
                min_ready_s=spec.get("minReadySeconds", 0),
                progress_deadline_s=spec.get(
                    "progressDeadlineSeconds", DEFAULT_PROGRESS_DEADLINE_S
                ),
                strategy=Strategy(kind),
            )
        except InvalidDeployment as exc:
            raise InvalidDeployment(f"Deployment {name!r}: {exc}") from None


def _check_selector(name: str, selector: Any, template: Mapping[str, Any]) -> None:
    """apps/v1's rule, in the API server's words: a selector is required and must select the
    pods of the template (otherwise the Deployment would never own the pods it makes)."""
    prefix = f'Deployment.apps "{name}" is invalid: '
    if not isinstance(selector, Mapping) or not (
        selector.get("matchLabels") or selector.get("matchExpressions")
    ):
        raise InvalidDeployment(f"{prefix}spec.selector: Required value")
    labels = (template.get("metadata") or {}).get("labels") or {}
    if not isinstance(labels, Mapping) or not selects(selector, labels):
        raise InvalidDeployment(
            f"{prefix}spec.template.metadata.labels: Invalid value: {dict(labels)!r}: "
            "`selector` does not match template `labels`"
        )


def selects(selector: Mapping[str, Any], labels: Mapping[str, Any]) -> bool:
    """Whether a LabelSelector (matchLabels and matchExpressions) selects `labels`."""
    wanted = selector.get("matchLabels") or {}
    if not isinstance(wanted, Mapping) or any(labels.get(k) != v for k, v in wanted.items()):
        return False
    for expression in selector.get("matchExpressions") or ():
        if not isinstance(expression, Mapping):
            return False
        key, operator = str(expression.get("key")), expression.get("operator")
        values = expression.get("values") or ()
        checks = {
            "In": key in labels and labels[key] in values,
            "NotIn": key not in labels or labels[key] not in values,
            "Exists": key in labels,
            "DoesNotExist": key not in labels,
        }
        if not checks.get(str(operator), False):
            return False
    return True


def template_hash(pod_template: Mapping[str, Any]) -> str:
    """A stable 10-character hash of a pod template (the counterpart of pod-template-hash):
    sha256 of its canonical JSON, written in Kubernetes' safe alphabet."""
    canonical = json.dumps(
        pod_template, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
    )
    number = int.from_bytes(hashlib.sha256(canonical.encode()).digest()[:8], "big")
    chars = []
    for _ in range(10):
        number, digit = divmod(number, len(_SAFE_ALPHABET))
        chars.append(_SAFE_ALPHABET[digit])
    return "".join(chars)
