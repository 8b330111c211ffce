"""A pod's volumes the way a kubelet mounts them, on the host's file system: each volume is a
directory under the pod's own (`<pod dir>/volumes/<volume>/`), and what the container names by
a path under a `volumeMount`'s `mountPath` is rewritten to that directory.

A process here has no mount namespace: it sees the host's files. So the kubelet stand-in does
what a mount would make true from the container's point of view, in the only places a
container's own paths are written down: its `env` values, `command` and `args`
(`rewrite_paths`). With a volume mounted at `/tmp`, TMPDIR points at it too (`tmpdir_env`), so
`tempfile` and git write where the container would, not into the host's /tmp.

- **emptyDir**: an empty directory, made when the pod first starts and kept across its
  container's restarts (deleted with the pod's directory, as Kubernetes deletes it with the
  pod). `medium` and `sizeLimit` are accepted and not enforced.
- **secret** / **configMap**: one file per key (or per `items` entry), written with the
  entry's `mode` or the volume's `defaultMode` (Kubernetes' default 0644), fresh at every
  container start: a restarted container sees the object as it is then. A missing object (or
  key named in `items`) is kubelet's FailedMount (`VolumeError`), retried, unless `optional`.

Pure except for `materialize`.
"""

from __future__ import annotations

import os
import posixpath
import re
import shutil
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from console.local.kube.deploymentspec import InvalidDeployment, UnsupportedDeployment

DEFAULT_MODE = 0o644  # Kubernetes' defaultMode for secret and configMap volumes
_SOURCES = {"emptyDir": "", "secret": "Secret", "configMap": "ConfigMap"}
_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")  # a volume's name: a DNS label
_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")  # a ConfigMap's or Secret's key: one file name
# What may stand before a path inside a value: its start, whitespace, `=` (`--flag=/path`,
# `VAR=/path`) or a list separator (`:` as in PATH, `,`, `;`).
_BEFORE = r"(?<![^\s=:,;])"
_AFTER = r"(?=$|[/\s:,;])"

DataLookup = Callable[[str, str, str], "Mapping[str, str] | None"]
"""`(kind, namespace, name) -> {key: value}` of a ConfigMap or Secret (Secret values decoded),
None when it does not exist."""


class VolumeError(Exception):
    """A volume cannot be set up now (its Secret or ConfigMap is missing): kubelet's
    FailedMount. Retried later."""


@dataclass(frozen=True, slots=True)
class Item:
    key: str
    path: str  # relative to the volume
    mode: int | None


@dataclass(frozen=True, slots=True)
class Volume:
    name: str
    kind: str  # "emptyDir" | "secret" | "configMap"
    source: str = ""  # the Secret's or ConfigMap's name
    default_mode: int = DEFAULT_MODE
    items: tuple[Item, ...] = ()  # empty: every key, as a file of its name
    optional: bool = False


@dataclass(frozen=True, slots=True)
class Mount:
    volume: str
    path: str  # the container path (absolute, normalised)
    read_only: bool = False


# ---- reading the pod spec ----------------------------------------------------------------------


def parse_volumes(pod: Mapping[str, Any], where: str) -> tuple[Volume, ...]:
    """`spec.volumes` of a pod template. Raises UnsupportedDeployment for a volume type the
    platform does not mount, InvalidDeployment for what the API server would refuse."""
    volumes: list[Volume] = []
    for i, raw in enumerate(pod.get("volumes") or ()):
        at = f"{where}.volumes[{i}]"
        if not isinstance(raw, Mapping):
            raise InvalidDeployment(f"{at} must be a mapping")
        name = raw.get("name")
        if not isinstance(name, str) or not _NAME.match(name):
            raise InvalidDeployment(f"{at}.name must be a DNS label, got {name!r}")
        if any(v.name == name for v in volumes):
            raise InvalidDeployment(f"{at}.name: Duplicate value: {name!r}")
        kinds = [k for k in raw if k != "name"]
        if len(kinds) != 1:
            raise InvalidDeployment(f"{at} must name exactly one volume type, got {kinds}")
        kind = kinds[0]
        if kind not in _SOURCES:
            raise UnsupportedDeployment(
                f"{at}.{kind} is not supported: the embedded platform mounts emptyDir, secret "
                "and configMap volumes (as directories under the pod's own)"
            )
        volumes.append(_volume(name, kind, raw[kind] or {}, f"{at}.{kind}"))
    return tuple(volumes)


def _volume(name: str, kind: str, spec: Any, at: str) -> Volume:
    if not isinstance(spec, Mapping):
        raise InvalidDeployment(f"{at} must be a mapping")
    if kind == "emptyDir":
        return Volume(name, kind)
    field = "secretName" if kind == "secret" else "name"
    source = spec.get(field)
    if not isinstance(source, str) or not source:
        raise InvalidDeployment(f"{at}.{field} is required")
    items = []
    for j, item in enumerate(spec.get("items") or ()):
        key = item.get("key") if isinstance(item, Mapping) else None
        path = item.get("path") if isinstance(item, Mapping) else None
        if not isinstance(key, str) or not key or not isinstance(path, str):
            raise InvalidDeployment(f"{at}.items[{j}] needs key and path")
        items.append(
            Item(key, _relative(path, f"{at}.items[{j}].path"), _mode(item, f"{at}.items[{j}]"))
        )
    return Volume(
        name,
        kind,
        source,
        default_mode=_mode(spec, at, "defaultMode") or DEFAULT_MODE,
        items=tuple(items),
        optional=bool(spec.get("optional", False)),
    )


