"""The game day's bad changes to the deploy repo, made as a person with push rights would:

- `promote_unbuilt` (bad-image): a promotion commit naming an image tag that CI never built, as
  `gitops promote --tag` writes it. The Git host's gate judges form only, so it lands; the
  image pull fails where it is deployed. The tag is derived from the drill id (40 hex digits,
  like a commit sha), so every drill's tag is new and never marked bad by an earlier rollback.
- `push_unrendered` (broken-manifest): a PodDisruptionBudget added to an overlay's
  kustomization whose file was never committed (`git add` forgotten). The overlay no longer
  renders: the deploy repo's pre-receive gate refuses the push with the render error, and main
  stays where it was.

`break_overlay(tree, env, service)` is the pure part (an edit of a work tree).
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from console.contract import DRILL_TRAILER
from console.drill.change import IDENTITY, ChangeError
from console.git import GitError, commit_all, git
from console.promote.overlay import overlay_path
from console.promote.promote import PromoteRequest, promote

MISSING_FILE = "pod-disruption-budget.yaml"


def never_built_tag(drill_id: str) -> str:
    """A tag shaped like a commit sha that no build has: derived from the drill id."""
    return hashlib.sha1(f"gitops-drill-never-built:{drill_id}".encode()).hexdigest()  # noqa: S324


@dataclass(frozen=True)
class Promoted:
    sha: str  # the promotion commit in the deploy repo
    tag: str
    subject: str
    pushed_at: float


def promote_unbuilt(
    remote: str, env: str, service: str, drill_id: str, clock: Callable[[], float]
) -> Promoted:
    """Promote `service` in `env` to a tag that was never built, pushed to the deploy remote."""
    tag = never_built_tag(drill_id)
    outcome = promote(remote, PromoteRequest(service, env, tag=tag), push=True)
    if outcome.sha is None:
        raise ChangeError(f"{service} in {env} already runs {tag[:7]}: nothing was promoted")
    subject = git(["log", "-1", "--format=%s", outcome.sha], Path(remote)).strip()
    return Promoted(outcome.sha, tag, subject, clock())


def subject(env: str, service: str) -> str:
    return f"feat({env}): a PodDisruptionBudget for {service}"


def break_overlay(tree: Path, env: str, service: str) -> str:
    """Name a resource file that is not there in the overlay's kustomization; the overlay's
    directory (relative to the repo), e.g. overlays/dev/frontend."""
    path = tree / overlay_path(env, service)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ChangeError(f"the deploy repo has no {overlay_path(env, service)}") from None
    anchor = "resources:\n"
    if text.count(anchor) != 1:
        raise ChangeError(f"{overlay_path(env, service)} has no single `resources:` list to extend")
    head, _, tail = text.partition(anchor)
    lines = tail.split("\n")
    n = 0
    while n < len(lines) and lines[n].startswith("  - "):
        n += 1
    if n == 0:
        raise ChangeError(f"{overlay_path(env, service)}: `resources:` lists nothing")
    lines.insert(n, f"  - {MISSING_FILE}")
    path.write_text(head + anchor + "\n".join(lines), encoding="utf-8")
    return path.parent.relative_to(tree).as_posix()


def message(env: str, service: str, drill_id: str) -> str:
    return (
        f"{subject(env, service)}\n\n"
        f"Keep one {service} pod up through voluntary disruptions in {env}.\n\n"
        f"{DRILL_TRAILER}: {drill_id}\n"
    )


@dataclass(frozen=True)
class Refused:
    sha: str  # the commit as pushed (it exists only in the drill's clone)
    subject: str
    overlay: str
    head_before: str  # the remote's main before the push
    refusal: str  # what the gate said ("" when it accepted the push)
    pushed_at: float


def push_unrendered(
    remote: str,
    *,
    env: str,
    service: str,
    drill_id: str,
    clock: Callable[[], float],
    workdir: Path | None = None,
) -> Refused:
    """Clone the deploy remote, break the overlay, commit and push to main; the gate's answer."""
    with tempfile.TemporaryDirectory(prefix="gitops-drill-deploy-", dir=workdir) as tmp:
        clone = Path(tmp) / "deploy"
        git(["clone", "--quiet", remote, str(clone)], Path(tmp))
        before = git(["rev-parse", "HEAD"], clone).strip()
        overlay = break_overlay(clone, env, service)
        sha = commit_all(clone, message(env, service, drill_id), env=IDENTITY.env())
        refusal = ""
        try:
            git(["push", "--quiet", "origin", "HEAD:main"], clone)
        except GitError as exc:
            refusal = gate_says(exc.stderr)
        return Refused(sha, subject(env, service), overlay, before, refusal, clock())


def gate_says(stderr: str) -> str:
    """What the gate said (its `remote: rejected: ...` lines), without git's own lines."""
    said = [
        line.removeprefix("remote:").strip()
        for line in stderr.splitlines()
        if line.startswith("remote:") and line.removeprefix("remote:").strip()
    ]
    return "\n".join(said) or stderr.strip()
