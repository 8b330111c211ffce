"""The driver of the analysis (console.guard.analysis' verdict over a release's requests): when a
revision is analysed, reading its samples from a provider until the verdict, and what is told.

A release is analysed when it just turned Healthy and Synced after its sync: auto-rollback and
analysis enabled by its annotations, its sync started less than deadline + window ago (a
revision that served long before the guard saw it is not a release under way). The guard
decides on a failed analysis as on any failed rollout (console.guard.policy: `analysis`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from typing import Protocol

from console.fleet.model import App, Health, Sync
from console.fleet.source import SourceError
from console.guard import events as ev
from console.guard.analysis import AnalysisPolicy, Outcome, Sample, Verdict, verdict
from console.guard.events import EventLog
from console.guard.metrics import GuardMetrics
from console.guard.policy import Policy

log = logging.getLogger("gitops.guard")


class SampleProvider(Protocol):
    """Where the analysis reads an app's requests (console.guard.pods.PodsProvider,
    console.guard.prometheus.PrometheusProvider): samples now, and what could not be read."""

    async def samples(self, app: str, at: float) -> tuple[list[Sample], list[str]]: ...


class Analyzer:
    def __init__(
        self,
        providers: Mapping[str, SampleProvider],
        events: EventLog,
        metrics: GuardMetrics,
        clock: Callable[[], float],
        changed: asyncio.Event,
    ) -> None:
        self._providers = dict(providers)  # by the name an analysis-provider annotation gives
        self._events, self._metrics, self._clock, self._changed = events, metrics, clock, changed
        self._tasks: set[asyncio.Task[None]] = set()

    def start(
        self,
        app: App,
        rev: str,
        now: float,
        *,
        current: Callable[[], bool],
        failed: Callable[[str], None],
    ) -> bool:
        """Start analysing `app` on `rev` when it is a release to analyse; whether it was taken
        on (then never again for `rev`). `current()` says whether the app still runs `rev`;
        `failed(reason)` is called when the verdict fails it."""
        analysis = self._release(app, rev, now)
        if analysis is None:
            return False
        if analysis.problem:  # a value that cannot be read: off, and said once per revision
            self._events.emit(
                ev.ANALYSIS_INCONCLUSIVE,
                app.name,
                f"{rev[:7]}: not analysed: {analysis.problem}",
                revision=rev,
            )
            return True
        provider = self._providers.get(analysis.provider)
        if provider is None:
            self._events.emit(
                ev.ANALYSIS_INCONCLUSIVE,
                app.name,
                f"{rev[:7]}: not analysed: no {analysis.provider} provider is configured "
                "for this guard",
                revision=rev,
            )
            return True
        task = asyncio.get_running_loop().create_task(
            self._run(app, rev, analysis, provider, current=current, failed=failed)
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return True

    def _release(self, app: App, rev: str, now: float) -> AnalysisPolicy | None:
        """The analysis policy of `app` when it is a release to analyse on `rev`, else None."""
        if not self._providers or not rev:
            return None
        if app.health is not Health.HEALTHY or app.sync is not Sync.SYNCED:
            return None
        policy = Policy.from_annotations(app.annotations)
        analysis = AnalysisPolicy.from_annotations(app.annotations)
        if not policy.enabled or not (analysis.enabled or analysis.problem):
            return None
        op = app.operation
        synced_at = op.started_at if op is not None and op.revision == rev else None
        if synced_at is None or now - synced_at.timestamp() > policy.deadline_s + analysis.seconds:
            return None  # it served long before this sight: not a release under way
        return analysis

    def cancel(self) -> None:
        """Stop every analysis under way (the guard stops)."""
        for task in self._tasks:
            task.cancel()

    async def _run(
        self,
        app: App,
        rev: str,
        policy: AnalysisPolicy,
        provider: SampleProvider,
        *,
        current: Callable[[], bool],
        failed: Callable[[str], None],
    ) -> None:
        started = self._clock()
        limits = [
            f"error ratio <= {policy.max_error_ratio:g}"
            if policy.max_error_ratio is not None
            else "",
            f"p95 <= {policy.max_p95_ms:g} ms" if policy.max_p95_ms is not None else "",
        ]
        self._events.emit(
            ev.ANALYSIS,
            app.name,
            f"{rev[:7]} is Healthy: watching its requests for {policy.seconds:g} s "
            f"({', '.join(x for x in limits if x)}; at least {policy.min_requests} requests)",
            revision=rev,
        )
        samples: list[Sample] = []
        every = max(0.2, min(2.0, policy.seconds / 10))
        while True:
            if not current():
                return  # moved on (a newer revision, a rollback): its own analysis, if any
            try:
                got, missed = await provider.samples(app.key, self._clock())
                samples.extend(got)
                for problem in missed:
                    log.debug("analysis of %s: %s", app.name, problem)
            except SourceError as exc:
                log.warning("analysis of %s: cannot read its pods: %s", app.name, exc)
            result = verdict(policy, samples, started, self._clock())
            if result.outcome is not Outcome.RUNNING:
                break
            await asyncio.sleep(every)
        self._tell(app.name, rev, result)
        if result.outcome is Outcome.FAILED:
            failed(result.reason)

    def _tell(self, name: str, rev: str, result: Verdict) -> None:
        kind = {
            Outcome.PASSED: ev.ANALYSIS_PASSED,
            Outcome.FAILED: ev.ANALYSIS_FAILED,
            Outcome.INCONCLUSIVE: ev.ANALYSIS_INCONCLUSIVE,
        }[result.outcome]
        self._metrics.analyses.labels(app=name, outcome=result.outcome.value.lower()).inc()
        self._events.emit(
            kind,
            name,
            f"{rev[:7]}: {result.reason}",
            revision=rev,
            requests=result.requests,
            error_ratio=None if result.error_ratio is None else round(result.error_ratio, 4),
            p95_ms=None if result.p95_ms is None else round(result.p95_ms, 1),
            window_s=round(result.window_s, 3),
        )
        self._changed.set()
