"""Reading Argo CD's Application JSON into the fleet model: Argo CD's own full example
(../shared/reference/argo-cd/testdata/application.yaml), an instance of every field
swagger.json's `v1alpha1Application` defines, full-shape multi-source answers, empty statuses,
every health/sync/phase value, and malformed input, which must fail with the field's path."""

from __future__ import annotations

import contextlib
import copy
import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from console.fleet.model import Health, OperationPhase, Source, Sync
from console.fleet.parse import (
    MalformedError,
    parse_application,
    parse_application_list,
    parse_time,
)
from tests.fleet.support import ARGO

EXAMPLE = ARGO / "testdata" / "application.yaml"
SWAGGER = ARGO / "swagger.json"
needs_reference = pytest.mark.skipif(
    not EXAMPLE.is_file() or not SWAGGER.is_file(),
    reason=f"{ARGO} is absent: Argo CD's example Application and swagger.json "
    "(../shared holds them) are not checked",
)

SHA1, SHA2, SHA3 = "1" * 40, "2" * 40, "3" * 40
CHART = "7.3.4"

# A multi-source Application as Argo CD's API answers it (a chart plus a values repo): every
# field the model reads is set, with Go's JSON encoding (RFC 3339 UTC, omitempty).
FULL: dict[str, Any] = {
    "metadata": {
        "name": "payments-prod",
        "namespace": "argocd",
        "uid": "0e6f2f0e-2b8e-4c43-9d0c-5f1a8a5b4a11",
        "resourceVersion": "184467",
        "generation": 42,
        "creationTimestamp": "2026-07-30T08:00:00Z",
        "labels": {"gitops.platform/service": "payments", "gitops.platform/env": "prod"},
        "annotations": {"gitops.platform/auto-rollback": "true"},
        "finalizers": ["resources-finalizer.argocd.argoproj.io"],
        "managedFields": [{"manager": "argocd-server", "operation": "Update"}],
    },
    "spec": {
        "project": "payments",
        "sources": [
            {
                "repoURL": "https://charts.example.com",
                "chart": "payments",
                "targetRevision": CHART,
                "helm": {"valueFiles": ["$values/prod/values.yaml"]},
            },
            {
                "repoURL": "https://github.com/acme/values.git",
                "targetRevision": "main",
                "ref": "values",
            },
        ],
        "destination": {"name": "prod-eu", "namespace": "payments"},
        "syncPolicy": {
            "automated": {"prune": True, "selfHeal": False},
            "syncOptions": ["CreateNamespace=true"],
            "retry": {"limit": 2},
        },
        "revisionHistoryLimit": 10,
    },
    "status": {
        "resources": [
            {"version": "v1", "kind": "ConfigMap", "namespace": "payments", "name": "cfg"},
            {
                "group": "apps",
                "version": "v1",
                "kind": "Deployment",
                "namespace": "payments",
                "name": "payments",
                "status": "OutOfSync",
                "health": {
                    "status": "Degraded",
                    "message": 'Deployment "payments" exceeded its progress deadline',
                },
                "syncWave": 1,
            },
        ],
        "sync": {
            "status": "OutOfSync",
            "comparedTo": {"destination": {"name": "prod-eu", "namespace": "payments"}},
            "revisions": [CHART, SHA3],
        },
        "health": {
            "status": "Degraded",
            "message": "one or more objects failed",
            "lastTransitionTime": "2026-08-01T11:59:00Z",
        },
        "history": [
            {
                "id": 7,
                "deployedAt": "2026-08-01T10:00:00Z",
                "deployStartedAt": "2026-08-01T09:59:40Z",
                "revisions": [CHART, SHA1],
                "sources": [{"repoURL": "https://charts.example.com"}],
                "initiatedBy": {"automated": True},
            },
            {
                "id": 8,
                "deployedAt": "2026-08-01T11:58:00Z",
                "deployStartedAt": "2026-08-01T11:57:30.123456789Z",
                "revisions": [CHART, SHA2],
                "initiatedBy": {"username": "alice@example.com"},
            },
        ],
        "conditions": [
            {
                "type": "SyncError",
                "message": "one or more synchronization tasks completed unsuccessfully",
                "lastTransitionTime": "2026-08-01T11:59:30Z",
            }
        ],
        "reconciledAt": "2026-08-01T12:00:00Z",
        "operationState": {
            "operation": {
                "sync": {"revisions": [CHART, SHA3], "prune": True},
                "initiatedBy": {"automated": True},
                "retry": {"limit": 2},
            },
            "phase": "Failed",
            "message": "one or more synchronization tasks completed unsuccessfully",
            "syncResult": {
                "resources": [{"kind": "Deployment", "name": "payments", "status": "Synced"}],
                "revisions": [CHART, SHA3],
                "sources": [{"repoURL": "https://charts.example.com"}],
            },
            "startedAt": "2026-08-01T11:59:00Z",
            "finishedAt": "2026-08-01T11:59:30Z",
            "retryCount": 2,
        },
        "observedAt": "2026-08-01T12:00:00Z",
        "sourceTypes": ["Helm", "Directory"],
        "summary": {"images": ["registry.example.com/payments:sha-3333333"]},
        "controllerNamespace": "argocd",
    },
}


