"""The Kubernetes deployment controller's rolling update, as a pure planner over one Deployment.

The supervisor calls `plan(spec, pods, state, now)` whenever something changed (a pod started,
turned ready, crashed or finished terminating; the manifest changed) and at `Plan.wake_at`; it then
starts `Plan.create` pods of the current template, sends SIGTERM to the pods in `Plan.delete`
(reporting them as TERMINATING from then on), publishes `Plan.status` and keeps `Plan.state` for the
next call. Nothing here reads a clock: `now` is monotonic seconds.

Semantics are the controller's (pkg/controller/deployment: rolling.go, sync.go, progress.go), with
pods standing in for ReplicaSets: pods of `spec.template_hash` are the new ReplicaSet, every other
template is an old one, and a template's age is that of its oldest pod.

- At most `replicas + maxSurge` pods that are not terminating. Terminating pods are not counted,
  as with Kubernetes' default pod replacement policy, so a replacement may start while its
  predecessor drains.
- Old pods are deleted only while `replicas - maxUnavailable` pods stay available; old pods that
  are not available go first (they cost no availability), oldest template first.
- A new-template pod is deleted only on scale-down, least valuable first, and never while it is
  available and old pods remain.
- Progress (pods created, old pods gone, pods turning ready or available) resets the deadline;
  `progress_deadline_s` without any sets Progressing=False/ProgressDeadlineExceeded. Nothing is
  undone: with maxUnavailable 0 the old pods keep serving.
- A crashed container is restarted in place by the supervisor after `crash_backoff_s(restarts)`;
  the planner never replaces a pod for crashing.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

# kubelet's CrashLoopBackOff: 10 s, doubling, capped at five minutes; kubelet forgets the
# back-off once a container has run for twice the cap.
CRASH_BACKOFF_INITIAL_S = 10.0
CRASH_BACKOFF_MAX_S = 300.0
CRASH_BACKOFF_RESET_S = 600.0

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


class PodPhase(StrEnum):
    PENDING = "Pending"  # created, process starting or not yet running
    RUNNING = "Running"  # process running; ready when `ready_since` is set
    CRASHLOOP = "CrashLoopBackOff"  # process exited, waiting out its back-off
    TERMINATING = "Terminating"  # SIGTERM sent; no longer counted


class ConditionType(StrEnum):
    AVAILABLE = "Available"
    PROGRESSING = "Progressing"


class Reason(StrEnum):
    MINIMUM_REPLICAS_AVAILABLE = "MinimumReplicasAvailable"
    MINIMUM_REPLICAS_UNAVAILABLE = "MinimumReplicasUnavailable"
    NEW_REPLICA_SET_CREATED = "NewReplicaSetCreated"
    FOUND_NEW_REPLICA_SET = "FoundNewReplicaSet"
    REPLICA_SET_UPDATED = "ReplicaSetUpdated"
    NEW_REPLICA_SET_AVAILABLE = "NewReplicaSetAvailable"
    PROGRESS_DEADLINE_EXCEEDED = "ProgressDeadlineExceeded"


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


def crash_backoff_s(restarts: int) -> float:
    """Seconds to wait before restarting a container that has already been restarted `restarts`
    times: 10, 20, 40, ... capped at 300 (kubelet's CrashLoopBackOff). Reset `restarts` for the
    back-off once a container has run CRASH_BACKOFF_RESET_S without exiting."""
    if restarts < 0:
        raise ValueError(f"restarts must be >= 0, got {restarts}")
    if restarts >= 5:  # 10 * 2**5 already exceeds the cap; avoids huge powers
        return CRASH_BACKOFF_MAX_S
    return min(CRASH_BACKOFF_MAX_S, CRASH_BACKOFF_INITIAL_S * (1 << restarts))


@dataclass(frozen=True, slots=True, kw_only=True)
class PodView:
    """What the planner sees of one pod."""

    name: str
    template_hash: str
    phase: PodPhase
    ready_since: float | None = None  # when the pod last turned ready; None while not ready
    restarts: int = 0
    created_at: float = 0.0  # orders templates by age and breaks ties; set it

    @property
    def active(self) -> bool:
        return self.phase is not PodPhase.TERMINATING

    @property
    def ready(self) -> bool:
        return self.phase is PodPhase.RUNNING and self.ready_since is not None

    def available(self, min_ready_s: float, now: float) -> bool:
        """Ready for at least `min_ready_s`."""
        return self.ready and self.ready_since is not None and now - self.ready_since >= min_ready_s


@dataclass(frozen=True, slots=True)
class Condition:
    """A Deployment condition. Times are monotonic seconds, like `now`."""

    type: ConditionType
    status: bool
    reason: Reason
    message: str
    last_update_at: float
    last_transition_at: float


@dataclass(frozen=True, slots=True)
class DeploymentStatus:
    """Deployment.status as the controller would write it after the plan is carried out."""

    replicas: int = 0  # pods not terminating
    updated_replicas: int = 0  # of those, of the current template
    ready_replicas: int = 0
    available_replicas: int = 0  # ready for at least minReadySeconds
    unavailable_replicas: int = 0
    conditions: tuple[Condition, ...] = ()

    def condition(self, kind: ConditionType) -> Condition | None:
        return next((c for c in self.conditions if c.type is kind), None)

    def to_manifest(
        self,
        *,
        observed_generation: int | None = None,
        timestamp: Callable[[float], str] | None = None,
    ) -> dict[str, Any]:
        """The apps/v1 DeploymentStatus JSON. `timestamp` turns a monotonic time into an RFC 3339
        string; without it the condition times are left out (they are optional)."""
        out: dict[str, Any] = {}
        if observed_generation is not None:
            out["observedGeneration"] = observed_generation
        out |= {
            "replicas": self.replicas,
            "updatedReplicas": self.updated_replicas,
            "readyReplicas": self.ready_replicas,
            "availableReplicas": self.available_replicas,
            "unavailableReplicas": self.unavailable_replicas,
        }
        conditions = []
        for c in self.conditions:
            entry: dict[str, Any] = {
                "type": c.type.value,
                "status": "True" if c.status else "False",
                "reason": c.reason.value,
                "message": c.message,
            }
            if timestamp is not None:
                entry["lastUpdateTime"] = timestamp(c.last_update_at)
                entry["lastTransitionTime"] = timestamp(c.last_transition_at)
            conditions.append(entry)
        out["conditions"] = conditions
        return out


@dataclass(frozen=True, slots=True, kw_only=True)
class RolloutState:
    """The controller's bookkeeping between two calls; persist it with the Deployment. Start a
    Deployment with `RolloutState()`. (Times are monotonic: rebase them when restoring after a
    restart of the platform.)"""

    template_hash: str | None = None  # the template last planned for
    last_progress_at: float | None = None
    status: DeploymentStatus | None = None  # the last published status, conditions included

    @property
    def progressing(self) -> Condition | None:
        return None if self.status is None else self.status.condition(ConditionType.PROGRESSING)


@dataclass(frozen=True, slots=True, kw_only=True)
class Plan:
    create: int  # pods of spec.template_hash to start
    delete: tuple[str, ...]  # pod names to terminate, in order
    status: DeploymentStatus
    state: RolloutState
    # Call `plan` again at this time even if nothing happens (a pod will have been ready for
    # minReadySeconds, or the progress deadline will pass); None: only on events.
    wake_at: float | None = None


def plan(spec: DeploymentSpec, pods: Sequence[PodView], state: RolloutState, now: float) -> Plan:
    """One reconciliation of the Deployment: what to create and delete, and the status."""
    live = [p for p in pods if p.active]
    if spec.strategy is Strategy.RECREATE:
        create, victims = _recreate(spec, pods, live)
    else:
        create, victims = _rolling(spec, live, now)
    doomed = {p.name for p in victims}
    remaining = [p for p in live if p.name not in doomed]
    status = _counts(spec, remaining, create, now)
    status, last_progress_at = _conditions(spec, live, status, state, now)
    next_state = RolloutState(
        template_hash=spec.template_hash, last_progress_at=last_progress_at, status=status
    )
    return Plan(
        create=create,
        delete=tuple(p.name for p in victims),
        status=status,
        state=next_state,
        wake_at=_wake_at(spec, remaining, status, last_progress_at, now),
    )


# --- scaling -----------------------------------------------------------------------------------


def _deletion_rank(pod: PodView) -> tuple[bool, bool, float, int, float, str]:
    # Least valuable first, as the ReplicaSet controller picks pods to delete: pending before
    # started, not ready before ready, ready for less time before more, more restarts first,
    # newer first.
    return (
        pod.phase is not PodPhase.PENDING,
        pod.ready,
        -(pod.ready_since if pod.ready_since is not None else 0.0),
        -pod.restarts,
        -pod.created_at,
        pod.name,
    )


def _old_by_age(spec: DeploymentSpec, pods: Iterable[PodView]) -> list[PodView]:
    """Old-template pods, oldest template first, each template's pods least valuable first."""
    old = [p for p in pods if p.template_hash != spec.template_hash]
    age: dict[str, float] = {}
    for p in old:
        age[p.template_hash] = min(age.get(p.template_hash, p.created_at), p.created_at)
    return sorted(old, key=lambda p: (age[p.template_hash], p.template_hash, _deletion_rank(p)))


def _rolling(spec: DeploymentSpec, live: list[PodView], now: float) -> tuple[int, list[PodView]]:
    replicas, surge, min_available = spec.replicas, spec.surge, spec.min_available

    def is_available(p: PodView) -> bool:
        return p.available(spec.min_ready_s, now)

    alive = list(live)
    victims: list[PodView] = []
    create = 0
    # The controller syncs again after every change it makes; iterate to that fixed point so one
    # call does what Kubernetes would do in a burst of syncs at the same instant. Each pass only
    # creates (bounded by replicas) or deletes (bounded by the pods), so this ends.
    while True:
        before = (create, len(victims))
        new = [p for p in alive if p.template_hash == spec.template_hash]
        old = [p for p in alive if p.template_hash != spec.template_hash]
        new_count = len(new) + create
        # Scale the new template towards `replicas`, within the surge.
        if new_count < replicas:
            room = replicas + surge - (len(alive) + create)
            create += max(0, min(room, replicas - new_count))
        elif new_count > replicas:
            candidates = sorted(new, key=_deletion_rank)
            if old:
                # Old pods go first: never give up an available new pod for them. (The ranking
                # already puts unavailable pods first; this states the rule outright.)
                candidates = [p for p in candidates if not is_available(p)]
            victims += candidates[: new_count - replicas]
        # Scale old templates down, within the availability budget.
        if old:
            new_unavailable = len(new) + create - sum(map(is_available, new))
            max_scaled_down = len(alive) + create - min_available - new_unavailable
            if max_scaled_down > 0:
                ordered = _old_by_age(spec, old)
                # Unavailable old pods first: deleting them costs no availability.
                unhealthy = [p for p in ordered if not is_available(p)][:max_scaled_down]
                victims += unhealthy
                gone = {p.name for p in unhealthy}
                available_now = sum(is_available(p) for p in alive)
                budget = available_now - min_available
                if budget > 0:
                    victims += [p for p in ordered if p.name not in gone][:budget]
        doomed = {p.name for p in victims}
        alive = [p for p in alive if p.name not in doomed]
        if (create, len(victims)) == before:
            return create, victims


def _recreate(
    spec: DeploymentSpec, pods: Sequence[PodView], live: list[PodView]
) -> tuple[int, list[PodView]]:
    # Recreate: every old pod goes at once, and the new ones start only when none is left,
    # terminating ones included.
    old_live = [p for p in live if p.template_hash != spec.template_hash]
    if old_live or any(p.template_hash != spec.template_hash for p in pods):
        return 0, old_live
    new = sorted(live, key=_deletion_rank)
    if len(new) > spec.replicas:
        return 0, new[: len(new) - spec.replicas]
    return spec.replicas - len(new), []


# --- status ------------------------------------------------------------------------------------


def _counts(
    spec: DeploymentSpec, remaining: list[PodView], create: int, now: float
) -> DeploymentStatus:
    total = len(remaining) + create
    available = sum(p.available(spec.min_ready_s, now) for p in remaining)
    return DeploymentStatus(
        replicas=total,
        updated_replicas=create + sum(p.template_hash == spec.template_hash for p in remaining),
        ready_replicas=sum(p.ready for p in remaining),
        available_replicas=available,
        unavailable_replicas=max(0, total - available),
    )


def _set(previous: Condition | None, new: Condition) -> Condition:
    # Kubernetes' SetDeploymentCondition: an identical status and reason keeps the old condition;
    # a new reason with the same status keeps the transition time.
    if previous is not None and previous.status == new.status:
        if previous.reason == new.reason:
            return previous
        return replace(new, last_transition_at=previous.last_transition_at)
    return new


def _progressed(before: DeploymentStatus | None, after: DeploymentStatus) -> bool:
    # Kubernetes' DeploymentProgressing: new pods added, old pods gone, or more ready/available.
    before = before or DeploymentStatus()
    return (
        after.updated_replicas > before.updated_replicas
        or after.replicas - after.updated_replicas < before.replicas - before.updated_replicas
        or after.ready_replicas > before.ready_replicas
        or after.available_replicas > before.available_replicas
    )


def _conditions(
    spec: DeploymentSpec,
    live: list[PodView],
    status: DeploymentStatus,
    state: RolloutState,
    now: float,
) -> tuple[DeploymentStatus, float]:
    previous = state.status
    rs = spec.replica_set

    def made(status_: bool, reason: Reason, message: str) -> Condition:
        return Condition(ConditionType.PROGRESSING, status_, reason, message, now, now)

    if status.available_replicas >= spec.min_available:
        available = Condition(
            ConditionType.AVAILABLE,
            True,
            Reason.MINIMUM_REPLICAS_AVAILABLE,
            "Deployment has minimum availability.",
            now,
            now,
        )
    else:
        available = Condition(
            ConditionType.AVAILABLE,
            False,
            Reason.MINIMUM_REPLICAS_UNAVAILABLE,
            "Deployment does not have minimum availability.",
            now,
            now,
        )
    available = _set(None if previous is None else previous.condition(available.type), available)

    progressing = state.progressing
    last_progress_at = now if state.last_progress_at is None else state.last_progress_at
    changed = state.template_hash != spec.template_hash
    if changed:
        # A new template starts a new rollout and a new deadline, whatever the last one did.
        found = any(p.template_hash == spec.template_hash for p in live)
        reason = Reason.FOUND_NEW_REPLICA_SET if found else Reason.NEW_REPLICA_SET_CREATED
        verb = "Found" if found else "Created"
        fresh = made(True, reason, f'{verb} new replica set "{rs}"')
        if progressing is not None and progressing.status:
            fresh = replace(fresh, last_transition_at=progressing.last_transition_at)
        progressing, last_progress_at = fresh, now

    complete = (
        status.updated_replicas == spec.replicas
        and status.replicas == spec.replicas
        and status.available_replicas == spec.replicas
    )
    # Once a rollout has completed, scaling and pod churn no longer count against a deadline
    # (Kubernetes' isCompleteDeployment short cut).
    settled = (
        not changed
        and progressing is not None
        and progressing.reason is Reason.NEW_REPLICA_SET_AVAILABLE
        and status.replicas == status.updated_replicas
    )
    if settled:
        pass
    elif complete:
        done = f'ReplicaSet "{rs}" has successfully progressed.'
        progressing = _set(progressing, made(True, Reason.NEW_REPLICA_SET_AVAILABLE, done))
        last_progress_at = now
    elif changed:
        pass  # the rollout has just (re)started: nothing to measure yet
    elif _progressed(previous, status):
        update = made(True, Reason.REPLICA_SET_UPDATED, f'ReplicaSet "{rs}" is progressing.')
        if progressing is not None and progressing.status:
            update = replace(update, last_transition_at=progressing.last_transition_at)
        progressing, last_progress_at = update, now
    elif (
        progressing is not None
        and progressing.reason is not Reason.NEW_REPLICA_SET_AVAILABLE
        # Timed out stays timed out until progress is made again.
        and (
            progressing.reason is Reason.PROGRESS_DEADLINE_EXCEEDED
            or now - last_progress_at >= spec.progress_deadline_s
        )
    ):
        timed_out = f'ReplicaSet "{rs}" has timed out progressing.'
        progressing = _set(progressing, made(False, Reason.PROGRESS_DEADLINE_EXCEEDED, timed_out))
    conditions = (available,) if progressing is None else (available, progressing)
    return replace(status, conditions=conditions), last_progress_at


def _wake_at(
    spec: DeploymentSpec,
    remaining: list[PodView],
    status: DeploymentStatus,
    last_progress_at: float,
    now: float,
) -> float | None:
    times = [
        p.ready_since + spec.min_ready_s
        for p in remaining
        if p.ready and p.ready_since is not None and not p.available(spec.min_ready_s, now)
    ]
    progressing = status.condition(ConditionType.PROGRESSING)
    if (
        progressing is not None
        and progressing.status
        and progressing.reason is not Reason.NEW_REPLICA_SET_AVAILABLE
    ):
        times.append(last_progress_at + spec.progress_deadline_s)
    return min(times) if times else None
