"""The drill's bad change, as a developer would make it in the apps repo: a feature that passes the
repo's unit tests and CI but breaks a health check once deployed.

The story ("works on my machine"): the frontend starts to authenticate to its backend with a
bearer token from a new variable, `BACKEND_TOKEN`, and its readiness check refuses to pass
without it, as it already does without `BACKEND_URL`. The developer sets the variable in the
tests' support code (so every test, and CI, passes) and adds a test that readiness fails without
it; nobody adds it to the Deployment. Deployed, the new pods run and answer liveness but never
pass readiness: the rollout halts with the old pods serving, past its progress deadline.

The change is deterministic (the same edits every run) and unique per run: the test token names
the drill, so every drill's commit has a new tree and CI builds a new image, even on a workspace
where an earlier drill's change is already on main (its edits are then found in place, and only
the token changes).

`apply_change(tree, drill_id)` is the pure part (file edits in a work tree); `push_change` clones
the apps remote, applies it, commits with a Conventional Commit message and pushes.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from console.contract import DRILL_TRAILER
from console.git import Identity, commit_all, git

VARIABLE = "BACKEND_TOKEN"
SUBJECT = "feat(frontend): authenticate to the backend with a bearer token"
BODY = (
    "The frontend sends `Authorization: Bearer $BACKEND_TOKEN` with its calls to the backend,\n"
    "and its readiness check fails while BACKEND_TOKEN is unset, as it does without BACKEND_URL.\n"
    "The tests set a token in tests/support.py."
)
WHAT_IT_CHANGED = (
    "the frontend's readiness check now requires the variable BACKEND_TOKEN "
    "(src/probe/frontend.py, src/probe/config.py); no Deployment sets it"
)
WHY_CI_PASSED = (
    "the unit tests set BACKEND_TOKEN themselves (tests/support.py), so every test saw a ready "
    "frontend; no test renders the deploy repo's Deployment and checks its env against what "
    "the service requires"
)
IDENTITY = Identity("gitops demo", "demo@gitops.invalid")  # the developer the drill plays
_TOKEN_LINE = re.compile(r'^TEST_BACKEND_TOKEN = "[^"\n]*"', re.MULTILINE)


class ChangeError(RuntimeError):
    """The apps repo is not shaped as the drill expects: the change cannot be applied."""


@dataclass(frozen=True)
class Edit:
    """Replace `before` by `after` in `path`; already done when `done` (default: `after`) is
    there."""

    path: str
    before: str
    after: str
    done: str = ""


_TIMEOUT_DOC = "    BACKEND_TIMEOUT_S   deadline for one look at the backend (default 2.0)\n"
_TIMEOUT_FIELD = "    backend_timeout_s: float\n"
_TIMEOUT_LOAD = (
    '        backend_timeout_s=_seconds("BACKEND_TIMEOUT_S", '
    'get("BACKEND_TIMEOUT_S", "2.0"), 0.001),\n'
)
_TIMEOUT_VAR = '        "BACKEND_TIMEOUT_S",\n'


def new_setting(variable: str, doc: str, field: str, load: str) -> tuple[Edit, ...]:
    """A new variable of the apps' config, after BACKEND_TIMEOUT_S wherever that is named: the
    docstring's table, the Config field, how load_config reads it, and the tests' list of the
    variables they clear."""
    return (
        Edit("src/probe/config.py", _TIMEOUT_DOC, f"{_TIMEOUT_DOC}    {variable:<20}{doc}\n"),
        Edit("src/probe/config.py", _TIMEOUT_FIELD, f"{_TIMEOUT_FIELD}    {field}\n"),
        Edit("src/probe/config.py", _TIMEOUT_LOAD, f"{_TIMEOUT_LOAD}        {load},\n"),
        Edit("tests/support.py", _TIMEOUT_VAR, f'{_TIMEOUT_VAR}        "{variable}",\n'),
    )


EDITS: tuple[Edit, ...] = (
    *new_setting(
        "BACKEND_TOKEN",
        "bearer token for the backend; readiness fails without it",
        "backend_token: str",
        'backend_token=get("BACKEND_TOKEN", "")',
    ),
    Edit(
        "src/probe/frontend.py",
        "    problem = backend_url_problem(config.backend_url)\n    return failed(problem)",
        "    problem = backend_url_problem(config.backend_url)\n"
        "    if problem is None and not config.backend_token:\n"
        '        problem = "BACKEND_TOKEN is not set: the backend refuses calls without it"\n'
        "    return failed(problem)",
    ),
    Edit(
        "src/probe/frontend.py",
        "    probe = BackendProbe(config.backend_url, config.backend_timeout_s)\n",
        "    probe = BackendProbe(config.backend_url, config.backend_timeout_s, "
        "token=config.backend_token)\n",
    ),
    Edit(
        "src/probe/backend_probe.py",
        "    def __init__(self, base_url: str, timeout_s: float) -> None:\n"
        "        self.base_url = base_url\n"
        "        self.timeout_s = timeout_s\n",
        '    def __init__(self, base_url: str, timeout_s: float, token: str = "") -> None:\n'
        "        self.base_url = base_url\n"
        "        self.timeout_s = timeout_s\n"
        "        self.token = token\n",
    ),
    Edit(
        "src/probe/backend_probe.py",
        "            timeout=httpx.Timeout(self.timeout_s),\n",
        "            timeout=httpx.Timeout(self.timeout_s),\n"
        '            headers={"Authorization": f"Bearer {self.token}"} if self.token else {},\n',
    ),
    Edit(
        "tests/support.py",
        "def make_config(**env: str) -> Config:\n    return load_config(env)\n",
        "def make_config(**env: str) -> Config:\n"
        '    return load_config({"BACKEND_TOKEN": TEST_BACKEND_TOKEN, **env})\n',
    ),
    Edit(
        "tests/support.py",
        "\n\ndef free_port() -> int:\n",
        "\n# What the frontend authenticates to the backend with in tests.\n"
        'TEST_BACKEND_TOKEN = ""  # noqa: S105 - a test value\n'
        "\n\ndef free_port() -> int:\n",
        done="\nTEST_BACKEND_TOKEN = ",
    ),
    Edit(
        "tests/test_frontend.py",
        "\n\nasync def test_readiness_fails_without_a_usable_backend_url(",
        "\n\nasync def test_readiness_fails_without_the_backend_token(client_for: ClientFactory) "
        "-> None:\n"
        "    client = await client_for(\n"
        '        SERVICE_KIND="frontend", BACKEND_URL="http://backend:8080", BACKEND_TOKEN=""\n'
        "    )\n"
        '    response = await client.get("/readyz")\n'
        "    assert response.status_code == 503\n"
        '    output = (await response.get_json())["checks"]["config"]["output"]\n'
        '    assert "BACKEND_TOKEN" in output\n'
        "\n\nasync def test_readiness_fails_without_a_usable_backend_url(",
    ),
)


@dataclass(frozen=True)
class Unique:
    """The one line of `path` matching `pattern` is rewritten to `template` with `{drill}` the
    drill id: each drill's commit has a new tree, so CI builds a new image every time."""

    path: str
    pattern: str
    template: str


