"""The flags that say where apps without the platform's labels sit, for `gitops console` and
`gitops status` alike (console.fleet.placemap, docs/platform/console.md#bring-your-own-argo-cd).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from console.commands.common import UsageError

if TYPE_CHECKING:  # the parser is built for every command: the read side loads only when used
    from console.fleet.placement import Placing


def add_arguments(p: argparse.ArgumentParser) -> None:
    group = p.add_argument_group(
        "apps without gitops.platform labels",
        "Service and environment are derived from a `<service>-<env>` name or the destination "
        "namespace; these say more.",
    )
    group.add_argument(
        "--env",
        metavar="NAME",
        action="append",
        default=[],
        help="an environment's name, besides dev, staging, prod... (repeatable)",
    )
    group.add_argument(
        "--map-env",
        metavar="TOKEN=ENV",
        action="append",
        default=[],
        help="a destination namespace, or a name or namespace -suffix, that means ENV "
        "(repeatable; e.g. prd=prod)",
    )
    group.add_argument(
        "--app-map", metavar="FILE", help="the same in YAML, plus single apps' service and env"
    )
    group.add_argument(
        "--config", metavar="FILE", help="a repos.yaml: its environments are environments"
    )


def from_args(args: argparse.Namespace) -> Placing:
    """The rules the flags give; raises UsageError (ConfigError for repos.yaml)."""
    from console.config import load_config  # noqa: PLC0415 - see the module imports
    from console.fleet.placemap import PlacingError, placing  # noqa: PLC0415 - same

    config = getattr(args, "config", None)
    environments = load_config(Path(config)).environment_names if config else []
    app_map = getattr(args, "app_map", None)
    try:
        return placing(
            getattr(args, "env", None) or [],
            getattr(args, "map_env", None) or [],
            Path(app_map).expanduser() if app_map else None,
            environments,
        )
    except PlacingError as exc:
        raise UsageError(str(exc)) from None