def _t(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


# --- Argo CD's own example and swagger ---------------------------------------------------------


@needs_reference
def test_argo_cd_example_application() -> None:
    """Argo CD's annotated example sets every spec field (source, sources and a source
    hydrator at once); Argo CD syncs from the hydrator's sync source, and so reads the model."""
    doc = yaml.safe_load(EXAMPLE.read_text())
    app = parse_application(doc, "prod")
    assert (app.name, app.namespace, app.project, app.instance) == (
        "guestbook",
        "argocd",
        "default",
        "prod",
    )
    assert app.labels == {"name": "guestbook"}
    assert app.sources == (
        Source(
            repo_url="https://github.com/argoproj/argocd-example-apps.git",
            path="guestbook-hydrated",
            target_revision="env/prod",
        ),
    )
    assert (app.dest_server, app.dest_name, app.dest_namespace) == (
        "https://kubernetes.default.svc",
        "",
        "guestbook",
    )
    assert (app.auto_sync, app.self_heal, app.prune) == (True, True, True)
    # A manifest from Git has no status: everything the controller fills in reads as unknown.
    assert (app.sync, app.health, app.operation, app.history) == (
        Sync.UNKNOWN,
        Health.UNKNOWN,
        None,
        (),
    )

    del doc["spec"]["sourceHydrator"]
    multi = parse_application(doc)
    assert multi.sources == (
        Source(
            repo_url="https://github.com/argoproj/argocd-example-apps.git",
            path="guestbook",
            target_revision="HEAD",
            ref="my-repo",
        ),
    )
    del doc["spec"]["sources"]
    single = parse_application(doc)
    assert single.source == Source(
        repo_url="https://github.com/argoproj/argocd-example-apps.git",
        path="guestbook",
        target_revision="HEAD",
        chart="chart-name",
    )
    doc["spec"]["syncPolicy"]["automated"]["enabled"] = False
    assert parse_application(doc).auto_sync is False


def _example(schema: dict[str, Any], definitions: dict[str, Any], seen: tuple[str, ...]) -> Any:
    """An instance of a swagger schema with every property set (recursive types once)."""
    ref = schema.get("$ref")
    if ref:
        name = ref.rsplit("/", 1)[-1]
        if name in seen:
            return None
        return _example(definitions[name], definitions, (*seen, name))
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        out = {
            key: value
            for key, sub in schema.get("properties", {}).items()
            if (value := _example(sub, definitions, seen)) is not None
        }
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict):
            out["example.com/key"] = _example(extra, definitions, seen)
        return out
    if kind == "array":
        item = _example(schema["items"], definitions, seen)
        return [] if item is None else [item, copy.deepcopy(item)]
    if schema.get("format") == "date-time":
        return "2026-08-01T12:00:00Z"
    return _SCALARS.get(kind, "Healthy")


_SCALARS: dict[Any, Any] = {"integer": 3, "number": 1.5, "boolean": True}


