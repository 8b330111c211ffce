"""The diff view as data: two renderings of an app's manifests as one unified diff, object by
object (`argocd app diff`'s layout), and which revisions a history line or a rollback compares.
Pure.

Objects are normalised first (what the cluster or the renderer adds and nobody wrote: status,
managedFields, uid and the like are dropped), keyed by group/kind/namespace/name, sorted by kind,
namespace and name, and dumped as YAML with sorted keys, so two renderers of the same source (Argo
CD's repo server, Kustomize here) give the same text.
"""

from __future__ import annotations

import difflib
import io
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from ruamel.yaml import YAML
from ruamel.yaml.representer import SafeRepresenter

from console.contract import ROLLBACK_OF
from console.fleet.display import short
from console.fleet.history import Commit
from console.tui.appdetail import HistoryLine

Change = Literal["added", "removed", "changed"]
Key = tuple[str, str, str, str]  # group, kind, namespace, name
DROPPED_METADATA = frozenset(
    {"managedFields", "creationTimestamp", "resourceVersion", "uid", "generation", "selfLink"}
)
DROPPED_ANNOTATIONS = frozenset(
    {"kubectl.kubernetes.io/last-applied-configuration", "deployment.kubernetes.io/revision"}
)


def normalise(obj: Mapping[str, Any]) -> dict[str, Any]:
    """`obj` without what nobody wrote: status, server-set metadata, empty label or annotation
    maps."""
    out = {k: v for k, v in obj.items() if k != "status"}
    meta = dict(out.get("metadata") or {})
    for key in DROPPED_METADATA:
        meta.pop(key, None)
    notes = {
        k: v for k, v in (meta.get("annotations") or {}).items() if k not in DROPPED_ANNOTATIONS
    }
    meta["annotations"] = notes
    for key in ("annotations", "labels"):
        if not meta.get(key):
            meta.pop(key, None)
    out["metadata"] = meta
    return out


def key_of(obj: Mapping[str, Any]) -> Key:
    meta = obj.get("metadata") or {}
    group = str(obj.get("apiVersion") or "").rpartition("/")[0]
    return (
        group,
        str(obj.get("kind") or ""),
        str(meta.get("namespace") or ""),
        str(meta.get("name") or ""),
    )


def ref(key: Key) -> str:
    """`apps/Deployment dev/backend`, `Service dev/backend`, `Namespace dev`."""
    group, kind, namespace, name = key
    what = f"{group}/{kind}" if group else kind
    return f"{what} {namespace}/{name}" if namespace else f"{what} {name}"


def _literal(representer: SafeRepresenter, text: str) -> Any:
    # A multi-line string (a ConfigMap's file, a script) as a block: one diff line per line.
    style = "|" if "\n" in text else None
    return representer.represent_scalar("tag:yaml.org,2002:str", text, style=style)


def dump(obj: Mapping[str, Any]) -> list[str]:
    """`obj` as YAML lines, keys sorted."""
    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = False
    yaml.width = 4096  # a long value stays one line: one change, one diff line
    yaml.representer.add_representer(str, _literal)
    out = io.StringIO()
    yaml.dump(obj, out)
    return out.getvalue().splitlines()


@dataclass(frozen=True)
class ObjectDiff:
    key: Key
    change: Change
    lines: tuple[str, ...]  # the unified diff's lines: headers, hunks


@dataclass(frozen=True)
class ManifestDiff:
    old: str  # what the old side is ("1111111")
    new: str
    objects: tuple[ObjectDiff, ...]  # the objects that differ, sorted by kind, namespace, name
    same: int  # objects that did not change

    @property
    def empty(self) -> bool:
        return not self.objects

    def summary(self) -> str:
        """`1 changed, 1 added, 0 removed; 4 unchanged`."""
        counts = {
            c: sum(1 for o in self.objects if o.change == c)
            for c in ("changed", "added", "removed")
        }
        return ", ".join(f"{n} {c}" for c, n in counts.items()) + f"; {self.same} unchanged"

    def lines(self) -> list[str]:
        out: list[str] = []
        for obj in self.objects:
            out.extend(obj.lines)
        return out


def _index(objects: Iterable[Mapping[str, Any]]) -> dict[Key, dict[str, Any]]:
    return {key_of(o): normalise(o) for o in objects}


def _order(key: Key) -> tuple[str, str, str, str]:
    group, kind, namespace, name = key
    return (kind, namespace, name, group)


def diff_manifests(
    old: Iterable[Mapping[str, Any]],
    new: Iterable[Mapping[str, Any]],
    old_label: str,
    new_label: str,
    context: int = 3,
) -> ManifestDiff:
    """The objects of `new` against those of `old`, as a unified diff per object that differs."""
    before, after = _index(old), _index(new)
    diffs, same = [], 0
    for key in sorted(before.keys() | after.keys(), key=_order):
        a = dump(before[key]) if key in before else []
        b = dump(after[key]) if key in after else []
        if a == b:
            same += 1
            continue
        change: Change = "added" if not a else "removed" if not b else "changed"
        name = ref(key)
        hunks = difflib.unified_diff(
            a, b, f"{old_label} {name}", f"{new_label} {name}", n=context, lineterm=""
        )
        diffs.append(ObjectDiff(key, change, tuple(hunks)))
    return ManifestDiff(old_label, new_label, tuple(diffs), same)


# --- which revisions ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Pair:
    """Two revisions of an app to compare, and what comparing them shows."""

    old: str
    new: str
    what: str  # "what rollback 3333333 changed: its parent 2222222 → it"


def history_pair(lines: Sequence[HistoryLine], line: HistoryLine) -> Pair | str:
    """What a history line's deploy changed: a rollback commit against its parent (exactly
    what the revert changed), else the revision deployed before it against it; a string says
    why there is nothing to compare."""
    commit = line.commit
    if line.rollback and commit is not None and commit.parents:
        return rollback_pair(line.revision, commit)
    older = [h for h in lines if h.id < line.id and h.revision != line.revision]
    if older:
        before = max(older, key=lambda h: h.id)
        return Pair(
            before.revision,
            line.revision,
            f"what deploy {line.id} changed: {short(before.revision)} (deploy {before.id}) → "
            f"{short(line.revision)}",
        )
    if commit is not None and commit.parents:
        parent = commit.parents[0]
        return Pair(
            parent,
            line.revision,
            f"what {short(line.revision)} changed: its parent {short(parent)} → it",
        )
    return f"no revision before {short(line.revision)} is known to compare it with"


def rollback_pair(sha: str, commit: Commit | None, bad: str = "") -> Pair:
    """Exactly what a rollback commit changed: its parent against it; when its parent is not
    known (the deploy repo is not read), the bad revision it rolled back against it."""
    if commit is not None and commit.parents:
        parent = commit.parents[0]
        return Pair(
            parent, sha, f"what rollback {short(sha)} changed: its parent {short(parent)} → it"
        )
    bad = bad or (commit.trailer(ROLLBACK_OF) or "" if commit is not None else "")
    return Pair(
        bad,
        sha,
        f"rollback {short(sha)} against the revision it rolled back, {short(bad)} "
        "(its parent is not known)",
    )
