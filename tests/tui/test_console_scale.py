"""The console's scale benchmark (benchmarks/console_scale.py) and what it relies on: the
synthetic Argo CD's apps are Argo CD's shape (swagger.json's `v1alpha1Application`, when
../shared holds it) and parse into the fleet model; the benchmark runs end to end on a tiny
fleet; the matrix the app patches per stream event is the matrix a full build makes; and a
change to a cell out of view, which the table does not repaint, shows once scrolled to."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from benchmarks import console_scale
from benchmarks.synthetic_argocd import (
    ENVS,
    SENT_AT,
    SEQ,
    Fleet,
    application,
    application_list,
    layout,
)
from console.contract import ENV_LABEL
from console.fleet.model import Health, Sync
from console.fleet.parse import parse_application, parse_application_list
from console.fleet.source import Changed
from console.tui import fleetview
from console.tui.fleetview import (
    FactsCache,
    Matrix,
    MatrixBuilder,
    SortMode,
    build_matrix,
)
from console.tui.store import Store
from console.tui.widgets.matrix import FleetMatrix
from tests.fleet.build import replace
from tests.tui.fakes import FakeSource, console_app, target, until

ARGO = Path(__file__).resolve().parents[3] / "shared" / "reference" / "argo-cd"
SWAGGER = ARGO / "swagger.json"
NOW = datetime(2026, 8, 1, 12, 0, tzinfo=UTC)


def _strict(schema: Any, definitions: dict[str, Any]) -> Any:
    """A swagger schema whose objects refuse properties they do not define (a field Argo CD
    does not have is a bug here), with `allOf` merged into one object."""
    if isinstance(schema, list):
        return [_strict(s, definitions) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: _strict(v, definitions) for k, v in schema.items()}
    if "allOf" in out:
        properties = dict(out.get("properties", {}))
        for part in out.pop("allOf"):
            ref = part.get("$ref", "")
            target = definitions[ref.rsplit("/", 1)[-1]] if ref else part
            properties.update(_strict(target.get("properties", {}), definitions))
        out["properties"], out["type"] = properties, "object"
    if out.get("type") == "object" and isinstance(out.get("properties"), dict):
        out.setdefault("additionalProperties", False)
    return out


def check(instance: Any, schema: dict[str, Any]) -> None:
    swagger = json.loads(SWAGGER.read_text())
    definitions = {n: _strict(d, swagger["definitions"]) for n, d in swagger["definitions"].items()}
    full = {"definitions": definitions, **_strict(schema, swagger["definitions"])}
    jsonschema.Draft4Validator(full, format_checker=jsonschema.FormatChecker()).validate(instance)


def test_synthetic_apps_parse_as_the_fleet_model() -> None:
    specs = layout(20)
    assert len({s.service for s in specs}) == 7  # ceil(20 / 3)
    assert {s.env for s in specs} == set(ENVS)
    apps, version = parse_application_list(application_list(map(application, specs), 9), "x")
    assert version == "9"
    for spec, app in zip(specs, apps, strict=True):
        assert (app.name, app.service, app.env) == (spec.name, spec.service, spec.env)
        assert (app.sync.value, app.health.value) == (spec.sync, spec.health)
        assert app.sync_revision == spec.revision
        assert app.images == (f"registry.acme.example/platform/{spec.service}:{spec.tag}",)
        assert app.auto_sync
        assert app.self_heal
        assert app.prune
        assert len(app.history) == 10
        assert app.history[-1].revision == spec.revision
        assert app.operation is not None
        assert app.operation.revision == spec.revision
        assert app.resources
        assert app.reconciled_at is not None
        assert app.source is not None
        assert app.source.path == spec.path


def test_an_update_frame_flips_health_and_carries_when_it_was_sent() -> None:
    fleet = Fleet(6, "token")
    frame = json.loads(fleet.frame(0))
    app = parse_application(frame["result"]["application"], "x", path="result.application")
    spec = fleet.specs[fleet.order[0]]
    assert frame["result"]["type"] == "MODIFIED"
    assert app.health is (Health.PROGRESSING if spec.health == "Healthy" else Health.HEALTHY)
    assert app.annotations[SEQ] == "0"
    assert float(app.annotations[SENT_AT]) > 0
    assert int(app.resource_version) == fleet.version == 2


@pytest.mark.skipif(not SWAGGER.is_file(), reason=f"{SWAGGER} is absent (../shared holds it)")
def test_synthetic_answers_conform_to_argo_cds_swagger() -> None:
    specs = layout(12)  # every health and sync the layout makes, and a frame
    fleet = Fleet(12, "token")
    check(
        application_list(map(application, specs), 1),
        {"$ref": "#/definitions/v1alpha1ApplicationList"},
    )
    for spec in specs:
        check(application(spec), {"$ref": "#/definitions/v1alpha1Application"})
    stream = json.loads(SWAGGER.read_text())["paths"]["/api/v1/stream/applications"]
    check(json.loads(fleet.frame(0)), stream["get"]["responses"]["200"]["schema"])


@pytest.mark.slow
def test_the_benchmark_runs_end_to_end(capsys: pytest.CaptureFixture[str]) -> None:
    console_scale.main(["--apps", "20", "--frames", "10", "--interval", "0.02"])
    last = capsys.readouterr().out.strip().splitlines()[-1]
    figures = dict(pair.split("=") for pair in last.split())
    assert {"first_render_s", "update_p95_ms", "rss_mb"} <= figures.keys()
    assert figures["apps"] == "20"
    assert figures["frames"] == "10"
    assert all(float(v) >= 0 for v in figures.values())


# --- the app's patched matrix is the full build's --------------------------------------------


def shape(matrix: Matrix) -> Any:
    """What the matrix shows, with facts by identity (both builds share a FactsCache's)."""
    return (
        matrix.columns,
        [
            (
                row.key,
                {c: (cell.key, id(cell.facts), cell.matched) for c, cell in row.cells.items()},
            )
            for row in matrix.rows
        ],
        [id(f) for f in matrix.others],
        matrix.total,
    )


def test_patched_matrices_are_full_builds(monkeypatch: pytest.MonkeyPatch) -> None:
    full_builds = []

    def counted(*args: Any, **kwargs: Any) -> Matrix:
        full_builds.append(1)
        return build_matrix(*args, **kwargs)

    monkeypatch.setattr(fleetview, "build_matrix", counted)
    rng = random.Random(11)  # noqa: S311 - picks changes, not a secret
    apps = [parse_application(application(spec), "bench") for spec in layout(30)]
    store = Store(["bench"])
    store.snapshot("bench", apps, NOW)
    cache, builder = FactsCache(), MatrixBuilder()
    query = ""
    sort: SortMode = "name"
    sorts: list[SortMode] = ["name", "health", "recent"]
    for step in range(150):
        current = list(store.apps.values())
        roll = rng.random()
        if roll < 0.6:  # what a stream mostly says: one app's health or sync moved
            for app in rng.sample(current, rng.choice([1, 1, 2, 3])):
                health = rng.choice(list(Health))
                store.changed(
                    "bench", replace(app, health=health, sync=rng.choice(list(Sync))), NOW
                )
        elif roll < 0.7:  # an app moves to another environment (another cell)
            app = rng.choice(current)
            labels = {**app.labels, ENV_LABEL: rng.choice([*ENVS, "qa"])}
            store.changed("bench", replace(app, labels=labels), NOW)
        elif roll < 0.78:  # an app goes, or comes back
            store.deleted("bench", rng.choice(current), NOW)
        elif roll < 0.84:
            store.changed("bench", rng.choice(apps), NOW)
        elif roll < 0.9:
            store.set_versions("bench", {a.name: str(step) for a in rng.sample(current, 3)})
        elif roll < 0.95:
            sort = rng.choice(sorts)
        else:
            query = rng.choice(["", "", "prod", "degraded"])
        facts = cache.join(store)
        patched = builder.build(cache, facts, query, sort)
        assert shape(patched) == shape(build_matrix(facts, query, sort)), f"step {step}"
    assert len(full_builds) < 100  # most steps were patches


def shown_line(table: FleetMatrix, row: str) -> str:
    """The first screen line of `row` as the table renders it now ("" when out of view)."""
    lines = [table.render_line(y).text for y in range(table.size.height)]
    return next((line for line in lines if row in line), "")


@pytest.mark.asyncio
async def test_a_change_out_of_view_shows_when_scrolled_to() -> None:
    apps = [parse_application(application(spec), "bench") for spec in layout(90)]
    source = FakeSource("bench", apps, at=NOW)
    app = console_app([target(source, deploy_repo=None, services={})])
    async with app.run_test(size=(160, 48)) as pilot:
        table = app.screen.query_one("#matrix", FleetMatrix)
        await until(pilot, lambda: table.row_count == 30)
        last = next(a for a in apps if a.name == "svc0029-prod")
        flipped = Health.SUSPENDED  # which no app of the synthetic fleet is
        table.scroll_end(animate=False)  # the last row drawn (and its lines cached) once
        await pilot.pause()
        assert "svc0029" in shown_line(table, "svc0029")
        assert flipped.value not in shown_line(table, "svc0029")
        table.scroll_home(animate=False)
        await pilot.pause()
        assert not shown_line(table, "svc0029")
        assert not table._in_view("svc0029")

        before = table.updates
        source.push(Changed(replace(last, health=flipped), NOW))
        await until(pilot, lambda: table.updates == before + 1)  # updated, not repainted
        assert flipped.value in table.get_cell("svc0029", "prod").plain
        table.scroll_end(animate=False)
        await pilot.pause()
        assert flipped.value in shown_line(table, "svc0029")
