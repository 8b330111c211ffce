"""How long the template side takes: `gitops scaffold` of the three repos, and `gitops check` over
them (the offline validation matrix, checkov included when on PATH).

    uv run python benchmarks/scaffold.py [--runs 5] [--no-check]

Prints one line per run, then `scaffold_median_s=… scaffold_min_s=… scaffold_max_s=… check_s=…`.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from console.check.runner import detect, run_matrix  # noqa: E402
from console.cli import main as gitops  # noqa: E402


def scaffold_once(dest: Path) -> float:
    started = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        code = gitops(["scaffold", "--config", str(ROOT / "repos.yaml"), "--dest", str(dest)])
    if code != 0:
        raise SystemExit(f"scaffold failed with exit code {code}")
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--no-check", action="store_true")
    args = parser.parse_args()
    times = []
    with tempfile.TemporaryDirectory(prefix="bench-scaffold-") as tmp:
        for n in range(args.runs):
            seconds = scaffold_once(Path(tmp) / f"run{n}")
            times.append(seconds)
            print(f"run {n + 1}: scaffold {seconds:.2f}s", flush=True)
        check_s = float("nan")
        if not args.no_check:
            repos = [
                detect(Path(tmp) / "run0" / r) for r in ("infra-repo", "apps-repo", "deploy-repo")
            ]
            started = time.perf_counter()
            report = run_matrix(repos)
            check_s = time.perf_counter() - started
            failed = [f"{r.repo}/{r.check}" for r in report.results if r.status.value == "fail"]
            skipped = [f"{r.repo}/{r.check}" for r in report.results if r.status.value == "skipped"]
            print(f"check: {check_s:.1f}s, failed={failed or 'none'}, skipped={skipped or 'none'}")
    print(
        f"scaffold_median_s={statistics.median(times):.2f} scaffold_min_s={min(times):.2f} "
        f"scaffold_max_s={max(times):.2f} check_s={check_s:.1f}"
    )


if __name__ == "__main__":
    main()
