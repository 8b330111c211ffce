"""The hooks of the local Git host's bare repositories: `python -m console.local.git.hook STAGE`.

pre-receive   protects main as branch protection and required checks do on a real host: no
              deletion, no force push, a linear history, Conventional Commit messages and, in a
              deploy repo, a tree whose overlays render (console.local.git.gate). Each reason is
              printed as `rejected: …` (the pusher sees `remote: rejected: …`) and the push is
              refused.
post-receive  POSTs a GitHub-format push event per updated ref to `{gitops.api-url}/api/webhook`.
              A platform that does not answer costs one line and at most a few seconds: the push
              has happened, and the platform polls as a fallback.

Configuration: the bare repository's `gitops.*` keys (see console.local.git.githost).
"""

from __future__ import annotations

import os
import sys
import tempfile
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from console.git import GitError, checkout_tree, git
from console.local.git.githost import (
    KEY_API_URL,
    KEY_CRD_DIR,
    KEY_KIND,
    KEY_REPO_URL,
    KEY_TOKEN_FILE,
)
from console.local.git.webhook import (
    EVENT_HEADER,
    SIGNATURE_HEADER,
    ZERO_SHA,
    PushCommit,
    signature,
)
from console.local.git.webhook import push_event_for as _push_event_for

# Each push starts both hooks as fresh processes: each imports only what its stage needs (the
# gate brings ruamel.yaml, the notification urllib), so they are imported where used.

PROTECTED = "refs/heads/main"
NOTIFY_TIMEOUT = 2.0
MAX_COMMITS = 2048  # GitHub lists at most this many commits in a push event
MAX_REASONS = 20
_FIELD, _RECORD = "\x1f", "\x1e"
# PushCommit's fields as `git log --format` prints them; the message (%B) and the paths follow.
_COMMIT_FORMAT = {
    "id": "%H",
    "tree_id": "%T",
    "author_name": "%an",
    "author_email": "%ae",
    "committer_name": "%cn",
    "committer_email": "%ce",
    "timestamp": "%aI",
}


@dataclass(frozen=True)
class Update:
    """One `<old> <new> <ref>` line of a receive hook's stdin."""

    old: str
    new: str
    ref: str


def parse_updates(text: str) -> list[Update]:
    updates = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 3:
            updates.append(Update(*parts))
    return updates


def _config(git_dir: Path, key: str) -> str | None:
    return git(["config", "--get", key], git_dir, check=False).strip() or None


def _short(sha: str) -> str:
    return sha[:7]


def _is_ancestor(git_dir: Path, old: str, new: str) -> bool:
    try:
        git(["merge-base", "--is-ancestor", old, new], git_dir)
    except GitError:
        return False
    return True


def _messages(git_dir: Path, revs: Sequence[str]) -> list[tuple[str, str]]:
    """(sha, full message) of the commits `revs` selects, oldest first."""
    out = git(["log", "--reverse", f"--format={_RECORD}%H{_FIELD}%B", *revs, "--"], git_dir)
    pairs = []
    for record in out.split(_RECORD)[1:]:
        sha, _, message = record.partition(_FIELD)
        pairs.append((sha, message))
    return pairs


@contextmanager
def _without_git_env() -> Iterator[None]:
    """The hook's GIT_DIR & co. hidden from the renderer (they name this repository, not
    whatever a kustomization might fetch)."""
    saved = {k: os.environ.pop(k) for k in list(os.environ) if k.startswith("GIT_")}
    try:
        yield
    finally:
        os.environ.update(saved)


def _escaping_links(tree: Path) -> list[str]:
    root = tree.resolve()
    found = []
    for dirpath, dirnames, filenames in os.walk(tree):
        for entry in (*dirnames, *filenames):
            path = Path(dirpath) / entry
            if path.is_symlink() and not path.resolve().is_relative_to(root):
                found.append(f"{path.relative_to(tree).as_posix()}: a link out of the repository")
    return found


