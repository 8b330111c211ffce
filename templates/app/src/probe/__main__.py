"""Entry point for ``python -m probe`` and the ``probe`` console script."""

from __future__ import annotations

import asyncio
import logging
import sys

from probe.config import ConfigError, load_config
from probe.logs import configure_logging


def main() -> int:
    try:
        config = load_config()
    except ConfigError as exc:
        # One line naming the variable; a traceback would only bury it.
        print(f"probe: configuration error: {exc}", file=sys.stderr)
        return 2
    configure_logging(config.log_level, config.service_name)
    # Imported after validation: Quart and Hypercorn take about a second to import,
    # and a misconfigured pod should say so at once.
    from probe.app import create_app  # noqa: PLC0415
    from probe.server import serve_until_signalled  # noqa: PLC0415

    app = create_app(config)
    try:
        asyncio.run(serve_until_signalled(app))
    except OSError as exc:  # e.g. the port is taken
        logging.getLogger("probe.server").error("cannot serve: %s", exc)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
