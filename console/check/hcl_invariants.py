"""Invariants of the infra repo, read from its HCL with python-hcl2 (pure over parsed files):
ECR repositories are immutable and scanned on push, GitHub OIDC trust is scoped by `sub` to named
repositories, no IAM policy trusts the `*` principal, and EKS's VPC CNI enforces NetworkPolicies."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

SUB_VARIABLE = "token.actions.githubusercontent.com:sub"
# A JSON policy (jsonencode or heredoc) with `"Principal": "*"` or `{"AWS": "*"}`.
_STAR_PRINCIPAL = re.compile(r'"Principal"\s*:\s*(\\?"\*\\?"|\{[^}]*\\?"\*)')
_ORG_REPO = re.compile(r"^repo:([^/:]+)/([^:]+):")
_NETWORK_POLICY_ON = re.compile(r'enableNetworkPolicy\s*[=:]\s*\\?"?true')
EKS_MODULE = "terraform-aws-modules/eks/aws"


def unquote(value: Any) -> Any:
    """python-hcl2 keeps string literals quoted (`"\"IMMUTABLE\""`)."""
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value


def _blocks(doc: dict[str, Any], kind: str) -> Iterator[tuple[str, dict[str, Any]]]:
    for entry in doc.get(kind, []) or []:
        for name, body in entry.items():
            if isinstance(body, dict):
                yield unquote(name), body


def _walk(node: Any, path: str = "") -> Iterator[tuple[str, str, Any]]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield path, key, value
            yield from _walk(value, f"{path}.{unquote(key)}" if path else str(unquote(key)))
    elif isinstance(node, list):
        for i, item in enumerate(node):
            yield from _walk(item, f"{path}[{i}]")


def _walk_blocks(doc: dict[str, Any]) -> Iterator[tuple[str, str, Any]]:
    """Walk every top-level block, naming paths as Terraform does (`data.type.name...`)."""
    for kind, entries in doc.items():
        for entry in entries if isinstance(entries, list) else [entries]:
            yield from _walk(entry, kind)


def _subject_finding(where: str, value: Any) -> str | None:
    text = unquote(value)
    if not isinstance(text, str) or "${" in text:
        return f"{where}: OIDC subject {value!r} is not a literal string"
    match = _ORG_REPO.match(text)
    if not match or "*" in match.group(1) or "*" in match.group(2):
        return f"{where}: OIDC subject {text!r} is not scoped to one repository"
    return None


def _ecr_findings(file: str, doc: dict[str, Any]) -> list[str]:
    findings = []
    for name, body in _blocks(doc, "module"):
        if "terraform-aws-modules/ecr" not in str(unquote(body.get("source", ""))):
            continue
        where = f"{file}: module.{name}"
        if unquote(body.get("repository_image_tag_mutability")) != "IMMUTABLE":
            findings.append(f'{where}: repository_image_tag_mutability is not "IMMUTABLE"')
        if body.get("repository_image_scan_on_push") is not True:
            findings.append(f"{where}: repository_image_scan_on_push is not true")
    for entry in doc.get("resource", []) or []:
        for name, body in (entry.get('"aws_ecr_repository"') or {}).items():
            where = f"{file}: aws_ecr_repository.{unquote(name)}"
            if unquote(body.get("image_tag_mutability")) != "IMMUTABLE":
                findings.append(f'{where}: image_tag_mutability is not "IMMUTABLE"')
            scans = body.get("image_scanning_configuration") or [{}]
            if scans[0].get("scan_on_push") is not True:
                findings.append(f"{where}: image_scanning_configuration.scan_on_push is not true")
    return findings


def _oidc_subjects(file: str, doc: dict[str, Any]) -> tuple[int, list[str]]:
    count, findings = 0, []
    for name, body in _blocks(doc, "module"):
        if "github-oidc" in str(unquote(body.get("source", ""))) and "subjects" in body:
            if not isinstance(body["subjects"], list):
                count += 1
                findings.append(f"{file}: module.{name}.subjects is not a literal list")
                continue
            for value in body["subjects"]:
                count += 1
                if (f := _subject_finding(f"{file}: module.{name}.subjects", value)) is not None:
                    findings.append(f)
    for path, key, value in _walk_blocks(doc):
        if key == "condition" and isinstance(value, list):
            for cond in value:
                if isinstance(cond, dict) and unquote(cond.get("variable")) == SUB_VARIABLE:
                    for v in cond.get("values") or []:
                        count += 1
                        if (f := _subject_finding(f"{file}: {path}.condition", v)) is not None:
                            findings.append(f)
    return count, findings


def _principal_findings(file: str, doc: dict[str, Any]) -> list[str]:
    findings = []
    for path, key, value in _walk_blocks(doc):
        if key == "principals" and isinstance(value, list):
            for block in value:
                ids = [unquote(i) for i in (block.get("identifiers") or [])]
                if "*" in ids:
                    findings.append(f'{file}: {path}.principals trusts "*"')
        if isinstance(value, str) and _STAR_PRINCIPAL.search(value):
            findings.append(f'{file}: {path}.{unquote(key)}: a policy document trusts "*"')
    return findings


def _network_policy_findings(file: str, doc: dict[str, Any]) -> list[str]:
    """The EKS module's VPC CNI add-on must run its network policy agent: without it no
    NetworkPolicy (the deploy repo's, Argo CD's) is enforced."""
    findings = []
    for name, body in _blocks(doc, "module"):
        addons = body.get("addons")
        if EKS_MODULE not in str(unquote(body.get("source", ""))) or not isinstance(addons, dict):
            continue
        cni = addons.get("vpc-cni", addons.get('"vpc-cni"'))
        values = cni.get("configuration_values", "") if isinstance(cni, dict) else ""
        if not _NETWORK_POLICY_ON.search(str(values)):
            findings.append(
                f"{file}: module.{name}: addons.vpc-cni does not enable network policy "
                '(configuration_values = jsonencode({ enableNetworkPolicy = "true" })): '
                "no NetworkPolicy would be enforced"
            )
    return findings


def check_documents(docs: dict[str, dict[str, Any]]) -> list[str]:
    """Findings over parsed HCL files (file name -> python-hcl2 document)."""
    findings: list[str] = []
    subjects = 0
    for file, doc in sorted(docs.items()):
        findings += _ecr_findings(file, doc)
        count, sub_findings = _oidc_subjects(file, doc)
        subjects += count
        findings += sub_findings
        findings += _principal_findings(file, doc)
        findings += _network_policy_findings(file, doc)
    if docs and subjects == 0:
        findings.append("no GitHub OIDC trust scoped by `sub` was found")
    return findings
