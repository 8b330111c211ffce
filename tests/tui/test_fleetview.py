"""The fleet matrix's view model: joins, drift, rollback marks, layout, filter, sort and the
cells' text. Table tests on the fixed fleet, property tests on generated ones."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from console.application import Application
from console.contract import ENV_LABEL, SERVICE_LABEL
from console.fleet.history import Commit
from console.fleet.model import Health, Sync
from console.fleet.placement import Placing
from console.fleet.source import Down
from console.fleet.status import build_rows
from console.tui.fleetview import (
    AppFacts,
    Cell,
    FactsCache,
    build_matrix,
    drifted,
    join,
    matches,
    render_cell,
    rolled_back,
    same_version,
)
from console.tui.store import RepoFacts, Store
from tests.fleet import byo_data
from tests.fleet.build import App, replace
from tests.tui import data


def store(apps: list[App] | None = None, *, repo: bool = True) -> Store:
    s = Store(["demo"], {"demo": data.DEPLOY} if repo else {})
    s.snapshot("demo", apps if apps is not None else data.fleet(), data.NOW)
    s.set_versions("demo", data.LIVE)
    if repo:
        s.set_repo(data.DEPLOY, data.REPO)
        s.set_pins({(data.DEPLOY, rev, path): tag for (rev, path), tag in data.pins().items()})
    return s


def by_name(facts: list[AppFacts]) -> dict[str, AppFacts]:
    return {f.app.name: f for f in facts}


@pytest.mark.parametrize(
    ("versions", "drift"),
    [
        ((data.TAG_A, data.TAG_A, data.TAG_A), False),
        ((data.TAG_A, data.TAG_A[:7], None), False),  # a short sha names the same build
        ((data.TAG_B, data.TAG_A, data.TAG_A), True),  # Git asks for another tag
        ((data.TAG_A, data.TAG_A, "0.1.0"), True),  # /version answers something else
        ((None, None, None), False),  # nothing known: no claim
        (("abc", "abcdef", None), True),  # too short to be a prefix match
    ],
)
def test_drift(versions: tuple[str | None, ...], drift: bool) -> None:
    assert drifted(*versions) is drift


def test_join_reads_git_pins_images_and_live_versions() -> None:
    facts = by_name(join(store()))
    prod = facts["backend-prod"]
    assert (prod.desired, prod.desired_from, prod.image, prod.live) == (
        data.TAG_B,
        "git",
        data.TAG_A,
        data.TAG_A,
    )
    assert prod.drift
    assert not facts["backend-dev"].drift
    assert facts["backend-staging"].live is None


def test_without_a_deploy_repo_the_image_stands_for_git() -> None:
    facts = by_name(join(store(repo=False)))
    prod = facts["backend-prod"]
    assert (prod.desired, prod.desired_from) == (data.TAG_A, "image")
    assert not prod.drift
    assert prod.rollback is None


@pytest.mark.parametrize(
    ("app", "rollback"),
    [
        ("backend-dev", data.C4),  # runs the guard's rollback commit itself
        ("frontend-prod", data.C6),  # runs the operator's rollback commit
        ("backend-prod", None),  # at C6 too, but C6 rolled back another app
        ("backend-staging", None),
    ],
)
def test_rollback_mark_is_about_this_app(app: str, rollback: str | None) -> None:
    found = by_name(join(store()))[app].rollback
    assert (found.sha if found else None) == rollback


def test_a_promotion_after_a_rollback_clears_the_mark() -> None:
    promoted = Commit(
        "7" * 40,
        "chore(deploy): promote frontend d4d4d4d to prod",
        "ci <ci@example.com>",
        data.ts(1),
        (("Promoted-Service", "frontend"),),
    )
    repo = RepoFacts.of(promoted.sha, (promoted, *data.COMMITS))
    assert rolled_back(repo, "frontend-prod", "frontend", "prod", data.C6) is not None
    assert rolled_back(repo, "frontend-prod", "frontend", "prod", promoted.sha) is None


def test_matrix_rows_columns_and_others() -> None:
    matrix = build_matrix(join(store()))
    assert [c.key for c in matrix.columns] == ["dev", "staging", "prod"]
    assert [r.key for r in matrix.rows] == ["backend", "frontend"]
    assert sorted(matrix.rows[1].cells) == ["dev", "prod"]
    assert matrix.rows[0].cells["prod"].key == "backend@prod"
    assert [f.app.name for f in matrix.others] == ["gitops-guard", "root"]


def test_several_targets_in_one_env_split_its_column() -> None:
    s = Store(["eu", "us"])
    s.snapshot("eu", [replace(a, instance="eu") for a in data.fleet()], data.NOW)
    s.snapshot("us", [a for a in data.fleet() if a.env == "prod"], data.NOW)
    matrix = build_matrix(join(s))
    assert [c.key for c in matrix.columns] == ["dev", "staging", "prod@eu", "prod@us"]
    assert matrix.rows[0].cells["prod@us"].key == "us/backend@prod"
    assert matrix.rows[0].cells["dev"].key == "backend@dev"


def test_apps_without_labels_are_placed_as_gitops_status_places_them() -> None:
    """Bring your own Argo CD (console.fleet.placement): a `<service>-<env>` name or an
    environment's namespace places an unlabelled app; the platform's apps keep their labels'
    cells; an environment only a labelled app names (`perf`) is learnt when that app arrives,
    and the apps it names move into the matrix (the joined facts are not reused)."""
    byo = [
        App(name="search-prod", namespace="argocd", dest_namespace="search"),
        App(name="ledger", namespace="argocd", dest_namespace="staging"),
        App(name="web-perf", namespace="argocd", dest_namespace="web"),
        App(name="argocd", namespace="argocd", dest_namespace="argocd"),
    ]
    s = store([*data.fleet(), *byo])
    cache = FactsCache()
    matrix = build_matrix(cache.join(s))
    assert [r.key for r in matrix.rows] == ["backend", "frontend", "ledger", "search"]
    assert matrix.rows[2].cells["staging"].facts.app.name == "ledger"
    assert matrix.rows[3].cells["prod"].facts.app.name == "search-prod"
    assert [f.app.name for f in matrix.others] == ["argocd", "gitops-guard", "root", "web-perf"]
    labels = {SERVICE_LABEL: "load", ENV_LABEL: "perf"}
    s.changed("demo", App(name="load-perf", namespace="argocd", labels=labels), data.NOW)
    matrix = build_matrix(cache.join(s))
    assert [c.key for c in matrix.columns] == ["dev", "staging", "prod", "perf"]
    assert matrix.rows[-1].key == "web"
    assert matrix.rows[-1].cells["perf"].facts.app.name == "web-perf"


def test_the_matrix_and_gitops_status_place_apps_alike() -> None:
    """One derivation for both (console.fleet.placement): the full-shape apps of two Argo CDs
    without labels, and the platform's labelled fleet, land where `gitops status` says."""
    rules = Placing(envs={"prd": "prod"})
    fleets = {
        "eu": [Application.from_json(doc) for doc in byo_data.eu()],
        "us": [Application.from_json(doc) for doc in byo_data.us()],
        "demo": data.fleet(),
    }
    s = Store(fleets, placing=rules)
    for target, apps in fleets.items():
        s.snapshot(target, apps, data.NOW)
    console = {(f.target, f.app.name): f.place for f in join(s)}
    status = {
        (target, row.name): (row.service or "", row.env or "")
        for target, apps in fleets.items()
        for row in build_rows(apps, {}, None, rules)
    }
    assert console == status
    assert sum(1 for service, env in status.values() if service and env) == 33 + 5


