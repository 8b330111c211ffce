"""The checks that protect `main` on the local Git host, as branch protection and required checks
do on a real one: commit messages are Conventional Commits, and a deploy repo's tree renders.

The gate judges form only. An image tag that does not exist, a replica count nobody can afford:
those are the runtime's business, as on a real cluster, so a push carrying them is accepted.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from console import kustomize

TYPES = (
    "build",
    "bump",
    "chore",
    "ci",
    "docs",
    "feat",
    "fix",
    "perf",
    "refactor",
    "revert",
    "style",
    "test",
)
EXAMPLE = '"fix(api): reject an empty body"'
_HEADER = re.compile(
    r"^(?P<type>[^\s():!]+)(?:\((?P<scope>[^()]*)\))?(?P<bang>!)?(?P<colon>:)(?P<rest>.*)$"
)
# Headers git writes itself: `git merge`/`git pull` ("Merge branch 'x'", "Merge pull request #1
# from …") and `git revert` ('Revert "feat: x"'). commitizen's `cz check`, the required check on
# the real host, lets both through, so the local host does too. Merge commits still never reach
# main: it requires a linear history (see console.local.git.hook), for their shape, not their
# message.
_GIT_HEADERS = re.compile(r'^(?:Merge .+|Revert ".+")$')
# Kinds that run something: an overlay (an app of a service) renders at least one.
WORKLOADS = frozenset({"Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob", "Pod"})
# The kustomizations the gate renders, relative to the deploy repo's root.
RENDERED_ROOTS = ("overlays", "platform")
ARGOCD = "argocd"
# kubectl's log prefix: `E1126 05:45:29.623334   23107 run.go:72] "command failed"`.
_KLOG = re.compile(r'^[EFWI]\d{4} [\d:.]+\s+\d+ [\w.]+:\d+\] (?:"command failed" )?', re.MULTILINE)


def conventional(message: str) -> str | None:
    """None when the first line of `message` is a Conventional Commit header
    (`type(scope)!: description`), else what is wrong with it, quoting the header.

    `bump` is accepted besides the usual types: `cz bump`, which the generated repos configure,
    writes it. `fixup!`/`squash!`/`amend!` headers are refused: they ask a rebase to fold them
    into another commit, and on main nothing ever will.
    """
    header = message.lstrip("\n").split("\n", 1)[0].rstrip()
    if not header.strip():
        return "empty commit message: expected a Conventional Commit header such as " + EXAMPLE
    if _GIT_HEADERS.match(header):
        return None
    problem = _header_problem(header)
    return f'"{header}" {problem}' if problem else None


def _header_problem(header: str) -> str | None:
    if header.startswith(("fixup!", "squash!", "amend!")):
        return "is an autosquash commit: squash it into its target before pushing to main"
    match = _HEADER.match(header)
    if match is None:
        return f"is not a Conventional Commit: expected `type(scope): description`, e.g. {EXAMPLE}"
    kind, scope, rest = match["type"], match["scope"], match["rest"]
    lowercase = " (types are lowercase)" if kind.lower() in TYPES else ""
    checks = [
        (
            kind not in TYPES,
            f"has an unknown type `{kind}`{lowercase}; use one of {', '.join(TYPES)}",
        ),
        (scope is not None and not scope.strip(), "has an empty scope: name one or drop the ()"),
        (scope is not None and scope != scope.strip(), "has spaces around its scope"),
        (not rest.strip(), "has no description after the colon"),
        (not rest.startswith(" "), 'needs a space after the ":"'),
        (rest.startswith("  "), 'needs one space, not several, after the ":"'),
    ]
    return next((problem for bad, problem in checks if bad), None)


def _yaml_docs(path: Path) -> list[Any]:
    return list(YAML(typ="safe").load_all(path.read_text(encoding="utf-8")))


def _render(root: Path, directory: Path) -> tuple[list[str], list[dict[str, Any]] | None]:
    """What is wrong with the kustomization at `directory`, and its objects (None: no render)."""
    rel = directory.relative_to(root).as_posix()
    try:
        stream = kustomize.build(directory)
        objects = kustomize.objects(stream, rel)
    except kustomize.KustomizeError as exc:
        # Paths relative to the repository (the tree is a temporary checkout); no klog header.
        text = str(exc).removeprefix(f"{directory}:").removeprefix(f"{rel}:").strip()
        text = text.replace(f"{root}/", "").replace(str(root), ".")
        text = _KLOG.sub("", text).strip()
        if text.startswith('err="') and text.endswith('"'):
            text = text[len('err="') : -1]
        return [f"{rel}: does not render: {text}"], None
    findings = []
    for index, obj in enumerate(objects):
        metadata = obj.get("metadata")
        name = metadata.get("name") if isinstance(metadata, dict) else None
        label = f"{obj.get('kind') or '?'}/{name or '?'} (object {index + 1})"
        for field, value in (("apiVersion", obj.get("apiVersion")), ("kind", obj.get("kind"))):
            if not isinstance(value, str) or not value:
                findings.append(f"{rel}: {label} has no {field}")
        if not isinstance(name, str) or not name:
            findings.append(f"{rel}: {label} has no metadata.name")
    return findings, objects


def _sources(spec: dict[str, Any]) -> Iterable[tuple[str, Any]]:
    if isinstance(spec.get("source"), dict):
        yield "spec.source", spec["source"]
    if isinstance(spec.get("sources"), list):
        for i, source in enumerate(spec["sources"]):
            yield f"spec.sources[{i}]", source


@dataclass(frozen=True)
class _Source:
    """An Application's source in this repository, and whether auto-sync may empty it."""

    file: str  # the argocd/ file that declares the Application
    app: str
    where: str  # spec.source or spec.sources[i]
    path: str
    directory: Path
    automated: bool
    allow_empty: bool