def _mode(spec: Mapping[str, Any], at: str, field: str = "mode") -> int | None:
    mode = spec.get(field)
    if mode is None:
        return None
    if isinstance(mode, bool) or not isinstance(mode, int) or not 0 <= mode <= 0o777:
        raise InvalidDeployment(f"{at}.{field} must be a file mode between 0 and 0777")
    return mode


def _relative(path: str, at: str) -> str:
    parts = path.split("/")
    if not path or path.startswith("/") or ".." in parts:
        raise InvalidDeployment(f"{at} must be a relative path without '..', got {path!r}")
    return posixpath.normpath(path)


def parse_mounts(
    container: Mapping[str, Any], volumes: Sequence[Volume], where: str
) -> tuple[Mount, ...]:
    """`volumeMounts` of the container, each naming one of `volumes`."""
    names = {v.name for v in volumes}
    mounts: list[Mount] = []
    for i, raw in enumerate(container.get("volumeMounts") or ()):
        at = f"{where}.volumeMounts[{i}]"
        if not isinstance(raw, Mapping):
            raise InvalidDeployment(f"{at} must be a mapping")
        name, path = raw.get("name"), raw.get("mountPath")
        if name not in names:
            raise InvalidDeployment(f"{at}.name: Not found: {name!r}")
        if not isinstance(path, str) or not path.startswith("/"):
            raise InvalidDeployment(f"{at}.mountPath must be an absolute path, got {path!r}")
        path = posixpath.normpath(path)
        if path == "/" or path.startswith("//"):
            raise UnsupportedDeployment(
                f"{at}.mountPath {path!r} is not supported: it would stand for the whole file "
                "system"
            )
        for key in ("subPath", "subPathExpr", "mountPropagation"):
            if raw.get(key):
                raise UnsupportedDeployment(f"{at}.{key} is not supported")
        if any(m.path == path for m in mounts):
            raise InvalidDeployment(f"{at}.mountPath: Invalid value: {path!r}: must be unique")
        mounts.append(Mount(str(name), path, bool(raw.get("readOnly", False))))
    return tuple(mounts)


# ---- what the container's paths mean on the host -----------------------------------------------


def host_paths(mounts: Iterable[Mount], directories: Mapping[str, Path]) -> dict[str, str]:
    """mountPath -> the host directory of its volume."""
    return {m.path: str(directories[m.volume]) for m in mounts if m.volume in directories}


def rewrite_paths(value: str, paths: Mapping[str, str]) -> str:
    """`value` with every container path under a mountPath (the mountPath itself or below it,
    standing at the start, after whitespace, `=`, `:`, `,` or `;`) pointed at the host
    directory; the deepest mountPath wins. Run it once, on a value as the manifest writes it:
    a host path under a mountPath (a workspace in /tmp) must not be rewritten again."""
    if not paths:
        return value
    ordered = sorted(paths, key=len, reverse=True)
    pattern = re.compile(_BEFORE + "(" + "|".join(map(re.escape, ordered)) + ")" + _AFTER)
    return pattern.sub(lambda m: paths[m.group(1)], value)


def tmpdir_env(paths: Mapping[str, str]) -> dict[str, str]:
    """TMPDIR for a container with a volume at /tmp: what `tempfile`, git and most tools use
    for /tmp, so they write into the volume as they would in the container."""
    return {"TMPDIR": paths["/tmp"]} if "/tmp" in paths else {}  # noqa: S108 - a container path


# ---- mounting ----------------------------------------------------------------------------------


def volume_dir(pod_dir: Path, name: str) -> Path:
    return pod_dir / "volumes" / name


def materialize(
    volumes: Sequence[Volume], pod_dir: Path, namespace: str, data: DataLookup | None
) -> dict[str, Path]:
    """Set up every volume under `pod_dir/volumes/` for a container start; volume name -> its
    directory. Raises VolumeError (FailedMount) for a missing Secret or ConfigMap."""
    contents = {v.name: _contents(v, namespace, data) for v in volumes if v.kind != "emptyDir"}
    out: dict[str, Path] = {}
    for volume in volumes:
        directory = volume_dir(pod_dir, volume.name)
        out[volume.name] = directory
        if volume.kind == "emptyDir":
            directory.mkdir(parents=True, exist_ok=True)
            continue
        # Written fresh, owner-only: a Secret's files are for this pod's process alone.
        shutil.rmtree(directory, ignore_errors=True)
        directory.mkdir(parents=True, mode=0o700)
        for relative, (value, mode) in contents[volume.name].items():
            target = directory / relative
            target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(value.encode("utf-8", errors="surrogateescape"))
            target.chmod(mode)
    return out


def _contents(
    volume: Volume, namespace: str, data: DataLookup | None
) -> dict[str, tuple[str, int]]:
    """relative path -> (value, mode) of a secret or configMap volume."""
    kind = _SOURCES[volume.kind]
    found = None if data is None else data(kind, namespace, volume.source)
    failed = f'MountVolume.SetUp failed for volume "{volume.name}" : '
    if found is None:
        if volume.optional:
            return {}
        raise VolumeError(f'{failed}{kind.lower()} "{volume.source}" not found')
    if not volume.items:
        bad = sorted(key for key in found if not _KEY.match(key) or key in {".", ".."})
        if bad:
            raise VolumeError(f'{failed}{kind.lower()} "{volume.source}": invalid keys {bad}')
        return {key: (value, volume.default_mode) for key, value in found.items()}
    out: dict[str, tuple[str, int]] = {}
    for item in volume.items:
        if item.key not in found:
            if volume.optional:
                continue
            raise VolumeError(f'{failed}{kind.lower()} "{volume.source}" has no key "{item.key}"')
        out[item.path] = (found[item.key], volume.default_mode if item.mode is None else item.mode)
    return out
