"""A pod as the API shows it (`PodInfo`, its STATUS a `PodState`), written by the kubelet and read
by the Deployment controller (as a `rollout.PodView`), the Service endpoints, Argo CD's resource
tree and the API's pod routes. Pure.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from console.local.kube.rollout import PodPhase, PodView


class PodState(StrEnum):
    """A pod's STATUS as `kubectl get pods` shows it."""

    PENDING = "Pending"
    ERR_IMAGE_PULL = "ErrImagePull"
    IMAGE_PULL_BACKOFF = "ImagePullBackOff"
    CREATE_CONTAINER_CONFIG_ERROR = "CreateContainerConfigError"
    RUNNING = "Running"
    CRASH_LOOP_BACKOFF = "CrashLoopBackOff"
    TERMINATING = "Terminating"


_PLANNER_PHASE = {
    PodState.PENDING: PodPhase.PENDING,
    PodState.ERR_IMAGE_PULL: PodPhase.PENDING,
    PodState.IMAGE_PULL_BACKOFF: PodPhase.PENDING,
    PodState.CREATE_CONTAINER_CONFIG_ERROR: PodPhase.PENDING,
    PodState.RUNNING: PodPhase.RUNNING,
    PodState.CRASH_LOOP_BACKOFF: PodPhase.CRASHLOOP,
    PodState.TERMINATING: PodPhase.TERMINATING,
}


@dataclass(frozen=True, slots=True, kw_only=True)
class PodInfo:
    """One pod as the API shows it. Times are the runner's clock (monotonic seconds)."""

    name: str
    namespace: str
    template_hash: str
    phase: PodState
    ready: bool
    restarts: int
    port: int  # where the process listens, on 127.0.0.1
    pid: int | None  # None while no process runs
    log: Path
    image: str  # the reference the container names
    image_digest: str | None  # None until the image resolved
    created_at: float
    started_at: float | None  # the current container run's start
    ready_since: float | None
    exit_code: int | None  # of the last container run that ended (128+n: killed by signal n)
    message: str = ""  # why it is not running, in kubelet's words

    def view(self) -> PodView:
        """The pod as `rollout.plan` and `health.pod_health` read it."""
        return PodView(
            name=self.name,
            template_hash=self.template_hash,
            phase=_PLANNER_PHASE[self.phase],
            ready_since=self.ready_since,
            restarts=self.restarts,
            created_at=self.created_at,
        )