def judge_commit_tree(
    git_dir: Path, sha: str, crd_dir: Path | None = None, changed: Sequence[str] | None = None
) -> list[str]:
    """gate.judge_deploy_tree on the tree of commit `sha`, checked out into a temporary directory
    with a temporary index (the bare repository is not touched; during pre-receive the objects
    are still in git's quarantine, which the inherited environment names)."""
    from console.local.git import gate  # noqa: PLC0415 - see the imports

    with tempfile.TemporaryDirectory(prefix="gitops-gate-") as tmp:
        tree = Path(tmp) / "tree"
        tree.mkdir()
        checkout_tree(git_dir, sha, tree)
        if escaping := _escaping_links(tree):
            return escaping
        with _without_git_env():
            return gate.judge_deploy_tree(tree, crd_dir, changed)


def check_update(git_dir: Path, update: Update, kind: str | None) -> list[str]:
    """Why `update` may not land; empty when it may. Only main is protected."""
    from console.local.git import gate  # noqa: PLC0415 - see the imports

    if update.ref != PROTECTED:
        return []
    old, new = update.old, update.new
    if new == ZERO_SHA:
        return ["deleting main is not allowed: main is protected"]
    if old != ZERO_SHA and not _is_ancestor(git_dir, old, new):
        return [
            f"force push to main: {_short(new)} does not contain the current main {_short(old)}; "
            "main is protected: fetch, rebase onto it and push again"
        ]
    revs = [new] if old == ZERO_SHA else [f"{old}..{new}"]
    reasons = []
    merges = git(["rev-list", "--min-parents=2", *revs, "--"], git_dir).split()
    reasons += [
        f"commit {_short(sha)} is a merge: main requires a linear history (rebase instead)"
        for sha in merges
    ]
    for sha, message in _messages(git_dir, revs):
        if (problem := gate.conventional(message)) is not None:
            reasons.append(f"commit {_short(sha)}: {problem}")
    if kind == "deploy":
        crd = _config(git_dir, KEY_CRD_DIR)
        # main only moves through this gate: what a push did not change was judged before.
        changed = None
        if old != ZERO_SHA:
            listed = git(["diff", "-z", "--name-only", "--no-renames", old, new, "--"], git_dir)
            changed = [path for path in listed.split("\0") if path]
        reasons += judge_commit_tree(git_dir, new, Path(crd) if crd else None, changed)
    return reasons


def _print_reasons(reasons: Sequence[str], out: TextIO) -> None:
    shown = list(reasons[:MAX_REASONS])
    if len(reasons) > MAX_REASONS:
        shown.append(f"… and {len(reasons) - MAX_REASONS} more")
    for reason in shown:
        first, *rest = reason.splitlines() or [""]
        print(f"rejected: {first}", file=out)
        for line in rest:
            print(f"rejected:   {line}", file=out)
    print("rejected: main is protected; nothing was updated", file=out)


def pre_receive(git_dir: Path, updates: Sequence[Update], out: TextIO) -> int:
    kind = _config(git_dir, KEY_KIND)
    try:
        reasons = [r for u in updates for r in check_update(git_dir, u, kind)]
    except Exception as exc:  # fail closed: an unchecked push must not land on main
        reasons = [f"the checks could not run: {exc}"]
    if reasons:
        _print_reasons(reasons, out)
        return 1
    return 0


def _paths(status_lines: str) -> tuple[list[str], list[str], list[str]]:
    added: list[str] = []
    modified: list[str] = []
    removed: list[str] = []
    for line in status_lines.splitlines():
        status, sep, path = line.partition("\t")
        if not sep:
            continue
        path = path[1:-1] if path.startswith('"') and path.endswith('"') else path
        {"A": added, "D": removed}.get(status[:1], modified).append(path)
    return added, modified, removed


def push_commits(git_dir: Path, update: Update) -> list[PushCommit]:
    """The commits `update` brought, oldest first, as GitHub lists them in a push event."""
    if update.new == ZERO_SHA:
        return []
    if update.old == ZERO_SHA:  # a new ref: the commits no other ref had
        revs = [update.new, "--not", f"--exclude={update.ref}", "--glob=refs/*"]
    else:
        revs = [f"{update.old}..{update.new}"]
    fmt = _FIELD.join([*_COMMIT_FORMAT.values(), "%B", ""])
    out = git(
        [
            "-c",
            "core.quotePath=false",
            "log",
            f"--max-count={MAX_COMMITS}",
            "--reverse",
            "--no-renames",
            "--name-status",
            "--diff-merges=first-parent",
            f"--format={_RECORD}{fmt}",
            *revs,
            "--",
        ],
        git_dir,
    )
    commits = []
    for record in out.split(_RECORD)[1:]:
        fields = record.split(_FIELD)
        if len(fields) < 9:
            continue
        named = dict(zip(_COMMIT_FORMAT, fields, strict=False))
        count = len(_COMMIT_FORMAT)
        message, status = _FIELD.join(fields[count:-1]), fields[-1]
        added, modified, removed = _paths(status)
        commits.append(
            PushCommit(
                **named,
                message=message.rstrip("\n"),
                added=tuple(added),
                modified=tuple(modified),
                removed=tuple(removed),
            )
        )
    return commits


