"""The prometheus provider's query templates from a file (`gitops guard --prometheus-queries`):
a cluster whose metric or label names differ passes its own; a bad file is a usage error that
names the file and the key, exit 2, no traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from console.cli import main
from console.guard.prometheus import Queries, QueriesError


def test_a_file_replaces_the_queries_it_names_and_keeps_the_rest(tmp_path: Path) -> None:
    file = tmp_path / "queries.yaml"
    file.write_text(
        "requests: sum by (pod) (istio_requests_total{{selector}})\n"
        'errors: sum by (pod) (istio_requests_total{{selector}, response_code=~"5.."})\n'
    )
    queries = Queries.from_file(file)
    assert queries.requests == "sum by (pod) (istio_requests_total{{selector}})"
    assert (
        queries.render(queries.requests, 'pod=~"a"')
        == 'sum by (pod) (istio_requests_total{pod=~"a"})'
    )
    assert queries.buckets == Queries().buckets
    assert queries.started == Queries().started


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (
            "latency: x{{selector}}\n",
            "latency: not a query name (requests, errors, buckets, started)",
        ),
        ("requests: sum(http_requests_total)\n", "requests: the query has no {selector}"),
        ("requests: [1, 2]\n", "requests: not a string"),
        ("- requests\n", "not a mapping of query names to PromQL"),
        ("requests: [\n", "not YAML"),
    ],
)
def test_a_bad_file_names_itself_and_the_key(tmp_path: Path, text: str, problem: str) -> None:
    file = tmp_path / "queries.yaml"
    file.write_text(text)
    with pytest.raises(QueriesError) as caught:
        Queries.from_file(file)
    assert str(caught.value).startswith(f"{file}: ")
    assert problem in str(caught.value)


def test_gitops_guard_refuses_a_bad_queries_file_with_exit_2(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    token = tmp_path / "token"
    token.write_text("secret\n")
    queries = tmp_path / "queries.yaml"
    queries.write_text("requests: sum(http_requests_total)\n")
    code = main(
        [
            "guard",
            "--argocd",
            "http://127.0.0.1:1",
            "--token-file",
            str(token),
            "--deploy-repo",
            "x",
            "--prometheus",
            "http://127.0.0.1:9090",
            "--prometheus-queries",
            str(queries),
        ]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert f"{queries}: requests: the query has no {{selector}}" in err
    assert "Traceback" not in err