@needs_reference
def test_every_swagger_field() -> None:
    """An Application with every field of swagger.json's v1alpha1Application set, with the
    types swagger gives: it parses, and each field lands where it belongs."""
    definitions = json.loads(SWAGGER.read_text())["definitions"]
    doc = _example(definitions["v1alpha1Application"], definitions, ("v1alpha1Application",))
    at = datetime(2026, 8, 1, 12, tzinfo=UTC)
    app = parse_application(doc)
    assert app.name == "Healthy"
    assert app.labels == {"example.com/key": "Healthy"}
    assert app.health == Health.HEALTHY
    assert app.sync == Sync.UNKNOWN  # "Healthy" is no sync status
    assert app.sync_revisions == ("Healthy", "Healthy")
    assert [h.id for h in app.history] == [3, 3]
    assert app.history[0].deployed_at == at
    assert app.history[0].revisions == ("Healthy", "Healthy")
    assert app.history[0].automated is True
    assert app.operation is not None
    assert app.operation.phase == OperationPhase.UNKNOWN
    assert app.operation.retry_count == 3
    assert app.operation.finished_at == at
    assert [r.health for r in app.resources] == [Health.HEALTHY, Health.HEALTHY]
    assert app.conditions[0].at == at
    assert app.reconciled_at == at
    assert (app.auto_sync, app.self_heal, app.prune) == (True, True, True)
    # With a source hydrator set, Argo CD syncs from its sync source.
    assert len(app.sources) == 1
    del doc["spec"]["sourceHydrator"]
    assert len(parse_application(doc).sources) == 2


# --- full shapes and edge cases ----------------------------------------------------------------


def test_full_multi_source_application() -> None:
    app = parse_application(FULL, "eu")
    assert app.key == "argocd/payments-prod"
    assert (app.service, app.env, app.instance) == ("payments", "prod", "eu")
    assert app.resource_version == "184467"
    assert app.annotations == {"gitops.platform/auto-rollback": "true"}
    assert app.sources == (
        Source(repo_url="https://charts.example.com", chart="payments", target_revision=CHART),
        Source(repo_url="https://github.com/acme/values.git", target_revision="main", ref="values"),
    )
    assert (app.dest_server, app.dest_name, app.dest_namespace) == ("", "prod-eu", "payments")
    assert (app.auto_sync, app.self_heal, app.prune) == (True, False, True)
    assert (app.sync, app.sync_revision, app.sync_revisions) == (
        Sync.OUT_OF_SYNC,
        "",
        (CHART, SHA3),
    )
    assert (app.health, app.health_message) == (Health.DEGRADED, "one or more objects failed")
    first, second = app.history
    assert (first.id, first.revision, first.revisions) == (7, "", (CHART, SHA1))
    assert (first.automated, first.initiated_by) == (True, "")
    assert first.deployed_at == _t("2026-08-01T10:00:00Z")
    assert (second.initiated_by, second.automated) == ("alice@example.com", False)
    # Go's RFC3339Nano: nanoseconds are cut to microseconds.
    assert second.deploy_started_at == _t("2026-08-01T11:57:30.123456Z")
    op = app.operation
    assert op is not None
    assert (op.phase, op.revision, op.revisions) == (OperationPhase.FAILED, "", (CHART, SHA3))
    assert op.phase.failed
    assert not op.phase.running
    assert (op.automated, op.retry_count) == (True, 2)
    assert (op.started_at, op.finished_at) == (
        _t("2026-08-01T11:59:00Z"),
        _t("2026-08-01T11:59:30Z"),
    )
    cfg, deploy = app.resources
    assert (cfg.group, cfg.kind, cfg.health, cfg.status) == ("", "ConfigMap", None, Sync.UNKNOWN)
    assert deploy.ref == "apps/Deployment payments/payments"
    assert (deploy.health, deploy.status) == (Health.DEGRADED, Sync.OUT_OF_SYNC)
    assert "progress deadline" in deploy.health_message
    assert app.images == ("registry.example.com/payments:sha-3333333",)
    assert app.conditions[0].type == "SyncError"
    assert app.conditions[0].at == _t("2026-08-01T11:59:30Z")
    assert app.reconciled_at == _t("2026-08-01T12:00:00Z")


