"""A pod's volumes on the host: what the spec may declare, the files a kubelet would mount, and
the container's paths (and Service names) rewritten in its env, command and args."""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

import pytest

from console.local.kube.deploymentspec import InvalidDeployment, UnsupportedDeployment
from console.local.kube.pods import container_argv, container_env, parse_template
from console.local.kube.volumes import (
    Item,
    Mount,
    Volume,
    VolumeError,
    host_paths,
    materialize,
    parse_mounts,
    parse_volumes,
    rewrite_paths,
    tmpdir_env,
)

PATHS = {
    "/tmp": "/ws/pods/p/volumes/tmp",
    "/var/run/secrets/argocd": "/ws/pods/p/volumes/token",
    "/var/run/secrets": "/ws/pods/p/volumes/all",
}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("/tmp", "/ws/pods/p/volumes/tmp"),
        ("/tmp/", "/ws/pods/p/volumes/tmp/"),
        ("/tmp/clone/x", "/ws/pods/p/volumes/tmp/clone/x"),
        # The deepest mountPath wins.
        ("/var/run/secrets/argocd/token", "/ws/pods/p/volumes/token/token"),
        ("/var/run/secrets/other", "/ws/pods/p/volumes/all/other"),
        # After `=`, in a PATH-like list, after a space.
        ("--token-file=/var/run/secrets/argocd/t", "--token-file=/ws/pods/p/volumes/token/t"),
        ("/bin:/tmp/bin", "/bin:/ws/pods/p/volumes/tmp/bin"),
        ("cd /tmp && ls", "cd /ws/pods/p/volumes/tmp && ls"),
        # Not a mounted path: a prefix of a name, a path elsewhere, a URL path.
        ("/tmpfiles", "/tmpfiles"),
        ("/opt/tmp", "/opt/tmp"),
        ("http://host/tmp/x", "http://host/tmp/x"),
        ("tmp", "tmp"),
        ("", ""),
    ],
)
def test_container_paths_under_a_mount_point_at_its_host_directory(
    value: str, expected: str
) -> None:
    assert rewrite_paths(value, PATHS) == expected


def test_tmpdir_follows_a_volume_at_tmp_only() -> None:
    assert tmpdir_env(PATHS) == {"TMPDIR": "/ws/pods/p/volumes/tmp"}
    assert tmpdir_env({"/data": "/x"}) == {}


POD: dict[str, Any] = {
    "volumes": [
        {"name": "tmp", "emptyDir": {"sizeLimit": "256Mi"}},
        {"name": "key", "secret": {"secretName": "deploy-key", "defaultMode": 0o400}},
        {
            "name": "cfg",
            "configMap": {
                "name": "cfg",
                "items": [{"key": "a", "path": "sub/a.txt", "mode": 0o600}],
            },
        },
    ]
}


def test_volumes_and_mounts_are_read_from_the_spec() -> None:
    volumes = parse_volumes(POD, "Deployment 'x': spec.template.spec")
    assert volumes == (
        Volume("tmp", "emptyDir"),
        Volume("key", "secret", "deploy-key", default_mode=0o400),
        Volume("cfg", "configMap", "cfg", items=(Item("a", "sub/a.txt", 0o600),)),
    )
    container = {
        "volumeMounts": [
            {"name": "tmp", "mountPath": "/tmp/"},
            {"name": "key", "mountPath": "/var/run/secrets/key", "readOnly": True},
        ]
    }
    assert parse_mounts(container, volumes, "c") == (
        Mount("tmp", "/tmp"),
        Mount("key", "/var/run/secrets/key", read_only=True),
    )


@pytest.mark.parametrize(
    ("volumes", "mounts", "error", "match"),
    [
        (
            [{"name": "h", "hostPath": {"path": "/"}}],
            [],
            UnsupportedDeployment,
            r"volumes\[0\]\.hostPath",
        ),
        ([{"name": "s", "secret": {}}], [], InvalidDeployment, r"secret\.secretName is required"),
        (
            [{"name": "s", "secret": {"secretName": "s", "defaultMode": 0o1777}}],
            [],
            InvalidDeployment,
            r"defaultMode must be a file mode",
        ),
        (
            [{"name": "c", "configMap": {"name": "c", "items": [{"key": "a", "path": "../a"}]}}],
            [],
            InvalidDeployment,
            r"items\[0\]\.path must be a relative path",
        ),
        ([{"name": "t", "emptyDir": {}}] * 2, [], InvalidDeployment, r"Duplicate value: 't'"),
        ([], [{"name": "t", "mountPath": "/t"}], InvalidDeployment, r"Not found: 't'"),
        (
            [{"name": "t", "emptyDir": {}}],
            [{"name": "t", "mountPath": "relative"}],
            InvalidDeployment,
            r"mountPath must be an absolute path",
        ),
        (
            [{"name": "t", "emptyDir": {}}],
            [{"name": "t", "mountPath": "/"}],
            UnsupportedDeployment,
            r"the whole file system",
        ),
        (
            [{"name": "t", "emptyDir": {}}],
            [{"name": "t", "mountPath": "/a"}, {"name": "t", "mountPath": "/a/"}],
            InvalidDeployment,
            r"must be unique",
        ),
    ],
)
def test_what_the_api_server_refuses_or_the_platform_does_not_mount(
    volumes: list[Any], mounts: list[Any], error: type[Exception], match: str
) -> None:
    def parse() -> None:
        parse_mounts({"volumeMounts": mounts}, parse_volumes({"volumes": volumes}, "spec"), "c")

    with pytest.raises(error, match=match):
        parse()


