"""The operator console at scale: N full-shape Applications from a synthetic Argo CD API (real
HTTP on 127.0.0.1, in a subprocess: benchmarks/synthetic_argocd.py), the console headless over
it; time to a fully populated fleet, stream frame -> cell updated, memory.

    uv run python benchmarks/console_scale.py [--apps 1000] [--frames 200] [--interval 0.05]

The console is `gitops console --argocd URL` as an operator runs it (ConsoleApp over an
ArgoCDSource, default timings, the 1 s tick), plus an in-memory deploy repo (one commit per app,
with its pin; a few rollback commits) and an in-memory /version probe, so every cell carries
its Git pin, live version, drift and rollback marks as on the embedded platform. The server is
a separate process so the console's loop does not share its CPU time with it.

  - first_render_s: from the app's start to the fleet matrix holding every app's cell;
    `complete_s` (printed above) until the pins and live versions are shown too.
  - update_p95_ms: after the fleet settled, the server sends `--frames` MODIFIED frames at a
    steady rate, one every `--interval` s, each flipping the health of a different app and
    carrying the wall-clock time (time.time(), same machine) at which it was written; the
    latency is from that time to the console updating that app's cell in the DataTable
    (FleetMatrix.put_cell, hooked here).
  - rss_mb: the console process's max RSS (getrusage) after the run; the server's not included.
Target at 1,000 apps: first_render_s <= 1.5, update_p95_ms <= 100, rss_mb <= 250. The load
average is printed too: figures on a busy machine are worse. Last line: name=value pairs.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import os
import resource
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from rich.text import Text

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.synthetic_argocd import NAMESPACE, SENT_AT, SEQ, Spec, layout  # noqa: E402
from console.contract import (  # noqa: E402
    PROMOTED_SERVICE,
    ROLLBACK_APP,
    ROLLBACK_OF,
    ROLLBACK_REASON,
    ROLLBACK_TO,
)
from console.fleet.argocd import ArgoCDSource  # noqa: E402
from console.fleet.history import Commit  # noqa: E402
from console.tui.app import ConsoleApp  # noqa: E402
from console.tui.fleetview import Matrix  # noqa: E402
from console.tui.store import RepoFacts  # noqa: E402
from console.tui.targets import ConsoleTarget  # noqa: E402
from console.tui.widgets.matrix import FleetMatrix  # noqa: E402

TOKEN = "console-scale-token-0123456789"  # noqa: S105 - served only on 127.0.0.1
TARGET = "bench"
DEPLOY = "memory://platform-deploy"
SERVER = Path(__file__).resolve().with_name("synthetic_argocd.py")


# --- what the console reads beside the API, in memory ----------------------------------------


class MemoryRepo:
    """The deploy repo: one commit per app (its synced revision: a promotion of its service to
    its env, or a rollback of it), newest first, each pinning the app's image tag."""

    def __init__(self, specs: Iterable[Spec]) -> None:
        commits, self._pins = [], {}
        for n, spec in enumerate(specs):
            if spec.rollback:
                trailers: tuple[tuple[str, str], ...] = (
                    (ROLLBACK_OF, spec.revisions[-2]),
                    (ROLLBACK_TO, spec.revisions[-3]),
                    (ROLLBACK_APP, spec.name),
                    (ROLLBACK_REASON, "guard: Degraded for 30s"),
                )
                subject = f"rollback {spec.name}"
            else:
                trailers = ((PROMOTED_SERVICE, spec.service),)
                subject = f"promote {spec.service} to {spec.env}"
            commits.append(Commit(spec.revision, subject, "ci <ci@acme.example>", n, trailers))
            self._pins[(spec.revision, spec.path)] = spec.tag
        commits.reverse()
        self.facts = RepoFacts.of(commits[0].sha if commits else "", commits)

    def head(self) -> str:
        return self.facts.head

    def read(self, head: str) -> RepoFacts:
        return self.facts

    def pins(self, wanted: Iterable[tuple[str, str, str]]) -> Mapping[tuple[str, str], str | None]:
        return {(rev, path): self._pins.get((rev, path)) for rev, path, _ in wanted}


