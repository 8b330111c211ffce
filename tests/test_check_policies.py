"""The pure parts of `gitops check`: imperative-deploy scan, HCL invariants, CRD validation and
the report. Table tests; the tools themselves are exercised in test_templates.py."""

from __future__ import annotations

import json
from pathlib import Path

import hcl2
import pytest
from ruamel.yaml import YAML

from console.check.crds import Validator
from console.check.hcl_invariants import check_documents
from console.check.imperative import imperative_commands, scan_repo
from console.check.model import Kind, Repo, Report, Result, Status
from console.check.report import as_json, table

REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "reference" / "argo-cd"


@pytest.mark.parametrize(
    ("script", "flagged"),
    [
        ("kubectl apply -f manifests/", True),
        ("kubectl --context prod apply -k overlays/prod", True),
        ("kubectl -n dev rollout restart deploy/backend", True),
        ("helm upgrade --install argo argo/argo-cd", True),
        ("helm install x y", True),
        ("argocd app sync backend-dev", True),
        ("kubectl kustomize overlays/dev", False),
        ("kubectl get pods", False),
        ("helm template x y", False),
        ("argocd app get backend-dev", False),
        ("uv run gitops promote --push", False),
        ("echo 'we never kubectl-apply here'", False),
    ],
)
def test_imperative_commands(script: str, flagged: bool) -> None:
    assert bool(imperative_commands(script)) is flagged


def test_imperative_scan_reads_workflow_steps(tmp_path: Path) -> None:
    wf = tmp_path / ".github" / "workflows"
    wf.mkdir(parents=True)
    (wf / "deploy.yml").write_text(
        "on: push\njobs:\n  go:\n    runs-on: x\n    steps:\n"
        "      - run: |\n          echo hi\n          kubectl apply -f k8s/\n"
    )
    assert scan_repo(tmp_path) == [
        ".github/workflows/deploy.yml: jobs.go.steps[0]: kubectl apply -f k8s/"
    ]


def _hcl(text: str) -> dict[str, object]:
    return {"main.tf": hcl2.loads(text)}


GOOD_TF = """
module "ecr" {
  source                          = "terraform-aws-modules/ecr/aws"
  repository_image_tag_mutability = "IMMUTABLE"
  repository_image_scan_on_push   = true
}
module "apps_role" {
  source   = "terraform-aws-modules/iam/aws//modules/iam-github-oidc-role"
  subjects = ["repo:acme/platform-apps:ref:refs/heads/main"]
}
"""


EKS = """
module "eks" {{
  source = "terraform-aws-modules/eks/aws"
  addons = {{
    vpc-cni = {vpc_cni}
    coredns = {{}}
  }}
}}
"""


