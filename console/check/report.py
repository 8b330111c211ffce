"""The validation matrix as a table (check by repo) or as JSON."""

from __future__ import annotations

import json
from typing import Any

from console.check.model import Report, Result, Status

MARK = {
    Status.PASS: "pass",
    Status.FAIL: "FAIL",
    Status.SKIPPED: "skipped",
    Status.NOT_APPLICABLE: "-",
}
SHOWN_FINDINGS = 5


def cell(report: Report, check: str, repo: str) -> Result | None:
    return next((r for r in report.results if r.check == check and r.repo == repo), None)


def table(report: Report) -> str:
    labels = [r.label for r in report.repos]
    width = max(len(c) for c in report.checks) + 2
    cols = [max(len(label), 7) + 2 for label in labels]
    header = "check".ljust(width) + "".join(x.ljust(w) for x, w in zip(labels, cols, strict=True))
    lines = [header.rstrip()]
    for check in report.checks:
        if not any(r.check == check for r in report.results):
            continue  # applies to none of these repos
        row = check.ljust(width)
        for label, w in zip(labels, cols, strict=True):
            result = cell(report, check, label)
            row += MARK[result.status if result else Status.NOT_APPLICABLE].ljust(w)
        lines.append(row.rstrip())
    details = []
    for r in report.results:
        if r.status is Status.FAIL:
            details.append(f"{r.repo} / {r.check}: {len(r.findings)} finding(s)")
            details += [f"    {f}" for f in r.findings[:SHOWN_FINDINGS]]
            if len(r.findings) > SHOWN_FINDINGS:
                details.append(
                    f"    … and {len(r.findings) - SHOWN_FINDINGS} more (--json lists all)"
                )
        elif r.status is Status.SKIPPED:
            details.append(f"{r.repo} / {r.check}: skipped: {r.reason}")
    if details:
        lines += ["", *details]
    return "\n".join(lines)


def as_json(report: Report, strict: bool) -> str:
    doc: dict[str, Any] = {
        "ok": not report.failed(strict),
        "strict": strict,
        "repos": [
            {"name": r.label, "path": str(r.path), "kind": r.kind.value} for r in report.repos
        ],
        "results": [
            {
                "check": r.check,
                "repo": r.repo,
                "status": r.status.value,
                "findings": list(r.findings),
                "reason": r.reason,
                "seconds": r.seconds,
            }
            for r in report.results
        ],
    }
    return json.dumps(doc, indent=2)