@dataclass(frozen=True)
class AppsChange:
    """A change to the apps repo as a developer makes it: its edits, its commit message and the
    story the post-mortem tells (what it changed, why CI passed, what to do about it)."""

    name: str
    subject: str
    body: str
    edits: tuple[Edit, ...]
    unique: Unique
    what_changed: str
    why_ci_passed: str
    follow_ups: tuple[str, ...] = ()

    def apply(self, tree: Path, drill_id: str) -> list[str]:
        """Make the change in the apps repo work tree `tree` for drill `drill_id`; the paths it
        changed (relative to `tree`). Raises ChangeError when a file is not as expected (and
        then changes nothing)."""
        if not re.fullmatch(r"[0-9A-Za-z._-]+", drill_id):
            raise ValueError(f"drill id {drill_id!r}: letters, digits, '.', '_' and '-' only")
        texts: dict[str, str] = {}
        for edit in self.edits:
            text = texts.get(edit.path)
            if text is None:
                text = _read(tree, edit.path)
            texts[edit.path] = _apply(edit, text)
        u = self.unique
        text = texts.get(u.path)
        if text is None:
            text = _read(tree, u.path)
        texts[u.path], n = re.subn(
            u.pattern, u.template.replace("{drill}", drill_id), text, flags=re.MULTILINE
        )
        if n != 1:
            raise ChangeError(f"{u.path}: expected one line matching {u.pattern!r}, found {n}")
        changed = []
        for path, text in texts.items():
            target = tree / path
            before = target.read_text(encoding="utf-8") if target.exists() else None
            if before != text:
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(text, encoding="utf-8")
                changed.append(path)
        return changed

    def message(self, drill_id: str) -> str:
        return f"{self.subject}\n\n{self.body}\n\n{DRILL_TRAILER}: {drill_id}\n"


