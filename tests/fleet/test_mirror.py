"""The fleet mirror against a naive model of what a source's events mean (hypothesis), and the
cases consumers rely on, in a table."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as s

from console.fleet.mirror import Delta, FleetMirror
from console.fleet.model import Health
from console.fleet.source import Changed, Deleted, Down, Event, Polling, Snapshot
from tests.fleet.build import App

AT = datetime(2026, 12, 6, tzinfo=UTC)


def app(name: str, namespace: str = "argocd", health: Health = Health.HEALTHY) -> App:
    return App(name=name, namespace=namespace, health=health)


apps = s.builds(
    app,
    s.sampled_from(["a", "b", "c"]),
    s.sampled_from(["argocd", "team"]),
    s.sampled_from([Health.HEALTHY, Health.DEGRADED]),
)
events: s.SearchStrategy[Event] = s.one_of(
    s.lists(apps, max_size=4).map(lambda xs: Snapshot(tuple(xs), AT)),
    apps.map(lambda a: Changed(a, AT)),
    apps.map(lambda a: Deleted(a, AT)),
    s.just(Down("connection refused", AT, 1)),
    s.just(Polling("HTTP 404", 30.0, AT)),  # how the source reads: changes no app
)


@given(s.lists(events, max_size=12))
def test_the_mirror_holds_what_the_events_say_keyed_by_namespace_and_name(
    seq: list[Event],
) -> None:
    mirror, model = FleetMirror(), {}
    for event in seq:
        before = dict(model)
        delta = mirror.apply(event)
        if isinstance(event, Snapshot):
            model = {a.key: a for a in event.apps}
        elif isinstance(event, Changed):
            model[event.app.key] = event.app
        elif isinstance(event, Deleted):
            model.pop(event.app.key, None)
        assert {a.key: a for a in mirror} == model
        assert {a.key for a in delta.removed} == set(before) - set(model)
        for old, new in delta.changed:
            assert old is before.get(new.key)
            assert model[new.key] is new
    listed = any(isinstance(e, Snapshot) for e in seq)
    last_down = max((i for i, e in enumerate(seq) if isinstance(e, Down)), default=-1)
    last_snapshot = max((i for i, e in enumerate(seq) if isinstance(e, Snapshot)), default=-1)
    assert mirror.stale == (not listed or last_down > last_snapshot)


def test_two_apps_of_one_name_in_two_namespaces_are_two_apps() -> None:
    mirror = FleetMirror()
    mirror.apply(Snapshot((app("web", "argocd"), app("web", "team")), AT))
    mirror.apply(Deleted(app("web", "team"), AT))
    assert [a.key for a in mirror] == ["argocd/web"]
    assert mirror.named("web") is mirror.get("argocd/web")


def test_a_bare_name_finds_an_app_only_when_it_is_unambiguous() -> None:
    mirror = FleetMirror()
    mirror.apply(Snapshot((app("web", "argocd"), app("web", "team"), app("api")), AT))
    assert mirror.named("web") is None
    assert mirror.named("team/web") is mirror.get("team/web")
    assert mirror.named("api") is mirror.get("argocd/api")


def test_down_keeps_the_apps_but_marks_them_stale_until_the_next_snapshot() -> None:
    mirror = FleetMirror()
    assert mirror.stale
    mirror.apply(Snapshot((app("web"),), AT))
    assert not mirror.stale
    mirror.apply(Down("refused", AT, 1))
    assert mirror.stale
    assert len(mirror) == 1
    mirror.apply(Changed(app("web", health=Health.DEGRADED), AT))
    assert mirror.stale, "a change is not a fresh list"
    mirror.apply(Snapshot((), AT))
    assert not mirror.stale
    assert len(mirror) == 0


def test_polling_changes_no_app_and_no_freshness() -> None:
    mirror = FleetMirror()
    mirror.apply(Snapshot((app("web"),), AT))
    polling = Polling("Argo CD answered HTTP 404", 30.0, AT)
    assert mirror.apply(polling) == mirror.apply(polling) == Delta()
    assert not mirror.stale
    assert mirror.polling is polling
    assert [a.name for a in mirror] == ["web"]
