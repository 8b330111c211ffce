"""What the embedded platform's bootstrap creates outside Git: the guard's Secrets under the names
and keys the deploy repo's Deployment mounts, the API's Service under the name its args call,
a deploy key made once, and the Git names a pod's git resolves to the local Git host."""

from __future__ import annotations

import asyncio
import base64
import os
import stat
import subprocess
from pathlib import Path

from ruamel.yaml import YAML

from console.config import load_config
from console.local import bootstrap
from console.local.ci.images import ImageStore
from console.local.kube.processes import ProcessRuntime
from tests.helpers import ROOT, run_git

TOKEN = "an-api-token"  # noqa: S105 - a test value
GUARD = ROOT / "deploy-repo" / "platform" / "guard" / "deployment.yaml"


def test_deploy_key_is_made_once_owner_only(tmp_path: Path) -> None:
    key = bootstrap.deploy_key(tmp_path / "secrets")
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert stat.S_IMODE(key.parent.stat().st_mode) == 0o700
    assert key.read_text().startswith("-----BEGIN OPENSSH PRIVATE KEY-----")
    assert key.with_name("deploy-key.pub").read_text().startswith("ssh-ed25519 ")
    assert bootstrap.deploy_key(tmp_path / "secrets").read_text() == key.read_text()


def test_the_objects_are_what_the_guard_deployment_mounts_and_calls(tmp_path: Path) -> None:
    config = load_config(ROOT / "repos.yaml")
    key = bootstrap.deploy_key(tmp_path)
    objects = bootstrap.objects(config, api_host="127.0.0.1", api_port=4242, token=TOKEN, key=key)
    deployment = YAML(typ="safe").load(GUARD.read_text())
    pod = deployment["spec"]["template"]["spec"]
    [container] = pod["containers"]
    namespace = deployment["metadata"]["namespace"]
    secrets = {
        (o["metadata"]["namespace"], o["metadata"]["name"]): o
        for o in objects
        if o["kind"] == "Secret"
    }
    mounted = {v["secret"]["secretName"] for v in pod["volumes"] if "secret" in v}
    assert set(secrets) == {(namespace, name) for name in mounted}
    for arg in ("--token-file", "--ssh-key"):
        path = container["args"][container["args"].index(arg) + 1]
        assert any(path.rpartition("/")[2] in s["data"] for s in secrets.values()), (
            f"{arg} {path} names a key of a Secret"
        )
    token = secrets[(namespace, bootstrap.TOKEN_SECRET)]["data"]["token"]
    assert base64.b64decode(token).decode() == TOKEN
    argocd = container["args"][container["args"].index("--argocd") + 1]
    service = next(o for o in objects if o["kind"] == "Service")
    host = f"{service['metadata']['name']}.{service['metadata']['namespace']}.svc.cluster.local"
    assert argocd == f"http://{host}"
    assert [p["port"] for p in service["spec"]["ports"]] == [80], "http:// means port 80"


def test_bootstrap_objects_belong_to_no_application(tmp_path: Path) -> None:
    config = load_config(ROOT / "repos.yaml")
    key = bootstrap.deploy_key(tmp_path)
    objects = bootstrap.objects(config, api_host="127.0.0.1", api_port=4242, token=TOKEN, key=key)

    async def main() -> None:
        runtime = ProcessRuntime(tmp_path / "runtime", ImageStore(tmp_path / "images"))
        try:
            await bootstrap.apply(runtime, objects)
            assert runtime.data("Secret", "gitops-system", bootstrap.TOKEN_SECRET) == {
                "token": TOKEN
            }
            [claimed] = await runtime.apply("gitops-guard", "gitops-system", objects[:1], True)
            assert not claimed.ok
            assert f"owned by app {bootstrap.OWNER}" in claimed.message
        finally:
            await runtime.close()

    asyncio.run(main())


def git_with(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", *args],
        cwd=cwd,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=False,
    )


def test_a_pods_git_reaches_the_local_host_by_the_real_urls_and_its_gate(tmp_path: Path) -> None:
    bare = tmp_path / "remotes" / "platform-deploy.git"
    run_git(tmp_path, "init", "--quiet", "--bare", "--initial-branch", "main", str(bare))
    seed = tmp_path / "seed"
    seed.mkdir()
    run_git(seed, "init", "--quiet", "--initial-branch", "main")
    run_git(seed, "commit", "--quiet", "--allow-empty", "-m", "chore: first")
    run_git(seed, "push", "--quiet", str(bare), "main")
    hook = bare / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'refused by the gate' >&2\nexit 1\n")
    hook.chmod(0o755)
    env = bootstrap.network_env({"platform-deploy": str(bare)}, "https://github.com", "acme")
    for name, url in (
        ("ssh", "git@github.com:acme/platform-deploy.git"),
        ("https", "https://github.com/acme/platform-deploy.git"),
    ):
        cloned = git_with(env, tmp_path, "clone", "--quiet", url, name)
        assert cloned.returncode == 0, cloned.stderr
        assert run_git(tmp_path / name, "log", "--format=%s") == "chore: first\n"
    clone = tmp_path / "ssh"
    run_git(clone, "commit", "--quiet", "--allow-empty", "-m", "fix: a change")
    pushed = git_with(env, clone, "push", "origin", "HEAD:main")
    assert pushed.returncode != 0
    assert "refused by the gate" in pushed.stderr, "the push went through the pre-receive hook"
    # Another org's URL is not this host's repository.
    other = git_with(env, tmp_path, "clone", "--quiet", "git@github.com:other/platform-deploy.git")
    assert other.returncode != 0
