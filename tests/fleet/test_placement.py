"""Where an app sits (console.fleet.placement): a table of the rules in their order, properties
that hold for any name (hypothesis), and the operator's file and flags (console.fleet.placemap)
with their one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as s

from console.cli import build_parser
from console.commands.placing import from_args
from console.fleet.placemap import PlacingError, parse_map, placing
from console.fleet.placement import ENV_ORDER, OTHER, Place, Placing, place, place_each
from tests.fleet.build import App

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
PLATFORM = {"gitops.platform/service": "backend", "gitops.platform/env": "dev"}
GUARD = {"gitops.platform/component": "guard"}
PRD = Placing(envs={"prd": "prod"})
BY_APP = Placing(apps={"old-billing": ("billing", "prod"), "team/web": ("web", "qa")})
SHARED = Placing(envs={"shared": "staging", "eu-prod": "prod"})
UAT = Placing(names=frozenset({"uat"}))

# (name, destination namespace, labels, rules, the fleet's labelled envs) -> service, env, rule
CASES: list[tuple[str, str, dict[str, str], Placing, set[str], Place]] = [
    # 1. labels: the platform's own apps, whatever their name or namespace says
    ("backend-dev", "dev", PLATFORM, Placing(), set(), Place("backend", "dev", "labels")),
    ("backend-prod", "prod", PLATFORM, PRD, set(), Place("backend", "dev", "labels")),
    ("gitops-guard", "prod", GUARD, Placing(), set(), OTHER),
    ("root", "argocd", GUARD, Placing(), set(), OTHER),
    (
        "half-prod",
        "prod",
        {"gitops.platform/service": "half"},
        Placing(),
        set(),
        Place("half", "", "labels"),  # as before: its one label, no cell
    ),
    # 2. the operator's map: one app, then a namespace
    ("old-billing", "billing", {}, BY_APP, set(), Place("billing", "prod", "map")),
    ("web", "shop", {}, BY_APP, set(), OTHER),  # `team/web` is another app's key
    ("cache-dev", "shared", {}, SHARED, set(), Place("cache", "staging", "map")),
    ("cache", "shared", {}, SHARED, set(), Place("cache", "staging", "map")),
    # 3. a `<service>-<env>` name
    ("payments-prod", "payments", {}, Placing(), set(), Place("payments", "prod", "name")),
    (
        "checkout-api-staging",
        "shop",
        {},
        Placing(),
        set(),
        Place("checkout-api", "staging", "name"),
    ),
    ("billing-prd", "billing", {}, PRD, set(), Place("billing", "prod", "name")),
    ("shop-eu-prod", "shop", {}, SHARED, set(), Place("shop", "prod", "name")),  # longest
    ("shop-eu-prod", "shop", {}, Placing(), set(), Place("shop-eu", "prod", "name")),
    ("api-perf", "api", {}, Placing(), {"perf"}, Place("api", "perf", "name")),
    ("api-perf", "api", {}, Placing(), set(), OTHER),  # nobody calls `perf` an environment
    ("web-uat", "web", {}, UAT, set(), Place("web", "uat", "name")),
    # 4. a destination namespace that names one
    ("ledger", "prod", {}, Placing(), set(), Place("ledger", "prod", "namespace")),
    ("notify", "notify-staging", {}, Placing(), set(), Place("notify", "staging", "namespace")),
    ("search", "team-search-prd", {}, PRD, set(), Place("search", "prod", "namespace")),
    # 5. no environment anywhere
    ("argocd", "argocd", {}, Placing(), set(), OTHER),
    ("cert-manager", "cert-manager", {}, Placing(), set(), OTHER),
    ("apps", "argocd", {}, Placing(), set(), OTHER),  # an app-of-apps
    ("prod", "argocd", {}, Placing(), set(), OTHER),  # an env alone names no service
    ("prod-payments", "", {}, Placing(), set(), Place("payments", "prod", "name")),
    ("eu-prod-shop", "", {}, SHARED, set(), Place("shop", "prod", "name")),  # longest
    ("dev-tools-qa", "", {}, Placing(), set(), Place("dev-tools", "qa", "name")),  # suffix first
    ("perf-api", "", {}, Placing(), set(), OTHER),  # nobody calls `perf` an environment
    ("kyverno", "", {}, Placing(), set(), OTHER),
]


Case = tuple[str, str, dict[str, str], Placing, set[str], Place]


@pytest.mark.parametrize("case", CASES, ids=[f"{c[0]}@{c[1] or '-'}" for c in CASES])
def test_the_rules_in_order(case: Case) -> None:
    name, namespace, labels, rules, labelled, expected = case
    app = App(name=name, namespace="argocd", labels=labels, dest_namespace=namespace)
    assert place(app, rules, rules.known(labelled)) == expected


def test_an_app_is_mapped_by_its_key_too() -> None:
    app = App(name="web", namespace="team", dest_namespace="shop")
    assert place(app, BY_APP, BY_APP.known()) == Place("web", "qa", "map")


def test_the_fleets_labelled_environments_are_known_to_the_others() -> None:
    labelled = App(name="api-perf", labels={**PLATFORM, "gitops.platform/env": "perf"})
    mine = App(name="web-perf", dest_namespace="web")
    places = dict((app.name, where) for app, where in place_each([labelled, mine], Placing()))
    assert places == {
        "api-perf": Place("backend", "perf", "labels"),
        "web-perf": Place("web", "perf", "name"),
    }


tokens = s.from_regex(r"[a-z][a-z0-9]{0,6}(-[a-z0-9]{1,6}){0,2}", fullmatch=True)
envs = s.sampled_from(ENV_ORDER)
rules = s.builds(
    Placing,
    envs=s.dictionaries(tokens, envs, max_size=3),
    names=s.frozensets(tokens, max_size=3),
)


@settings(max_examples=40)  # the suite's time budget: each example builds Applications
@given(tokens, tokens, tokens, envs, rules)
def test_labels_alone_place_the_platforms_apps(
    name: str, namespace: str, service: str, env: str, given_rules: Placing
) -> None:
    """Whatever the rules, the name or the namespace: the labels, exactly as before."""
    labels = {"gitops.platform/service": service, "gitops.platform/env": env}
    app = App(name=name, labels=labels, dest_namespace=namespace)
    assert place(app, given_rules, given_rules.known()) == Place(service, env, "labels")


@settings(max_examples=40)  # the suite's time budget: each example builds Applications
@given(tokens, envs, tokens)
def test_a_service_env_name_is_its_service_and_env(service: str, env: str, namespace: str) -> None:
    app = App(name=f"{service}-{env}", dest_namespace=namespace)
    assert place(app, Placing(), Placing().known()) == Place(service, env, "name")


@settings(max_examples=40)  # the suite's time budget: each example builds Applications
@given(tokens, tokens, rules)
def test_a_derived_environment_is_always_one_the_rules_know(
    name: str, namespace: str, given_rules: Placing
) -> None:
    known = given_rules.known()
    where = place(App(name=name, dest_namespace=namespace), given_rules, known)
    assert where.env in set(known.values()) | {""}
    assert bool(where.service) == bool(where.env) == bool(where.by)


# --- the operator's file and flags -------------------------------------------------------


def test_the_file_and_the_flags(tmp_path: Path) -> None:
    path = tmp_path / "apps.yaml"
    path.write_text(
        "environments: [uat]\n"
        "map-env: {prd: prod, legacy: staging}\n"
        "apps:\n  old-billing: {service: billing, env: prod}\n"
    )
    rules = placing(["perf"], ["legacy=prod", "team-a=dev"], path, ["dev", "preview"])
    assert rules == Placing(
        apps={"old-billing": ("billing", "prod")},
        envs={"prd": "prod", "legacy": "prod", "team-a": "dev"},  # the flag wins
        names=frozenset({"uat", "perf", "preview", "dev"}),
    )
    assert parse_map("", "empty.yaml") == Placing()


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("[1, 2]", "m.yaml: expected a mapping"),
        ("apps: {x: {service: a}}", "m.yaml: apps.x.env: expected a name"),
        (
            "apps: {x: {service: a, env: b, team: c}}",
            "m.yaml: apps.x.team: not one of service, env",
        ),
        ("environments: prod", "m.yaml: environments: expected a list of names"),
        ("environments: [prod, '']", "m.yaml: environments[1]: expected a name, got ''"),
        ("map-env: {prd: [prod]}", "m.yaml: map-env.prd: expected TOKEN: ENV names"),
        ("namespaces: {}", "m.yaml: namespaces: not one of environments, map-env, apps"),
        ("apps: {x: [", "m.yaml: not YAML: "),
    ],
)
def test_a_bad_file_is_one_line_naming_the_field(text: str, error: str) -> None:
    with pytest.raises(PlacingError) as bad:
        parse_map(text, "m.yaml")
    assert str(bad.value).startswith(error)
    assert "\n" not in str(bad.value)


def test_bad_flags_name_themselves(tmp_path: Path) -> None:
    with pytest.raises(PlacingError, match=r"^--map-env 'prod': expected NAMESPACE=ENV"):
        placing(map_env=["prod"])
    with pytest.raises(PlacingError, match=r"^--env 'a b': expected an environment's name$"):
        placing(envs=["a b"])
    with pytest.raises(PlacingError, match=r"^--app-map .*nope.yaml: cannot read it: "):
        placing(app_map=tmp_path / "nope.yaml")


def test_repos_yaml_names_environments_too(tmp_path: Path) -> None:
    """`--config repos.yaml`: its environments are environments (`gitops status` here; the
    console's flags are the same)."""
    text = (FIXTURES / "minimal.yaml").read_text().replace("[dev]", "[dev, canary]")
    (tmp_path / "repos.yaml").write_text(text)
    args = build_parser().parse_args(["status", "--config", str(tmp_path / "repos.yaml")])
    rules = from_args(args)
    assert rules.names == {"dev", "canary"}
    web = App(name="web-canary", dest_namespace="web")
    assert place(web, rules, rules.known()) == Place("web", "canary", "name")
