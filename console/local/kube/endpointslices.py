"""A Service's endpoints, as the EndpointSlice controller and kube-proxy find them: the pods its
selector matches (`selects_pods`), or the EndpointSlices (`discovery.k8s.io/v1`) that name it.

A Service without a selector gets no endpoints from pods: whoever creates it also creates
EndpointSlices labelled `kubernetes.io/service-name: <service>` that name its backends (how a
cluster reaches something outside it under a Service name). The embedded platform uses this for
its own API server: the Service `argocd-server` in `argocd` (console.local.bootstrap), so pods
reach the API by its cluster name through a stable Service port, whatever port the API listens
on after a restart. Pure.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

SERVICE_NAME_LABEL = "kubernetes.io/service-name"
_ADDRESS_TYPES = ("IPv4", "IPv6")  # FQDN slices are deprecated, and nothing here resolves them

Endpoint = tuple[str, int]


def slice_endpoints(
    service: Mapping[str, Any], slices: Iterable[Mapping[str, Any]]
) -> list[Endpoint]:
    """(address, port) of every endpoint that `slices` give the Service `service`: slices
    labelled with its name, endpoints not marked unready, ports named as one of the Service's
    ports (kube-proxy matches a Service port to a slice port by name; a one-port Service may
    leave both unnamed)."""
    name = (service.get("metadata") or {}).get("name")
    ports = (service.get("spec") or {}).get("ports") or []
    wanted = {str(p.get("name") or "") for p in ports if isinstance(p, Mapping)}
    found: list[Endpoint] = []
    for piece in slices:
        labels = (piece.get("metadata") or {}).get("labels") or {}
        if labels.get(SERVICE_NAME_LABEL) != name or piece.get("addressType") not in _ADDRESS_TYPES:
            continue
        numbers = [
            p["port"]
            for p in piece.get("ports") or ()
            if isinstance(p, Mapping)
            and str(p.get("name") or "") in wanted
            and isinstance(p.get("port"), int)
            and not isinstance(p.get("port"), bool)
        ]
        for endpoint in piece.get("endpoints") or ():
            if not isinstance(endpoint, Mapping):
                continue
            if (endpoint.get("conditions") or {}).get("ready") is False:
                continue
            addresses = endpoint.get("addresses") or []
            if addresses and isinstance(addresses[0], str):
                found += [(addresses[0], port) for port in numbers]  # kube-proxy uses the first
    return found


def service_ports(service: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The Service's `spec.ports` (entries that are not maps left out)."""
    ports = (service.get("spec") or {}).get("ports") or []
    return [p for p in ports if isinstance(p, Mapping)]


def selects_pods(
    service: Mapping[str, Any],
    labels: Mapping[str, Any],
    container_port: int | None,
    port_name: str | None,
) -> bool:
    """Whether the Service routes to pods with `labels` whose container declares `container_port`
    (named `port_name`): its selector matches the labels and one of its target ports is that
    port (by number or name; a Service without ports takes any)."""
    selector = (service.get("spec") or {}).get("selector") or {}
    if not selector:
        return False  # a Service without a selector gets no endpoints from pods
    if any(labels.get(k) != v for k, v in selector.items()):
        return False
    ports = service_ports(service)
    if not ports:
        return True
    for port in ports:
        target = port.get("targetPort", port.get("port"))
        if target is None:
            continue
        if isinstance(target, str) and not target.isdigit():
            if target == port_name:
                return True
        elif container_port is None or int(target) == container_port:
            return True
    return False