@pytest.mark.parametrize(
    ("query", "rows"),
    [
        ("", ["backend", "frontend"]),
        ("degraded", ["backend"]),
        ("FRONTEND prod", ["frontend"]),
        ("outofsync", ["backend"]),
        ("main", ["backend", "frontend"]),  # the target revision
        ("4444444", ["backend"]),  # the revision backend-dev runs
        ("nothing-like-this", []),
    ],
)
def test_filter(query: str, rows: list[str]) -> None:
    matrix = build_matrix(join(store()), query)
    assert [r.key for r in matrix.rows] == rows


def test_filter_dims_the_cells_it_does_not_match() -> None:
    matrix = build_matrix(join(store()), "degraded")
    cells = matrix.rows[0].cells
    assert cells["prod"].matched
    assert not cells["dev"].matched


@pytest.mark.parametrize(
    ("mode", "rows"),
    [
        ("name", ["backend", "frontend"]),
        ("health", ["backend", "frontend"]),
        ("recent", ["backend", "frontend"]),
    ],
)
def test_sort(mode: str, rows: list[str]) -> None:
    matrix = build_matrix(join(store()), sort=mode)  # type: ignore[arg-type]
    assert [r.key for r in matrix.rows] == rows


def test_sort_by_health_puts_the_worst_first() -> None:
    apps = [
        replace(a, health=Health.HEALTHY)
        if a.service == "backend"
        else replace(a, health=Health.MISSING)
        if a.name == "frontend-dev"
        else a
        for a in data.fleet()
    ]
    matrix = build_matrix(join(store(apps)), sort="health")
    assert [r.key for r in matrix.rows] == ["frontend", "backend"]


