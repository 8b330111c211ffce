"""Where an app sits in the fleet: its service and environment, for the console's matrix and
`gitops status` alike (one rule, so both agree).

The platform's own Applications say it with labels (`gitops.platform/service`, `.../env`);
an Argo CD the platform did not generate ("bring your own") has none, so it is derived, first
match wins:

  1. labels: an app carrying any of the platform's labels is the platform's, and its labels
     alone place it (a partly labelled one as before: with what its labels say);
  2. what the operator said (`Placing`): the app by name (or `namespace/name`), then its
     destination namespace mapped to an environment (`--map-env NAMESPACE=ENV`);
  3. a `<service>-<env>` name whose suffix names a known environment, else an `<env>-<service>`
     name whose prefix does;
  4. a destination namespace that names one: `<env>`, or `<anything>-<env>` (the service is
     then the app's name);
  5. none: the app has no environment (Argo CD itself, an app-of-apps, cert-manager...) and
     stays with the other apps.

A token names an environment when it is one (the common names, ENV_ORDER; those the fleet's
labelled apps use; those the operator gave) or the operator mapped it to one (`prd=prod`):
`--map-env` tokens match name and namespace suffixes as well as whole namespaces.

Pure: no I/O (console.fleet.placemap reads the operator's file).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from console.contract import COMPONENT_LABEL, ENV_LABEL, SERVICE_LABEL
from console.fleet.model import App

# Environments in promotion order; others sort after these, by name. Also the names a
# derived environment is recognised by without being told (step 3 and 4 above).
ENV_ORDER = (
    "dev",
    "development",
    "test",
    "qa",
    "staging",
    "stage",
    "preprod",
    "prod",
    "production",
)

PLATFORM_LABELS = (SERVICE_LABEL, ENV_LABEL, COMPONENT_LABEL)
By = Literal["labels", "map", "name", "namespace", ""]


@dataclass(frozen=True)
class Place:
    """An app's service and environment ("" where unknown) and the rule that said so."""

    service: str
    env: str
    by: By

    @property
    def placed(self) -> bool:
        """It has a cell in the matrix: both are known."""
        return bool(self.service and self.env)


OTHER = Place("", "", "")


@dataclass(frozen=True)
class Placing:
    """What the operator said about apps without the platform's labels."""

    apps: Mapping[str, tuple[str, str]] = field(default_factory=dict)  # name -> (service, env)
    envs: Mapping[str, str] = field(default_factory=dict)  # namespace or suffix -> environment
    names: frozenset[str] = frozenset()  # more environment names (`--env`, repos.yaml)

    def known(self, labelled: Iterable[str] = ()) -> dict[str, str]:
        """Every token that names an environment -> that environment: the common names, the
        labelled apps' `labelled`, the operator's; the operator's mappings last (they win)."""
        table = {env: env for env in (*ENV_ORDER, *labelled, *self.names) if env}
        table.update({env: env for _, env in self.apps.values() if env})
        table.update({env: env for env in self.envs.values()})
        table.update(self.envs)
        return table


def labelled_envs(apps: Iterable[App]) -> set[str]:
    """The environments the fleet's labelled apps name."""
    return {env for app in apps if (env := app.labels.get(ENV_LABEL))}


def _suffix(name: str, known: Mapping[str, str]) -> tuple[str, str] | None:
    """(`head`, env) for `name` = `<head>-<token>`, `token` naming env and `head` not empty;
    the longest such token (`eu-prod` before `prod` when both are known)."""
    start = name.find("-")
    while start > 0:
        env = known.get(name[start + 1 :])
        if env is not None:
            return name[:start], env
        start = name.find("-", start + 1)
    return None


def _prefix(name: str, known: Mapping[str, str]) -> tuple[str, str] | None:
    """(`tail`, env) for `name` = `<token>-<tail>`, `token` naming env and `tail` not empty;
    the longest such token (`eu-prod` before `eu`)."""
    end = name.rfind("-")
    while end > 0:
        env = known.get(name[:end])
        if env is not None and name[end + 1 :]:
            return name[end + 1 :], env
        end = name.rfind("-", 0, end)
    return None


def place(app: App, placing: Placing, known: Mapping[str, str]) -> Place:
    """Where `app` sits (see the module's docstring); `known` is `placing.known(...)` of its
    fleet."""
    labels = app.labels
    if any(label in labels for label in PLATFORM_LABELS):
        return Place(app.service, app.env, "labels") if app.service or app.env else OTHER
    name, namespace = app.name, app.dest_namespace
    mapped = placing.apps.get(app.key) or placing.apps.get(name)
    if mapped is not None:
        return Place(*mapped, "map")
    if namespace in placing.envs:
        split = _suffix(name, known)
        return Place(split[0] if split else name, placing.envs[namespace], "map")
    split = _suffix(name, known) or _prefix(name, known)
    if split is not None:
        return Place(*split, "name")
    env = known.get(namespace) if namespace else None
    if env is None and namespace:
        in_namespace = _suffix(namespace, known)
        env = in_namespace[1] if in_namespace else None
    if env is not None:
        return Place(name, env, "namespace")
    return OTHER


def place_each(apps: Iterable[App], placing: Placing) -> list[tuple[App, Place]]:
    """Each app with its place, the known environments taken from these apps (one fleet)."""
    fleet = list(apps)
    known = placing.known(labelled_envs(fleet))
    return [(app, place(app, placing, known)) for app in fleet]
