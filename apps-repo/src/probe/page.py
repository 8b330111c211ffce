"""The frontend's status page: plain HTML, no scripts, every value escaped."""

from __future__ import annotations

import json
from collections.abc import Mapping
from html import escape
from typing import Any

from probe.backend_probe import BackendStatus

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem; max-width: 60rem; }
table { border-collapse: collapse; margin-bottom: 1.5rem; }
th, td { text-align: left; padding: .25rem .75rem; border-bottom: 1px solid #ddd; }
.pass { color: #17692c; } .fail { color: #b00020; }
pre { background: #f6f6f6; padding: .5rem; overflow-x: auto; }
"""


def _e(value: object) -> str:
    return escape("" if value is None else str(value), quote=True)


def _rows(fields: Mapping[str, Any]) -> str:
    return "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in fields.items())


def _badge(ok: bool | None, text: str) -> str:
    css = "pass" if ok else "fail"
    return f'<strong class="{css}">{_e(text)}</strong>'


def _json_block(value: object) -> str:
    if value is None:
        return "<p>no answer</p>"
    return f"<pre>{_e(json.dumps(value, indent=2, sort_keys=True))}</pre>"


def render_page(frontend: Mapping[str, Any], backend: BackendStatus) -> str:
    health = frontend.get("health", {})
    info = {k: v for k, v in frontend.items() if k != "health"}
    title = f"{frontend.get('service', 'frontend')} ({frontend.get('environment', '')})"
    backend_facts = {
        "url": backend.url,
        "reachable": backend.reachable,
        "error": backend.error or "none",
        "latency_ms": backend.latency_ms,
    }
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="refresh" content="5">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{_e(title)}</title>
<style>{_STYLE}</style>
</head>
<body>
<h1>{_e(title)}</h1>
<h2>Frontend: {_badge(health.get("status") == "pass", health.get("status", "unknown"))}</h2>
<table>{_rows(info)}</table>
<h3>Readiness</h3>
{_json_block(health)}
<h2>Backend: {_badge(backend.ready is True, backend.summary)}</h2>
<table>{_rows(backend_facts)}</table>
<h3>Backend /version</h3>
{_json_block(backend.version)}
<h3>Backend /readyz</h3>
{_json_block(backend.readiness)}
</body>
</html>
"""