def test_materialized_volumes_hold_the_objects_files_with_their_modes(tmp_path: Path) -> None:
    volumes = parse_volumes(POD, "spec")
    objects = {
        ("Secret", "dev", "deploy-key"): {"ssh-privatekey": "KEY\n", "known_hosts": "h\n"},
        ("ConfigMap", "dev", "cfg"): {"a": "alpha", "b": "beta"},
    }

    def data(kind: str, namespace: str, name: str) -> dict[str, str] | None:
        return objects.get((kind, namespace, name))

    dirs = materialize(volumes, tmp_path, "dev", data)
    assert dirs == {v.name: tmp_path / "volumes" / v.name for v in volumes}
    key = dirs["key"] / "ssh-privatekey"
    assert key.read_text() == "KEY\n"
    assert stat.S_IMODE(key.stat().st_mode) == 0o400
    assert stat.S_IMODE(dirs["key"].stat().st_mode) == 0o700, "a Secret's directory is private"
    assert sorted(p.name for p in dirs["key"].iterdir()) == ["known_hosts", "ssh-privatekey"]
    item = dirs["cfg"] / "sub" / "a.txt"
    assert (item.read_text(), stat.S_IMODE(item.stat().st_mode)) == ("alpha", 0o600)
    assert [p.name for p in dirs["cfg"].iterdir()] == ["sub"], "only the items asked for"

    # A container restart: the emptyDir keeps what it holds, the Secret is written afresh.
    (dirs["tmp"] / "clone").write_text("kept")
    objects[("Secret", "dev", "deploy-key")] = {"ssh-privatekey": "NEW\n"}
    materialize(volumes, tmp_path, "dev", data)
    assert (dirs["tmp"] / "clone").read_text() == "kept"
    assert [p.read_text() for p in dirs["key"].iterdir()] == ["NEW\n"]


def test_a_missing_object_or_key_is_a_failed_mount_unless_optional(tmp_path: Path) -> None:
    volumes = parse_volumes(POD, "spec")
    with pytest.raises(VolumeError, match=r'volume "key" : secret "deploy-key" not found'):
        materialize(volumes, tmp_path, "dev", lambda kind, ns, name: None)
    with pytest.raises(VolumeError, match=r'configmap "cfg" has no key "a"'):
        materialize(volumes, tmp_path, "dev", lambda kind, ns, name: {"b": "beta"})
    optional = (
        Volume("key", "secret", "deploy-key", optional=True),
        Volume("cfg", "configMap", "cfg", items=(Item("a", "a", None),), optional=True),
    )
    dirs = materialize(optional, tmp_path, "dev", lambda kind, ns, name: {"b": "beta"})
    assert [p.name for p in dirs["key"].iterdir()] == ["b"]
    assert list(dirs["cfg"].iterdir()) == []
    assert list(materialize(optional, tmp_path, "dev", lambda k, n, m: None)["key"].iterdir()) == []


GUARD_LIKE: dict[str, Any] = {
    "metadata": {"name": "guard"},
    "spec": {
        "template": {
            "spec": {
                "containers": [
                    {
                        "name": "guard",
                        "image": "platform:1",
                        "command": ["gitops"],
                        "args": [
                            "guard",
                            "--argocd",
                            "http://argocd-server.argocd.svc.cluster.local",
                            "--token-file",
                            "/var/run/secrets/argocd/token",
                            "--backend=http://backend:8080",
                            "--home=$(HOME)",
                        ],
                        "env": [
                            {"name": "HOME", "value": "/tmp"},
                            {"name": "CACHE", "value": "$(HOME)/cache"},
                        ],
                        "volumeMounts": [
                            {"name": "tmp", "mountPath": "/tmp"},
                            {"name": "token", "mountPath": "/var/run/secrets/argocd"},
                        ],
                    }
                ],
                "volumes": [
                    {"name": "tmp", "emptyDir": {}},
                    {"name": "token", "secret": {"secretName": "token"}},
                ],
            }
        }
    },
}


def resolve(namespace: str, service: str, port: int) -> tuple[str, int] | None:
    known = {("argocd", "argocd-server", 80): 31080, ("dev", "backend", 8080): 31000}
    found = known.get((namespace, service, port))
    return None if found is None else ("127.0.0.1", found)


def test_args_and_env_name_host_paths_and_service_stand_ins_once() -> None:
    """The workspace itself under /tmp (as in tests): a host path already rewritten, or one a
    `$(VAR)` brings in, is not rewritten a second time."""
    template = parse_template(GUARD_LIKE)
    pod_dir = Path("/tmp/ws/runtime/pods/dev/guard-x")
    paths = host_paths(
        template.mounts, {v.name: pod_dir / "volumes" / v.name for v in template.volumes}
    )
    env = container_env(
        template,
        namespace="dev",
        pod_name="guard-x",
        port=40000,
        resolve_service=resolve,
        paths=paths,
        injected={"TMPDIR": "ignored-if-set", "GIT_CONFIG_COUNT": "0"},
    )
    tmp = f"{pod_dir}/volumes/tmp"
    assert env["HOME"] == tmp
    assert env["CACHE"] == f"{tmp}/cache"
    assert env["GIT_CONFIG_COUNT"] == "0", "what the platform injects reaches the container"
    command, args = container_argv(
        template, env, namespace="dev", resolve_service=resolve, paths=paths
    )
    assert command == ["gitops"]
    assert args == [
        "guard",
        "--argocd",
        "http://127.0.0.1:31080",
        "--token-file",
        f"{pod_dir}/volumes/token/token",
        "--backend=http://127.0.0.1:31000",
        f"--home={tmp}",
    ]
    assert (
        container_argv(
            parse_template({**GUARD_LIKE}), env, namespace="dev", resolve_service=lambda *a: None
        )[1][2]
        == "http://argocd-server.argocd.svc.cluster.local"
    ), "no Service: left as written"
