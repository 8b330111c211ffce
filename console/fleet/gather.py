"""One read of a target for `gitops status`: the Applications, then their live versions and the
deploy repo's rollbacks side by side, assembled into status rows."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

from console.fleet.deployrepo import DeployRepo
from console.fleet.history import Rollback, rollbacks
from console.fleet.placement import Placing
from console.fleet.probes import fetch_versions
from console.fleet.status import StatusRow, build_rows, group_rollbacks
from console.fleet.targets import Target, probe_urls


def read_rollbacks(repo: str) -> list[Rollback]:
    """The rollback commits on the deploy repo's default branch: a repository on disk read in
    place, a URL cloned (commits only) into a temp dir. Raises DeployRepoError."""
    with tempfile.TemporaryDirectory(prefix="gitops-status-") as tmp:
        return rollbacks(DeployRepo(repo, Path(tmp)).commits())


async def gather_status(
    target: Target, *, probe_timeout: float = 2.0, placing: Placing | None = None
) -> list[StatusRow]:
    """Rows for every app `target` holds, placed as `placing` says (console.fleet.placement).
    Raises SourceError (the apps could not be read) and DeployRepoError; a service that does
    not answer its probe only reads as unknown."""
    source = target.open()
    try:
        apps = await source.list()
    finally:
        await source.aclose()
    urls = probe_urls(apps, target.services)
    if target.deploy_repo is None:
        versions = await fetch_versions(urls, timeout=probe_timeout)
        return build_rows(apps, versions, None, placing)
    versions, found = await asyncio.gather(
        fetch_versions(urls, timeout=probe_timeout),
        asyncio.to_thread(read_rollbacks, target.deploy_repo),
    )
    return build_rows(apps, versions, group_rollbacks(found), placing)
