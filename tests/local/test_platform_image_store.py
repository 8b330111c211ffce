"""The platform's own image in the embedded image store: built from the source `gitops` runs
from (a copy with uncommitted edits, not a checkout at all), runnable, rebuilt only when the
source changed, and then its tag moves while service tags stay immutable."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from console.local.ci import platform_image
from console.local.ci.images import Image, ImageStore, ImmutableTagError
from tests.helpers import ROOT

REF = "registry.example/acme/gitops-platform:0.1.0"


def source_copy(dest: Path) -> Path:
    """What the Dockerfile copies, plus things it does not (they must not matter), in a
    directory that is no git checkout."""
    for name in (*platform_image.CONTEXT_FILES, "repos.yaml"):
        shutil.copy2(ROOT / name, dest / name)
    shutil.copytree(ROOT / "console", dest / "console", ignore=shutil.ignore_patterns("*.pyc"))
    (dest / "console" / "__pycache__").mkdir(exist_ok=True)
    (dest / "console" / "__pycache__" / "junk.pyc").write_bytes(b"not in the image")
    return dest


def marked(source: Path, mark: str) -> None:
    """An uncommitted edit the image must carry."""
    (source / "console" / "image_mark.py").write_text(f"MARK = {mark!r}\n", encoding="utf-8")


def run(image: Image, *args: str, cwd: Path | None = None) -> str:
    """`gitops ARGS` (or, with `python` first, the image's interpreter) as the image runs it;
    in `cwd`, since `python -c` imports what the current directory holds first."""
    argv = [str(image.venv / "bin" / "python"), *args[1:]] if args[:1] == ("python",) else None
    done = subprocess.run(
        argv or image.argv(None, list(args)),
        env=image.environ(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=cwd,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def mark_of(image: Image, tmp_path: Path) -> str:
    return run(image, "python", "-c", "import console.image_mark as m; print(m.MARK)", cwd=tmp_path)


@pytest.mark.slow
def test_the_platform_image_builds_from_its_source_runs_and_moves_its_tag(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    source = source_copy(tmp_path / "src")
    marked(source, "one")
    store = ImageStore(tmp_path / "images")
    said: list[str] = []

    first = platform_image.ensure(store, REF, root=source, progress=said.append)
    assert (first.name, first.tag) == ("registry.example/acme/gitops-platform", "0.1.0")
    assert "usage: gitops" in run(first, "--help")
    assert "--events-file" in run(first, "guard", "--help")
    assert mark_of(first, tmp_path) == "one\n"
    assert not list(first.venv.rglob("junk.pyc")), "only what the Dockerfile copies"
    assert any("building the platform image" in line for line in said), said

    said.clear()
    assert platform_image.ensure(store, REF, root=source, progress=said.append) == first
    assert said == [f"platform image {REF}: up to date ({first.digest[:19]})"], "nothing built"

    marked(source, "two")
    second = platform_image.ensure(store, REF, root=source, progress=said.append)
    assert second.digest != first.digest
    assert store.resolve(REF) == second, "the platform's tag moved to the new source"
    assert first.path.is_dir(), "the old build stays for the pod that still runs it"
    assert mark_of(second, tmp_path) == "two\n"
    # Any other build keeps tags immutable.
    snap = platform_image.snapshot(source, tmp_path / "again")
    with pytest.raises(ImmutableTagError):
        store.build(snap.repo, snap.commit, first.name, first.tag, {"VERSION": "changed"}, log=None)


def test_a_digest_pinned_reference_or_a_foreign_tree_is_refused(tmp_path: Path) -> None:
    store = ImageStore(tmp_path / "images")
    pinned = f"registry.example/acme/gitops-platform@sha256:{'a' * 64}"
    with pytest.raises(platform_image.PlatformImageError, match="pinned by digest"):
        platform_image.ensure(store, pinned, root=ROOT)
    with pytest.raises(platform_image.PlatformImageError, match="not the platform's source"):
        platform_image.ensure(store, REF, root=tmp_path)
    assert store.images() == []
