"""repos.yaml validation: every error names the file, the line and the field, and exits 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from console.cli import main
from console.config import ConfigError, parse_config

VALID = """\
org: acme
environments:
  - dev
  - prod
services:
  - name: backend
    kind: backend
    port: 8080
  - name: frontend
    kind: frontend
    port: 8081
registry: registry.example.com
aws:
  region: eu-west-1
  cluster_name: demo
repos:
  infra: {name: i, template: infra, destination: infra-repo}
  apps: {name: a, template: app, destination: apps-repo}
  deploy: {name: d, template: deploy, destination: deploy-repo}
"""


def _with(old: str, new: str) -> str:
    assert old in VALID, old
    return VALID.replace(old, new, 1)


CASES = [
    pytest.param(
        _with("  - prod\n", "  - prod\n  - [\n"),
        ":7: (top level): YAML syntax error: expected the node content, but found '-'",
        id="yaml-syntax",
    ),
    pytest.param(
        _with("port: 8081", "port: eighty"),
        ":11: services[1].port: Input should be a valid integer",
        id="wrong-type",
    ),
    pytest.param(
        _with("port: 8081", "port: 8081\n    environments: [dev, stage]"),
        ":12: services[1].environments[1]: unknown environment 'stage' (declared: dev, prod)",
        id="unknown-environment",
    ),
    pytest.param(
        _with("name: frontend\n    kind: frontend", "name: backend\n    kind: backend"),
        ":9: services[1].name: duplicate service 'backend' (first declared as services[0])",
        id="duplicate-service",
    ),
    pytest.param(
        _with("port: 8081", "port: 8080"),
        ":11: services[1].port: port 8080 clashes with service 'backend'",
        id="port-clash",
    ),
    pytest.param(
        _with("name: frontend", "name: Front_End"),
        ":9: services[1].name: String should match pattern",
        id="not-a-dns-label",
    ),
    pytest.param(
        _with("org: acme", "org: acme\nregistery: typo.example.com"),
        ":2: registery: unknown field",
        id="unknown-field",
    ),
    pytest.param(
        _with("kind: backend\n    port: 8080", "kind: database\n    port: 8080"),
        ":7: services[0].kind: Input should be 'backend' or 'frontend'",
        id="bad-enum",
    ),
    pytest.param(
        _with("port: 8080", "port: 80"),
        ":8: services[0].port: Input should be greater than or equal to 1024",
        id="privileged-port",
    ),
    pytest.param(
        _with("    kind: frontend\n", "    kind: frontend\n    backend: nowhere\n"),
        ":11: services[1].backend: 'nowhere' is not a backend service (backends: backend)",
        id="frontend-unknown-backend",
    ),
    pytest.param(
        _with("template: app", "template: deploy"),
        ":18: repos.apps.template: the apps repo uses template 'app'",
        id="wrong-template-for-role",
    ),
    pytest.param(
        _with("destination: deploy-repo", "destination: ../outside"),
        ":19: repos.deploy.destination: Value error, must be a relative path",
        id="destination-escapes",
    ),
    pytest.param(
        _with("  region: eu-west-1\n", ""),
        ":13: aws.region: Field required",
        id="missing-field",
    ),
    # Generated names: two pairs of service x environment that make one Application name.
    pytest.param(
        _with("  - prod\n", "  - prod\n  - eu-prod\n").replace(
            "  - name: frontend\n    kind: frontend\n    port: 8081\n",
            "  - name: frontend\n    kind: frontend\n    port: 8081\n"
            "  - name: backend-eu\n    kind: backend\n    port: 8082\n",
        ),
        ":13: services[2].name: the Application 'backend-eu-prod' (backend-eu in prod) is also "
        "that of backend in eu-prod",
        id="application-name-collision",
    ),
    pytest.param(
        _with("  - prod\n", "  - prod\n  - guard\n").replace("name: frontend", "name: gitops"),
        ":10: services[1].name: the Application 'gitops-guard' (gitops in guard) is also that "
        "of the rollback guard",
        id="application-name-reserved",
    ),
    pytest.param(
        _with("  - prod\n", "  - prod\n  - argocd\n"),
        ":5: environments[2].name: its namespace 'argocd' is also Argo CD's (argocd.namespace)",
        id="environment-namespace-is-argo-cds",
    ),
    pytest.param(
        _with("name: frontend", "name: gitops-platform"),
        ":9: services[1].name: its image registry.example.com/gitops-platform is also the "
        "platform's own (guard.image)",
        id="image-is-the-platforms",
    ),
    pytest.param(
        _with("  - prod\n", "  - prod\n  - " + "e" * 40 + "\n").replace(
            "name: frontend", "name: " + "f" * 30
        ),
        ":10: services[1].name: the Application '" + "f" * 30 + "-" + "e" * 40 + "' is 71 "
        "characters; Argo CD tracks an app's resources by a label of at most 63",
        id="application-name-too-long",
    ),
]


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_cli_reports_file_line_field_and_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, expected: str
) -> None:
    config = tmp_path / "repos.yaml"
    config.write_text(text)
    code = main(["scaffold", "--config", str(config), "--dest", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2
    assert f"{config}{expected}" in err, err
    assert "Traceback" not in err
    assert not (tmp_path / "out").exists(), "nothing is written when the config is bad"


def test_all_issues_are_reported_at_once() -> None:
    text = _with("port: 8081", "port: 8080").replace("name: frontend", "name: UPPER")
    with pytest.raises(ConfigError) as info:
        parse_config(text, Path("repos.yaml"))
    fields = [issue.field for issue in info.value.issues]
    assert fields == ["services[1].name"]  # the schema error stops before cross-field checks
    text = _with("port: 8081", "port: 8080\n    environments: [qa]")
    with pytest.raises(ConfigError) as info:
        parse_config(text, Path("repos.yaml"))
    assert [i.field for i in info.value.issues] == [
        "services[1].port",
        "services[1].environments[0]",
    ]


def test_missing_file_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nope.yaml"
    assert main(["scaffold", "--config", str(missing), "--dest", str(tmp_path / "o")]) == 2
    assert f"{missing}: (top level): file not found" in capsys.readouterr().err


def test_a_huge_file_is_refused_at_once(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "repos.yaml"
    config.write_text(VALID + "# " + "x" * (2 << 20) + "\n")
    code = main(["scaffold", "--config", str(config), "--dest", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2
    assert f"{config}: (top level): the file is 2.0 MiB; repos.yaml may be at most 1 MiB" in err
    assert not (tmp_path / "out").exists()


def test_aliases_that_expand_without_bound_are_refused_in_bounded_time() -> None:
    """A billion-laughs document of a few hundred bytes: refused before anything walks or
    prints its expansion (it once cost 50 s and 2.2 GB)."""
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"a{i}: &a{i} [{', '.join(f'*a{i - 1}' for _ in range(9))}]" for i in range(1, 9)]
    text = "\n".join(lines) + "\n" + VALID.replace("org: acme\n", "org: *a8\n")
    assert len(text) < 2048
    with pytest.raises(ConfigError) as info:
        parse_config(text, Path("repos.yaml"))
    message = str(info.value)
    assert "YAML aliases expand to more than" in message
    assert len(message) < 300, "no unbounded value is printed"


def test_a_long_bad_value_is_shortened_in_the_message() -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(_with("org: acme", "org: [" + ", ".join(["x" * 50] * 2000) + "]"), Path("r"))
    assert len(str(info.value)) < 300


@pytest.mark.parametrize(
    ("text", "kind"), [("", "an empty file"), ("- a\n- b\n", "a list"), ("just text", "a string")]
)
def test_top_level_must_be_a_mapping(text: str, kind: str) -> None:
    with pytest.raises(ConfigError, match=f"expected a mapping at the top level, got {kind}"):
        parse_config(text, Path("r.yaml"))


def test_the_repository_declaration_is_valid(root: Path) -> None:
    config = parse_config((root / "repos.yaml").read_text(), root / "repos.yaml")
    assert config.environment_names[0] == "dev"
    assert {s.kind.value for s in config.services} == {"backend", "frontend"}


def test_real_command_prints_no_traceback(tmp_path: Path) -> None:
    """The installed `gitops` entry point, as a user runs it."""
    config = tmp_path / "repos.yaml"
    config.write_text("org: [unclosed\n")
    proc = subprocess.run(
        [sys.executable, "-m", "console.cli", "scaffold", "--config", str(config), "--dest", "x"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2
    assert f"{config}:2: (top level): YAML syntax error" in proc.stderr
    assert "Traceback" not in proc.stderr


@settings(max_examples=200, deadline=None)
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=8),
        lambda inner: (
            st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
        ),
        max_leaves=12,
    )
)
def test_any_yaml_value_is_accepted_or_a_config_error(value: object) -> None:
    """Whatever the file holds, loading never raises anything but ConfigError, and a ConfigError
    always carries at least one issue."""
    issues: list[object] = ["parsed"]
    try:
        parse_config(json.dumps(value), Path("fuzz.yaml"))
    except ConfigError as exc:
        issues = list(exc.issues)
    assert issues
