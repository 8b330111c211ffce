"""GitHub push events, both ways: read the body GitHub (or the local Git host's hook) POSTs to
`/api/webhook`, and write one for a push to a local bare repository.

Pure: no I/O. The bodies written here carry the fields GitHub sends that Argo CD's own webhook
handler reads (`repository.html_url`, `repository.default_branch`, `ref`, `before`, `after`,
`commits[].added/modified/removed`), with the JSON types GitHub uses, so either consumer accepts
them.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

ZERO_SHA = "0" * 40
EVENT_HEADER = "X-GitHub-Event"
SIGNATURE_HEADER = "X-Hub-Signature-256"
_SCP_LIKE = re.compile(r"^(?:[^@/\s]+@)?(?P<host>[^:/\s]+):(?!//)(?P<path>.+)$")


class WebhookError(ValueError):
    """The request is not a GitHub push or ping event; the message says what is wrong."""


def normalize_url(url: str) -> str:
    """A repository URL as a key for matching: every way of naming one repository gives one key.

    `git@host:org/repo.git`, `ssh://git@host/org/repo`, `git://host/org/repo.git` and
    `https://host/org/repo/` all give `https://host/org/repo`. The host is lowercased and so is the
    path, as Argo CD does (GitHub, GitLab and Bitbucket treat org and repo names
    case-insensitively); user info is dropped, and the port too unless it is an HTTP(S) URL's own.
    Local repositories (`/abs/path/x.git`, `file:///abs/path/x.git`) give `file:///abs/path/x`,
    case kept: file systems are case-sensitive.
    """
    network, canonical = _canonical(url)
    return canonical.lower() if network else canonical


def _canonical(url: str) -> tuple[bool, str]:
    """(is a network URL, the URL in `https://host/path` or `file:///path` form, path case kept)."""
    url = url.strip()
    if url.startswith("/"):
        return False, "file://" + _strip(url)
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme == "file":
        return False, "file://" + _strip(parts.path)
    if scheme in {"http", "https", "ssh", "git", "git+ssh", "ssh+git"} and parts.hostname:
        host = parts.hostname.lower()
        if scheme in {"http", "https"} and parts.port and parts.port not in {80, 443}:
            host = f"{host}:{parts.port}"
        return True, f"https://{host}/{_strip(parts.path).lstrip('/')}"
    if scp := _SCP_LIKE.match(url):
        return True, f"https://{scp['host'].lower()}/{_strip(scp['path']).lstrip('/')}"
    return False, _strip(url)


def _strip(path: str) -> str:
    path = path.rstrip("/")
    return path.removesuffix(".git").rstrip("/")


@dataclass(frozen=True)
class PushCommit:
    """One commit of a push, as GitHub lists it in `commits`."""

    id: str
    message: str
    timestamp: str = ""  # ISO 8601, the author date
    author_name: str = ""
    author_email: str = ""
    committer_name: str = ""
    committer_email: str = ""
    tree_id: str = ""
    added: tuple[str, ...] = ()
    modified: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()


@dataclass(frozen=True)
class PushEvent:
    """A push: which repository, which ref moved from where to where, and what it touched."""

    repo_url: str  # normalize_url(repository.html_url)
    urls: frozenset[str]  # normalised html_url, clone_url, ssh_url, git_url, url
    ref: str
    before: str
    after: str
    commits: tuple[PushCommit, ...] = ()
    default_branch: str | None = None
    created: bool = False
    deleted: bool = False
    forced: bool = False

    @property
    def branch(self) -> str | None:
        """The branch pushed (`main` for `refs/heads/main`); None for a tag or other ref."""
        return self.ref.removeprefix("refs/heads/") if self.ref.startswith("refs/heads/") else None

    @property
    def tag(self) -> str | None:
        return self.ref.removeprefix("refs/tags/") if self.ref.startswith("refs/tags/") else None

    @property
    def changed_paths(self) -> tuple[str, ...]:
        """Every path the pushed commits added, modified or removed, sorted."""
        paths = {p for c in self.commits for p in (*c.added, *c.modified, *c.removed)}
        return tuple(sorted(paths))

    def matches(self, url: str) -> bool:
        """True when `url` names the pushed repository, in any of its spellings."""
        return normalize_url(url) in self.urls


def _header(headers: Mapping[str, str], name: str) -> str | None:
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted:
            return value
    return None


def _payload(headers: Mapping[str, str], body: bytes) -> Any:
    content_type = (_header(headers, "Content-Type") or "").split(";")[0].strip().lower()
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise WebhookError("the body is not UTF-8") from None
    if content_type == "application/x-www-form-urlencoded":
        # GitHub's other content type: the JSON is the `payload` form field.
        values = parse_qs(text).get("payload")
        if not values:
            raise WebhookError("a form-encoded webhook without a `payload` field")
        text = values[0]
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise WebhookError(f"the body is not valid JSON: {exc}") from None


def _str(obj: Mapping[str, Any], key: str, where: str) -> str:
    value = obj.get(key)
    if not isinstance(value, str) or not value:
        raise WebhookError(f"push event: `{where}{key}` is missing or not a string")
    return value


def _paths(commit: Mapping[str, Any], key: str, where: str) -> tuple[str, ...]:
    value = commit.get(key) or []
    if not isinstance(value, list) or not all(isinstance(p, str) for p in value):
        raise WebhookError(f"push event: `{where}.{key}` is not a list of paths")
    return tuple(value)


def _commit(raw: Any, where: str) -> PushCommit:
    if not isinstance(raw, dict):
        raise WebhookError(f"push event: `{where}` is not an object")
    author: dict[str, Any] = raw["author"] if isinstance(raw.get("author"), dict) else {}
    committer: dict[str, Any] = raw["committer"] if isinstance(raw.get("committer"), dict) else {}
    return PushCommit(
        id=_str(raw, "id", f"{where}."),
        message=str(raw.get("message") or ""),
        timestamp=str(raw.get("timestamp") or ""),
        author_name=str(author.get("name") or ""),
        author_email=str(author.get("email") or ""),
        committer_name=str(committer.get("name") or ""),
        committer_email=str(committer.get("email") or ""),
        tree_id=str(raw.get("tree_id") or ""),
        added=_paths(raw, "added", where),
        modified=_paths(raw, "modified", where),
        removed=_paths(raw, "removed", where),
    )


def parse_push(headers: Mapping[str, str], body: bytes) -> PushEvent | None:
    """The push event of a webhook request; None for a ping (GitHub's hello on hook creation).

    `headers` may use any case. Raises WebhookError for another event type, a body that is not
    JSON, or a push without the fields a push always has.
    """
    event = _header(headers, EVENT_HEADER)
    if event is None:
        raise WebhookError(f"not a GitHub webhook: no {EVENT_HEADER} header")
    event = event.strip().lower()
    if event not in {"push", "ping"}:
        raise WebhookError(f"unsupported GitHub event {event!r}: only push (and ping) are handled")
    data = _payload(headers, body)
    if not isinstance(data, dict):
        raise WebhookError("the body is not a JSON object")
    if event == "ping":
        return None
    repo = data.get("repository")
    if not isinstance(repo, dict):
        raise WebhookError("push event: `repository` is missing or not an object")
    html_url = _str(repo, "html_url", "repository.")
    urls = {normalize_url(html_url)}
    for key in ("clone_url", "ssh_url", "git_url", "url", "svn_url"):
        if (
            isinstance(repo.get(key), str)
            and repo[key]
            and not repo[key].startswith("https://api.")
        ):
            urls.add(normalize_url(repo[key]))
    raw_commits = data.get("commits") or []
    if not isinstance(raw_commits, list):
        raise WebhookError("push event: `commits` is not a list")
    default_branch = repo.get("default_branch") or repo.get("master_branch")
    return PushEvent(
        repo_url=normalize_url(html_url),
        urls=frozenset(urls),
        ref=_str(data, "ref", ""),
        before=_str(data, "before", ""),
        after=_str(data, "after", ""),
        commits=tuple(_commit(c, f"commits[{i}]") for i, c in enumerate(raw_commits)),
        default_branch=default_branch if isinstance(default_branch, str) else None,
        created=bool(data.get("created")),
        deleted=bool(data.get("deleted")),
        forced=bool(data.get("forced")),
    )


def _repository(repo_url: str, default_branch: str) -> dict[str, Any]:
    """GitHub's `repository` object for `repo_url`, each URL in the spelling GitHub uses."""
    network, key = _canonical(repo_url)
    if network:
        host, _, path = key.removeprefix("https://").partition("/")
        html = f"https://{host}/{path}"
        clone, ssh, git_url = f"{html}.git", f"git@{host}:{path}.git", f"git://{host}/{path}.git"
    else:  # a local repository: one URL, used for every spelling
        html = clone = ssh = git_url = key
        path = key.removeprefix("file://").lstrip("/")
    owner, _, name = path.rpartition("/")
    return {
        "id": int.from_bytes(hashlib.sha256(normalize_url(key).encode()).digest()[:4], "big"),
        "name": name,
        "full_name": path,
        "owner": {"name": owner, "login": owner},
        "private": True,
        "html_url": html,
        "url": html,
        "clone_url": clone,
        "ssh_url": ssh,
        "git_url": git_url,
        "default_branch": default_branch,
        "master_branch": default_branch,
    }


def _commit_body(c: PushCommit, html: str) -> dict[str, Any]:
    return {
        "id": c.id,
        "tree_id": c.tree_id,
        "distinct": True,
        "message": c.message,
        "timestamp": c.timestamp,
        "url": f"{html}/commit/{c.id}",
        "author": {"name": c.author_name, "email": c.author_email, "username": c.author_name},
        "committer": {
            "name": c.committer_name,
            "email": c.committer_email,
            "username": c.committer_name,
        },
        "added": list(c.added),
        "removed": list(c.removed),
        "modified": list(c.modified),
    }


def push_event_for(
    repo_url: str,
    ref: str,
    before: str,
    after: str,
    commits: Sequence[PushCommit] = (),
    *,
    default_branch: str = "main",
    forced: bool = False,
    pusher: str = "gitops",
) -> bytes:
    """The JSON body GitHub would POST for this push (send it with `X-GitHub-Event: push`)."""
    repository = _repository(repo_url, default_branch)
    html = repository["html_url"]
    bodies = [_commit_body(c, html) for c in commits]
    body = {
        "ref": ref,
        "before": before,
        "after": after,
        "created": before == ZERO_SHA,
        "deleted": after == ZERO_SHA,
        "forced": forced,
        "base_ref": None,
        "compare": f"{html}/compare/{before[:12]}...{after[:12]}",
        "commits": bodies,
        "head_commit": bodies[-1] if bodies else None,
        "repository": repository,
        "pusher": {"name": pusher, "email": None},
        "sender": {"login": pusher, "id": 0, "type": "User"},
    }
    return json.dumps(body).encode()


def signature(secret: bytes, body: bytes) -> str:
    """The `X-Hub-Signature-256` value GitHub sends for `body` with webhook secret `secret`."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def verify_signature(secret: bytes, headers: Mapping[str, str], body: bytes) -> bool:
    """True when the request carries a valid `X-Hub-Signature-256` for `secret`."""
    given = _header(headers, SIGNATURE_HEADER)
    return given is not None and hmac.compare_digest(given.strip(), signature(secret, body))