@pytest.mark.parametrize(
    "status",
    [None, {}, {"sync": {}, "health": {}}, {"sync": None, "health": None, "history": None}],
    ids=["missing", "empty", "empty-parts", "nulls"],
)
def test_empty_status(status: Any) -> None:
    doc = {"metadata": {"name": "new"}, "spec": {}}
    if status is not None:
        doc["status"] = status
    app = parse_application(doc)
    assert (app.name, app.namespace, app.sources) == ("new", "", ())
    assert (app.sync, app.health, app.operation) == (Sync.UNKNOWN, Health.UNKNOWN, None)
    assert (app.history, app.resources, app.images, app.conditions) == ((), (), (), ())
    assert app.reconciled_at is None
    assert parse_application({"metadata": {"name": "bare"}}).sources == ()


@pytest.mark.parametrize(
    ("value", "expected"),
    [(h.value, h) for h in Health] + [("Weird", Health.UNKNOWN), ("", Health.UNKNOWN)],
)
def test_every_health_value(value: str, expected: Health) -> None:
    doc = {"metadata": {"name": "a"}, "status": {"health": {"status": value}}}
    assert parse_application(doc).health == expected
    res = {"metadata": {"name": "a"}, "status": {"resources": [{"health": {"status": value}}]}}
    assert parse_application(res).resources[0].health == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [(s.value, s) for s in Sync] + [("Drifting", Sync.UNKNOWN), ("", Sync.UNKNOWN)],
)
def test_every_sync_value(value: str, expected: Sync) -> None:
    doc = {"metadata": {"name": "a"}, "status": {"sync": {"status": value}}}
    assert parse_application(doc).sync == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [(p.value, p) for p in OperationPhase] + [("Paused", OperationPhase.UNKNOWN)],
)
def test_every_operation_phase(value: str, expected: OperationPhase) -> None:
    doc = {"metadata": {"name": "a"}, "status": {"operationState": {"phase": value}}}
    op = parse_application(doc).operation
    assert op is not None
    assert op.phase == expected


@pytest.mark.parametrize(
    ("state", "revision", "revisions"),
    [
        ({"syncResult": {"revision": SHA2}, "operation": {"sync": {"revision": SHA1}}}, SHA2, ()),
        ({"operation": {"sync": {"revision": SHA1}}}, SHA1, ()),
        ({"syncResult": {"revision": ""}, "operation": {"sync": {"revision": SHA1}}}, SHA1, ()),
        ({"operation": {"sync": {"revisions": [SHA1, SHA2]}}}, "", (SHA1, SHA2)),
        (
            {
                "syncResult": {"revisions": [SHA3, SHA2]},
                "operation": {"sync": {"revisions": [SHA1, SHA2]}},
            },
            "",
            (SHA3, SHA2),
        ),
        ({"phase": "Running"}, "", ()),
    ],
    ids=["result", "requested", "empty-result", "multi-requested", "multi-result", "none"],
)
def test_operation_revision(state: dict[str, Any], revision: str, revisions: tuple[str]) -> None:
    """What an operation syncs to: the resolved revision once Argo CD knows it, else the one
    that was asked for."""
    op = parse_application({"metadata": {"name": "a"}, "status": {"operationState": state}})
    assert op.operation is not None
    assert (op.operation.revision, op.operation.revisions) == (revision, revisions)


@pytest.mark.parametrize(
    ("policy", "auto", "heal", "prune"),
    [
        (None, False, False, False),
        ({}, False, False, False),
        ({"automated": None}, False, False, False),
        ({"automated": {}}, True, False, False),
        ({"automated": {"selfHeal": True, "prune": True}}, True, True, True),
        ({"automated": {"enabled": False, "selfHeal": True}}, False, True, False),
        ({"automated": {"enabled": True}}, True, False, False),
    ],
)
def test_sync_policy(policy: Any, auto: bool, heal: bool, prune: bool) -> None:
    app = parse_application({"metadata": {"name": "a"}, "spec": {"syncPolicy": policy}})
    assert (app.auto_sync, app.self_heal, app.prune) == (auto, heal, prune)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-08-01T12:00:00Z", datetime(2026, 8, 1, 12, tzinfo=UTC)),
        ("2026-08-01t12:00:00z", datetime(2026, 8, 1, 12, tzinfo=UTC)),
        ("2026-08-01T12:00:00.5Z", datetime(2026, 8, 1, 12, 0, 0, 500000, tzinfo=UTC)),
        (
            "2026-08-01T12:00:00.123456789Z",
            datetime(2026, 8, 1, 12, 0, 0, 123456, tzinfo=UTC),
        ),
        (
            "2026-08-01T14:00:00+02:00",
            datetime(2026, 8, 1, 14, tzinfo=timezone(timedelta(hours=2))),
        ),
        ("", None),
        (None, None),
    ],
)
def test_times(text: str | None, expected: datetime | None) -> None:
    parsed = parse_time(text)
    assert parsed == expected
    if parsed is not None:
        assert parsed.tzinfo is not None
    assert parse_time("2026-08-01T14:00:00+02:00") == datetime(2026, 8, 1, 12, tzinfo=UTC)


