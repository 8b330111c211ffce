"""What a pod of the embedded platform is made of, before any process runs: the one container of a
Deployment's pod template read and checked, the environment it gets, the port it listens on, and
the record that lets a restarted platform find the processes a killed one left behind.

Pure except for `free_port` (binds a socket), `write_record`, `find_orphans` and `reap` (files,
processes, signals).

Cluster DNS stand-in: on a cluster a container reaches a Service by name (`http://backend:8080`,
`backend.dev.svc.cluster.local:8080`, ...). Here every Service is a proxy on a port of 127.0.0.1,
so each value of the container's `env`, `command` and `args` that is a URL or `host:port` naming
a Service is rewritten to `127.0.0.1:<the proxy's port>` when the container starts
(`rewrite_service_links`; an argument `--flag=VALUE` is rewritten in its VALUE); whether a name
is a Service is the caller's `resolve_service(namespace, service, port)` to say. Files are not
rewritten.

Volumes: the same values are rewritten from the container's paths to the host directories its
volumes are mounted from (`console.local.kube.volumes`), before `$(VAR)` expansion, so a value is
rewritten once.
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import re
import secrets
import signal
import socket
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from console.local.kube.deploymentspec import (
    InvalidDeployment,
    UnsupportedDeployment,
    template_hash,
)
from console.local.kube.probes import (
    ContainerProbes,
    ProbeError,
    UnsupportedProbe,
    container_probes,
)
from console.local.kube.volumes import Mount, Volume, parse_mounts, parse_volumes, rewrite_paths
from console.procs import process_start

# Kubernetes' default terminationGracePeriodSeconds.
DEFAULT_GRACE_S = 30
# Kubernetes' rand.SafeEncodeString alphabet, used for the pod name suffix.
_SAFE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
# Kinds a `valueFrom` may read through a Lookup.
LOOKUP_KINDS = ("ConfigMap", "Secret")

ServiceResolver = Callable[[str, str, int], "tuple[str, int] | None"]
"""`(namespace, service, port) -> (host, port)` of the Service's stand-in, or None when the name
is no Service (or has no such port): the value is then left as it is."""

Lookup = Callable[[str, str, str, str], "str | None"]
"""`(kind, namespace, name, key) -> value`, kind being "ConfigMap" or "Secret" (Secret values
decoded), or None when the object or the key does not exist. May raise LookupError with a
message."""


class EnvError(Exception):
    """The container's environment cannot be built now (a missing ConfigMap or key): Kubernetes'
    CreateContainerConfigError. Retried later."""


@dataclass(frozen=True, slots=True)
class PodTemplate:
    """The one container of a Deployment's pod template, checked for what the platform runs."""

    hash: str  # deploymentspec.template_hash of spec.template
    container: Mapping[str, Any]
    container_name: str
    image: str
    probes: ContainerProbes
    container_port: int | None  # the declared containerPort the pod's port stands in for
    port_name: str | None
    grace_s: int  # terminationGracePeriodSeconds
    service_account: str
    labels: Mapping[str, str]
    annotations: Mapping[str, str]
    # spec.template as given: what a pod record keeps, so a restarted platform can adopt it.
    manifest: Mapping[str, Any] = field(default_factory=dict, compare=False)
    volumes: tuple[Volume, ...] = ()
    mounts: tuple[Mount, ...] = ()  # the container's volumeMounts

    @property
    def command(self) -> list[str] | None:
        value = self.container.get("command")
        return None if value is None else [str(a) for a in value]

    @property
    def args(self) -> list[str] | None:
        value = self.container.get("args")
        return None if value is None else [str(a) for a in value]


