"""The local Git host: bare repositories in the workspace, one per generated repo, whose hooks
protect `main` (console.local.git.gate) and tell the platform about every push (a GitHub-format push
event POSTed to its `/api/webhook`).

Everything the hooks need lives in the bare repository's own config, so a hook is a two-line
script and the platform can move (a new port after a restart) by rewriting the config:

    gitops.kind        infra | app | deploy: which checks guard main
    gitops.api-url     the platform's base URL; unset: no notification (the platform polls)
    gitops.token-file  the platform's bearer token, a 0600 file the hook reads (never prints)
    gitops.repo-url    the URL the push events name the repository by (default: its file:// URL)
    gitops.crd-dir     optional: CRDs to validate a deploy repo's Argo CD objects against
"""

from __future__ import annotations

import os
import re
import shlex
import sys
from pathlib import Path

from console.git import GitError, git, identity_env

KINDS = ("infra", "app", "deploy")
HOOKS = ("pre-receive", "post-receive")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
KEY_KIND, KEY_API_URL, KEY_TOKEN_FILE, KEY_REPO_URL, KEY_CRD_DIR = (
    "gitops.kind",
    "gitops.api-url",
    "gitops.token-file",
    "gitops.repo-url",
    "gitops.crd-dir",
)


class GitHostError(RuntimeError):
    """A repository cannot be created or seeded as asked; the message says why."""


def hook_script(stage: str, python: str | None = None) -> str:
    """The hook `stage` as a shell script that runs console.local.git.hook with this interpreter.

    Nothing from a pusher reaches the script: its only variable part is the interpreter's path,
    quoted. `-P` keeps the bare repository (the hook's working directory) off sys.path.
    """
    if stage not in HOOKS:
        raise ValueError(f"unknown hook {stage!r}")
    exe = shlex.quote(python or sys.executable)
    return (
        "#!/bin/sh\n"
        "# Installed by gitops (console/local/git/githost.py) and rewritten on every start.\n"
        f"exec {exe} -P -m console.local.git.hook {stage}\n"
    )


def read_kind(work_tree: Path) -> str | None:
    """The template (infra/app/deploy) a generated repository records in .copier-answers.yml."""
    answers = work_tree / ".copier-answers.yml"
    if not answers.is_file():
        return None
    for line in answers.read_text(encoding="utf-8").splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() == "template":
            kind = value.split("#", 1)[0].strip().strip("'\"")
            return kind if kind in KINDS else None
    return None


class GitHost:
    """Bare repositories under `root`, named `<name>.git`, wired to the platform at `api_url`."""

    def __init__(
        self, root: Path, api_url: str | None = None, token_file: Path | None = None
    ) -> None:
        self.root = root
        self.api_url = api_url.rstrip("/") if api_url else None
        self.token_file = token_file

    def path(self, name: str) -> Path:
        if not _NAME.match(name) or name.endswith(".git"):
            raise GitHostError(
                f"{name!r} is not a repository name: letters, digits, '.', '_' and '-', "
                "starting with a letter or digit, without .git"
            )
        return self.root / f"{name}.git"

    def url(self, name: str) -> str:
        """What clients clone and push to: the bare repository's absolute path."""
        return str(self.path(name).resolve())

    def exists(self, name: str) -> bool:
        return (self.path(name) / "HEAD").is_file()

    def kind(self, name: str) -> str | None:
        if not self.exists(name):
            return None
        return git(["config", "--get", KEY_KIND], self.path(name), check=False).strip() or None

    def repos(self) -> dict[str, str]:
        """name -> kind of every repository on this host."""
        if not self.root.is_dir():
            return {}
        out = {}
        for bare in sorted(self.root.glob("*.git")):
            name = bare.name.removesuffix(".git")
            if _NAME.match(name) and (kind := self.kind(name)):
                out[name] = kind
        return out

    def head(self, name: str, branch: str = "main") -> str | None:
        """The commit `branch` points to, or None before the first push (what a poller reads)."""
        out = git(
            ["rev-parse", "--verify", "--quiet", f"refs/heads/{branch}^{{commit}}"],
            self.path(name),
            check=False,
        )
        return out.strip() or None

    def create(self, name: str, kind: str, repo_url: str | None = None) -> Path:
        """Make (or, when it exists with the same kind, re-wire) the bare repository `name`.

        `repo_url` is the URL push events name it by, e.g. the `repoURL` the deploy repo's
        Applications use for it; by default its file:// URL.
        """
        if kind not in KINDS:
            raise GitHostError(f"{name}: unknown kind {kind!r}; expected one of {', '.join(KINDS)}")
        bare = self.path(name)
        if self.exists(name):
            existing = self.kind(name)
            if existing not in {None, kind}:
                raise GitHostError(f"{bare} already exists as a {existing} repository, not {kind}")
        else:
            bare.mkdir(parents=True, exist_ok=True)
            git(["init", "--quiet", "--bare", "--initial-branch", "main"], bare)
            # As a real host does: check every object a push brings.
            git(["config", "receive.fsckObjects", "true"], bare)
        git(["config", KEY_KIND, kind], bare)
        if repo_url:
            git(["config", KEY_REPO_URL, repo_url], bare)
        self._wire(bare)
        return bare

    def connect(self, api_url: str | None, token_file: Path | None) -> None:
        """Point every repository's hooks at the platform now at `api_url` (after a restart)."""
        self.api_url = api_url.rstrip("/") if api_url else None
        self.token_file = token_file
        for name in self.repos():
            self._wire(self.path(name))

    def _wire(self, bare: Path) -> None:
        for key, value in (
            (KEY_API_URL, self.api_url),
            (KEY_TOKEN_FILE, str(self.token_file.resolve()) if self.token_file else None),
        ):
            if value:
                git(["config", key, value], bare)
            else:
                git(["config", "--unset-all", key], bare, check=False)
        hooks = bare / "hooks"
        hooks.mkdir(exist_ok=True)
        for stage in HOOKS:
            script = hooks / stage
            tmp = hooks / f".{stage}.tmp"
            tmp.write_text(hook_script(stage), encoding="utf-8")
            tmp.chmod(0o755)
            os.replace(tmp, script)

    def seed(self, name: str, kind: str | None, work_tree: Path, branch: str = "main") -> str:
        """Create `name` and push `work_tree`'s `branch` to its main, through the hooks (the
        first commit must pass the gate like any other). Returns the commit pushed.

        `kind` None: read from the work tree's .copier-answers.yml (`template`).
        """
        kind = kind or read_kind(work_tree)
        if kind is None:
            raise GitHostError(
                f"{work_tree}: no kind given and no `template` in .copier-answers.yml"
            )
        bare = self.create(name, kind)
        sha = git(["rev-parse", "--verify", f"{branch}^{{commit}}"], work_tree).strip()
        try:
            git(
                ["push", "--quiet", str(bare.resolve()), f"{sha}:refs/heads/main"],
                work_tree,
                env=identity_env(work_tree),
            )
        except GitError as exc:
            raise GitHostError(f"seeding {name} from {work_tree}: {exc.stderr}") from None
        return sha
