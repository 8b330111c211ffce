"""`ProcessRuntime`: the embedded platform's stand-in for a cluster, behind the `Runtime` protocol.

The controller hands it an application's rendered objects; it runs them on the caller's asyncio
event loop and reports what runs. Kinds, as on a cluster:

- **Deployment**: a `deployment_controller.DeploymentRunner` (pods as processes, run by its
  kubelet). A manifest the runner refuses (`RolloutError`, naming the field) is a failed
  ApplyResult; an update refused that way leaves the running version, and its recorded manifest,
  as they were.
- **Service**: a route of the data plane (`routes.Routes`: the proxies of a `dataplane` process,
  which outlives this one, or in-process ones): an HTTP proxy on 127.0.0.1, one stable port per
  Service name (`service_ports` given at construction are reused, so ports survive a restart of
  the platform, and a Service deleted and created again gets its port back; otherwise a free
  port). Its endpoints are the ready pods of every Deployment in the Service's namespace,
  whichever app runs it, whose pod template labels match `spec.selector` and whose declared port
  is one of the Service's `targetPort`s (`endpointslices.selects_pods`). `resolve_service`
  answers the runners' cluster-DNS questions from these proxies.
- **ConfigMap / Secret**: stored, read by the runners' `lookup` for `valueFrom` references
  (environment only; read when a container starts, as the kubelet does: running pods keep the
  values they started with). Secret `data` is base64 (invalid base64 is refused, as the API server
  refuses it), `stringData` plain and winning over `data`.
- **ConfigMap / Secret volumes**: a pod's `secret` and `configMap` volumes are written from
  the stored objects at each container start (`data`; see `console.local.kube.volumes`).
- **EndpointSlice**: recorded; a slice labelled `kubernetes.io/service-name` adds its endpoints
  to that Service's proxy, which is how a Service without a selector gets any (the platform's
  own `argocd-server`, console.local.bootstrap).
- **ServiceAccount, PodDisruptionBudget, NetworkPolicy**: recorded; a NetworkPolicy is not
  enforced and its ApplyResult says so.
- **Anything else** (or a known kind from another API group, such as a Knative Service; what
  each kind is here is `console.local.kube.kinds`'s to say): recorded
  with an ok ApplyResult saying it is not run, and listed by `resources` with `not_run` saying so
  (Argo CD shows it Unknown): never silently dropped.

An object (group, kind, namespace, name) belongs to the first app that applied it; the same object
applied by another app is refused ("shared resource", Argo CD's SharedResourceWarning) and left as
it runs. Within one apply: ConfigMaps, Secrets and ServiceAccounts first, then the other recorded
kinds, then Services, then Deployments, so a container's references and Service names resolve at
its first start. A pod resolves Service names when its container starts: a frontend started before
its backend's Service exists keeps the literal URL until it restarts, so apply backends' Services
first (or in the same app).

Pruning unlists first, then stops: a pruned Deployment's pods leave the proxies' endpoints before
they get their stop signal; a pruned Service stops resolving, then its proxy drains. `close` stops
the Services accepting, then drains them while every runner stops; no process is left behind.

One runtime per workdir. Pods a previous, killed platform left running under `workdir/pods` are
adopted, as a restarted kubelet finds its containers still running: a Deployment applied again
takes over the pods it can prove are its own (pid, process start time, pod record) with their
ports, logs and readiness, and `reap_unclaimed` kills the rest once every app was restored. The
routes a data plane it attached to already had are kept as they were until then: a Service keeps
forwarding to the pods it had while the apps are restored one by one.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import re
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from console.local.ci.images import ImageStore
from console.local.kube import kinds
from console.local.kube.deployment_controller import DeploymentRunner, DeploymentSnapshot
from console.local.kube.deploymentspec import RolloutError
from console.local.kube.endpointslices import selects_pods, service_ports, slice_endpoints
from console.local.kube.kubelet import PodSettings
from console.local.kube.objects import ObjectKey, fingerprint, images
from console.local.kube.pods import Orphan, find_orphans, reap
from console.local.kube.podstatus import PodInfo
from console.local.kube.proxy import ProxyError
from console.local.kube.proxytable import Route, ServiceKey
from console.local.kube.routes import HOST, PROXY_DRAIN_S, InProcessRoutes, Routes
from console.local.kube.runtime import ApplyResult, LiveResource

log = logging.getLogger(__name__)

# A Kubernetes object name (DNS-1123 subdomain): what a namespace, pod or container may be called.
_NAME = re.compile(r"[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?")


@dataclass(eq=False)
class _Object:
    """One object an app runs, with what runs it."""

    app: str
    key: ObjectKey
    manifest: dict[str, Any]  # as applied (a copy): its fingerprint is what the app synced
    role: kinds.Role
    runner: DeploymentRunner | None = None
    snapshot: DeploymentSnapshot | None = None  # the runner's last published snapshot
    port: int | None = None  # a Service's, on the data plane
    values: dict[str, str] = field(default_factory=dict)  # ConfigMap/Secret keys, decoded
    active: bool = True  # False once unlisted: late snapshots of a stopping runner are ignored

    @property
    def version(self) -> str:
        return kinds.api_version(self.manifest)


class ProcessRuntime:
    """Runs applications' objects as local processes and proxies; see the module docstring.

    Beyond the `Runtime` protocol: `service_urls`, `service_ports`, `resolve_service`, `lookup`,
    `data`, `pods`, `pod_log` and `snapshots` for the controller and the API.

    `pod_env(namespace, deployment)` is what the platform adds to the environment of that
    Deployment's containers (under their own `env`): the embedded platform's stand-in for what
    a cluster provides around a pod (its network's names, where the platform collects a
    controller's events).
    """

    def __init__(
        self,
        workdir: Path,
        images: ImageStore,
        *,
        service_ports: Mapping[tuple[str, str], int] | None = None,
        clock: Callable[[], float] = time.monotonic,
        routes: Routes | None = None,
        pod_env: Callable[[str, str], Mapping[str, str]] | None = None,
    ) -> None:
        self.workdir = Path(workdir)
        self.images = images
        self._clock = clock
        self._routes: Routes = InProcessRoutes() if routes is None else routes
        # Routes the data plane had before this runtime, kept until `reap_unclaimed`.
        self._inherited: dict[ServiceKey, Route] | None = dict(self._routes.adopted)
        self._pod_env = pod_env
        # Ports Services had before (a previous run): reused when the Service is applied again.
        self._reserved: dict[tuple[str, str], int] = dict(service_ports or {})
        self._reserved.update({key: route.port for key, route in self._routes.adopted.items()})
        self._objects: dict[ObjectKey, _Object] = {}
        self._listener: Callable[[str], None] | None = None
        self._lock = asyncio.Lock()
        self._closed = False
        self.workdir.mkdir(parents=True, exist_ok=True)
        # Pods a previous (killed) platform left running under this workdir: each Deployment
        # applied again adopts its own (as a restarted kubelet finds its containers running);
        # `reap_unclaimed` kills the rest once every app was restored.
        self._orphans: dict[tuple[str, str], list[Orphan]] = {}
        for orphan in find_orphans(self.workdir):
            self._orphans.setdefault(orphan.owner, []).append(orphan)
        self.reaped: list[int] = []  # pids of orphans nobody adopted, killed

    # ---- the Runtime protocol ----------------------------------------------------------------

    def set_listener(self, listener: Callable[[str], None]) -> None:
        self._listener = listener

    async def apply(
        self, app: str, namespace: str, objects: Sequence[Mapping[str, Any]], prune: bool
    ) -> list[ApplyResult]:
        async with self._lock:
            if self._closed:
                return [
                    ApplyResult(
                        kinds.object_key(obj, namespace),
                        kinds.api_version(obj),
                        False,
                        "the runtime is closed",
                    )
                    for obj in objects
                ]
            results: list[ApplyResult] = []
            wanted: dict[ObjectKey, Mapping[str, Any]] = {}
            counts: dict[ObjectKey, int] = {}
            for obj in objects:
                key = kinds.object_key(obj, namespace)
                problem = kinds.malformed(obj)
                if problem is not None:
                    results.append(ApplyResult(key, kinds.api_version(obj), False, problem))
                    continue
                wanted.pop(key, None)  # the last of repeated objects wins, in its position
                wanted[key] = obj
                counts[key] = counts.get(key, 0) + 1
            changed = False
            for key, obj in sorted(wanted.items(), key=lambda item: kinds.apply_rank(item[0])):
                result, did = await self._apply_one(app, key, obj)
                if counts[key] > 1:
                    result = ApplyResult(
                        result.key,
                        result.version,
                        result.ok,
                        f"{result.message} (appeared {counts[key]} times among the "
                        "application's resources; the last one was applied)",
                        result.pruned,
                    )
                results.append(result)
                changed |= did
            if prune:
                gone = [o for o in self._objects.values() if o.app == app and o.key not in wanted]
                await self._unrun(gone)
                results += [
                    ApplyResult(o.key, o.version, True, "pruned", pruned=True) for o in gone
                ]
                changed |= bool(gone)
        if changed:
            self._notify(app)
        return results

    def resources(self, app: str) -> list[LiveResource]:
        out = []
        for obj in sorted(self._owned(app), key=lambda o: o.key):
            out.append(
                LiveResource(
                    key=obj.key,
                    version=obj.version,
                    fingerprint=fingerprint(obj.manifest),
                    live=self._live(obj),
                    images=tuple(images([obj.manifest])),
                    not_run=kinds.not_run_reason(obj.key) if obj.role == "unsupported" else "",
                )
            )
        return out

    async def remove(self, app: str) -> None:
        async with self._lock:
            owned = self._owned(app)
            await self._unrun(owned)
        if owned:
            self._notify(app)

    async def close(self) -> None:
        self.reap_unclaimed()
        async with self._lock:
            self._closed = True
            everything = list(self._objects.values())
            for obj in everything:
                obj.active = False
            self._objects.clear()
            runners = [o.runner for o in everything if o.runner is not None]
            # The Services stop accepting first (the data plane's stop is sent before any pod is
            # signalled) and drain while the pods stop: each pod finishes what it was given, and
            # a client stopping with them (a watch through a Service) ends its stream.
            stopped = await asyncio.gather(
                self._routes.close(PROXY_DRAIN_S),
                *(r.stop() for r in runners),
                return_exceptions=True,
            )
            for error in stopped:
                if isinstance(error, BaseException):
                    log.error("stopping the data plane or a deployment failed", exc_info=error)

    # ---- for the controller and the API ------------------------------------------------------

    def service_urls(self) -> dict[tuple[str, str], str]:
        """`(namespace, service)` -> `http://127.0.0.1:<port>` of every Service that runs."""
        return {
            (o.key.namespace, o.key.name): f"http://{HOST}:{o.port}"
            for o in self._objects.values()
            if o.port is not None
        }

    def service_ports(self) -> dict[tuple[str, str], int]:
        """`(namespace, service)` -> port, to persist and hand to the next runtime: the Services
        that run, the ports given at construction that no Service has claimed yet, and those of
        Services pruned or removed since (kept, so a Service created again keeps its URL)."""
        ports = dict(self._reserved)
        for obj in self._objects.values():
            if obj.port is not None:
                ports[(obj.key.namespace, obj.key.name)] = obj.port
        return ports

    def resolve_service(self, namespace: str, service: str, port: int) -> tuple[str, int] | None:
        """The cluster DNS stand-in for the runners: the proxy of Service `namespace/service` when
        it runs and declares `port` among its `spec.ports[].port`."""
        obj = self._objects.get(ObjectKey("", "Service", namespace, service))
        if obj is None or obj.port is None:
            return None
        declared = {p.get("port") for p in service_ports(obj.manifest)}
        return (HOST, obj.port) if port in declared else None

    def lookup(self, kind: str, namespace: str, name: str, key: str) -> str | None:
        """A ConfigMap's or Secret's value (Secret data decoded), None when either is missing."""
        obj = self._objects.get(ObjectKey("", kind, namespace, name))
        if obj is None or obj.role != "config":
            return None
        return obj.values.get(key)

    def data(self, kind: str, namespace: str, name: str) -> dict[str, str] | None:
        """Every key of a ConfigMap or Secret (Secret data decoded), None when it is missing:
        what a volume of it holds."""
        obj = self._objects.get(ObjectKey("", kind, namespace, name))
        if obj is None or obj.role != "config":
            return None
        return dict(obj.values)

    def snapshots(self, app: str) -> list[DeploymentSnapshot]:
        """The app's Deployments as they run now, sorted by key."""
        return [
            o.runner.snapshot()
            for o in sorted(self._owned(app), key=lambda o: o.key)
            if o.runner is not None
        ]

    def pods(self, app: str) -> list[PodInfo]:
        """The app's pods (terminating ones included), by Deployment then age. `PodInfo.log` is
        each pod's log file."""
        return [pod for snapshot in self.snapshots(app) for pod in snapshot.pods]

    def pod_log(
        self, app: str, namespace: str, pod: str, container: str | None = None
    ) -> Path | None:
        """The log file of one of the app's pods, running or gone (logs are kept per pod, under
        `workdir/pods/<namespace>/<pod>/<container>.log`); None when no Deployment of the app in
        `namespace` has such a pod or the pod has no such log. `container` defaults to the pod's
        one container."""
        if not all(_NAME.fullmatch(n) for n in (namespace, pod, container or "x")):
            return None
        for obj in self._owned(app):
            if obj.runner is None or obj.key.namespace != namespace:
                continue
            for info in obj.runner.snapshot().pods:
                if info.name == pod and container in (None, info.log.stem):
                    return info.log
            if not pod.startswith(f"{obj.key.name}-"):
                continue
            directory = self.workdir / "pods" / namespace / pod
            found = sorted(directory.glob("*.log" if container is None else f"{container}.log"))
            if len(found) == 1:
                return found[0]
        return None

    # ---- applying ----------------------------------------------------------------------------

    async def _apply_one(
        self, app: str, key: ObjectKey, manifest: Mapping[str, Any]
    ) -> tuple[ApplyResult, bool]:
        """One object's ApplyResult, and whether what runs changed."""
        version = kinds.api_version(manifest)
        current = self._objects.get(key)
        if current is not None and current.app != app:
            return ApplyResult(
                key, version, False, f"shared resource: owned by app {current.app}"
            ), False
        if current is not None and fingerprint(current.manifest) == fingerprint(manifest):
            return ApplyResult(key, version, True, f"{kinds.kubectl_name(key)} unchanged"), False
        role = kinds.role_of(key)
        try:
            if role == "deployment":
                message = await self._apply_deployment(app, key, manifest, current)
            elif role == "service":
                message = await self._apply_service(app, key, manifest, current)
            else:
                message = self._record(app, key, manifest, role, current)
        except (RolloutError, ProxyError, kinds.InvalidObject) as exc:
            return ApplyResult(key, version, False, str(exc)), False
        except Exception as exc:  # one bad object must not fail the sync of the others
            log.exception("%s: apply failed", key)
            return ApplyResult(key, version, False, f"{kinds.kubectl_name(key)}: {exc}"), False
        return ApplyResult(key, version, True, message), True

    async def _apply_deployment(
        self, app: str, key: ObjectKey, manifest: Mapping[str, Any], current: _Object | None
    ) -> str:
        copied = copy.deepcopy(dict(manifest))
        if current is not None and current.runner is not None:
            current.runner.update(copied)  # raises RolloutError, leaving what runs
            current.manifest = copied
            self._publish()
            return f"{kinds.kubectl_name(key)} configured"
        obj = _Object(app, key, copied, "deployment")

        def on_change(snapshot: DeploymentSnapshot) -> None:
            self._on_change(obj, snapshot)

        orphans = self._orphans.pop((key.namespace, key.name), [])
        obj.runner = DeploymentRunner(
            key.namespace,
            copied,
            self.images,
            self.workdir,
            self.resolve_service,
            on_change,
            self._clock,
            settings=PodSettings(
                lookup=self.lookup,
                data=self.data,
                injected_env=self._pod_env(key.namespace, key.name) if self._pod_env else {},
            ),
            adopt=[o.record for o in orphans],
        )
        self._objects[key] = obj
        try:
            await obj.runner.start()
        except BaseException:
            await self._unrun([obj])
            raise
        finally:
            adopted = set(obj.runner.adopted)
            self.reaped += reap(o for o in orphans if o.pid not in adopted)
        if obj.runner.adopted:
            pods = len(obj.runner.adopted)
            return f"{kinds.kubectl_name(key)} created (adopted {pods} running pods)"
        return f"{kinds.kubectl_name(key)} created"

    def adopted(self) -> list[int]:
        """Pids of the pods the runners took over from a previous platform."""
        return [pid for o in self._objects.values() if o.runner for pid in o.runner.adopted]

    def reap_unclaimed(self) -> list[int]:
        """Kill the pods a previous platform left that no Deployment applied since adopted (the
        app is gone, or changed while the platform was down), and stop the routes of Services no
        app applied again; the pids killed."""
        if self._inherited is not None:
            self._inherited = None
            self._publish()
        unclaimed = [o for orphans in self._orphans.values() for o in orphans]
        self._orphans.clear()
        killed = reap(unclaimed)
        self.reaped += killed
        return killed

    async def _apply_service(
        self, app: str, key: ObjectKey, manifest: Mapping[str, Any], current: _Object | None
    ) -> str:
        copied = copy.deepcopy(dict(manifest))
        if current is not None and current.port is not None:
            current.manifest = copied
            self._publish()
            return f"{kinds.kubectl_name(key)} configured"
        service = (key.namespace, key.name)
        obj = _Object(app, key, copied, "service", port=self._reserved.get(service, 0))
        table = self._table(adding=obj)
        applied = await self._routes.apply(table)
        port = applied.get(service)
        if not isinstance(port, int):
            raise ProxyError(port or f"service {key.name}: the data plane did not route it")
        obj.port = port
        self._reserved.pop(service, None)
        self._objects[key] = obj
        return f"{kinds.kubectl_name(key)} created (port {port})"

    def _record(
        self,
        app: str,
        key: ObjectKey,
        manifest: Mapping[str, Any],
        role: kinds.Role,
        current: _Object | None,
    ) -> str:
        copied = copy.deepcopy(dict(manifest))
        values = kinds.config_values(key, copied) if role == "config" else {}
        self._objects[key] = _Object(app, key, copied, role, values=values)
        if key.kind == "EndpointSlice":
            self._publish()  # a Service's endpoints may have changed
        verb = "created" if current is None else "configured"
        if role == "unsupported":
            return f"{kinds.not_run_reason(key)}: recorded only"
        if key.kind in kinds.NOT_ENFORCED:
            return f"{kinds.kubectl_name(key)} {verb} (recorded, not enforced)"
        return f"{kinds.kubectl_name(key)} {verb}"

    async def _unrun(self, objects: Sequence[_Object]) -> None:
        """Unlist `objects` at once (endpoints and name resolution drop them), then stop their
        proxies (draining) and runners, concurrently."""
        for obj in objects:
            obj.active = False
            if self._objects.get(obj.key) is obj:
                del self._objects[obj.key]
            if obj.port is not None and not self._closed:
                # The Service's stable URL (platform.json) stays its: created again, it listens
                # on the same port again.
                self._reserved[(obj.key.namespace, obj.key.name)] = obj.port
        stops: list[Awaitable[Any]] = [o.runner.stop() for o in objects if o.runner is not None]
        if not self._closed:
            # Stops listening at once for a removed Service (which drains in the data plane),
            # and drops the removed pods from every endpoint list, before any is signalled.
            stops.insert(0, self._routes.apply(self._table()))
        for error in await asyncio.gather(*stops, return_exceptions=True):
            if isinstance(error, BaseException):
                log.error("stopping a pruned resource failed", exc_info=error)

    # ---- running -----------------------------------------------------------------------------

    def _on_change(self, obj: _Object, snapshot: DeploymentSnapshot) -> None:
        """A runner's snapshot changed (on the loop, must not block)."""
        if not obj.active:
            return
        obj.snapshot = snapshot
        self._publish()
        self._notify(obj.app)

    def _endpoints(self, service: _Object) -> tuple[tuple[str, int], ...]:
        """The ready pods of every Deployment in the Service's namespace that it selects, and the
        endpoints EndpointSlices give it (a Service without selector)."""
        deployments = sorted(
            (
                o
                for o in self._objects.values()
                if o.runner is not None and o.key.namespace == service.key.namespace
            ),
            key=lambda o: o.key,
        )
        endpoints = [
            endpoint
            for deployment in deployments
            if deployment.snapshot is not None and _selects(service.manifest, deployment)
            for endpoint in deployment.snapshot.endpoints()
        ]
        endpoints += slice_endpoints(service.manifest, self._slices(service.key.namespace))
        return tuple(endpoints)

    def _table(self, adding: _Object | None = None) -> dict[ServiceKey, Route]:
        """Every Service's route from the Deployments' latest snapshots. Until `reap_unclaimed`,
        the data plane's earlier routes stand in for Services not applied again yet, and for
        those without a ready pod yet (the Deployment behind them is still being restored).
        `adding`: a Service about to be created."""
        table: dict[ServiceKey, Route] = dict(self._inherited or {})
        for obj in [*self._objects.values(), *([] if adding is None else [adding])]:
            if obj.port is None:
                continue
            service = (obj.key.namespace, obj.key.name)
            endpoints = self._endpoints(obj)
            earlier = table.get(service)
            if not endpoints and earlier is not None and earlier.port == obj.port:
                endpoints = earlier.endpoints
            table[service] = Route(obj.port, endpoints)
        return table

    def _publish(self) -> None:
        """Send the routes to the data plane (endpoint changes: not waited for)."""
        if not self._closed:
            self._routes.publish(self._table())

    def _slices(self, namespace: str) -> list[dict[str, Any]]:
        return [
            o.manifest
            for o in self._objects.values()
            if o.key.kind == "EndpointSlice" and o.key.namespace == namespace
        ]

    def _notify(self, app: str) -> None:
        if self._listener is None:
            return
        try:
            self._listener(app)
        except Exception:  # a listener's failure must not stop supervision
            log.exception("runtime listener failed for app %s", app)

    def _owned(self, app: str) -> list[_Object]:
        return [o for o in self._objects.values() if o.app == app]

    def _live(self, obj: _Object) -> dict[str, Any]:
        """The object as a cluster would return it: metadata defaulted, and `status`."""
        live = copy.deepcopy(obj.manifest)
        meta = dict(live.get("metadata") or {})
        meta["namespace"] = obj.key.namespace
        live["metadata"] = meta
        if obj.runner is not None:
            snapshot = obj.runner.snapshot()
            meta["generation"] = snapshot.generation
            live["status"] = snapshot.status_manifest
        elif obj.port is not None:
            # Every Service is reachable from the host on its proxy's port; only a LoadBalancer
            # Service says so in its status, as a cloud load balancer would.
            balancer: dict[str, Any] = {}
            if (live.get("spec") or {}).get("type") == "LoadBalancer":
                ports = [{"port": obj.port, "protocol": "TCP"}]
                balancer["ingress"] = [{"ip": HOST, "ports": ports}]
            live["status"] = {"loadBalancer": balancer}
        return live


def _selects(service: Mapping[str, Any], deployment: _Object) -> bool:
    """Whether the Service routes to the Deployment's pods (`endpointslices.selects_pods`)."""
    if deployment.runner is None or deployment.snapshot is None:
        return False
    template = (deployment.runner.manifest.get("spec") or {}).get("template") or {}
    labels = (template.get("metadata") or {}).get("labels") or {}
    snapshot = deployment.snapshot
    return selects_pods(service, labels, snapshot.container_port, snapshot.port_name)
