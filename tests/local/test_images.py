"""The image store against a real scaffolded apps repo: real git, real uv, no mocks. Also the
Dockerfile reader that decides how an image starts."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from console.local.ci.dockerfile import DockerfileError, final_stage, instructions
from console.local.ci.images import (
    BuildError,
    Image,
    ImageStore,
    ImmutableTagError,
    InvalidReferenceError,
    image_digest,
    parse_reference,
)
from tests.helpers import run_git
from tests.world import World

REGISTRY = "123456789012.dkr.ecr.eu-west-1.amazonaws.com"
NAME = f"{REGISTRY}/backend"


@dataclass(frozen=True)
class Built:
    store: ImageStore
    apps: Path  # a work tree of the scaffolded apps repo
    first: str  # its scaffold commit
    second: str  # a later commit (a README change)
    image: Image  # NAME:first


def args_for(sha: str, tag: str, name: str = NAME) -> dict[str, str]:
    return {
        "SERVICE_NAME": "backend",
        "SERVICE_KIND": "backend",
        "SERVICE_VERSION": "0.1.0",
        "GIT_SHA": sha,
        "BUILT_AT": "2026-01-01T00:00:00Z",
        "IMAGE": f"{name}:{tag}",
    }


@pytest.fixture(scope="module")
def built(shared_world: World, tmp_path_factory: pytest.TempPathFactory) -> Built:
    """A store of its own (tests count what it holds) that starts with the shared dependency
    layer, and NAME:first built into it from a copy of the apps repo."""
    base = tmp_path_factory.mktemp("images")
    apps = shared_world.renderings_copy(base / "repos") / "apps-repo"
    first = shared_world.commit
    (apps / "README.md").write_text("# changed\n", encoding="utf-8")
    run_git(apps, "commit", "--quiet", "-am", "docs: change the readme")
    second = run_git(apps, "rev-parse", "HEAD").strip()
    store = shared_world.store_copy(base / "store")
    image = store.build(apps, first, NAME, first, args_for(first, first))
    return Built(store, apps, first, second, image)


# ---- building ----------------------------------------------------------------------------------


@pytest.mark.slow
def test_build_makes_a_runnable_content_addressed_image(built: Built) -> None:
    image = built.image
    assert (image.name, image.tag, image.source_commit) == (NAME, built.first, built.first)
    assert len(image.digest) == 71
    assert image.digest.startswith("sha256:")
    assert image.path == built.store.root / "blobs" / "sha256" / image.digest[7:]
    # The code at that commit, and an environment with its locked dependencies, not editable.
    assert (image.path / "src" / "src" / "probe" / "__main__.py").is_file()
    assert (image.path / "src" / "uv.lock").is_file()
    assert image.entrypoint == [str(image.path / "venv" / "bin" / "probe")]
    assert Path(image.entrypoint[0]).is_file()
    site = next((image.path / "venv" / "lib").glob("python3*/site-packages"))
    assert (site / "probe" / "server.py").is_file()  # installed, not a link to the checkout
    assert (site / "quart").is_dir()
    assert (site / "hypercorn").is_dir()
    assert not any(p.name.startswith("pytest") for p in site.iterdir())  # --no-dev
    # Bytecode compiled at build time, as the Dockerfile's builder does (UV_COMPILE_BYTECODE=1).
    assert any((site / "quart" / "__pycache__").glob("app.*.pyc"))
    assert any((site / "probe" / "__pycache__").glob("server.*.pyc"))
    # ENV from the Dockerfile's final stage, build args substituted, PATH led by the venv.
    env = image.env
    assert env["PATH"].split(":")[0] == str(image.path / "venv" / "bin")
    assert "/app/.venv" not in env["PATH"]
    assert env["GIT_SHA"] == built.first
    assert env["IMAGE"] == f"{NAME}:{built.first}"
    assert (env["SERVICE_KIND"], env["PORT"], env["PYTHONUNBUFFERED"]) == ("backend", "8080", "1")
    assert (image.cmd, image.stop_signal, image.workdir) == ([], "SIGTERM", "/app")
    assert image.created.endswith("Z")


@pytest.mark.slow
def test_digest_covers_tree_dockerfile_lock_and_build_args(built: Built) -> None:
    apps, sha = built.apps, built.first
    tree = run_git(apps, "rev-parse", f"{sha}^{{tree}}").strip()
    dockerfile = run_git(apps, "show", f"{sha}:Dockerfile").encode()
    lock = run_git(apps, "show", f"{sha}:uv.lock").encode()
    args = args_for(sha, sha)
    canonical = json.dumps(
        {
            "format": "gitops-local-image/v1",
            "tree": tree,
            "dockerfile": hashlib.sha256(dockerfile).hexdigest(),
            "uv.lock": hashlib.sha256(lock).hexdigest(),
            "build_args": sorted([k, v] for k, v in args.items()),
        },
        sort_keys=True,
        separators=(",", ":"),
    )
    expected = "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()
    assert image_digest(tree, dockerfile, lock, args) == expected == built.image.digest
    # The order build args are given in does not matter; their values do.
    assert image_digest(tree, dockerfile, lock, dict(reversed(args.items()))) == expected
    assert image_digest(tree, dockerfile, lock, {**args, "BUILT_AT": "now"}) != expected
    config = json.loads((built.image.path / "config.json").read_text())
    assert (config["digest"], config["tree"]) == (expected, tree)


@pytest.mark.slow
def test_tag_record_stores_a_registry_name_in_one_safe_segment(built: Built) -> None:
    tags = built.store.root / "tags"
    [entry] = [p for p in tags.iterdir() if p.name.endswith("backend")]
    assert entry.name == f"{REGISTRY}%2Fbackend"
    record = json.loads((entry / f"{built.first}.json").read_text())
    assert record["digest"] == built.image.digest
    assert record["source_commit"] == built.first
    assert record["entrypoint"] == built.image.entrypoint
    assert set(record) >= {"created", "env", "name", "tag"}


@pytest.mark.slow
def test_same_tag_same_content_is_a_no_op(built: Built) -> None:
    again = built.store.build(
        built.apps, built.first, NAME, built.first, args_for(built.first, built.first)
    )
    assert again == built.image  # same digest, same record (created unchanged)


@pytest.mark.slow
def test_prepared_content_is_no_image_until_a_build_tags_it(built: Built, tmp_path: Path) -> None:
    """CI prepares while the tests run: the blob exists, but no name:tag resolves to it; the
    build afterwards only tags it (uv is not run again)."""
    name = f"{REGISTRY}/prepared"  # its own name: other tests count the images of NAME
    args = args_for(built.second, "prepared", name)
    digest, blob = built.store.prepare(built.apps, built.second, args, tag=(name, "prepared"))
    assert (blob / "config.json").is_file()
    assert built.store.get(name, "prepared") is None
    assert built.store.resolve(f"{name}:prepared") is None
    log = tmp_path / "build.log"
    image = built.store.build(built.apps, built.second, name, "prepared", args, log=log)
    assert image.digest == digest
    assert log.read_text(encoding="utf-8").strip() == f"tagged {name}:prepared -> {digest}"
    # A prepare for a tag that holds other content is refused before anything is built.
    with pytest.raises(ImmutableTagError):
        built.store.prepare(built.apps, built.first, args, tag=(name, "prepared"))


@pytest.mark.slow
def test_a_tag_is_immutable(built: Built) -> None:
    with pytest.raises(ImmutableTagError) as info:
        built.store.build(
            built.apps, built.second, NAME, built.first, args_for(built.second, built.first)
        )
    message = str(info.value)
    assert f"{NAME}:{built.first}" in message
    assert built.image.digest in message
    assert info.value.attempted in message
    assert info.value.attempted != built.image.digest
    # Other build args are other content too.
    with pytest.raises(ImmutableTagError):
        built.store.build(
            built.apps,
            built.first,
            NAME,
            built.first,
            {**args_for(built.first, built.first), "X": "1"},
        )
    assert built.store.resolve(f"{NAME}:{built.first}") == built.image


@pytest.mark.slow
def test_resolve(built: Built) -> None:
    store, image = built.store, built.image
    assert store.resolve(f"{NAME}:{built.first}") == image
    assert store.resolve(f"{NAME}@{image.digest}") == image
    assert store.resolve(f"{NAME}:{built.first}@{image.digest}") == image
    assert store.resolve(f"{NAME}:{built.first}@sha256:{'0' * 64}") is None
    assert store.resolve(f"{NAME}:no-such-tag") is None
    assert store.resolve(f"{REGISTRY}/nothing:{built.first}") is None
    assert store.resolve(NAME) is None  # :latest was never pushed
    assert store.resolve("Not A Reference") is None
    assert store.images(NAME) == [image]


def test_references_are_parsed_with_dockers_grammar() -> None:
    ref = parse_reference(f"localhost:5000/team/app:v1.2@sha256:{'a' * 64}")
    assert (ref.name, ref.tag, ref.digest) == (
        "localhost:5000/team/app",
        "v1.2",
        "sha256:" + "a" * 64,
    )
    assert parse_reference("localhost:5000/app").tag == "latest"
    assert str(parse_reference(f"{NAME}:abc")) == f"{NAME}:abc"
    for bad in ("../evil:1", "app/../x:1", "app/UPPER:1", "app:-x", "app:", "", "app@md5:ab"):
        with pytest.raises(InvalidReferenceError):
            parse_reference(bad)


@pytest.mark.slow
def test_bad_builds_are_refused_before_anything_is_stored(built: Built, tmp_path: Path) -> None:
    store = ImageStore(tmp_path / "store")
    with pytest.raises(BuildError, match="invalid image name"):
        store.build(built.apps, built.first, "../../etc", "x", {})
    with pytest.raises(BuildError, match="invalid image tag"):
        store.build(built.apps, built.first, NAME, "../x", {})
    with pytest.raises(BuildError, match="not a commit"):
        store.build(built.apps, "0" * 40, NAME, "x", {})
    empty = tmp_path / "empty"
    empty.mkdir()
    run_git(empty, "init", "--quiet", "--initial-branch", "main")
    (empty / "README.md").write_text("hi\n")
    run_git(empty, "add", "--all")
    run_git(empty, "commit", "--quiet", "-m", "chore: empty")
    with pytest.raises(BuildError, match="has no Dockerfile"):
        store.build(empty, "HEAD", NAME, "x", {})
    assert store.images() == []
    assert list((store.root / "blobs" / "sha256").iterdir()) == []


@pytest.mark.slow
def test_concurrent_builds_of_different_and_equal_tags(built: Built) -> None:
    """Two tags at once get two blobs; two pushes of one tag agree on one digest."""
    sha = built.second
    jobs = [("a", sha), ("b", sha), ("a", sha)]
    start = threading.Barrier(len(jobs))

    def build(tag: str, commit: str) -> Image:
        start.wait()
        return built.store.build(built.apps, commit, NAME, f"{tag}-{commit}", args_for(commit, tag))

    with ThreadPoolExecutor(len(jobs)) as pool:
        a1, b, a2 = pool.map(lambda job: build(*job), jobs)
    assert a1.digest == a2.digest != b.digest
    assert a1.path.is_dir()
    assert b.path.is_dir()
    assert built.store.resolve(f"{NAME}:a-{sha}") == built.store.get(NAME, f"a-{sha}")
    assert list((built.store.root / "tmp").iterdir()) == []  # no staging left behind


@pytest.mark.slow
def test_builds_share_one_dependency_layer_per_lockfile(built: Built, tmp_path: Path) -> None:
    """The locked dependencies are installed once per uv.lock (the Dockerfile's dependency
    layer); each build links them into its own venv and adds the project, leaving the layer
    as it was."""
    layers = [d for d in (built.store.root / "layers").iterdir() if d.is_dir()]
    assert len(layers) == 1, "one uv.lock, one layer"
    layer_site = next((layers[0] / "venv" / "lib").glob("python3*/site-packages"))
    assert (layer_site / "quart").is_dir()
    assert not (layer_site / "probe").exists(), "the layer holds no project"
    before = sorted(p.relative_to(layers[0]) for p in layers[0].rglob("*"))
    log = tmp_path / "build.log"
    image = built.store.build(
        built.apps,
        built.second,
        NAME,
        f"layer-{built.second}",
        args_for(built.second, "layer"),
        log=log,
    )
    assert f"dependencies: layer {layers[0].name[:12]}" in log.read_text()
    site = next((image.venv / "lib").glob("python3*/site-packages"))
    assert (site / "quart" / "app.py").samefile(layer_site / "quart" / "app.py")
    # The venv's own files are its own: uv's lock shared by every build would serialise them.
    for name in (".lock", "pyvenv.cfg"):
        mine, layer_file = image.venv / name, layers[0] / "venv" / name
        assert not (mine.exists() and layer_file.exists() and mine.samefile(layer_file)), name
    assert (site / "probe" / "server.py").is_file()
    assert sorted(p.relative_to(layers[0]) for p in layers[0].rglob("*")) == before
    assert not (layer_site / "probe").exists()


# ---- the Dockerfile reader ---------------------------------------------------------------------


@pytest.mark.slow
def test_reads_the_scaffolded_dockerfile(built: Built) -> None:
    text = (built.apps / "Dockerfile").read_text()
    config = final_stage(text, {"SERVICE_KIND": "frontend", "GIT_SHA": "abc"})
    assert config.name == "runtime"
    assert config.entrypoint == ["probe"]
    assert config.env["SERVICE_KIND"] == "frontend"
    assert config.env["GIT_SHA"] == "abc"
    assert config.env["SERVICE_NAME"] == ""  # ARG SERVICE_NAME="" stays empty
    assert config.env["PATH"].startswith("/app/.venv/bin:/usr/local/sbin:")
    assert config.venv == "/app/.venv"  # from the builder stage's UV_PROJECT_ENVIRONMENT


def test_dockerfile_substitution_quoting_and_stages() -> None:
    text = """\
