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


EDITS: tuple[Edit, ...] = (
    Edit(
        "src/probe/config.py",
        "    BACKEND_TIMEOUT_S   deadline for one look at the backend (default 2.0)\n",
        "    BACKEND_TIMEOUT_S   deadline for one look at the backend (default 2.0)\n"
        "    BACKEND_TOKEN       bearer token for the backend; readiness fails without it\n",
    ),
    Edit(
        "src/probe/config.py",
        "    backend_timeout_s: float\n",
        "    backend_timeout_s: float\n    backend_token: str\n",
    ),
    Edit(
        "src/probe/config.py",
        '        backend_timeout_s=_seconds("BACKEND_TIMEOUT_S", '
        'get("BACKEND_TIMEOUT_S", "2.0"), 0.001),\n',
        '        backend_timeout_s=_seconds("BACKEND_TIMEOUT_S", '
        'get("BACKEND_TIMEOUT_S", "2.0"), 0.001),\n'
        '        backend_token=get("BACKEND_TOKEN", ""),\n',
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
        '        "BACKEND_TIMEOUT_S",\n',
        '        "BACKEND_TIMEOUT_S",\n        "BACKEND_TOKEN",\n',
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


def apply_change(tree: Path, drill_id: str) -> list[str]:
    """Make the bad change in the apps repo work tree `tree` for drill `drill_id`; the paths it
    changed (relative to `tree`). Raises ChangeError when a file is not as expected."""
    if not re.fullmatch(r"[0-9A-Za-z._-]+", drill_id):
        raise ValueError(f"drill id {drill_id!r}: letters, digits, '.', '_' and '-' only")
    texts: dict[str, str] = {}
    for edit in EDITS:
        text = texts.get(edit.path)
        if text is None:
            try:
                text = (tree / edit.path).read_text(encoding="utf-8")
            except FileNotFoundError:
                raise ChangeError(f"the apps repo has no {edit.path}") from None
        texts[edit.path] = _apply(edit, text)
    support = "tests/support.py"
    texts[support], n = _TOKEN_LINE.subn(
        f'TEST_BACKEND_TOKEN = "test-token-{drill_id}"', texts[support]
    )
    if n != 1:
        raise ChangeError(f"{support}: expected one TEST_BACKEND_TOKEN line, found {n}")
    changed = []
    for path, text in texts.items():
        if (tree / path).read_text(encoding="utf-8") != text:
            (tree / path).write_text(text, encoding="utf-8")
            changed.append(path)
    return changed


def _apply(edit: Edit, text: str) -> str:
    if (edit.done or edit.after) in text:
        return text  # an earlier drill's change, already on main
    if text.count(edit.before) != 1:
        raise ChangeError(
            f"{edit.path} is not as the drill expects (it looks for {edit.before.strip()[:60]!r}):"
            " the apps template changed, update console/drill/change.py"
        )
    return text.replace(edit.before, edit.after)


def message(drill_id: str) -> str:
    return f"{SUBJECT}\n\n{BODY}\n\n{DRILL_TRAILER}: {drill_id}\n"


@dataclass(frozen=True)
class PushedChange:
    sha: str
    parent: str  # the apps repo's main before the push
    subject: str
    files: tuple[str, ...]
    pushed_at: float  # time.time() when the push returned


def push_change(
    remote: str, drill_id: str, clock: Callable[[], float], workdir: Path | None = None
) -> PushedChange:
    """Clone the apps remote, make the change, commit and push it to main; what was pushed."""
    with tempfile.TemporaryDirectory(prefix="gitops-drill-apps-", dir=workdir) as tmp:
        clone = Path(tmp) / "apps"
        git(["clone", "--quiet", remote, str(clone)], Path(tmp))
        parent = git(["rev-parse", "HEAD"], clone).strip()
        files = apply_change(clone, drill_id)
        sha = commit_all(clone, message(drill_id), env=IDENTITY.env())
        git(["push", "--quiet", "origin", "HEAD:main"], clone)
        return PushedChange(sha, parent, SUBJECT, tuple(files), clock())