def parse_template(deployment: Mapping[str, Any], *, lookup: bool = False) -> PodTemplate:
    """Read a Deployment's pod template. Raises `UnsupportedDeployment` (naming the field) for what
    the embedded platform does not run, `InvalidDeployment` for what Kubernetes would reject.
    `lookup`: whether ConfigMap/Secret references can be resolved."""
    name = str((deployment.get("metadata") or {}).get("name") or "")
    prefix = f"Deployment {name!r}: "
    template = (deployment.get("spec") or {}).get("template")
    if not isinstance(template, Mapping):
        raise InvalidDeployment(f"{prefix}spec.template is required")
    meta = template.get("metadata") or {}
    pod = template.get("spec")
    if not isinstance(pod, Mapping):
        raise InvalidDeployment(f"{prefix}spec.template.spec is required")
    container, grace = _check_pod(pod, prefix)
    volumes = parse_volumes(pod, f"{prefix}spec.template.spec")
    where = f"{prefix}spec.template.spec.containers[0]"
    container_port, port_name = _check_container(container, where, lookup)
    mounts = parse_mounts(container, volumes, where)
    try:
        probes = container_probes(container)
        for probe in (probes.readiness, probes.liveness):
            target = None if probe is None else probe.container_port(container)
            if target is not None and container_port is not None and target != container_port:
                raise UnsupportedProbe(
                    f"a probe targets port {target}, but the pod's one port stands in for "
                    f"containerPort {container_port}"
                )
    except UnsupportedProbe as exc:
        raise UnsupportedDeployment(f"{where}: {exc}") from None
    except ProbeError as exc:
        raise InvalidDeployment(f"{where}: {exc}") from None
    return PodTemplate(
        hash=template_hash(template),
        container=container,
        container_name=str(container["name"]),
        image=str(container["image"]),
        probes=probes,
        container_port=container_port,
        port_name=port_name,
        grace_s=grace,
        service_account=str(pod.get("serviceAccountName") or "default"),
        labels={str(k): str(v) for k, v in (meta.get("labels") or {}).items()},
        annotations={str(k): str(v) for k, v in (meta.get("annotations") or {}).items()},
        manifest=copy.deepcopy(dict(template)),
        volumes=volumes,
        mounts=mounts,
    )


def _check_pod(pod: Mapping[str, Any], prefix: str) -> tuple[Mapping[str, Any], int]:
    """The pod spec's one container and its grace period."""
    where = f"{prefix}spec.template.spec"
    for key in ("initContainers", "ephemeralContainers"):
        if pod.get(key):
            raise UnsupportedDeployment(
                f"{where}.{key} is not supported: the embedded platform runs one container per pod"
            )
    containers = pod.get("containers")
    if not isinstance(containers, Sequence) or isinstance(containers, str) or not containers:
        raise InvalidDeployment(f"{where}.containers must list one container")
    if len(containers) > 1:
        second = containers[1].get("name") if isinstance(containers[1], Mapping) else None
        raise UnsupportedDeployment(
            f"{where}.containers[1] ({second!r}) is not supported: the embedded platform runs "
            "one container per pod"
        )
    if not isinstance(containers[0], Mapping):
        raise InvalidDeployment(f"{where}.containers[0] must be a mapping")
    policy = pod.get("restartPolicy", "Always")
    if policy != "Always":
        raise InvalidDeployment(
            f"{where}.restartPolicy must be Always for a Deployment, got {policy!r}"
        )
    grace = pod.get("terminationGracePeriodSeconds", DEFAULT_GRACE_S)
    if isinstance(grace, bool) or not isinstance(grace, int) or grace < 0:
        raise InvalidDeployment(
            f"{where}.terminationGracePeriodSeconds must be an integer >= 0, got {grace!r}"
        )
    return containers[0], grace


def _check_container(
    container: Mapping[str, Any], where: str, lookup: bool
) -> tuple[int | None, str | None]:
    """Refuse what the container asks for and the platform does not do; its declared port."""
    for key in ("name", "image"):
        if not container.get(key) or not isinstance(container[key], str):
            raise InvalidDeployment(f"{where}.{key} is required")
    for key, why in (
        ("envFrom", "list each variable under env with valueFrom instead"),
        ("lifecycle", "postStart/preStop hooks are not run"),
        ("workingDir", "a pod runs in its own directory"),
        ("startupProbe", "it would change when the other probes start"),
    ):
        if container.get(key) is not None:
            raise UnsupportedDeployment(f"{where}.{key} is not supported: {why}")
    for key in ("command", "args"):
        value = container.get(key)
        if value is not None and (isinstance(value, str) or not isinstance(value, Sequence)):
            raise InvalidDeployment(f"{where}.{key} must be a list of strings")
    _check_env(container.get("env") or (), f"{where}.env", lookup)
    ports = [p for p in container.get("ports") or () if isinstance(p, Mapping)]
    if len(ports) > 1:
        raise UnsupportedDeployment(
            f"{where}.ports[1] is not supported: a pod of the embedded platform has one port "
            "(given to the process as PORT)"
        )
    if not ports:
        return None, None
    raw, name = ports[0].get("containerPort"), ports[0].get("name")
    if isinstance(raw, bool) or not isinstance(raw, int) or not 1 <= raw <= 65535:
        raise InvalidDeployment(
            f"{where}.ports[0].containerPort must be a port number, got {raw!r}"
        )
    return raw, name if isinstance(name, str) else None


# ---- environment --------------------------------------------------------------------------------