def push_event(git_dir: Path, update: Update) -> bytes:
    """The GitHub-format push event body for `update` of the repository at `git_dir`."""
    repo_url = _config(git_dir, KEY_REPO_URL) or git_dir.as_uri()
    default = git(["symbolic-ref", "--quiet", "--short", "HEAD"], git_dir, check=False).strip()
    forced = ZERO_SHA not in (update.old, update.new) and not _is_ancestor(
        git_dir, update.old, update.new
    )
    return _push_event_for(
        repo_url,
        update.ref,
        update.old,
        update.new,
        push_commits(git_dir, update),
        default_branch=default or "main",
        forced=forced,
        pusher=os.environ.get("GIT_COMMITTER_NAME") or os.environ.get("USER") or "gitops",
    )


def post(url: str, body: bytes, token: str, timeout: float = NOTIFY_TIMEOUT) -> str | None:
    """POST `body` as a GitHub push event; None when the platform took it, else what happened.

    The whole exchange is bounded by `timeout` (not just each socket operation), and proxies
    are bypassed: the platform listens on this machine.
    """
    import urllib.error  # noqa: PLC0415 - see the imports
    import urllib.request  # noqa: PLC0415

    if not url.startswith(("http://", "https://")):
        return f"has an API URL that is not http(s): {url!r}"
    request = urllib.request.Request(  # noqa: S310 - the URL comes from the repo's own config
        url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            EVENT_HEADER: "push",
            SIGNATURE_HEADER: signature(token.encode(), body),
            "Authorization": f"Bearer {token}",
            "User-Agent": "GitHub-Hookshot/gitops-local",
        },
    )
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    result: list[str | None] = []

    def send() -> None:
        try:
            with opener.open(request, timeout=timeout) as response:
                response.read()
            result.append(None)
        except urllib.error.HTTPError as exc:
            result.append(f"answered {exc.code} {exc.reason}")
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            result.append(f"did not answer ({reason})")

    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    sender.join(timeout)
    return result[0] if result else f"did not answer within {timeout:g} s"


def post_receive(git_dir: Path, updates: Sequence[Update], out: TextIO) -> int:
    """Notify the platform of each update; always 0: the push has already happened."""
    try:
        api_url = _config(git_dir, KEY_API_URL)
        if not api_url or not updates:
            return 0
        url = api_url.rstrip("/") + "/api/webhook"
        token_file = _config(git_dir, KEY_TOKEN_FILE)
        try:
            token = Path(token_file).read_text(encoding="utf-8").strip() if token_file else ""
        except OSError as exc:
            print(
                f"gitops: cannot read the platform's token file ({exc.strerror}); "
                "the platform will see this push when it next polls",
                file=out,
            )
            return 0
        for update in updates:
            problem = post(url, push_event(git_dir, update), token)
            if problem is not None:
                print(
                    f"gitops: the platform at {api_url} {problem}; "
                    "it will see this push when it next polls",
                    file=out,
                )
                break
    except Exception as exc:  # a push never fails because of the notification
        print(f"gitops: could not notify the platform: {exc}", file=out)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    stage = args[0] if args else ""
    if stage not in {"pre-receive", "post-receive"}:
        print("usage: python -m console.local.git.hook pre-receive|post-receive", file=sys.stderr)
        return 2
    git_dir = Path(os.environ.get("GIT_DIR", ".")).resolve()
    updates = parse_updates(sys.stdin.read())
    if stage == "pre-receive":
        return pre_receive(git_dir, updates, sys.stderr)
    return post_receive(git_dir, updates, sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