def test_integers_as_strings() -> None:
    """protojson writes int64 as strings; Argo CD writes numbers. Both read."""
    doc = {"metadata": {"name": "a"}, "status": {"history": [{"id": "12"}, {"id": 13}]}}
    assert [h.id for h in parse_application(doc).history] == [12, 13]


def test_list() -> None:
    body = {"metadata": {"resourceVersion": "991"}, "items": [FULL, {"metadata": {"name": "b"}}]}
    apps, version = parse_application_list(body, "eu")
    assert [a.name for a in apps] == ["payments-prod", "b"]
    assert {a.instance for a in apps} == {"eu"}
    assert version == "991"
    assert parse_application_list({}) == ([], "")
    assert parse_application_list({"metadata": {}, "items": None}) == ([], "")


# --- malformed input ---------------------------------------------------------------------------


def _set(doc: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    out = copy.deepcopy(doc)
    target: Any = out
    for step in path[:-1]:
        target = target[step]
    if value is _DELETE:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return out


_DELETE = object()

MALFORMED = [
    (("metadata",), _DELETE, "metadata: missing"),
    (("metadata",), [], "metadata: expected an object"),
    (("metadata", "name"), _DELETE, "metadata.name: missing"),
    (("metadata", "name"), "", "metadata.name: missing"),
    (("metadata", "name"), 5, "metadata.name: expected a string"),
    (("metadata", "labels"), ["a"], "metadata.labels: expected an object"),
    (
        ("metadata", "labels", "gitops.platform/env"),
        1,
        "metadata.labels.gitops.platform/env: expected a string",
    ),
    (("metadata", "resourceVersion"), 184467, "metadata.resourceVersion: expected a string"),
    (("spec",), "x", "spec: expected an object"),
    (("spec", "sources"), {}, "spec.sources: expected a list"),
    (("spec", "sources", 1), "values", "spec.sources[1]: expected an object"),
    (("spec", "sources", 1, "repoURL"), 1, "spec.sources[1].repoURL: expected a string"),
    (("spec", "destination"), [], "spec.destination: expected an object"),
    (
        ("spec", "syncPolicy", "automated", "prune"),
        "yes",
        "spec.syncPolicy.automated.prune: expected a boolean",
    ),
    (("status",), [], "status: expected an object"),
    (("status", "sync", "revisions", 1), 7, "status.sync.revisions[1]: expected a string"),
    (("status", "health", "status"), {}, "status.health.status: expected a string"),
    (("status", "history"), "x", "status.history: expected a list"),
    (("status", "history", 1), 3, "status.history[1]: expected an object"),
    (("status", "history", 1, "id"), "x", "status.history[1].id: expected an integer"),
    (("status", "history", 1, "id"), True, "status.history[1].id: expected an integer"),
    (("status", "history", 1, "id"), 1.5, "status.history[1].id: expected an integer"),
    (
        ("status", "history", 0, "deployedAt"),
        "yesterday",
        "status.history[0].deployedAt: expected an RFC 3339 timestamp",
    ),
    (
        ("status", "history", 0, "deployedAt"),
        "2026-13-01T00:00:00Z",
        "status.history[0].deployedAt: expected an RFC 3339 timestamp",
    ),
    (
        ("status", "history", 0, "initiatedBy", "automated"),
        "true",
        "status.history[0].initiatedBy.automated: expected a boolean",
    ),
    (
        ("status", "operationState", "syncResult", "revisions"),
        [1],
        "status.operationState.syncResult.revisions[0]: expected a string",
    ),
    (
        ("status", "operationState", "operation", "sync"),
        "x",
        "status.operationState.operation.sync: expected an object",
    ),
    (
        ("status", "operationState", "retryCount"),
        "two",
        "status.operationState.retryCount: expected an integer",
    ),
    (
        ("status", "resources", 1, "health"),
        "Degraded",
        "status.resources[1].health: expected an object",
    ),
    (("status", "summary", "images"), "x", "status.summary.images: expected a list"),
    (
        ("status", "conditions", 0, "lastTransitionTime"),
        5,
        "status.conditions[0].lastTransitionTime: expected an RFC 3339 timestamp",
    ),
    (("status", "reconciledAt"), 1754049600, "status.reconciledAt: expected an RFC 3339 timestamp"),
]


@pytest.mark.parametrize(("path", "value", "message"), MALFORMED)
def test_malformed_names_the_field(path: tuple[Any, ...], value: Any, message: str) -> None:
    with pytest.raises(MalformedError) as caught:
        parse_application(_set(FULL, path, value))
    assert str(caught.value) == message
    assert isinstance(caught.value, ValueError)
    assert caught.value.path == message.split(":", maxsplit=1)[0]


@pytest.mark.parametrize("value", [None, [], "app", 3])
def test_not_an_object(value: Any) -> None:
    with pytest.raises(MalformedError, match=r"^expected an object$"):
        parse_application(value)
    with pytest.raises(MalformedError, match=r"^expected an object$"):
        parse_application_list(value)


def test_malformed_paths_in_lists_and_frames() -> None:
    body = {"items": [FULL, {"metadata": {"name": "b"}, "status": {"history": [{"id": "x"}]}}]}
    with pytest.raises(MalformedError, match=r"^items\[1\]\.status\.history\[0\]\.id: "):
        parse_application_list(body)
    with pytest.raises(MalformedError, match=r"^items\[0\]: expected an object$"):
        parse_application_list({"items": ["x"]})
    with pytest.raises(MalformedError, match=r"^items: expected a list$"):
        parse_application_list({"items": {}})
    with pytest.raises(MalformedError, match=r"^metadata\.resourceVersion: expected a string$"):
        parse_application_list({"metadata": {"resourceVersion": 5}, "items": []})
    with pytest.raises(MalformedError, match=r"^result\.application\.metadata\.name: missing$"):
        parse_application({"metadata": {}}, path="result.application")


# --- properties ----------------------------------------------------------------------------------

_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=5)
    ),
    max_leaves=25,
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, sub in value.items():
            out.extend(_paths(sub, (*prefix, key)))
    elif isinstance(value, list):
        for i, sub in enumerate(value):
            out.extend(_paths(sub, (*prefix, i)))
    return out