_FIELD_PATHS = (
    "metadata.name",
    "metadata.namespace",
    "spec.nodeName",
    "spec.serviceAccountName",
    "status.podIP",
    "status.podIPs",
    "status.hostIP",
    "status.hostIPs",
)
_LABEL_PATH = re.compile(r"^metadata\.(labels|annotations)\['([^']+)'\]$")


def _check_env(env: Iterable[Any], where: str, lookup: bool) -> None:
    for i, entry in enumerate(env):
        if not isinstance(entry, Mapping) or not entry.get("name"):
            raise InvalidDeployment(f"{where}[{i}].name is required")
        value = entry.get("value")
        if value is not None and not isinstance(value, str):
            # The API server refuses it (EnvVar.value is a string); quote it in the YAML.
            raise InvalidDeployment(
                f"{where}[{i}].value: Invalid value: {value!r}: must be a string"
            )
        source = entry.get("valueFrom")
        if source is None:
            continue
        if not isinstance(source, Mapping) or len(source) != 1:
            raise InvalidDeployment(f"{where}[{i}].valueFrom must name exactly one source")
        ((kind, ref),) = source.items()
        if kind in ("configMapKeyRef", "secretKeyRef"):
            if not isinstance(ref, Mapping) or not ref.get("name") or not ref.get("key"):
                raise InvalidDeployment(f"{where}[{i}].valueFrom.{kind} needs name and key")
            if not lookup:
                raise UnsupportedDeployment(
                    f"{where}[{i}].valueFrom.{kind} is not supported here: this supervisor was "
                    "given no ConfigMap/Secret lookup"
                )
        elif kind == "fieldRef":
            path = ref.get("fieldPath") if isinstance(ref, Mapping) else None
            if path not in _FIELD_PATHS and not _LABEL_PATH.match(str(path)):
                raise UnsupportedDeployment(
                    f"{where}[{i}].valueFrom.fieldRef.fieldPath {path!r} is not supported"
                )
        else:
            raise UnsupportedDeployment(f"{where}[{i}].valueFrom.{kind} is not supported")


def expand(value: str, env: Mapping[str, str]) -> str:
    """Kubernetes' `$(VAR)` expansion: a defined variable is substituted, an undefined reference
    is kept as written, `$$` is a literal `$`."""
    out: list[str] = []
    i = 0
    while i < len(value):
        if value[i] == "$" and i + 1 < len(value):
            if value[i + 1] == "$":
                out.append("$")
                i += 2
                continue
            if value[i + 1] == "(":
                end = value.find(")", i + 2)
                if end != -1:
                    out.append(env.get(value[i + 2 : end], value[i : end + 1]))
                    i = end + 1
                    continue
        out.append(value[i])
        i += 1
    return "".join(out)


def container_env(
    template: PodTemplate,
    *,
    namespace: str,
    pod_name: str,
    port: int,
    resolve_service: ServiceResolver,
    lookup: Lookup | None = None,
    paths: Mapping[str, str] | None = None,
    injected: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The container's own environment at start: HOSTNAME, what the platform `injected` (the
    container's own `env` wins over it), its `env` in order (container paths under a mountPath
    rewritten to the host directories of `paths`, then `$(VAR)` expansion, ConfigMap/Secret/
    field references, and Service names rewritten to their local stand-ins), then PORT and HOST,
    which always win. The image's ENV goes under it (`Image.environ`). Raises EnvError for a
    missing non-optional reference."""
    mounted = paths or {}
    env: dict[str, str] = {"HOSTNAME": pod_name, **(injected or {})}
    for entry in template.container.get("env") or ():
        name = str(entry["name"])
        source = entry.get("valueFrom")
        if source is None:
            value = expand(rewrite_paths(str(entry.get("value", "")), mounted), env)
        else:
            found = _value_from(template, source, namespace, pod_name, lookup)
            if found is None:
                continue  # an optional reference to something missing: left unset
            value = rewrite_paths(found, mounted)
        env[name] = rewrite_service_links(value, namespace, resolve_service)
    env["PORT"] = str(port)
    env["HOST"] = "127.0.0.1"
    return env


def container_argv(
    template: PodTemplate,
    env: Mapping[str, str],
    *,
    namespace: str,
    resolve_service: ServiceResolver,
    paths: Mapping[str, str] | None = None,
) -> tuple[list[str] | None, list[str] | None]:
    """The container's `command` and `args` (None: not set, the image's ENTRYPOINT/CMD apply)
    as they start: container paths and Service names rewritten as in `env`, then `$(VAR)`
    expanded with the container's environment."""

    def one(arg: str) -> str:
        # `--flag=VALUE`: the VALUE is what may name a path or a Service.
        flag, eq, value = arg.partition("=") if arg.startswith("-") else ("", "", arg)
        value = rewrite_service_links(rewrite_paths(value, paths or {}), namespace, resolve_service)
        return expand(flag + eq + value, env)

    command, args = template.command, template.args
    return (
        None if command is None else [one(a) for a in command],
        None if args is None else [one(a) for a in args],
    )


