"""checkov runs once over every repo of a `gitops check` run; its findings go back to the repo
that holds the failing file. The documents are checkov 3.3.30's real output (recorded with
`checkov -o json -d apps -d deploy -d rendered --framework dockerfile kubernetes secrets
github_actions`, a root Dockerfile in apps, a privileged Pod in deploy and in the rendering):
one JSON document per `-d`, each repeating the reports of the ones before."""

from __future__ import annotations

from pathlib import Path

from console.check.checks import CHECKOV_FRAMEWORKS, CheckovRoot, _json_documents, attribute_checkov
from console.check.model import Kind, Repo

RECORDED = Path(__file__).parent / "fixtures" / "checkov-three-roots.json"
APPS = Repo(Path("/tmp/ckt/a1"), Kind.APP)
DEPLOY = Repo(Path("/tmp/ckt/d1"), Kind.DEPLOY)
INFRA = Repo(Path("/tmp/ckt/i1"), Kind.INFRA)


def roots(rendered_frameworks: frozenset[str] = frozenset({"kubernetes"})) -> list[CheckovRoot]:
    return [
        CheckovRoot(APPS.path, APPS, frozenset(CHECKOV_FRAMEWORKS[Kind.APP])),
        CheckovRoot(DEPLOY.path, DEPLOY, frozenset(CHECKOV_FRAMEWORKS[Kind.DEPLOY])),
        CheckovRoot(Path("/tmp/ckt/r1"), DEPLOY, rendered_frameworks, "rendered "),
        CheckovRoot(INFRA.path, INFRA, frozenset(CHECKOV_FRAMEWORKS[Kind.INFRA])),
    ]


def test_concatenated_documents_are_all_read() -> None:
    docs = _json_documents(RECORDED.read_text())
    assert len(docs) == 3
    assert _json_documents("") == []


def test_findings_go_to_the_repo_that_holds_the_file_once_each() -> None:
    found = attribute_checkov(_json_documents(RECORDED.read_text()), roots())
    assert found[APPS.path] == ["CKV_DOCKER_8 Ensure the last USER is not root (Dockerfile:71)"]
    deploy = found[DEPLOY.path]
    assert len(deploy) == len(set(deploy)), "reports repeated across documents count once"
    assert "CKV_K8S_16 Container should not be privileged (base/backend/bad.yaml:1)" in deploy
    assert (
        "rendered CKV_K8S_16 Container should not be privileged "
        "(overlays__dev__backend.yaml:1)" in deploy
    )
    assert all(f.removeprefix("rendered ").startswith(("CKV_K8S_", "CKV2_K8S_")) for f in deploy), [
        f for f in deploy if not f.removeprefix("rendered ").startswith(("CKV_K8S_", "CKV2_K8S_"))
    ]
    assert found[INFRA.path] == [], "nothing of another repo's files"


def test_a_framework_that_does_not_apply_to_a_root_is_ignored_there() -> None:
    found = attribute_checkov(
        _json_documents(RECORDED.read_text()), roots(rendered_frameworks=frozenset({"secrets"}))
    )
    assert not [f for f in found[DEPLOY.path] if f.startswith("rendered ")]
    assert any(f.startswith("CKV_K8S_16 ") for f in found[DEPLOY.path])
