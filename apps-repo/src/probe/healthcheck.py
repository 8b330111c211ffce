"""Container HEALTHCHECK: ``python -m probe.healthcheck`` exits 0 if /healthz passes.

Slim images have no curl; the standard library is enough and starts in ~50 ms.
"""

from __future__ import annotations

import os
import sys
import urllib.request


def main() -> int:
    port = os.environ.get("PORT") or "8080"
    url = f"http://127.0.0.1:{port}/healthz"
    try:
        with urllib.request.urlopen(url, timeout=3) as response:
            return 0 if response.status == 200 else 1
    except OSError as exc:  # URLError and HTTPError (non-2xx) are OSErrors
        print(f"healthcheck: {url}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
