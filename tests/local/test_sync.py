"""Argo CD's sync rules as table tests: comparison, automated sync decisions, retry backoff and
history."""

from __future__ import annotations

from dataclasses import replace

import pytest

from console.local.argo.sync import (
    Phase,
    SyncAttempt,
    SyncCode,
    SyncPolicy,
    auto_sync,
    compare,
    parse_duration,
)
from console.local.kube.objects import fingerprint, images, key_of

DEPLOY = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "backend", "namespace": "dev"},
    "spec": {"replicas": 1, "template": {"spec": {"containers": [{"image": "r/backend:abc"}]}}},
}
SERVICE = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "backend"}, "spec": {}}
POLICY = SyncPolicy.from_spec(
    {
        "syncPolicy": {
            "automated": {"prune": True, "selfHeal": True},
            "retry": {"limit": 2, "backoff": {"duration": "5s", "factor": 2, "maxDuration": "3m"}},
        }
    }
)
A, B = "a" * 40, "b" * 40


def test_policy_from_the_generated_application() -> None:
    assert SyncPolicy(True, True, True, 2, 5.0, 2.0, 180.0) == POLICY
    assert [POLICY.retry_delay(n) for n in (1, 2, 3, 10)] == [5.0, 10.0, 20.0, 180.0]
    assert SyncPolicy.from_spec({}).automated is False
    assert (
        SyncPolicy.from_spec({"syncPolicy": {"automated": {"enabled": False}}}).automated is False
    )


@pytest.mark.parametrize(
    ("text", "seconds"), [("5s", 5), ("3m", 180), ("1h30m", 5400), ("0.5s", 0.5), (None, 7)]
)
def test_durations(text: str | None, seconds: float) -> None:
    assert parse_duration(text, 7) == seconds


def test_a_bad_duration_is_named() -> None:
    with pytest.raises(ValueError, match="not a duration: 'soon'"):
        parse_duration("soon", 5)


def test_compare_desired_with_live() -> None:
    live = {key_of(DEPLOY): fingerprint(DEPLOY), key_of(SERVICE, "dev"): fingerprint(SERVICE)}
    assert compare([DEPLOY, SERVICE], live, "dev")[0] is SyncCode.SYNCED
    changed = {**DEPLOY, "spec": {**DEPLOY["spec"], "replicas": 2}}
    code, diffs = compare([changed, SERVICE], live, "dev")
    assert code is SyncCode.OUT_OF_SYNC
    assert [(str(d.key), d.status) for d in diffs] == [
        ("Service dev/backend", SyncCode.SYNCED),
        ("apps/Deployment dev/backend", SyncCode.OUT_OF_SYNC),
    ]
    code, diffs = compare([DEPLOY], live, "dev")
    assert code is SyncCode.OUT_OF_SYNC
    assert [(str(d.key), d.requires_pruning) for d in diffs] == [
        ("Service dev/backend", True),
        ("apps/Deployment dev/backend", False),
    ]


def test_status_and_server_fields_do_not_count_as_drift() -> None:
    live_view = {
        **DEPLOY,
        "status": {"readyReplicas": 1},
        "metadata": {**DEPLOY["metadata"], "uid": "x", "resourceVersion": "9"},
    }
    assert fingerprint(live_view) == fingerprint(DEPLOY)


def op(revision: str, phase: Phase, at: float = 100.0, retries: int = 0) -> SyncAttempt:
    return SyncAttempt(
        revision, phase, at, None if phase is Phase.RUNNING else at, retry_count=retries
    )


@pytest.mark.parametrize(
    ("policy", "status", "last", "now", "sync", "reason"),
    [
        (SyncPolicy(), SyncCode.OUT_OF_SYNC, None, 0, False, "automated sync is disabled"),
        (POLICY, SyncCode.SYNCED, None, 0, False, "application is Synced"),
        (POLICY, SyncCode.UNKNOWN, None, 0, False, "application is Unknown"),
        (POLICY, SyncCode.OUT_OF_SYNC, None, 0, True, "new revision bbbbbbb"),
        (POLICY, SyncCode.OUT_OF_SYNC, op(A, Phase.SUCCEEDED), 0, True, "new revision bbbbbbb"),
        (POLICY, SyncCode.OUT_OF_SYNC, op(A, Phase.FAILED), 0, True, "new revision bbbbbbb"),
        (POLICY, SyncCode.OUT_OF_SYNC, op(B, Phase.RUNNING), 0, False, "already in progress"),
        (POLICY, SyncCode.OUT_OF_SYNC, op(B, Phase.SUCCEEDED), 0, True, "self-heal"),
        (
            SyncPolicy(automated=True),
            SyncCode.OUT_OF_SYNC,
            op(B, Phase.SUCCEEDED),
            0,
            False,
            "self-heal is off",
        ),
        (POLICY, SyncCode.OUT_OF_SYNC, op(B, Phase.FAILED), 104.9, False, "retry 1 in 0.1s"),
        (POLICY, SyncCode.OUT_OF_SYNC, op(B, Phase.FAILED), 105, True, "retry 1 of 2"),
        (POLICY, SyncCode.OUT_OF_SYNC, op(B, Phase.FAILED, retries=1), 109, False, "retry 2 in"),
        (POLICY, SyncCode.OUT_OF_SYNC, op(B, Phase.FAILED, retries=1), 110, True, "retry 2 of 2"),
        (
            POLICY,
            SyncCode.OUT_OF_SYNC,
            op(B, Phase.FAILED, retries=2),
            10_000,
            False,
            "skipping auto-sync: failed previous sync attempt to bbbbbbb",
        ),
    ],
)
def test_auto_sync_rules(  # noqa: PLR0917 - one parameter per column of the table
    policy: SyncPolicy,
    status: SyncCode,
    last: SyncAttempt | None,
    now: float,
    sync: bool,
    reason: str,
) -> None:
    decision = auto_sync(policy, status, B, last, now)
    assert decision.sync is sync
    assert reason in decision.reason


@pytest.mark.parametrize("last", [None, op(A, Phase.SUCCEEDED), op(B, Phase.SUCCEEDED)])
def test_auto_sync_never_wipes_out_every_resource_unless_allowed(last: SyncAttempt | None) -> None:
    """Argo CD's `allowEmpty: false` (the default): a target that would prune everything is not
    synced automatically; the app says why in a SyncError condition. A manual sync still may."""
    decision = auto_sync(POLICY, SyncCode.OUT_OF_SYNC, B, last, 0, wipes_out=True)
    assert decision.sync is False
    message = f"Skipping sync attempt to {B}: auto-sync will wipe out all resources"
    assert decision.reason == message
    assert decision.condition == message
    allowed = auto_sync(replace(POLICY, allow_empty=True), SyncCode.OUT_OF_SYNC, B, None, 0, True)
    assert allowed.sync is True
    assert allowed.condition == ""


def test_allow_empty_is_read_from_the_spec() -> None:
    spec = {"syncPolicy": {"automated": {"prune": True, "allowEmpty": True}}}
    assert SyncPolicy.from_spec(spec).allow_empty is True
    assert SyncPolicy.from_spec({"syncPolicy": {"automated": {}}}).allow_empty is False


def test_a_waiting_retry_says_when_to_wake() -> None:
    decision = auto_sync(POLICY, SyncCode.OUT_OF_SYNC, B, op(B, Phase.FAILED), 101)
    assert decision.wake_at == 105


def test_images_of_the_workloads() -> None:
    assert images([DEPLOY, SERVICE]) == ["r/backend:abc"]
