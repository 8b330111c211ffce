"""The embedded platform's CI runner: what the apps repo's `.github/workflows/ci.yml` does on a
push to main, run locally. test (the repo's own suite, in its own environment) -> build (one
image per service in services.yaml, tagged with the commit; its content is rendered while the
tests run, and tagged only once they pass) -> promote (the tag into the first
environment with `gitops promote --push`'s own code, every service in one commit). A failed
stage skips the ones after it.

Per commit, under `workspace/ci/<sha>/`: `src/` (a plain clone checked out at the commit),
`test.log`, `build.log` (and `build-<service>.log`), `promote.log`. Every stage is a row in State.
Running a commit again is idempotent: the images exist with the same digest and the overlays
already pin the tag.

The tests run in a test environment kept between runs, as a CI cache keyed by the lockfile would
be: `workspace/ci/envs/<uv.lock hash>-<slot>/` holds `venv/` and `src/`, a work tree checked out
at the commit and cleaned (`git clean -ffdx`) before each run. `uv sync --locked` makes the venv
exactly the lockfile's (and compiles its bytecode once), so reuse changes only how long it takes;
the stable work tree spares rebuilding the editable project when pyproject.toml did not change.
A slot is held for the whole test run; when every slot of the lockfile is busy, the run uses a
fresh `venv/` next to its own `src/`, as without the cache.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import tomllib
import traceback
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from console.git import GitError, git, redact
from console.local.ci.images import ImageError, ImageStore, clean_env
from console.local.state import Result, Run, Stage, State
from console.promote.overlay import list_overlays
from console.promote.promote import PromoteError, PromoteRequest, promote_all
from console.timestamps import rfc3339
from console.tools import find

# After `uv`: the environment exactly as locked (dev group included, bytecode compiled), then the
# suite in it.
SYNC_COMMAND = ("sync", "--locked", "--compile-bytecode")
TEST_COMMAND = ("run", "--no-sync", "pytest", "-q")
TEST_TIMEOUT_S = 1800.0
ENV_SLOTS = 2  # kept test environments per lockfile: commits may test side by side
KEPT_LOCKFILES = 3  # the environments of this many most recently used lockfiles are kept
_SAFE = re.compile(r"^[0-9A-Za-z][0-9A-Za-z._-]{0,127}$")


class CIError(RuntimeError):
    """A stage failed; the message is what its log ends with."""


@dataclass(frozen=True)
class Service:
    """One entry of the apps repo's services.yaml."""

    name: str
    kind: str
    port: int | None
    image: str  # registry/name, without a tag


def read_services(src: Path) -> list[Service]:
    """The services an apps repo checkout builds (its services.yaml)."""
    path = src / "services.yaml"
    try:
        doc = YAML(typ="safe").load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CIError("services.yaml not found: it lists the images to build") from None
    except YAMLError as exc:
        raise CIError(f"services.yaml is not valid YAML: {exc}") from None
    entries = doc.get("services") if isinstance(doc, dict) else None
    if not isinstance(entries, list) or not entries:
        raise CIError("services.yaml: `services:` must be a non-empty list")
    out: list[Service] = []
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            raise CIError(f"services.yaml: services[{i}] needs a `name`")
        name = entry["name"]
        image = entry.get("image")
        if not isinstance(image, str) or not image:
            raise CIError(f"services.yaml: {name} has no `image`")
        port = entry.get("port")
        out.append(
            Service(
                name, str(entry.get("kind") or name), port if isinstance(port, int) else None, image
            )
        )
    return out


def repo_name(remote: str) -> str:
    """The name runs are recorded under: the remote's last path segment without `.git`."""
    last = redact(remote).rstrip("/").rsplit("/", 1)[-1]
    return last.removesuffix(".git") or remote


def built_at(src: Path, sha: str) -> str:
    """The commit's committer date in UTC (ISO 8601): a rebuild gets the same build args."""
    stamp = int(git(["show", "-s", "--format=%ct", sha], src).strip())
    return rfc3339(stamp)


def project_version(src: Path) -> str:
    try:
        doc: dict[str, Any] = tomllib.loads((src / "pyproject.toml").read_text(encoding="utf-8"))
    except (FileNotFoundError, tomllib.TOMLDecodeError):
        return ""
    version = doc.get("project", {}).get("version", "")
    return version if isinstance(version, str) else ""


@contextlib.contextmanager
def _try_locked(path: Path) -> Iterator[bool]:
    """An exclusive lock on `path` if it is free right now: yields whether it was taken."""
    with path.open("a") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def lock_key(src: Path) -> str:
    """What a kept test environment is keyed by: a hash of the checkout's uv.lock."""
    try:
        data = (src / "uv.lock").read_bytes()
    except FileNotFoundError:
        data = b""
    return hashlib.sha256(data).hexdigest()[:16]