def _value_from(
    template: PodTemplate,
    source: Mapping[str, Any],
    namespace: str,
    pod_name: str,
    lookup: Lookup | None,
) -> str | None:
    ((kind, ref),) = source.items()
    if kind == "fieldRef":
        path = str(ref["fieldPath"])
        fields = {
            "metadata.name": pod_name,
            "metadata.namespace": namespace,
            "spec.nodeName": "localhost",
            "spec.serviceAccountName": template.service_account,
            "status.podIP": "127.0.0.1",
            "status.podIPs": "127.0.0.1",
            "status.hostIP": "127.0.0.1",
            "status.hostIPs": "127.0.0.1",
        }
        if path in fields:
            return fields[path]
        match = _LABEL_PATH.match(path)
        if match is None:  # parse_template refused it already
            raise EnvError(f"fieldRef {path!r} is not supported")
        table = template.labels if match.group(1) == "labels" else template.annotations
        return table.get(match.group(2), "")
    object_kind = "ConfigMap" if kind == "configMapKeyRef" else "Secret"
    name, key = str(ref["name"]), str(ref["key"])
    if lookup is None:
        raise EnvError(f"{object_kind} references need a lookup ({object_kind} {name!r})")
    try:
        value = lookup(object_kind, namespace, name, key)
    except LookupError as exc:
        raise EnvError(f"{object_kind} {namespace}/{name}: {exc}") from None
    if value is None:
        if ref.get("optional"):
            return None
        raise EnvError(
            f"couldn't find key {key} in {object_kind} {namespace}/{name} "
            "(or the object does not exist)"
        )
    return value


# ---- the cluster DNS stand-in ------------------------------------------------------------------

_LABEL = r"[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?"
_SERVICE_HOST = re.compile(
    rf"^(?P<svc>[a-z](?:[-a-z0-9]{{0,61}}[a-z0-9])?)"
    rf"(?:\.(?P<ns>{_LABEL})(?:\.svc(?:\.cluster\.local)?)?)?\.?$"
)
_HOST_PORT = re.compile(r"^(?P<host>[A-Za-z0-9.-]+):(?P<port>\d{1,5})(?P<rest>/.*)?$")
_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}
_SEPARATORS = re.compile(r"([\s,;]+)")


def rewrite_service_links(value: str, namespace: str, resolve_service: ServiceResolver) -> str:
    """`value` with every URL or `host:port` naming a Service (`svc`, `svc.ns`, `svc.ns.svc`,
    `svc.ns.svc.cluster.local`) pointed at its stand-in. Lists separated by commas, semicolons or
    spaces are rewritten item by item; anything else is left alone."""
    parts = _SEPARATORS.split(value)
    return "".join(
        part if i % 2 else _rewrite_one(part, namespace, resolve_service)
        for i, part in enumerate(parts)
    )


def _rewrite_one(token: str, namespace: str, resolve_service: ServiceResolver) -> str:
    if "://" in token:
        try:
            parts = urlsplit(token)
            host, port = parts.hostname, parts.port
        except ValueError:
            return token
        port = port or _DEFAULT_PORTS.get(parts.scheme.lower())
        if not host or port is None:
            return token
        target = _resolve(host, port, namespace, resolve_service)
        if target is None:
            return token
        start = token.index("://") + 3
        userinfo = parts.netloc.rpartition("@")[0]
        netloc = f"{userinfo}@{target}" if "@" in parts.netloc else target
        return token[:start] + netloc + token[start + len(parts.netloc) :]
    match = _HOST_PORT.match(token)
    if match is None:
        return token
    target = _resolve(match["host"], int(match["port"]), namespace, resolve_service)
    return token if target is None else target + (match["rest"] or "")


def _resolve(host: str, port: int, namespace: str, resolve_service: ServiceResolver) -> str | None:
    match = _SERVICE_HOST.match(host.lower())
    if match is None or not 1 <= port <= 65535:
        return None
    found = resolve_service(match["ns"] or namespace, match["svc"], port)
    if found is None:
        return None
    local_host, local_port = found
    return f"[{local_host}]:{local_port}" if ":" in local_host else f"{local_host}:{local_port}"


# ---- names, ports, signals ---------------------------------------------------------------------


