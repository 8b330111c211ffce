"""The analysis' `prometheus` provider: the same samples as the `pods` provider, read with PromQL
from a Prometheus HTTP API (`/api/v1/query`) instead of each pod: an in-cluster Prometheus, or
one behind a gateway that adds its own auth, for clusters whose pods the guard cannot reach.

The queries sum each pod's cumulative counters (users' routes only, as console.guard.scrape
reads them), selected by the pods of the app's current revision; the verdict is the same pure
function. Each query is a template with `{selector}` standing for
`namespace="<ns>", pod=~"<pod>|<pod>..."`: the defaults fit the probe services' metric names
and Prometheus' `namespace`/`pod` target labels, and a cluster with other names passes its own.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

import httpx
from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from console.fleet.source import SourceError
from console.fleet.tree import current_pods
from console.guard.analysis import Sample
from console.guard.pods import LiveReader
from console.guard.scrape import NOT_USERS

_USERS = 'route!~"' + "|".join(sorted(NOT_USERS)) + '"'
QUERY_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class Queries:
    """PromQL with `{selector}` where the pods' label matchers go (replaced, not formatted:
    PromQL's own braces stay as written)."""

    requests: str = "sum by (pod) (http_requests_total{{selector}, " + _USERS + "})"
    errors: str = "sum by (pod) (http_requests_total{{selector}, " + _USERS + ', status=~"5.."})'
    buckets: str = (
        "sum by (pod, le) (http_request_duration_seconds_bucket{{selector}, " + _USERS + "})"
    )
    started: str = "max by (pod) (process_start_time_seconds{{selector}})"

    def render(self, template: str, where: str) -> str:
        return template.replace("{selector}", where)

    @classmethod
    def from_file(cls, path: Path) -> Queries:
        """The queries a YAML file names (requests, errors, buckets, started), the defaults for
        the rest: a cluster whose metric or label names differ. Raises QueriesError naming the
        file and the key."""
        try:
            doc = YAML(typ="safe").load(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise QueriesError(f"{path}: {exc.strerror or exc}") from None
        except YAMLError as exc:
            raise QueriesError(f"{path}: not YAML: {str(exc).splitlines()[0]}") from None
        if not isinstance(doc, dict):
            raise QueriesError(f"{path}: not a mapping of query names to PromQL")
        names = [f.name for f in fields(cls)]
        for key, value in doc.items():
            if key not in names:
                raise QueriesError(f"{path}: {key}: not a query name ({', '.join(names)})")
            if not isinstance(value, str):
                raise QueriesError(f"{path}: {key}: not a string")
            if "{selector}" not in value:
                raise QueriesError(f"{path}: {key}: the query has no {{selector}} for the pods")
        return replace(cls(), **doc)


class QueriesError(ValueError):
    """A query file that cannot be used; the message names the file and the key."""


class PrometheusError(SourceError):
    """Prometheus could not answer a query; the message names the URL."""


def selector(namespace: str, pods: list[str]) -> str:
    """The label matchers of these pods. Pod names are DNS names: only a dot means anything to a
    regex, escaped for the regex and its backslash again for PromQL's string."""
    names = "|".join(p.replace(".", "\\\\.") for p in pods)
    return f'namespace="{namespace}", pod=~"{names}"'


class PrometheusProvider:
    def __init__(
        self,
        url: str,
        source: LiveReader,
        client: httpx.AsyncClient,
        queries: Queries = Queries(),
    ) -> None:
        self.url = url.rstrip("/")
        self.source = source
        self.client = client
        self.queries = queries

    async def samples(self, app: str, at: float) -> tuple[list[Sample], list[str]]:
        pods = current_pods(await self.source.resource_tree(app))
        if not pods:
            return [], []
        by_namespace: dict[str, list[str]] = {}
        for namespace, name in pods:
            by_namespace.setdefault(namespace, []).append(name)
        out: list[Sample] = []
        for namespace, names in by_namespace.items():
            out.extend(await self.read(namespace, names, at))
        found = {s.source for s in out}
        return out, [
            f"{name}: no series in Prometheus yet" for _, name in pods if name not in found
        ]

    async def read(self, namespace: str, pods: list[str], at: float) -> list[Sample]:
        """One Sample per pod Prometheus has series of."""
        where = selector(namespace, pods)
        q = self.queries
        requests = await self._vector(q.render(q.requests, where))
        errors = await self._vector(q.render(q.errors, where))
        buckets = await self._vector(q.render(q.buckets, where))
        started = await self._vector(q.render(q.started, where))
        out = []
        for (pod,), value in requests.items():
            bounds = {
                float(le): count for (p, le), count in _by_pod_le(buckets).items() if p == pod
            }
            if bounds and math.inf not in bounds:
                bounds[math.inf] = max(bounds.values())
            out.append(
                Sample(
                    at,
                    pod,
                    value,
                    errors.get((pod,), 0.0),
                    tuple(sorted(bounds.items())),
                    started.get((pod,), 0.0),
                )
            )
        return out

    async def _vector(self, query: str) -> dict[tuple[str, ...], float]:
        """An instant vector, by its labels' values in the order `by (...)` names them."""
        endpoint = f"{self.url}/api/v1/query"
        try:
            response = await self.client.get(
                endpoint, params={"query": query}, timeout=QUERY_TIMEOUT_S
            )
            body: Any = response.json()
        except httpx.HTTPError as exc:
            raise PrometheusError(
                f"cannot reach Prometheus at {endpoint}: {exc}", "unreachable"
            ) from None
        except ValueError:
            raise PrometheusError(
                f"{endpoint} answered HTTP {response.status_code} without JSON", "malformed"
            ) from None
        if not isinstance(body, Mapping) or body.get("status") != "success":
            error = body.get("error") if isinstance(body, Mapping) else None
            raise PrometheusError(f"{endpoint}: {error or 'not a success'} for {query}", "http")
        labels = re.search(r"by \(([^)]*)\)", query)
        keys = [k.strip() for k in labels.group(1).split(",")] if labels else []
        out: dict[tuple[str, ...], float] = {}
        for item in (body.get("data") or {}).get("result") or []:
            metric = item.get("metric") or {}
            try:
                value = float(item["value"][1])
            except (KeyError, IndexError, TypeError, ValueError):
                continue
            out[tuple(str(metric.get(k, "")) for k in keys)] = value
        return out


def _by_pod_le(vector: dict[tuple[str, ...], float]) -> dict[tuple[str, str], float]:
    return {(k[0], k[1]): v for k, v in vector.items() if len(k) == 2}