def _read(tree: Path, path: str) -> str:
    try:
        return (tree / path).read_text(encoding="utf-8")
    except FileNotFoundError:
        return ""  # a new file: its Edit's `before` is "" (anything else is refused below)


READINESS = AppsChange(
    name="readiness",
    subject=SUBJECT,
    body=BODY,
    edits=EDITS,
    unique=Unique(
        "tests/support.py", _TOKEN_LINE.pattern, 'TEST_BACKEND_TOKEN = "test-token-{drill}"'
    ),
    what_changed=WHAT_IT_CHANGED,
    why_ci_passed=WHY_CI_PASSED,
    follow_ups=(
        "Revert {source} in the apps repo, or give the Deployment the variable it needs "
        "(from a Secret) before promoting it again",
        "Test readiness in CI against the env each overlay renders (a rendered Deployment "
        "started with its own env), not only in unit tests",
    ),
)


def apply_change(tree: Path, drill_id: str) -> list[str]:
    """The readiness change (READINESS.apply): see the module doc."""
    return READINESS.apply(tree, drill_id)


def _apply(edit: Edit, text: str) -> str:
    if (edit.done or edit.after) in text:
        return text  # an earlier drill's change, already on main
    if not edit.before:
        if text:
            raise ChangeError(f"{edit.path} exists already: the drill would create it")
        return edit.after
    if text.count(edit.before) != 1:
        raise ChangeError(
            f"{edit.path} is not as the drill expects (it looks for {edit.before.strip()[:60]!r}):"
            " the apps template changed, update console/drill/change.py"
        )
    return text.replace(edit.before, edit.after)


def message(drill_id: str) -> str:
    return READINESS.message(drill_id)


@dataclass(frozen=True)
class PushedChange:
    sha: str
    parent: str  # the apps repo's main before the push
    subject: str
    files: tuple[str, ...]
    pushed_at: float  # time.time() when the push returned


def push_change(
    remote: str,
    drill_id: str,
    clock: Callable[[], float],
    workdir: Path | None = None,
    *,
    change: AppsChange = READINESS,
    base: str = "",
) -> PushedChange:
    """Clone the apps remote, make the change, commit and push it to main; what was pushed.

    With `base` (the known-good build's commit), the change is made on that commit's tree, on
    top of main: what an earlier drill's change left on main (its image was rolled back, its
    source was not) does not ride along with this one."""
    with tempfile.TemporaryDirectory(prefix="gitops-drill-apps-", dir=workdir) as tmp:
        clone = Path(tmp) / "apps"
        git(["clone", "--quiet", remote, str(clone)], Path(tmp))
        parent = git(["rev-parse", "HEAD"], clone).strip()
        if base and base != parent and _is_commit(clone, base):
            git(["read-tree", "--reset", "-u", base], clone)
        files = change.apply(clone, drill_id)
        sha = commit_all(clone, change.message(drill_id), env=IDENTITY.env())
        git(["push", "--quiet", "origin", "HEAD:main"], clone)
        return PushedChange(sha, parent, change.subject, tuple(files), clock())


def _is_commit(repo: Path, rev: str) -> bool:
    out = git(["cat-file", "-t", rev], repo, check=False).strip()
    return out == "commit"