def memory_probe(specs: Iterable[Spec]) -> Any:
    live = {spec.name: spec.live for spec in specs}

    async def probe(urls: Mapping[str, str]) -> Mapping[str, str | None]:
        return {name: live.get(name) for name in urls}

    return probe


# --- the server subprocess -------------------------------------------------------------------


class Server:
    def __init__(self, apps: int) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(SERVER), "--apps", str(apps), "--token", TOKEN],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()  # blocks until the fleet is built and listening
        if not line.startswith("ready "):
            self.stop()
            raise SystemExit(f"the synthetic Argo CD did not start: {line!r}")
        self.url = line.split()[1]

    def command(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                self.command("quit")
                assert self.proc.stdin is not None
                self.proc.stdin.close()
                self.proc.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()


# --- measuring inside the console's loop -----------------------------------------------------


@dataclass
class Meter:
    """Hooked into FleetMatrix: when the matrix first holds every app, and when each frame's
    app reaches its cell."""

    app: ConsoleApp
    specs: list[Spec]
    t0: float = 0.0
    first_render: float | None = None
    complete: float | None = None
    latencies: dict[int, float] = field(default_factory=dict)  # frame seq -> seconds
    settled: asyncio.Event = field(default_factory=asyncio.Event)
    done: asyncio.Event = field(default_factory=asyncio.Event)
    frames: int = 0

    def __post_init__(self) -> None:
        self.services = len({spec.service for spec in self.specs})
        self.columns = len({spec.env for spec in self.specs}) + 1  # and the service column
        self.wanted = {(DEPLOY, spec.revision, spec.path) for spec in self.specs}

    def shown(self, table: FleetMatrix) -> None:
        full = table.row_count == self.services and len(table.columns) == self.columns
        if self.first_render is None and full:
            self.first_render = time.perf_counter() - self.t0
        if self.first_render is not None and self.complete is None:
            store = self.app.store
            if len(store.versions) == len(self.specs) and self.wanted <= store.pins.keys():
                self.complete = time.perf_counter() - self.t0
                self.settled.set()

    def cell_updated(self, row: str, column: str) -> None:
        app = self.app.store.apps.get((TARGET, f"{NAMESPACE}/{row}-{column}"))
        if app is None or SEQ not in app.annotations:
            return
        seq = int(app.annotations[SEQ])
        if seq not in self.latencies:
            self.latencies[seq] = time.time() - float(app.annotations[SENT_AT])
            if len(self.latencies) >= self.frames:
                self.done.set()


def hook(meter: Meter) -> Callable[[], None]:
    """Wrap FleetMatrix.show and .put_cell (every in-place cell update) for the meter;
    returns the undo."""
    show, put_cell = FleetMatrix.show, FleetMatrix.put_cell

    def hooked_show(self: FleetMatrix, matrix: Matrix, now: datetime) -> None:
        show(self, matrix, now)
        meter.shown(self)

    def hooked_put_cell(self: FleetMatrix, row: str, column: str, text: Text) -> None:
        put_cell(self, row, column, text)
        meter.cell_updated(row, column)

    FleetMatrix.show = hooked_show  # type: ignore[method-assign]
    FleetMatrix.put_cell = hooked_put_cell  # type: ignore[method-assign]

    def undo() -> None:
        FleetMatrix.show = show  # type: ignore[method-assign]
        FleetMatrix.put_cell = put_cell  # type: ignore[method-assign]

    return undo


@dataclass
class Result:
    first_render_s: float
    complete_s: float
    latencies_ms: list[float]
    frames: int
    flushes: int
    updates: int
    rebuilds: int


async def bench(apps: int, frames: int, interval: float, timeout: float) -> Result:
    specs = layout(apps)
    repo = MemoryRepo(specs)
    server = Server(apps)
    target = ConsoleTarget(
        TARGET,
        "argocd",
        open=lambda: ArgoCDSource(server.url, TOKEN, name=TARGET),
        services={spec.name: "http://probe.invalid" for spec in specs},
        deploy_repo=DEPLOY,
    )
    app = ConsoleApp([target], repo_reader=lambda _: repo, probe=memory_probe(specs))
    # Import what the console imports lazily (httpx's transports, when the source opens)
    # before the clock starts: where Python may not write bytecode (PYTHONDONTWRITEBYTECODE,
    # as in CI sandboxes) each run would compile those modules anew, which an installed
    # console does once.
    await ArgoCDSource(server.url, TOKEN).aclose()
    meter = Meter(app, specs, frames=frames)
    undo = hook(meter)
    try:
        meter.t0 = time.perf_counter()
        async with app.run_test(size=(160, 48)):
            try:
                await asyncio.wait_for(meter.settled.wait(), timeout)
            except TimeoutError:
                raise SystemExit(f"the fleet was not all shown within {timeout:g}s") from None
            await asyncio.sleep(1.0)  # let the first reads' aftermath pass
            if frames:
                server.command(f"updates {frames} {interval}")
                with contextlib.suppress(TimeoutError):  # reported as frames not seen
                    await asyncio.wait_for(meter.done.wait(), frames * interval + timeout)
            table = app.screen_stack[0].query_one("#matrix", FleetMatrix)
            result = Result(
                first_render_s=meter.first_render or 0.0,
                complete_s=meter.complete or 0.0,
                latencies_ms=sorted(v * 1000 for v in meter.latencies.values()),
                frames=frames,
                flushes=app.flushes,
                updates=table.updates,
                rebuilds=table.rebuilds,
            )
    finally:
        undo()
        server.stop()
    return result


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile of sorted `values` (0 for none)."""
    if not values:
        return 0.0
    rank = max(1, math.ceil(q * len(values)))
    return values[min(rank, len(values)) - 1]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--apps", type=int, default=1000)
    parser.add_argument("--frames", type=int, default=200, help="update frames (0: none)")
    parser.add_argument("--interval", type=float, default=0.05, help="seconds between frames")
    parser.add_argument("--timeout", type=float, default=120.0)
    args = parser.parse_args(argv)
    frames = min(args.frames, args.apps)  # one frame per app: no two frames coalesce
    load = os.getloadavg()
    result = asyncio.run(bench(args.apps, frames, args.interval, args.timeout))
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    lat = result.latencies_ms
    services = len({spec.service for spec in layout(args.apps)})
    print(f"apps: {args.apps} ({services} services x dev/staging/prod); server: subprocess")
    print(
        f"first render {result.first_render_s:.3f}s; pins and live versions shown "
        f"{result.complete_s:.3f}s"
    )
    print(
        f"frames: {len(lat)}/{result.frames} seen, one every {args.interval * 1000:.0f} ms; "
        f"latency p50 {percentile(lat, 0.5):.1f} ms, p95 {percentile(lat, 0.95):.1f} ms, "
        f"max {lat[-1] if lat else 0.0:.1f} ms"
    )
    print(
        f"flushes {result.flushes}, cells updated {result.updates}, "
        f"matrix rebuilds {result.rebuilds}; load average at start {load[0]:.2f}, "
        f"now {os.getloadavg()[0]:.2f} ({os.cpu_count()} CPUs)"
    )
    print(
        f"apps={args.apps} frames={len(lat)} first_render_s={result.first_render_s:.3f} "
        f"update_p50_ms={percentile(lat, 0.5):.1f} update_p95_ms={percentile(lat, 0.95):.1f} "
        f"rss_mb={rss_mb:.1f} load1={load[0]:.2f}"
    )


if __name__ == "__main__":
    main()
