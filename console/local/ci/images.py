"""The embedded platform's image store: `name:tag` -> an immutable, content-addressed build that
can run a service (the code at a commit plus an environment satisfying its locked dependencies),
the way a registry holds what `docker build` made from the same Dockerfile.

Layout under the store's root:

    blobs/sha256/<hex>/        one build: src/ (the commit's tree), venv/ (uv, relocatable,
                               bytecode compiled), config.json (what the digest covers and the
                               Dockerfile's config)
    layers/<hex>/venv/         the locked dependencies without the project, per uv.lock: the
                               Dockerfile's dependency layer. A build starts its venv as hard
                               links to it, then `uv sync --locked` adds the project
    tags/<quoted name>/<tag>.json   name:tag -> digest + metadata; the name is percent-encoded
                               into one path segment, so `registry.example/team/app` is safe
    tmp/                       staging; a build is rendered here, then renamed into blobs/

The digest is `sha256:` + SHA-256 of the canonical JSON (sorted keys, no spaces) of
`{"format": FORMAT, "tree": <the commit's tree id>, "dockerfile": sha256(Dockerfile bytes),
"uv.lock": sha256(uv.lock bytes), "build_args": [[k, v], ...] sorted}`: everything that decides
what the image holds and how it starts, known before building, so an existing tag is checked (and
a re-push is refused or found a no-op) without building again. The interpreter uv picks on this
machine is deliberately not part of it: a rebuild of the same commit is the same image.

Writes are atomic: a blob appears by one rename of a complete staging directory, a tag by one
hard link of a complete file (which fails if the tag exists), so concurrent builds need no lock.
Tags are written once; the one exception is the platform's own image, which `gitops up` rebuilds
from the source it runs from and whose tag moves (`build(..., move_tag=True)`, by a rename).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

from console.git import GitError, git
from console.local.ci.dockerfile import DEFAULT_VENV, DockerfileError, final_stage
from console.timestamps import rfc3339
from console.tools import find

FORMAT = "gitops-local-image/v1"
UV_TIMEOUT_S = 900.0
# After `uv`. Bytecode is compiled at build time, as the Dockerfile's builder does
# (UV_COMPILE_BYTECODE=1): pods start without compiling their dependencies.
SYNC = ("sync", "--locked", "--no-dev", "--compile-bytecode")

# Docker's reference grammar (github.com/distribution/reference).
_PATH_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|\[[a-fA-F0-9:]+\])(?::[0-9]+)?"
NAME = re.compile(rf"^(?:{_DOMAIN}/)?{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*$")
TAG = re.compile(r"^[\w][\w.-]{0,127}$")
DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")

# Variables of the calling process that would point uv (or a nested pytest) somewhere else.
SCRUBBED_ENV = (
    "VIRTUAL_ENV",
    "PYTHONPATH",
    "PYTHONHOME",
    "UV_PROJECT_ENVIRONMENT",
    "UV_FROZEN",
    "UV_NO_SYNC",
    "UV_LOCKED",
    "PYTEST_ADDOPTS",
    "PYTEST_PLUGINS",
    "PYTEST_CURRENT_TEST",
)


class ImageError(Exception):
    """Base of the image store's errors."""


class BuildError(ImageError):
    """The build failed; the message says which step and why."""


class ImmutableTagError(ImageError):
    """The tag exists with different content: tags are immutable."""

    def __init__(self, ref: str, existing: str, attempted: str) -> None:
        self.ref = ref
        self.existing = existing
        self.attempted = attempted
        super().__init__(
            f"{ref} already exists as {existing}; refusing to re-push it as {attempted} "
            "(tags are immutable)"
        )


class InvalidReferenceError(ImageError, ValueError):
    """Not a valid image reference (`name[:tag][@sha256:...]`)."""


@dataclass(frozen=True)
class Reference:
    name: str
    tag: str | None
    digest: str | None

    def __str__(self) -> str:
        out = self.name
        if self.tag:
            out += f":{self.tag}"
        if self.digest:
            out += f"@{self.digest}"
        return out