def pod_name(deployment: str, template: str, taken: Iterable[str] = ()) -> str:
    """`<deployment>-<template hash>-<5 random characters>`, as a ReplicaSet names its pods."""
    used = set(taken)
    while True:
        suffix = "".join(secrets.choice(_SAFE_ALPHABET) for _ in range(5))
        name = f"{deployment}-{template}-{suffix}"
        if name not in used:
            return name


EPHEMERAL_RANGE_FILE = Path("/proc/sys/net/ipv4/ip_local_port_range")
POD_PORTS_FROM = 10000  # the low end of the range pod ports are chosen from


def pod_port_range() -> range:
    """The ports pods are given: below the kernel's ephemeral range (Linux: 32768-60999), the
    way Kubernetes keeps its NodePort range (30000-32767) out of it. A port chosen here is closed
    again before the pod binds it; inside the ephemeral range any bind(0) or outgoing connection
    on the machine could take it meanwhile (a race two busy test workers did hit)."""
    try:
        low = int(EPHEMERAL_RANGE_FILE.read_text(encoding="ascii").split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768  # Linux's default; also what macOS's range (49152-65535) leaves free
    return range(POD_PORTS_FROM, max(low, POD_PORTS_FROM + 1024))


def free_port(host: str = "127.0.0.1", taken: Iterable[int] = ()) -> int:
    """A port nobody listens on now, picked at random from `pod_port_range()`, not one of
    `taken` (the ports this process has handed out and not yet seen bound)."""
    avoid, ports = set(taken), pod_port_range()
    for _ in range(256):
        port = ports[secrets.randbelow(len(ports))]
        if port in avoid:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind((host, port))
            except OSError:
                continue  # somebody listens there
        return port
    raise OSError(f"no free port on {host} in {ports.start}-{ports.stop - 1}")


def parse_signal(name: str) -> signal.Signals:
    """An image's STOPSIGNAL (`SIGTERM`, `TERM`, `15`); SIGTERM when unrecognised."""
    text = name.strip().upper()
    if text.isdigit():
        with contextlib.suppress(ValueError):
            return signal.Signals(int(text))
        return signal.SIGTERM
    if not text.startswith("SIG"):
        text = "SIG" + text
    return signal.Signals.__members__.get(text, signal.SIGTERM)


# ---- the pod record: finding what a killed platform left running ------------------------------

RECORD = "pod.json"


def write_record(pod_dir: Path, record: Mapping[str, Any]) -> None:
    """Replace the pod's record (`pod.json`) atomically."""
    tmp = pod_dir / f".{RECORD}.tmp"
    tmp.write_text(json.dumps(dict(record), indent=2, sort_keys=True) + "\n", encoding="utf-8")
    tmp.replace(pod_dir / RECORD)


@dataclass(frozen=True)
class Orphan:
    """A pod a previous kubelet started under the workdir and left running: its record
    (`pod.json`), and where it is."""

    record: dict[str, Any]
    dir: Path

    @property
    def pid(self) -> int:
        return int(self.record["pid"])

    @property
    def owner(self) -> tuple[str, str]:
        """(namespace, Deployment) the pod belongs to."""
        return str(self.record.get("namespace", "")), str(self.record.get("deployment", ""))


def find_orphans(workdir: Path) -> list[Orphan]:
    """The pods under `workdir` whose process still runs and is provably the one recorded: the
    leader of its own process group with the recorded start time (a reused pid is neither)."""
    found = []
    for path in sorted((workdir / "pods").glob(f"*/*/{RECORD}")):
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        pid = record.get("pid") if isinstance(record, dict) else None
        if not isinstance(pid, int) or pid <= 1:
            continue
        try:
            group: int | None = os.getpgid(pid)
        except ProcessLookupError:
            group = None  # the leader is gone; its group may still hold its children
        identity = record.get("process_start")
        if group is None or (group == pid and (identity is None or identity == process_start(pid))):
            found.append(Orphan(record, path.parent))
    return found


def reap(orphans: Iterable[Orphan]) -> list[int]:
    """SIGKILL the process groups of `orphans` and mark their records stopped; the pids."""
    killed: list[int] = []
    for orphan in orphans:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(orphan.pid, signal.SIGKILL)
            killed.append(orphan.pid)
        with contextlib.suppress(OSError):
            write_record(orphan.dir, {**orphan.record, "pid": None})
    return killed


def reap_orphans(workdir: Path) -> list[int]:
    """SIGKILL the process groups of pods that a previous kubelet started under `workdir` and
    left running (it was killed without stopping them). Returns the pids killed."""
    return reap(find_orphans(workdir))
