"""The guard's Prometheus metrics, on a registry of its own (one per Guard, so tests and several
guards in one process do not share counters)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest


class GuardMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.rollbacks = Counter(
            "gitops_guard_rollbacks",
            "Rollback commits pushed, by app and by the rule that fired.",
            ["app", "reason"],
            registry=self.registry,
        )
        self.failures = Counter(
            "gitops_guard_rollback_failures",
            "Rollbacks that could not be written (retried) or were given up (halted, refused).",
            ["app", "kind"],
            registry=self.registry,
        )
        self.detection = Histogram(
            "gitops_guard_detection_seconds",
            "From the bad revision's sync start to the rollback decision.",
            buckets=(1, 2, 5, 10, 15, 20, 30, 60, 120, 300, 600),
            registry=self.registry,
        )
        self.decision = Histogram(
            "gitops_guard_decision_seconds",
            "Time to decide on one application change.",
            buckets=(0.0001, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.05, 0.1),
            registry=self.registry,
        )
        self.source_up = Gauge(
            "gitops_guard_source_up",
            "1 while the Application source (Argo CD) answers, else 0.",
            registry=self.registry,
        )
        self.analyses = Counter(
            "gitops_guard_analyses",
            "Analyses of Healthy revisions' requests that ended, by app and outcome.",
            ["app", "outcome"],
            registry=self.registry,
        )
        self.apps = Gauge(
            "gitops_guard_watched_apps", "Applications the guard watches.", registry=self.registry
        )

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