# escape=`
ARG BASE=python:3.13
FROM ${BASE} AS base
ENV A=one `
    # a comment inside a continuation is dropped
    B="two words"
ENV A=changed C=$A D=${MISSING:-fallback} E=${A:+set} F='$A' G="$A" H=`$A
RUN <<EOF
ENV NOT_AN_INSTRUCTION=1
EOF
CMD ["serve", "--port", "80"]

FROM base AS final
ARG FLAVOUR=plain
ARG UNSET
ENV FLAVOUR=${FLAVOUR} UNSET="${UNSET}"
ENV OLD a  legacy value
WORKDIR /srv
WORKDIR app
STOPSIGNAL SIGINT
"""
    config = final_stage(text, {"FLAVOUR": "spicy"})
    env = config.env
    assert (env["A"], env["B"]) == ("changed", "two words")
    assert env["C"] == "one"  # expanded with the values from before this ENV, as Docker does
    assert (env["D"], env["E"], env["F"], env["G"], env["H"]) == (
        "fallback",
        "set",
        "$A",
        "one",
        "$A",
    )
    assert "NOT_AN_INSTRUCTION" not in env
    assert (env["FLAVOUR"], env["UNSET"]) == ("spicy", "")
    assert env["OLD"] == "a legacy value"  # the legacy `ENV key value` form
    assert config.cmd == ["serve", "--port", "80"]  # inherited from the `base` stage
    assert (config.workdir, config.stop_signal, config.base) == ("/srv/app", "SIGINT", "base")


def test_dockerfile_shell_form_and_errors() -> None:
    config = final_stage('FROM x\nSHELL ["/bin/bash", "-c"]\nENTRYPOINT exec probe --x\n')
    assert config.entrypoint == ["/bin/bash", "-c", "exec probe --x"]
    assert config.cmd == []
    assert [i.keyword for i in instructions("FROM a\nRUN a \\\n  b\nCMD x\n")] == [
        "FROM",
        "RUN",
        "CMD",
    ]
    for bad in ("ENV A=1\n", "", "FROM x\nENV A\n", 'FROM x\nENV A="open\n', "FROM x\nENV A=${B\n"):
        with pytest.raises(DockerfileError):
            final_stage(bad)


def test_staging_left_by_a_killed_build_is_swept(tmp_path: Path) -> None:
    proc = subprocess.Popen(["true"])
    proc.wait()  # exited and reaped: its pid names no process
    staging = tmp_path / "store" / "tmp"
    staging.mkdir(parents=True)
    (staging / f"build-{proc.pid}-abc").mkdir()
    (staging / f"build-{os.getpid()}-def").mkdir()  # a live build of this process
    ImageStore(tmp_path / "store")
    assert sorted(p.name for p in staging.iterdir()) == [f"build-{os.getpid()}-def"]
