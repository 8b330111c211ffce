"""`metadata` and `spec`, as the read side reads them (only what it reads; the rest of a spec is
ignored, and the embedded platform keeps its manifests verbatim)."""

from __future__ import annotations

from typing import Annotated

from pydantic import AliasChoices, Field

from console.application.base import (
    ArgoModel,
    Bool,
    Int,
    Str,
    StrMap,
    Time,
    model,
)

# Argo CD spells it repoURL, where the camelCase rule would make it repoUrl.
RepoURL = Annotated[
    Str,
    Field(serialization_alias="repoURL", validation_alias=AliasChoices("repoURL", "repo_url")),
]

# --- metadata and spec (read side: only what is read; the rest is ignored) --------------------


@model
class ObjectMeta(ArgoModel):
    name: Str = ""
    namespace: Str = ""
    uid: Str = ""
    resource_version: Str = ""
    generation: Int = 0
    creation_timestamp: Time = None
    labels: StrMap = Field(default_factory=dict)
    annotations: StrMap = Field(default_factory=dict)


@model
class ApplicationSource(ArgoModel):
    """One of the Application's sources (`spec.source`, or each of `spec.sources`)."""

    repo_url: RepoURL = ""
    path: Str = ""
    target_revision: Str = ""
    chart: Str = ""
    ref: Str = ""


@model
class _HydratorSource(ArgoModel):
    repo_url: RepoURL = ""
    path: Str = ""
    target_branch: Str = ""


@model
class SourceHydrator(ArgoModel):
    dry_source: _HydratorSource = Field(default_factory=_HydratorSource)
    sync_source: _HydratorSource = Field(default_factory=_HydratorSource)


@model
class Destination(ArgoModel):
    server: Str = ""
    name: Str = ""
    namespace: Str = ""


@model
class Automated(ArgoModel):
    enabled: Bool = True  # `automated: {}` enables it; `enabled: false` (Argo CD >= 3.0) not
    prune: Bool = False
    self_heal: Bool = False
    allow_empty: Bool = False


@model
class SyncPolicy(ArgoModel):
    automated: Automated | None = None


@model
class ApplicationSpec(ArgoModel):
    project: Str = ""
    source: ApplicationSource | None = None
    sources: tuple[ApplicationSource, ...] = ()
    source_hydrator: SourceHydrator | None = None
    destination: Destination = Field(default_factory=Destination)
    sync_policy: SyncPolicy = Field(default_factory=SyncPolicy)
