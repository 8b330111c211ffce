"""The drill, repeated: `gitops demo --headless --json` on a fresh workspace each run, as a user
runs it (a real process that starts its own platform); pass count and detect/recover/MTTR.

    uv run python benchmarks/drill.py [--runs 5] [--root DIR] [--scenario NAME]

`--scenario` picks the failure (docs/platform/drill.md, "Scenarios"; default readiness); the last
line then starts with `scenario=NAME`.

A run passes when the drill exits 0: the known-good version runs again, exactly one rollback
commit exists for the bad revision and no request failed. detect_s: the bad revision's sync start
to the rollback commit's push; recover_s: that push to Healthy and Synced on the rollback
revision; mttr_s: the sum (docs/platform/drill.md). Targets: every run passes, median mttr_s
<= 20, zero failed requests. Workspaces go under --root (default: a temporary directory, removed
afterwards). Last line: name=value pairs.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RUN_TIMEOUT_S = 900.0


def drill(
    workspace: Path, state: Path, scenario: str
) -> tuple[int, dict[str, Any] | None, str, float]:
    """One drill: (exit code, its JSON or None, the end of its output, seconds it took)."""
    started = time.monotonic()
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "console.cli",
            "demo",
            "--headless",
            "--json",
            "--workspace",
            str(workspace),
            "--config",
            str(ROOT / "repos.yaml"),
            "--scenario",
            scenario,
        ],
        cwd=ROOT,
        env={**os.environ, "XDG_STATE_HOME": str(state)},
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
        check=False,
    )
    took = time.monotonic() - started
    lines = done.stdout.strip().splitlines()
    try:
        doc = json.loads(lines[-1]) if lines else None
    except ValueError:
        doc = None
    tail = "\n".join([*lines[-12:], *done.stderr.strip().splitlines()[-5:]])
    return done.returncode, doc if isinstance(doc, dict) else None, tail, took


def _secs(value: object) -> str:
    """A duration as the run line says it; "-" where the run had none (a release that stayed)."""
    return f"{value}s" if isinstance(value, int | float) else "-"


def figures(values: list[float], name: str) -> list[str]:
    if not values:
        return [f"{name}_median_s=nan", f"{name}_min_s=nan", f"{name}_max_s=nan"]
    return [
        f"{name}_median_s={statistics.median(values):.3f}",
        f"{name}_min_s={min(values):.3f}",
        f"{name}_max_s={max(values):.3f}",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--root", type=Path, help="where the workspaces go (default: a temp dir)")
    parser.add_argument("--scenario", default="readiness", help="the failure (default: readiness)")
    args = parser.parse_args()
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    tmp = None if args.root else tempfile.TemporaryDirectory(prefix="bench-drill-")
    root = args.root or Path(tmp.name if tmp else ".")
    root.mkdir(parents=True, exist_ok=True)
    passes = 0
    detect: list[float] = []
    recover: list[float] = []
    mttr: list[float] = []
    failed: list[int] = []
    try:
        for n in range(1, args.runs + 1):
            code, doc, tail, took = drill(root / f"run-{n}", root / "state", args.scenario)
            if code == 2 and doc is None:
                print(f"gitops demo refused the run (exit 2):\n{tail}", flush=True)
                break
            passes += code == 0
            if doc is None:
                print(f"run {n}: exit {code} after {took:.0f}s, no JSON:\n{tail}", flush=True)
                continue
            for values, key in ((detect, "detect_s"), (recover, "recover_s"), (mttr, "mttr_s")):
                if isinstance(doc.get(key), int | float):
                    values.append(float(doc[key]))
            failed.append(int(doc.get("failed_requests") or 0))
            print(
                f"run {n}: exit {code} ({'recovered' if doc.get('recovered') else 'NOT recovered'})"
                f" detect {_secs(doc.get('detect_s'))} recover {_secs(doc.get('recover_s'))} "
                f"mttr {_secs(doc.get('mttr_s'))} requests {doc.get('total_requests')} sent "
                f"{doc.get('failed_requests')} failed; drill took {took:.0f}s",
                flush=True,
            )
            if code != 0:
                print(tail, flush=True)
    finally:
        if tmp is not None:
            tmp.cleanup()
    print(
        " ".join(
            [
                *([f"scenario={args.scenario}"] if args.scenario != "readiness" else []),
                f"passes={passes}/{args.runs}",
                *figures(detect, "detect"),
                *figures(recover, "recover"),
                *figures(mttr, "mttr"),
                f"failed_requests_max={max(failed) if failed else 'nan'}",
            ]
        )
    )


if __name__ == "__main__":
    main()