def _applications(root: Path, crd_dir: Path | None) -> tuple[list[str], list[_Source]]:
    argocd = root / ARGOCD
    if not argocd.is_dir():
        return [], []
    validator, findings = _validator(crd_dir)
    sources: list[_Source] = []
    for path in sorted([*argocd.rglob("*.yaml"), *argocd.rglob("*.yml")]):
        rel = path.relative_to(root).as_posix()
        try:
            docs = [d for d in _yaml_docs(path) if d is not None]
        except (YAMLError, UnicodeDecodeError) as exc:
            findings.append(f"{rel}: not valid YAML: {' '.join(str(exc).split())}")
            continue
        for doc in docs:
            if not isinstance(doc, dict):
                findings.append(f"{rel}: a document is not a mapping")
                continue
            if validator is not None and validator.knows(doc):
                findings += [f"{rel}: {msg}" for msg in validator.errors(doc)]
            if doc.get("kind") == "Application":
                problems, found = _source_paths(root, doc, rel)
                findings += [f"{rel}: {problem}" for problem in problems]
                sources += found
    return findings, sources


def _validator(crd_dir: Path | None) -> tuple[Any, list[str]]:
    if crd_dir is None:
        return None, []
    # From the optional `check` extra (jsonschema, PyYAML): imported only when asked for.
    from console.check import crds  # noqa: PLC0415

    try:
        return crds.Validator.from_dir(crd_dir), []
    except crds.CrdError as exc:
        return None, [f"cannot validate {ARGOCD}/: {exc}"]


def _source_paths(root: Path, app: dict[str, Any], file: str) -> tuple[list[str], list[_Source]]:
    """The source paths of Application `app` that are not directories of the tree at `root`,
    and those that are."""
    metadata = app.get("metadata")
    name = metadata.get("name", "?") if isinstance(metadata, dict) else "?"
    spec = app.get("spec")
    if not isinstance(spec, dict):
        return [f"Application {name} has no spec"], []
    policy = spec.get("syncPolicy")
    automated = policy.get("automated") if isinstance(policy, dict) else None
    problems, found = [], []
    for where, source in _sources(spec):
        if not isinstance(source, dict) or "chart" in source or "path" not in source:
            continue  # a Helm chart or another repository's root: nothing to find here
        target = str(source["path"]).strip("/") or "."
        resolved = (root / target).resolve()
        if not resolved.is_relative_to(root) or not resolved.is_dir():
            problems.append(
                f"Application {name}: {where}.path {target!r} is not a directory of this repository"
            )
            continue
        found.append(
            _Source(
                file,
                str(name),
                where,
                target,
                resolved,
                automated=isinstance(automated, dict),
                allow_empty=isinstance(automated, dict) and automated.get("allowEmpty") is True,
            )
        )
    return problems, found