def parse_reference(ref: str) -> Reference:
    """`name[:tag][@digest]`; a bare name means `:latest`, as Docker reads it."""
    rest, _, digest = ref.partition("@")
    name, tag = rest, None
    colon = rest.rfind(":")
    if colon > rest.rfind("/"):
        name, tag = rest[:colon], rest[colon + 1 :]
    if not name or len(name) > 255 or not NAME.match(name):
        raise InvalidReferenceError(f"{ref!r}: invalid image name {name!r}")
    if tag is not None and not TAG.match(tag):
        raise InvalidReferenceError(f"{ref!r}: invalid tag {tag!r}")
    if digest and not DIGEST.match(digest):
        raise InvalidReferenceError(f"{ref!r}: invalid digest {digest!r} (sha256:<64 hex>)")
    if tag is None and not digest:
        tag = "latest"
    return Reference(name, tag, digest or None)


@dataclass(frozen=True)
class Image:
    """One tag of a build. `entrypoint`, `cmd` and `env` are host-ready: the Dockerfile's venv
    location is mapped to `path/venv`, bare commands found there are made absolute, and PATH
    starts with the venv's bin."""

    name: str
    tag: str
    digest: str
    path: Path
    entrypoint: list[str]
    env: dict[str, str]
    source_commit: str
    cmd: list[str] = field(default_factory=list)
    created: str = ""
    stop_signal: str = "SIGTERM"
    workdir: str = "/"  # the Dockerfile's WORKDIR, a container path (informational)
    image_venv: str = DEFAULT_VENV  # where the Dockerfile keeps its venv, mapped to path/venv

    @property
    def ref(self) -> str:
        return f"{self.name}:{self.tag}"

    @property
    def venv(self) -> Path:
        return self.path / "venv"

    def argv(
        self, command: Sequence[str] | None = None, args: Sequence[str] | None = None
    ) -> list[str]:
        """The process to start for a container with this image, with Kubernetes' rules:
        `command` replaces ENTRYPOINT (and drops CMD), `args` replaces CMD."""
        if command:
            argv = [*command, *(args or [])]
        else:
            argv = [*self.entrypoint, *(self.cmd if args is None else args)]
        argv = [_map_path(a, self.image_venv, self.venv) for a in argv]
        if argv and "/" not in argv[0] and (self.venv / "bin" / argv[0]).is_file():
            argv[0] = str(self.venv / "bin" / argv[0])
        return argv

    def environ(self, overrides: Mapping[str, str] | None = None) -> dict[str, str]:
        """The image's ENV with the container's own `env` on top (Kubernetes' precedence)."""
        return {**self.env, **(overrides or {})}


def image_digest(
    tree: str, dockerfile: bytes, lockfile: bytes, build_args: Mapping[str, str]
) -> str:
    """The content digest of a build (see the module docstring)."""
    doc = {
        "format": FORMAT,
        "tree": tree,
        "dockerfile": hashlib.sha256(dockerfile).hexdigest(),
        "uv.lock": hashlib.sha256(lockfile).hexdigest(),
        "build_args": sorted([k, v] for k, v in build_args.items()),
    }
    canonical = json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()
    return "sha256:" + hashlib.sha256(canonical).hexdigest()


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without what would redirect uv or pytest, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if k not in SCRUBBED_ENV}
    env.update(extra)
    return env


def _map_path(value: str, image_venv: str, venv: Path) -> str:
    """`value` with each `:`-separated entry under the image's venv mapped to the host venv."""
    prefix = image_venv.rstrip("/")
    if not prefix:
        return value
    parts = value.split(":")
    for i, part in enumerate(parts):
        if part == prefix or part.startswith(prefix + "/"):
            parts[i] = str(venv) + part[len(prefix) :]
    return ":".join(parts)


def _git_bytes(repo: Path, spec: str) -> bytes | None:
    proc = subprocess.run(
        ["git", "cat-file", "blob", spec], cwd=repo, capture_output=True, check=False
    )
    return proc.stdout if proc.returncode == 0 else None


def _append(log: Path | None, text: str) -> None:
    if log is not None:
        with log.open("a", encoding="utf-8") as fh:
            fh.write(text if text.endswith("\n") else text + "\n")