def test_cell_text() -> None:
    matrix = build_matrix(join(store()))
    prod = matrix.rows[0].cells["prod"]
    assert render_cell(prod, data.NOW).plain.splitlines() == [
        "✗ Degraded ⇡ OutOfSync",
        "git b2b2b2b live a1a1a1a",
        "25m ≠ drift",
    ]
    dev = matrix.rows[0].cells["dev"]
    assert render_cell(dev, data.NOW).plain.splitlines()[2] == "1h ↺ rollback"


def test_stale_cells_say_how_old_their_data_is() -> None:
    s = store()
    s.down("demo", Down("cannot reach Argo CD", data.NOW, 3))
    later = data.NOW + timedelta(minutes=2)
    text = render_cell(build_matrix(join(s)).rows[0].cells["prod"], later)
    assert text.plain.splitlines() == [
        "✗ Degraded ⇡ OutOfSync",  # the values stay
        "git b2b2b2b live a1a1a1a",
        "stale 2m 27m ≠ drift",  # read at data.NOW, two minutes ago
    ]


# --- properties --------------------------------------------------------------------------------

names = st.sampled_from(["api", "web", "db", "auth", "queue"])
envs = st.sampled_from(["dev", "qa", "staging", "prod", "perf", ""])
apps_st = st.lists(
    st.builds(
        lambda service, env, health, sync, n: App(
            name=f"{service}-{env or 'x'}-{n}",
            namespace="argocd",
            labels={SERVICE_LABEL: service, ENV_LABEL: env} if env else {},
            health=health,
            sync=sync,
        ),
        names,
        envs,
        st.sampled_from(list(Health)),
        st.sampled_from(list(Sync)),
        st.integers(0, 3),
    ),
    max_size=30,
    unique_by=lambda a: a.name,
)


@settings(max_examples=60, deadline=None)
@given(apps_st, st.sampled_from(["name", "health", "recent"]))
def test_every_app_is_shown_once(apps: list[App], mode: str) -> None:
    matrix = build_matrix(join(store(apps, repo=False)), sort=mode)  # type: ignore[arg-type]
    shown = [c.facts.app.name for r in matrix.rows for c in r.cells.values()]
    shown += [f.app.name for f in matrix.others]
    assert sorted(shown) == sorted(a.name for a in apps)
    assert matrix.total == len(apps)
    keys = [c.key for r in matrix.rows for c in r.cells.values()]
    assert len(keys) == len(set(keys))


@settings(max_examples=60, deadline=None)
@given(apps_st, st.text(alphabet="abcdeghilmnopqrstuvwxyz- ", max_size=8))
def test_filter_keeps_exactly_the_matching_apps(apps: list[App], query: str) -> None:
    facts = join(store(apps, repo=False))
    matrix = build_matrix(facts, query)
    shown = {c.facts.app.name for r in matrix.rows for c in r.cells.values() if c.matched}
    shown |= {f.app.name for f in matrix.others}
    assert shown == {f.app.name for f in facts if matches(f, query)}


@settings(max_examples=60, deadline=None)
@given(apps_st)
def test_columns_follow_promotion_order_and_cells_fit(apps: list[App]) -> None:
    matrix = build_matrix(join(store(apps, repo=False)))
    order = ["dev", "qa", "staging", "prod", "perf"]
    assert [c.env for c in matrix.columns] == [
        e for e in order if e in {c.env for c in matrix.columns}
    ]
    for row in matrix.rows:
        for cell in row.cells.values():
            lines = render_cell(cell, data.NOW).plain.splitlines()
            assert len(lines) == 3
            assert isinstance(cell, Cell)


def test_same_version_is_symmetric() -> None:
    assert same_version("abcdef1", "abcdef1234")
    assert same_version("abcdef1234", "abcdef1")
