"""The Kubernetes deployment controller's rolling update, as a pure planner over one Deployment.

The Deployment controller (`deployment_controller.DeploymentRunner`) calls `plan(spec, pods, state,
now)` whenever something changed (a pod started, turned ready, crashed or finished terminating; the
manifest changed) and at `Plan.wake_at`; it then has the kubelet start `Plan.create` pods of the
current template and stop the pods in `Plan.delete` (reported as TERMINATING from then on),
publishes `Plan.status` and keeps `Plan.state` for the next call. Nothing here reads a clock:
`now` is monotonic seconds.

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
- A crashed container is restarted in place by the kubelet (`kubelet.crash_backoff_s`); the
  planner never replaces a pod for crashing.

The spec it plans for is read and validated by `deploymentspec`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from console.local.kube.deploymentspec import DeploymentSpec, Strategy


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