def prune_envs(envs: Path, keep: str) -> None:
    """Remove the kept test environments (`<key>-<slot>` directories) of all but the
    KEPT_LOCKFILES most recently used lockfiles, `keep` among them; each only while no run
    holds it. Lock files stay: another run may have one open, and must lock that same file."""

    def used(d: Path) -> float:
        try:
            return d.stat().st_mtime
        except FileNotFoundError:
            return 0.0

    slots = [d for d in envs.iterdir() if d.is_dir()]
    recent = [keep]
    for d in sorted(slots, key=used, reverse=True):
        key = d.name.rsplit("-", 1)[0]
        if key not in recent and len(recent) < KEPT_LOCKFILES:
            recent.append(key)
    for d in slots:
        if d.name.rsplit("-", 1)[0] not in recent:
            with _try_locked(envs / f"{d.name}.lock") as taken:
                if taken:
                    shutil.rmtree(d, ignore_errors=True)


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive lock on `path` (one run per commit at a time, across processes)."""
    with path.open("a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _write(log: Path, text: str) -> None:
    with log.open("a", encoding="utf-8") as fh:
        fh.write(text if text.endswith("\n") else text + "\n")


def _checkout(src: Path, tree: Path) -> None:
    """Make `tree` a clean work tree of the commit `src` has checked out: only files that differ
    are rewritten, and nothing untracked or ignored survives from an earlier run."""
    sha = git(["rev-parse", "HEAD"], src).strip()
    if not (tree / ".git").is_dir():
        shutil.rmtree(tree, ignore_errors=True)
        git(["init", "--quiet", str(tree)], tree.parent)
    git(["fetch", "--quiet", "--no-tags", str(src), "HEAD"], tree)
    git(["-c", "advice.detachedHead=false", "checkout", "--quiet", "--force", sha], tree)
    git(["clean", "-ffdxq"], tree)
    if git(["rev-parse", "HEAD"], tree).strip() != sha:
        raise CIError(f"the test work tree is not at {sha}")


class CIRunner:
    """Runs the apps repo's pipeline. Runs of one commit are serialised (a lock file per
    commit); different commits may run side by side."""

    def __init__(
        self,
        workspace: Path,
        images: ImageStore,
        state: State,
        deploy_remote: str,
        first_env: str,
    ) -> None:
        self.workspace = Path(workspace)
        self.root = self.workspace / "ci"
        self.images = images
        self.state = state
        self.deploy_remote = deploy_remote
        self.first_env = first_env
        self.root.mkdir(parents=True, exist_ok=True)

    def run(self, apps_remote: str, commit: str) -> list[Run]:
        """test -> build -> promote for `commit` of `apps_remote`; the three stage rows."""
        if not _SAFE.match(commit):
            raise ValueError(f"{commit!r} is not a commit")
        repo = repo_name(apps_remote)
        tmp = Path(tempfile.mkdtemp(prefix=".clone-", dir=self.root))
        try:
            clone = tmp / "src"
            try:
                git(["clone", "--quiet", "--no-checkout", apps_remote, str(clone)], tmp)
                sha = git(["rev-parse", "--verify", "--quiet", f"{commit}^{{commit}}"], clone)
                sha = sha.strip()
            except GitError as exc:
                return self._unreachable(repo, commit, str(exc))
            run_dir = self.root / sha
            run_dir.mkdir(exist_ok=True)
            with _locked(self.root / f"{sha}.lock"):
                src = run_dir / "src"
                if src.exists():
                    shutil.rmtree(src)
                clone.rename(src)
                git(["-c", "advice.detachedHead=false", "checkout", "--quiet", sha], src)
                return self._pipeline(repo, sha, run_dir, src)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    # ---- stages ----------------------------------------------------------------------------

    def _pipeline(self, repo: str, sha: str, run_dir: Path, src: Path) -> list[Run]:
        # The images' content is rendered while the tests run (most of a build's time) but
        # tagged only by the build stage, after they passed: a failed test still leaves no image.
        with ThreadPoolExecutor(max_workers=1) as pool:
            prepared = pool.submit(self._prepare, src, sha, run_dir)
            runs = [
                self._stage(
                    repo,
                    sha,
                    "test",
                    run_dir / "test.log",
                    lambda log: self._test(src, run_dir, log),
                )
            ]
            prepared.result()  # never raises: the build stage reports what went wrong
        services: list[Service] = []

        def build(log: Path) -> None:
            services.extend(self._build(src, sha, run_dir, log))

        def promote_(log: Path) -> None:
            self._promote(services, sha, log)

        later: list[tuple[Stage, Callable[[Path], None]]] = [
            ("build", build),
            ("promote", promote_),
        ]
        for stage, step in later:
            log = run_dir / f"{stage}.log"
            if runs[-1].result != "succeeded":
                runs.append(self.state.record_run(repo, sha, stage, "skipped", duration_s=0.0))
            else:
                runs.append(self._stage(repo, sha, stage, log, step))
        return runs

    def _stage(
        self, repo: str, sha: str, stage: Stage, log: Path, step: Callable[[Path], None]
    ) -> Run:
        log.write_text("", encoding="utf-8")
        row = self.state.record_run(repo, sha, stage, log_path=log)
        started = time.monotonic()
        result: Result = "succeeded"
        try:
            step(log)
        except (CIError, ImageError, PromoteError, GitError) as exc:
            _write(log, f"{stage} failed: {exc}")
            result = "failed"
        except Exception:  # a bug must fail the stage, not the platform
            _write(log, f"{stage} failed unexpectedly:\n{traceback.format_exc()}")
            result = "failed"
        return self.state.finish_run(row.id, result, duration_s=time.monotonic() - started)

    def _unreachable(self, repo: str, commit: str, reason: str) -> list[Run]:
        run_dir = self.root / commit
        run_dir.mkdir(exist_ok=True)
        log = run_dir / "test.log"
        log.write_text(f"cannot check out {commit}: {reason}\n", encoding="utf-8")
        runs = [self.state.record_run(repo, commit, "test", "failed", duration_s=0.0, log_path=log)]
        later: tuple[Stage, ...] = ("build", "promote")
        for stage in later:
            runs.append(self.state.record_run(repo, commit, stage, "skipped", duration_s=0.0))
        return runs

    def _test(self, src: Path, run_dir: Path, log: Path) -> None:
        uv = find("uv")
        if uv is None:
            raise CIError("uv not found on PATH")
        deadline = time.monotonic() + TEST_TIMEOUT_S
        with self._test_env(src, run_dir, log) as (tree, venv, kept):
            env = clean_env(UV_PROJECT_ENVIRONMENT=str(venv))
            # A CI runner's environment, not this process's: Python may cache bytecode (in the
            # kept venv, and in the work tree, which the next run cleans).
            env.pop("PYTHONDONTWRITEBYTECODE", None)
            with log.open("a", encoding="utf-8") as fh:
                code = self._uv(uv, SYNC_COMMAND, cwd=tree, env=env, fh=fh, deadline=deadline)
                if code != 0 and kept:
                    # A kept environment that uv cannot sync (a run killed mid-install): start it
                    # afresh once. A lockfile that is really out of date fails again, below.
                    fh.write(f"uv sync failed (exit {code}) in a kept environment: recreating\n")
                    shutil.rmtree(venv, ignore_errors=True)
                    code = self._uv(uv, SYNC_COMMAND, cwd=tree, env=env, fh=fh, deadline=deadline)
                if code != 0:
                    raise CIError(f"uv sync failed (exit {code})")
                code = self._uv(uv, TEST_COMMAND, cwd=tree, env=env, fh=fh, deadline=deadline)
        if code != 0:
            raise CIError(f"tests failed (exit {code})")
        _write(log, "tests passed")

    @contextlib.contextmanager
    def _test_env(self, src: Path, run_dir: Path, log: Path) -> Iterator[tuple[Path, Path, bool]]:
        """(work tree, venv, whether kept) to test `src`'s commit in: a free slot of the kept
        environments of its lockfile, its work tree checked out at the commit and cleaned; or,
        when every slot is busy, `src` itself with a fresh venv beside it."""
        envs = self.root / "envs"
        envs.mkdir(exist_ok=True)
        key = lock_key(src)
        for n in range(ENV_SLOTS):
            slot = envs / f"{key}-{n}"
            with _try_locked(envs / f"{slot.name}.lock") as taken:
                if not taken:
                    continue
                slot.mkdir(exist_ok=True)
                os.utime(slot)  # most recently used: kept by prune_envs
                tree = slot / "src"
                try:
                    _checkout(src, tree)
                except (GitError, CIError):  # a damaged work tree: start it afresh, once
                    shutil.rmtree(tree, ignore_errors=True)
                    _checkout(src, tree)
                _write(log, f"test environment {slot.name} (uv.lock {key})")
                prune_envs(envs, keep=key)
                yield tree, slot / "venv", True
                return
        _write(log, f"every test environment of uv.lock {key} is busy: a fresh one")
        yield src, run_dir / "venv", False

    @staticmethod
    def _uv(
        uv: str,
        args: Sequence[str],
        *,
        cwd: Path,
        env: dict[str, str],
        fh: IO[str],
        deadline: float,
    ) -> int:
        """Run `uv <args>` with its output in `fh`; the exit code. Past `deadline`, everything
        it started is killed and CIError raised."""
        fh.write(f"$ uv {' '.join(args)}   (in {cwd})\n")
        fh.flush()
        proc = subprocess.Popen(
            [uv, *args],
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=fh,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # so a timeout can stop everything the tests started
        )
        try:
            return proc.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            raise CIError(f"tests timed out after {TEST_TIMEOUT_S:g}s") from None

    @staticmethod
    def _build_args(src: Path, sha: str) -> Callable[[Service], dict[str, str]]:
        common = {
            "SERVICE_VERSION": project_version(src),
            "GIT_SHA": sha,
            "BUILT_AT": built_at(src, sha),
        }

        def args(service: Service) -> dict[str, str]:
            return {
                **common,
                "SERVICE_NAME": service.name,
                "SERVICE_KIND": service.kind,
                "IMAGE": f"{service.image}:{sha}",
            }

        return args

    def _prepare(self, src: Path, sha: str, run_dir: Path) -> None:
        """Render every service's image content ahead of the build stage, which then only tags.
        Failures are left for the build stage to meet again and report."""
        try:
            services, args = read_services(src), self._build_args(src, sha)
            for service in services:
                service_log = run_dir / f"build-{service.name}.log"
                service_log.write_text("", encoding="utf-8")
                self.images.prepare(
                    src, sha, args(service), log=service_log, tag=(service.image, sha)
                )
        except Exception as exc:  # reported by the build stage, which meets it again
            with contextlib.suppress(OSError):
                _write(run_dir / "prepare.log", f"prepare failed: {exc}")

    def _build(self, src: Path, sha: str, run_dir: Path, log: Path) -> list[Service]:
        services = read_services(src)
        build_args = self._build_args(src, sha)

        def one(service: Service) -> str:
            service_log = run_dir / f"build-{service.name}.log"
            if not service_log.exists():
                service_log.write_text("", encoding="utf-8")
            args = build_args(service)
            image = self.images.build(src, sha, service.image, sha, args, log=service_log)
            return f"{service.name}: {image.ref} {image.digest}"

        # Services build side by side: each is its own staging directory, blob and tag.
        with ThreadPoolExecutor(max_workers=min(4, len(services))) as pool:
            futures = [(s, pool.submit(one, s)) for s in services]
        errors: list[str] = []
        for service, future in futures:
            service_log = run_dir / f"build-{service.name}.log"
            _write(log, f"---- {service.name} ----\n" + service_log.read_text(encoding="utf-8"))
            exc = future.exception()
            if exc is None:
                _write(log, future.result())
            elif isinstance(exc, ImageError | CIError):
                errors.append(f"{service.name}: {exc}")
            else:
                raise exc
        if errors:
            raise CIError("; ".join(errors))
        return services

    def _promote(self, services: list[Service], sha: str, log: Path) -> None:
        with tempfile.TemporaryDirectory(prefix="gitops-ci-deploy-") as tmp:
            try:
                git(["clone", "--quiet", self.deploy_remote, tmp + "/deploy"], Path(tmp))
            except GitError as exc:
                raise CIError(f"cannot clone the deploy repo: {exc.stderr}") from None
            overlays = list_overlays(Path(tmp) / "deploy")
        if self.first_env not in overlays:
            known = ", ".join(overlays) or "none"
            raise CIError(f"the deploy repo has no environment {self.first_env!r} ({known})")
        deployed = set(overlays[self.first_env])
        targets = [s for s in services if s.name in deployed]
        for service in services:
            if service.name not in deployed:
                _write(log, f"{service.name}: no overlay in {self.first_env}, not promoted")
        if not targets:
            return
        # One commit for every service: one push, one check by the deploy repo's gate, one sync.
        requests = [
            PromoteRequest(service=s.name, env=self.first_env, tag=sha, source_commit=sha)
            for s in targets
        ]
        for outcome in promote_all(self.deploy_remote, requests, push=True):
            if outcome.sha is None:
                _write(log, f"{outcome.service}: {self.first_env} already at {sha}")
            else:
                _write(
                    log,
                    f"{outcome.service}: {self.first_env} {outcome.previous} -> {outcome.tag} "
                    f"({outcome.sha[:12]}, {outcome.attempts} attempt(s))",
                )