@pytest.mark.parametrize(
    ("tf", "expected"),
    [
        (GOOD_TF, []),
        (
            GOOD_TF.replace('"IMMUTABLE"', '"MUTABLE"'),
            ['main.tf: module.ecr: repository_image_tag_mutability is not "IMMUTABLE"'],
        ),
        (
            GOOD_TF.replace("scan_on_push   = true", "scan_on_push   = false"),
            ["main.tf: module.ecr: repository_image_scan_on_push is not true"],
        ),
        (
            GOOD_TF.replace("repo:acme/platform-apps:", "repo:acme/*:"),
            [
                "main.tf: module.apps_role.subjects: OIDC subject "
                "'repo:acme/*:ref:refs/heads/main' is not scoped to one repository"
            ],
        ),
        (
            GOOD_TF.replace('"repo:acme/platform-apps:ref:refs/heads/main"', '"repo:*"'),
            [
                "main.tf: module.apps_role.subjects: OIDC subject 'repo:*' is not scoped to one "
                "repository"
            ],
        ),
        (
            GOOD_TF.replace(
                'subjects = ["repo:acme/platform-apps:ref:refs/heads/main"]',
                "subjects = var.subjects",
            ),
            ["main.tf: module.apps_role.subjects is not a literal list"],
        ),
        (
            GOOD_TF.replace("iam-github-oidc-role", "iam-role"),
            ["no GitHub OIDC trust scoped by `sub` was found"],
        ),
        (
            GOOD_TF
            + """
data "aws_iam_policy_document" "open" {
  statement {
    principals {
      type        = "AWS"
      identifiers = ["*"]
    }
  }
}""",
            ['main.tf: data.aws_iam_policy_document.open.statement[0].principals trusts "*"'],
        ),
        (
            GOOD_TF
            + """
data "aws_iam_policy_document" "trust" {
  statement {
    condition {
      test     = "StringLike"
      variable = "token.actions.githubusercontent.com:sub"
      values   = ["repo:acme/infra:*", "repo:*/infra:pull_request"]
    }
  }
}""",
            [
                "main.tf: data.aws_iam_policy_document.trust.statement[0].condition: OIDC subject "
                "'repo:*/infra:pull_request' is not scoped to one repository"
            ],
        ),
        # NetworkPolicies are enforced on EKS only with the VPC CNI's network policy agent on.
        (
            GOOD_TF + EKS.format(vpc_cni="{ before_compute = true }"),
            [
                "main.tf: module.eks: addons.vpc-cni does not enable network policy "
                '(configuration_values = jsonencode({ enableNetworkPolicy = "true" })): '
                "no NetworkPolicy would be enforced"
            ],
        ),
        (
            GOOD_TF
            + EKS.format(
                vpc_cni="{\n      configuration_values = "
                'jsonencode({ enableNetworkPolicy = "true" })\n    }'
            ),
            [],
        ),
        (
            GOOD_TF
            + """
resource "aws_iam_role" "r" {
  assume_role_policy = jsonencode({ Statement = [{ Effect = "Allow", "Principal" = "*" }] })
}
resource "aws_ecr_repository" "raw" {
  name                 = "x"
  image_tag_mutability = "MUTABLE"
}""",
            None,
        ),
    ],
)
def test_hcl_invariants(tf: str, expected: list[str] | None) -> None:
    findings = check_documents(_hcl(tf))
    if expected is not None:
        assert findings == expected
    else:
        assert any("aws_ecr_repository.raw: image_tag_mutability" in f for f in findings)
        assert any("scan_on_push is not true" in f for f in findings)


@pytest.mark.skipif(not REFERENCE.is_dir(), reason=f"{REFERENCE} (shared reference data) absent")
def test_argocd_reference_application_validates_and_typos_do_not() -> None:
    """Against Argo CD's own CRDs and its fully annotated example Application."""
    validator = Validator.from_dir(REFERENCE)
    docs = list(
        YAML(typ="safe").load_all((REFERENCE / "testdata" / "application.yaml").read_text())
    )
    app = docs[0]
    assert validator.knows(app)
    assert validator.errors(app) == []
    broken = json.loads(json.dumps(app))
    broken["spec"]["syncPolicy"]["retry"]["limt"] = 2
    broken["spec"]["syncPolicy"]["automated"]["prune"] = "yes"
    assert validator.errors(broken) == [
        "Application/guestbook: spec.syncPolicy.automated.prune: 'yes' is not of type 'boolean'",
        "Application/guestbook: spec.syncPolicy.retry: Additional properties are not allowed "
        "('limt' was unexpected)",
    ]
    assert not validator.knows({"apiVersion": "v1", "kind": "ConfigMap"})


def test_report_table_and_json() -> None:
    repos = [Repo(Path("/x/infra-repo"), Kind.INFRA), Repo(Path("/x/deploy-repo"), Kind.DEPLOY)]
    report = Report(repos, ["yamllint", "terraform-fmt", "kustomize"])
    report.results = [
        Result("yamllint", "infra-repo", Status.PASS),
        Result(
            "yamllint",
            "deploy-repo",
            Status.FAIL,
            ("a.yaml:1:1: [error] x", "b", "c", "d", "e", "f"),
        ),
        Result("terraform-fmt", "infra-repo", Status.SKIPPED, reason="terraform not found"),
        Result("kustomize", "deploy-repo", Status.PASS),
    ]
    text = table(report)
    assert text.splitlines()[:4] == [
        "check          infra-repo  deploy-repo",
        "yamllint       pass        FAIL",
        "terraform-fmt  skipped     -",
        "kustomize      -           pass",
    ]
    assert "deploy-repo / yamllint: 6 finding(s)" in text
    assert "… and 1 more (--json lists all)" in text
    assert "infra-repo / terraform-fmt: skipped: terraform not found" in text
    assert report.failed(strict=False)
    doc = json.loads(as_json(report, strict=True))
    assert doc["ok"] is False
    assert doc["results"][1]["findings"][-1] == "f"
    report.results[1] = Result("yamllint", "deploy-repo", Status.PASS)
    assert not report.failed(strict=False)
    assert report.failed(strict=True), "a skip fails under --strict"