def _source_findings(
    source: _Source, rendered: dict[Path, list[dict[str, Any]] | None]
) -> list[str]:
    """What keeps one Application source from deploying: a directory source that does not parse,
    or a source that would leave its app with nothing to run."""
    what = f"{source.file}: Application {source.app}: {source.where}.path {source.path!r}"
    if source.directory in rendered:
        objects = rendered[source.directory]
        if objects is None:
            return []  # its render error is reported already
    else:
        try:
            objects = kustomize.directory_objects(source.directory, source.path)
        except kustomize.KustomizeError as exc:
            return [f"{what}: does not render: {' '.join(str(exc).split())}"]
    if not objects:
        if source.automated and not source.allow_empty:
            return [
                f"{what} renders no objects: its automated sync would prune everything the "
                "app runs (syncPolicy.automated.allowEmpty is false; is a kustomization missing?)"
            ]
        return []
    kinds = {obj.get("kind") for obj in objects}
    if PurePosixPath(source.path).parts[:1] == ("overlays",) and not kinds & WORKLOADS:
        return [
            f"{what} renders no workload ({', '.join(sorted(WORKLOADS))}): the app would run "
            f"nothing (it renders {', '.join(sorted(str(k) for k in kinds))})"
        ]
    return []


def _changed_overlays(root: Path, changed: Collection[str] | None) -> set[Path] | None:
    """The kustomization directories under overlays/ that hold every changed path, when the
    change touches nothing else (a promotion, a rollback); None when the whole tree must be
    rendered (a change to a base, to platform/ or argocd/, or no change list)."""
    if changed is None:
        return None
    dirs: set[Path] = set()
    for rel in changed:
        parts = PurePosixPath(rel).parts
        if len(parts) < 2 or parts[0] != "overlays":
            return None
        directory = (root / rel).parent
        while directory != root and not any(
            (directory / k).is_file() for k in kustomize.KUSTOMIZATIONS
        ):
            directory = directory.parent
        if directory == root or directory == root / "overlays":
            # Not inside an overlay's kustomization (a file added next to them, or the overlay
            # lost its kustomization): the app's source is then a directory; judge it as one.
            directory = (root / rel).parent
        dirs.add(directory)
    return dirs


def judge_deploy_tree(
    path: Path, crd_dir: Path | None = None, changed: Collection[str] | None = None
) -> list[str]:
    """What keeps the deploy repo tree at `path` from being main; empty when it may be.

    Every kustomization under overlays/ and platform/ renders (with `kustomize build` or
    `kubectl kustomize`, as Argo CD's repo server does) and every rendered object has apiVersion,
    kind and metadata.name; every YAML file under argocd/ parses, and each Application's source
    path is a directory of the tree that renders at least one object (a workload, for an
    overlay). With `crd_dir`, Argo CD objects are also validated against their CRDs. Missing
    renderer: one finding saying so (the gate cannot vouch for the tree).

    `changed` (paths relative to the tree) is what the push changed since the last tree the gate
    accepted: when it touches overlays only (a promotion, a rollback), only those overlays are
    rendered again, which keeps a push's hold on main short; anything else renders everything.
    """
    root = path.resolve()
    findings, sources = _applications(root, crd_dir)
    scope = _changed_overlays(root, changed)
    directories = [
        d
        for sub in RENDERED_ROOTS
        if (root / sub).is_dir()
        for d in kustomize.kustomizations(root / sub)
        if scope is None or d in scope
    ]
    if scope is not None:
        sources = [s for s in sources if s.directory in scope]
    directories += [
        s.directory
        for s in sources
        if s.directory not in directories
        and any((s.directory / name).is_file() for name in kustomize.KUSTOMIZATIONS)
    ]
    rendered: dict[Path, list[dict[str, Any]] | None] = {}
    if directories:
        try:
            kustomize.renderer()
        except kustomize.KustomizeError as exc:
            return [*findings, f"cannot render the overlays: {exc}"]
        with ThreadPoolExecutor(max_workers=min(8, len(directories))) as pool:
            for directory, (problems, objects) in zip(
                directories, pool.map(lambda d: _render(root, d), directories), strict=True
            ):
                findings += problems
                rendered[directory] = objects
    for source in sources:
        findings += _source_findings(source, rendered)
    return findings
