"""The frontend's status page: plain HTML, no scripts, every value escaped.

Read at a glance: a coloured banner says whether both sides are ready, one compact table
holds the version, revision and health of each, the checks follow; the raw answers are
kept, folded, for whoever debugs. A viewport meta and a little CSS fit it to a phone.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from html import escape
from typing import Any

from probe.backend_probe import BackendStatus

_STYLE = """
:root { --ok: #17692c; --ok-bg: #e3f4e6; --bad: #b00020; --bad-bg: #fde7ea; --line: #ddd; }
* { box-sizing: border-box; }
body { font-family: system-ui, sans-serif; margin: 0 auto; padding: 1rem; max-width: 60rem;
       line-height: 1.4; color: #1b1b1b; }
h1 { font-size: 1.5rem; margin: 0; }
h2 { font-size: 1.1rem; margin: 1.5rem 0 .5rem; }
.banner { padding: .75rem 1rem; border-radius: .5rem; border-left: .5rem solid; }
.banner p { margin: .25rem 0 0; font-weight: 600; }
.banner.pass { background: var(--ok-bg); border-color: var(--ok); }
.banner.fail { background: var(--bad-bg); border-color: var(--bad); }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: .35rem .5rem; border-bottom: 1px solid var(--line);
         vertical-align: top; overflow-wrap: break-word; }
th { white-space: nowrap; }
/* Long values (URLs, outputs, digests) wrap anywhere rather than widen the page on a phone. */
td:last-child, td code { overflow-wrap: anywhere; }
thead th { font-size: .85rem; color: #555; }
code { font-size: .9em; }
.badge { display: inline-block; padding: 0 .5rem; border-radius: 1rem; font-weight: 600;
         white-space: nowrap; }
.badge.pass { background: var(--ok-bg); color: var(--ok); }
.badge.fail { background: var(--bad-bg); color: var(--bad); }
.muted { color: #767676; }
details { margin-top: 1.5rem; }
pre { background: #f6f6f6; padding: .5rem; overflow-x: auto; font-size: .85rem; }
@media (max-width: 40rem) { body { padding: .5rem; } th, td { padding: .3rem .25rem; } }
"""

_MISSING = '<span class="muted">-</span>'


def _e(value: object) -> str:
    return escape("" if value is None else str(value), quote=True)


def _cell(value: object) -> str:
    return _MISSING if value is None or value == "" else _e(value)


def _badge(ok: bool, text: str) -> str:
    return f'<span class="badge {"pass" if ok else "fail"}">{_e(text)}</span>'


def _table(table_id: str, head: Iterable[str], rows: Iterable[Iterable[str]]) -> str:
    """Cells arrive as HTML already escaped; the first column is the row's header."""
    header = "".join(f'<th scope="col">{_e(h)}</th>' for h in head)
    body = "".join("<tr>" + "".join(_row_cells(list(cells))) + "</tr>" for cells in rows)
    return f'<table id="{table_id}"><thead><tr>{header}</tr></thead><tbody>{body}</tbody></table>'


def _row_cells(cells: list[str]) -> Iterable[str]:
    yield f'<th scope="row">{cells[0]}</th>'
    yield from (f"<td>{cell}</td>" for cell in cells[1:])


def _backend_health(backend: BackendStatus) -> tuple[bool, str]:
    """The short word for the table; the details (which error) go to the banner."""
    if not backend.reachable:
        timed_out = (backend.error or "").startswith("timeout")
        return False, "timeout" if timed_out else "unreachable"
    if backend.ready is None:
        return False, "error"
    return backend.ready, "ready" if backend.ready else "not ready"


def _checks(report: object) -> list[tuple[str, str, str]]:
    """(name, status, output) of a readiness report; the backend's is untrusted JSON."""
    checks = report.get("checks") if isinstance(report, Mapping) else None
    if not isinstance(checks, Mapping):
        return []
    rows = []
    for name, raw in checks.items():
        result = raw if isinstance(raw, Mapping) else {}
        rows.append((str(name), str(result.get("status", "")), str(result.get("output", ""))))
    return rows


def _problems(frontend_ok: bool, backend: BackendStatus) -> list[str]:
    problems = [] if frontend_ok else ["frontend not ready"]
    if not backend.reachable:
        problems.append(f"backend {backend.error or 'unreachable'}")
    elif backend.ready is not True:
        problems.append(f"backend {backend.summary}")
    return problems


def _json_block(title: str, value: object) -> str:
    body = "no answer" if value is None else json.dumps(value, indent=2, sort_keys=True)
    return f"<h3>{_e(title)}</h3><pre>{_e(body)}</pre>"


def render_page(frontend: Mapping[str, Any], backend: BackendStatus) -> str:
    health = frontend.get("health", {})
    frontend_ok = health.get("status") == "pass"
    backend_ok, backend_word = _backend_health(backend)
    remote = backend.version or {}
    problems = _problems(frontend_ok, backend)
    overall = "pass" if not problems else "fail"
    verdict = "All ready" if not problems else "Not ready: " + "; ".join(problems)
    name = frontend.get("service", "frontend")
    environment = frontend.get("environment", "")
    versions = _table(
        "versions",
        ("", "service", "version", "revision", "health"),
        [
            (
                "frontend",
                _cell(name),
                _cell(frontend.get("version")),
                f"<code>{_cell(frontend.get('revision'))}</code>",
                _badge(frontend_ok, "ready" if frontend_ok else "not ready"),
            ),
            (
                "backend",
                _cell(remote.get("service")),
                _cell(remote.get("version")),
                f"<code>{_cell(remote.get('revision'))}</code>",
                _badge(backend_ok, backend_word),
            ),
        ],
    )
    checks = _table(
        "checks",
        ("", "check", "status", "output"),
        [
            (side, _e(check), _badge(status == "pass", status or "?"), _cell(output))
            for side, report in (("frontend", health), ("backend", backend.readiness))
            for check, status, output in _checks(report)
        ],
    )
    latency = None if backend.latency_ms is None else f"{backend.latency_ms:g} ms"
    connection = _table(
        "backend",
        ("", "value"),
        [
            ("url", f"<code>{_cell(backend.url)}</code>"),
            ("latency", _cell(latency)),
            ("error", _cell(backend.error)),
        ],
    )
    build = _table(
        "build",
        ("", "frontend", "backend"),
        [
            (_e(key), _cell(frontend.get(key)), _cell(remote.get(key)))
            for key in ("kind", "image", "built_at", "environment")
        ],
    )
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="refresh" content="5">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{_e(name)} ({_e(environment)}): {_e(verdict)}</title>
<style>{_STYLE}</style>
</head>
<body>
<header id="overall" class="banner {overall}">
<h1>{_e(name)} <span class="muted">{_e(environment)}</span></h1>
<p>{_e(verdict)}</p>
</header>
<h2>Versions</h2>
{versions}
<h2>Checks</h2>
{checks}
<h2>Backend connection</h2>
{connection}
<details>
<summary>Build and raw answers</summary>
{build}
{_json_block("Frontend readiness", health)}
{_json_block("Backend /version", backend.version)}
{_json_block("Backend /readyz", backend.readiness)}
</details>
</body>
</html>
"""