FULL_PATHS = _paths(FULL)


def _parses_or_says_where(doc: Any) -> None:
    """parse_application returns, or raises a MalformedError that names a field (only a
    document that is not an object has no field to name)."""
    error: MalformedError | None = None
    try:
        parse_application(doc)
    except MalformedError as exc:
        error = exc
    if error is not None:
        assert error.path or error.problem == "expected an object"


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(_json)
def test_arbitrary_json_raises_only_malformed(doc: Any) -> None:
    _parses_or_says_where(doc)
    with contextlib.suppress(MalformedError):
        parse_application_list(doc)


@settings(max_examples=500)
@given(st.data())
def test_any_field_of_a_full_answer_replaced(data: st.DataObject) -> None:
    """Any field of a full answer replaced by any JSON value (or removed): the result parses
    or is a MalformedError naming a field."""
    path = data.draw(st.sampled_from(FULL_PATHS))
    value = data.draw(_json | st.just(_DELETE))
    _parses_or_says_where(_set(FULL, path, value))


@settings(max_examples=200)
@given(
    st.fixed_dictionaries(
        {"metadata": st.fixed_dictionaries({"name": st.text(min_size=1, max_size=8)})},
        optional={"spec": _json, "status": _json},
    )
)
def test_named_apps_with_anything_else(doc: dict[str, Any]) -> None:
    _parses_or_says_where(doc)