def _uv(argv: list[str], cwd: Path, venv: Path, log: Path | None) -> None:
    """Run uv for the project in `cwd` with `venv` as its environment; BuildError unless it
    succeeds. Its output goes to `log`."""
    _append(log, "$ " + " ".join(argv[1:]))
    try:
        proc = subprocess.run(
            argv,
            cwd=cwd,
            env=clean_env(UV_PROJECT_ENVIRONMENT=str(venv)),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=UV_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise BuildError(f"uv {argv[1]} timed out after {UV_TIMEOUT_S:g}s") from None
    _append(log, proc.stdout)
    if proc.returncode != 0:
        tail = "\n".join(proc.stdout.strip().splitlines()[-5:])
        raise BuildError(f"uv {argv[1]} failed ({proc.returncode}): {tail}")


def _link_tree(venv: Path, dest: Path) -> None:
    """The venv `venv` copied to `dest`, what lies under its directories as hard links (symlinks
    stay symlinks): nothing writes an installed file in place (installs and bytecode replace
    files), so the two never affect each other. The venv's own top-level files are copies, and
    uv's `.lock` is left out: sharing its inode would make every build's uv wait for the others.
    """
    dest.mkdir()
    for entry in venv.iterdir():
        target = dest / entry.name
        if entry.is_symlink():
            target.symlink_to(os.readlink(entry))
        elif entry.is_dir():
            shutil.copytree(entry, target, symlinks=True, copy_function=os.link)
        elif entry.name != ".lock":
            shutil.copy2(entry, target)


class ImageStore:
    """Immutable tags over content-addressed builds, kept under `root`."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.blobs = self.root / "blobs" / "sha256"
        self.tags_dir = self.root / "tags"
        self.tmp = self.root / "tmp"
        self.layers = self.root / "layers"
        for d in (self.blobs, self.tags_dir, self.tmp, self.layers):
            d.mkdir(parents=True, exist_ok=True)
        self._sweep_staging()

    def _sweep_staging(self) -> None:
        """Remove staging directories of builds whose process is gone (killed mid-build)."""
        for d in self.tmp.iterdir():
            match = re.match(r"^build-(\d+)-", d.name)
            if match is None:
                continue
            try:
                os.kill(int(match.group(1)), 0)
            except ProcessLookupError:
                shutil.rmtree(d, ignore_errors=True)
            except PermissionError:
                continue  # alive, someone else's

    # ---- reading ---------------------------------------------------------------------------

    def _tag_file(self, name: str, tag: str) -> Path:
        return self.tags_dir / quote(name, safe="") / f"{tag}.json"

    def get(self, name: str, tag: str) -> Image | None:
        """The image `name:tag`, or None when there is no such tag."""
        try:
            record = json.loads(self._tag_file(name, tag).read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        return self._image(record)

    def resolve(self, ref: str) -> Image | None:
        """The image a reference names (`name:tag`, `name@sha256:...` or both), or None when it
        does not exist or is malformed: the caller's image pull failure."""
        try:
            parsed = parse_reference(ref)
        except InvalidReferenceError:
            return None
        if parsed.tag is not None:
            image = self.get(parsed.name, parsed.tag)
            if image is None or (parsed.digest and image.digest != parsed.digest):
                return None
            return image
        return next((i for i in self.images(parsed.name) if i.digest == parsed.digest), None)

    def images(self, name: str | None = None) -> list[Image]:
        """Every tag in the store (or of one name), sorted by name then tag."""
        dirs = [self.tags_dir / quote(name, safe="")] if name else sorted(self.tags_dir.iterdir())
        out: list[Image] = []
        for d in dirs:
            if not d.is_dir():
                continue
            for f in sorted(d.glob("*.json")):
                image = self.get(unquote(d.name), f.name[: -len(".json")])
                if image is not None:
                    out.append(image)
        return out

    def _image(self, record: dict[str, Any]) -> Image:
        return Image(
            name=record["name"],
            tag=record["tag"],
            digest=record["digest"],
            path=self.blobs / record["digest"].removeprefix("sha256:"),
            entrypoint=list(record["entrypoint"]),
            env=dict(record["env"]),
            source_commit=record["source_commit"],
            cmd=list(record["cmd"]),
            created=record["created"],
            stop_signal=record["stop_signal"],
            workdir=record["workdir"],
            image_venv=record["image_venv"],
        )

    # ---- building --------------------------------------------------------------------------

    def build(
        self,
        source_repo: Path,
        commit: str,
        name: str,
        tag: str,
        build_args: Mapping[str, str],
        *,
        dockerfile: str = "Dockerfile",
        log: Path | None = None,
        move_tag: bool = False,
    ) -> Image:
        """Build `commit` of `source_repo` as `name:tag`. The same content under an existing
        tag is a no-op returning the existing image; different content raises
        ImmutableTagError, unless `move_tag`: then the tag moves to the new content (the old
        build stays, for what still runs it). Only the platform's own image moves its tag
        (console.local.ci.platform_image: rebuilt from the working copy it runs from); every
        service's tag is written once. uv's output is appended to `log`."""
        if not NAME.match(name) or len(name) > 255:
            raise BuildError(f"invalid image name {name!r}")
        if not TAG.match(tag):
            raise BuildError(f"invalid image tag {tag!r}")
        digest, blob = self.prepare(
            source_repo,
            commit,
            build_args,
            dockerfile=dockerfile,
            log=log,
            tag=None if move_tag else (name, tag),
        )
        existing = self.get(name, tag)
        if existing is not None and existing.digest == digest:
            return existing
        if existing is not None and not move_tag:
            raise ImmutableTagError(f"{name}:{tag}", existing.digest, digest)
        return self._tag(name, tag, digest, blob, log, replace=existing is not None)

    def prepare(
        self,
        source_repo: Path,
        commit: str,
        build_args: Mapping[str, str],
        *,
        dockerfile: str = "Dockerfile",
        log: Path | None = None,
        tag: tuple[str, str] | None = None,
    ) -> tuple[str, Path]:
        """Render the content-addressed blob of `commit` with `build_args` (its digest, its
        directory) without tagging it: no `name:tag` exists afterwards, so nothing can run it.
        CI prepares while the tests run and tags only when they pass. With `tag`, an existing
        `name:tag` of other content raises ImmutableTagError before anything is built."""
        repo = Path(source_repo)
        try:
            sha = git(["rev-parse", "--verify", "--quiet", f"{commit}^{{commit}}"], repo).strip()
            tree = git(["rev-parse", f"{sha}^{{tree}}"], repo).strip()
        except GitError as exc:
            raise BuildError(f"{commit!r} is not a commit of {repo}: {exc.stderr}") from None
        docker_bytes = _git_bytes(repo, f"{sha}:{dockerfile}")
        if docker_bytes is None:
            raise BuildError(f"{sha[:12]} has no {dockerfile}")
        lock_bytes = _git_bytes(repo, f"{sha}:uv.lock")
        if lock_bytes is None:
            raise BuildError(f"{sha[:12]} has no uv.lock (the build installs locked dependencies)")
        args = dict(build_args)
        digest = image_digest(tree, docker_bytes, lock_bytes, args)

        blob = self.blobs / digest.removeprefix("sha256:")
        existing = self.get(*tag) if tag is not None else None
        if existing is not None and tag is not None:
            if existing.digest != digest:
                raise ImmutableTagError(":".join(tag), existing.digest, digest)
            _append(log, f"{':'.join(tag)} is already {digest}: nothing to build")
            return digest, blob

        if not (blob / "config.json").is_file():
            try:
                config = final_stage(docker_bytes.decode("utf-8"), args)
            except (DockerfileError, UnicodeDecodeError) as exc:
                raise BuildError(f"{dockerfile} at {sha[:12]}: {exc}") from None
            inputs = {
                "format": FORMAT,
                "digest": digest,
                "source_commit": sha,
                "tree": tree,
                "dockerfile_sha256": hashlib.sha256(docker_bytes).hexdigest(),
                "uv_lock_sha256": hashlib.sha256(lock_bytes).hexdigest(),
                "build_args": dict(sorted(args.items())),
                "config": {
                    "entrypoint": config.entrypoint,
                    "cmd": config.cmd,
                    "env": config.env,
                    "workdir": config.workdir,
                    "stop_signal": config.stop_signal,
                    "user": config.user,
                    "venv": config.venv,
                },
            }
            self._render(repo, sha, blob, inputs, log)
        return digest, blob

    def _render(
        self, repo: Path, sha: str, blob: Path, inputs: dict[str, Any], log: Path | None
    ) -> None:
        uv = find("uv")
        if uv is None:
            raise BuildError("uv not found on PATH: the image store builds environments with uv")
        staging = Path(tempfile.mkdtemp(prefix=f"build-{os.getpid()}-{sha[:12]}-", dir=self.tmp))
        try:
            src, venv = staging / "src", staging / "venv"
            src.mkdir()
            archive = staging / "src.tar"
            try:
                git(["archive", "--format=tar", f"--output={archive}", sha], repo)
            except GitError as exc:
                raise BuildError(f"git archive {sha[:12]}: {exc.stderr}") from None
            with tarfile.open(archive) as tar:
                if hasattr(tarfile, "data_filter"):
                    tar.extractall(src, filter="data")
                else:  # Python < 3.11.4; the archive is git's own output of a commit
                    tar.extractall(src)  # noqa: S202
            archive.unlink()
            # The dependencies first, from their layer (built once per uv.lock), then the
            # project: `uv sync --locked` leaves the venv exactly as locked either way.
            _link_tree(self._deps_layer(uv, src, log), venv)
            _uv([uv, *SYNC, "--no-editable"], src, venv, log)
            (staging / "config.json").write_text(
                json.dumps(inputs, indent=2, sort_keys=True) + "\n", encoding="utf-8"
            )
            try:
                staging.rename(blob)
            except OSError as exc:
                # Another build of the same content won the rename: its blob is as good as ours.
                if exc.errno not in (errno.EEXIST, errno.ENOTEMPTY):
                    raise
        finally:
            if staging.exists():
                shutil.rmtree(staging, ignore_errors=True)

    def _deps_layer(self, uv: str, src: Path, log: Path | None) -> Path:
        """The venv of `src`'s locked dependencies without the project, as the Dockerfile's
        first `uv sync` layer: built once per uv.lock (and .python-version) under layers/, and
        never changed after. Builds hard-link it into their own venv, then add the project."""
        key = hashlib.sha256(
            b"\0".join(
                (src / name).read_bytes() if (src / name).is_file() else b""
                for name in ("uv.lock", ".python-version")
            )
        ).hexdigest()
        layer = self.layers / key
        with (self.layers / f"{key}.lock").open("a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)  # one build makes it, the others wait and reuse it
            if (layer / "venv" / "pyvenv.cfg").is_file():
                _append(log, f"dependencies: layer {key[:12]}")
                return layer / "venv"
            staging = Path(tempfile.mkdtemp(prefix=f"build-{os.getpid()}-layer-", dir=self.tmp))
            try:
                venv = staging / "venv"
                # Relocatable: its scripts find their interpreter relative to themselves, so it
                # can be renamed into layers/ and linked into blobs/.
                _uv([uv, "venv", "--relocatable", "--quiet", str(venv)], src, venv, log)
                _uv([uv, *SYNC, "--no-install-project"], src, venv, log)
                staging.rename(layer)
            finally:
                shutil.rmtree(staging, ignore_errors=True)
            return layer / "venv"

    def _tag(
        self,
        name: str,
        tag: str,
        digest: str,
        blob: Path,
        log: Path | None,
        *,
        replace: bool = False,
    ) -> Image:
        inputs = json.loads((blob / "config.json").read_text(encoding="utf-8"))
        config = inputs["config"]
        image_venv = config["venv"]
        venv = blob / "venv"
        env = {k: _map_path(v, image_venv, venv) for k, v in config["env"].items()}
        venv_bin = str(venv / "bin")
        path = env.get("PATH", "")
        if path.split(":")[0] != venv_bin:
            env["PATH"] = f"{venv_bin}:{path}" if path else venv_bin
        entrypoint = [_map_path(a, image_venv, venv) for a in config["entrypoint"]]
        if entrypoint and "/" not in entrypoint[0] and (venv / "bin" / entrypoint[0]).is_file():
            entrypoint[0] = str(venv / "bin" / entrypoint[0])
        record = {
            "name": name,
            "tag": tag,
            "digest": digest,
            "created": rfc3339(datetime.now(UTC)),
            "source_commit": inputs["source_commit"],
            "entrypoint": entrypoint,
            "cmd": [_map_path(a, image_venv, venv) for a in config["cmd"]],
            "env": env,
            "workdir": config["workdir"],
            "stop_signal": config["stop_signal"],
            "image_venv": image_venv,
            "build_args": inputs["build_args"],
        }
        target = self._tag_file(name, tag)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{tag}.", suffix=".tmp", dir=target.parent)
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(json.dumps(record, indent=2, sort_keys=True) + "\n")
            if replace:
                os.replace(tmp, target)  # a moving tag: readers see the old record or the new
                _append(log, f"moved {name}:{tag} -> {digest}")
                return self._image(record)
            try:
                os.link(tmp, target)  # atomic create-if-absent: a tag is written once
            except FileExistsError:
                existing = self.get(name, tag)
                if existing is None or existing.digest != digest:
                    raise ImmutableTagError(
                        f"{name}:{tag}", existing.digest if existing else "?", digest
                    ) from None
                return existing
        finally:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
        _append(log, f"tagged {name}:{tag} -> {digest}")
        return self._image(record)
