"""Argo CD's sync semantics as pure functions: comparing desired with live objects, deciding when
automated sync acts (once per revision, self-heal, retry with backoff), and keeping history.

The controller (the driver) reads Git and the runtime, asks these functions what to do, and does
it. Times are plain floats (seconds) handed in by the caller, so every rule is table-testable.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from console.application import Sync

# Objects are compared by the identity and digest Kubernetes gives them. ObjectKey is re-exported
# (the alias marks it so) for the Application model, which keys its resources by it.
from console.local.kube.objects import ObjectKey as ObjectKey  # noqa: PLC0414
from console.local.kube.objects import fingerprint, key_of

_DURATION = re.compile(r"^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+(?:\.\d+)?)s)?$")


SyncCode = Sync  # the model's enum, under the name the decision table reads best with


class Phase(StrEnum):
    """The phases a sync attempt of this controller ends in (a subset of OperationPhase)."""

    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    ERROR = "Error"


@dataclass(frozen=True)
class ResourceDiff:
    key: ObjectKey
    status: SyncCode  # Synced or OutOfSync
    requires_pruning: bool = False


def compare(
    desired: Sequence[Mapping[str, Any]],
    live: Mapping[ObjectKey, str],
    default_namespace: str,
) -> tuple[SyncCode, list[ResourceDiff]]:
    """Sync status of an app: desired objects (rendered from Git) against the fingerprints of
    what runs. Extra live objects are OutOfSync and need pruning, as in Argo CD."""
    diffs = []
    wanted = set()
    for obj in desired:
        key = key_of(obj, default_namespace)
        wanted.add(key)
        same = live.get(key) == fingerprint(obj)
        diffs.append(ResourceDiff(key, SyncCode.SYNCED if same else SyncCode.OUT_OF_SYNC))
    for key in sorted(set(live) - wanted):
        diffs.append(ResourceDiff(key, SyncCode.OUT_OF_SYNC, requires_pruning=True))
    code = (
        SyncCode.SYNCED if all(d.status is SyncCode.SYNCED for d in diffs) else SyncCode.OUT_OF_SYNC
    )
    return code, sorted(diffs, key=lambda d: d.key)


def parse_duration(text: str | None, default: float) -> float:
    """Go's duration strings as Argo CD's retry backoff uses them: `5s`, `3m`, `1h30m`."""
    if not text:
        return default
    match = _DURATION.match(str(text).strip())
    if not match or not any(match.groups()):
        raise ValueError(f"not a duration: {text!r} (expected e.g. 5s, 3m)")
    hours, minutes, seconds = match.groups()
    return int(hours or 0) * 3600 + int(minutes or 0) * 60 + float(seconds or 0)


@dataclass(frozen=True)
class SyncPolicy:
    automated: bool = False
    prune: bool = False
    self_heal: bool = False
    retry_limit: int = 0
    backoff_s: float = 5.0
    factor: float = 2.0
    max_backoff_s: float = 180.0
    allow_empty: bool = False  # automated sync may prune every resource

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any]) -> SyncPolicy:
        policy = spec.get("syncPolicy") or {}
        automated = policy.get("automated")
        retry = policy.get("retry") or {}
        backoff = retry.get("backoff") or {}
        return cls(
            automated=automated is not None and automated.get("enabled", True) is not False,
            prune=bool((automated or {}).get("prune", False)),
            self_heal=bool((automated or {}).get("selfHeal", False)),
            allow_empty=bool((automated or {}).get("allowEmpty", False)),
            retry_limit=int(retry.get("limit", 0) or 0),
            backoff_s=parse_duration(backoff.get("duration"), 5.0),
            factor=float(backoff.get("factor", 2) or 2),
            max_backoff_s=parse_duration(backoff.get("maxDuration"), 180.0),
        )

    def retry_delay(self, retry: int) -> float:
        """Seconds before retry number `retry` (1-based): duration * factor^(retry-1), capped."""
        return float(min(self.max_backoff_s, self.backoff_s * self.factor ** (retry - 1)))


@dataclass(frozen=True)
class SyncAttempt:
    """The app's last sync as automated sync judges it: `status.operationState`'s facts, with
    monotonic times (the wall-clock ones can jump) and without a dry run or a refused request,
    which are no attempt."""

    revision: str
    phase: Phase
    started_at: float
    finished_at: float | None = None
    message: str = ""
    automated: bool = True
    username: str = ""
    retry_count: int = 0


@dataclass(frozen=True)
class Decision:
    sync: bool
    reason: str
    retry: int = 0  # the retry number when `sync` is a retry
    wake_at: float | None = None  # when to decide again (a retry's backoff)
    condition: str = ""  # a SyncError the app shows while this holds


def auto_sync(  # noqa: PLR0911, PLR0917 - one return per rule of the decision table
    policy: SyncPolicy,
    status: SyncCode,
    target: str,
    last: SyncAttempt | None,
    now: float,
    wipes_out: bool = False,
) -> Decision:
    """Whether automated sync acts now. Argo CD's rules: nothing unless automated and the app is
    OutOfSync; never a sync that would prune every resource (`wipes_out`: the target renders
    nothing the app keeps) unless `allowEmpty`; one attempt per new revision; a failed attempt is
    retried with backoff up to the retry limit and then left alone until a new revision arrives;
    at an already synced revision only self-heal syncs again."""
    if not policy.automated:
        return Decision(False, "automated sync is disabled")
    if status is not SyncCode.OUT_OF_SYNC:
        return Decision(False, f"application is {status.value}")
    if wipes_out and not policy.allow_empty:
        # Argo CD's words (controller/appcontroller.go, autoSync).
        said = f"Skipping sync attempt to {target}: auto-sync will wipe out all resources"
        return Decision(False, said, condition=said)
    if last is not None and last.phase is Phase.RUNNING:
        return Decision(False, "an operation is already in progress")
    if last is None or last.revision != target:
        return Decision(True, f"new revision {target[:7]}")
    if last.phase is Phase.SUCCEEDED:
        if policy.self_heal:
            return Decision(True, f"self-heal: live state drifted from {target[:7]}")
        return Decision(False, f"already synced to {target[:7]}; self-heal is off")
    if last.retry_count < policy.retry_limit:
        retry = last.retry_count + 1
        due = (last.finished_at or last.started_at) + policy.retry_delay(retry)
        if now >= due:
            return Decision(True, f"retry {retry} of {policy.retry_limit}", retry=retry)
        return Decision(False, f"retry {retry} in {due - now:.1f}s", wake_at=due)
    return Decision(False, f"skipping auto-sync: failed previous sync attempt to {target[:7]}")
