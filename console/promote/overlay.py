"""The deploy repo's overlays and their `images:` entries. Pure text-in, text-out edits with
ruamel.yaml round-trip, so comments, key order and quoting survive a promotion."""

from __future__ import annotations

import io
import re
from pathlib import Path, PurePosixPath
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError
from ruamel.yaml.scalarstring import DoubleQuotedScalarString

OVERLAYS = "overlays"


class OverlayError(ValueError):
    """The overlay cannot be read or edited; the message names the file and field."""


def overlay_path(env: str, service: str) -> PurePosixPath:
    return PurePosixPath(OVERLAYS, env, service, "kustomization.yaml")


def app_name(service: str, env: str) -> str:
    """The Argo CD Application for a service in an environment."""
    return f"{service}-{env}"


def list_overlays(repo: Path) -> dict[str, list[str]]:
    """environment -> services that have an overlay there, both sorted."""
    root = repo / OVERLAYS
    out: dict[str, list[str]] = {}
    if not root.is_dir():
        return out
    for env_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        services = sorted(p.name for p in env_dir.iterdir() if (p / "kustomization.yaml").is_file())
        if services:
            out[env_dir.name] = services
    return out


def _yaml_for(text: str) -> YAML:
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = 4096
    # Keep the file's own list style: `- name:` flush under `images:` or indented by two.
    match = re.search(r"^images:[^\n]*\n(?:\s*#[^\n]*\n)*( *)- ", text, re.MULTILINE)
    offset = len(match.group(1)) if match else 2
    yaml.indent(mapping=2, sequence=offset + 2, offset=offset)
    return yaml


def _image_entry(doc: Any, service: str, where: str) -> Any:
    images = doc.get("images") if isinstance(doc, dict) else None
    if not isinstance(images, list):
        raise OverlayError(f"{where}: no `images:` list")
    for entry in images:
        if isinstance(entry, dict) and entry.get("name") == service:
            return entry
    raise OverlayError(f"{where}: `images:` has no entry named {service!r}")


def read_tag(text: str, service: str, where: str = "kustomization.yaml") -> str:
    """The `newTag` the overlay pins for `service`."""
    try:
        doc = YAML(typ="safe").load(text)
    except YAMLError as exc:
        raise OverlayError(f"{where}: not valid YAML: {exc}") from None
    tag = _image_entry(doc, service, where).get("newTag")
    if tag is None:
        raise OverlayError(f"{where}: images[{service}] has no newTag")
    return str(tag)


def set_tag(text: str, service: str, tag: str, where: str = "kustomization.yaml") -> str:
    """`text` with images[service].newTag set to `tag`; everything else byte-for-byte kept."""
    yaml = _yaml_for(text)
    try:
        doc = yaml.load(text)
    except YAMLError as exc:
        raise OverlayError(f"{where}: not valid YAML: {exc}") from None
    entry = _image_entry(doc, service, where)
    old = entry.get("newTag")
    if isinstance(old, str) and type(old) is not str:
        entry["newTag"] = type(old)(tag)  # keep the file's quoting style
    elif YAML(typ="safe").load(tag) != tag:
        entry["newTag"] = DoubleQuotedScalarString(tag)  # e.g. a tag of digits stays a string
    else:
        entry["newTag"] = tag
    out = io.StringIO()
    yaml.dump(doc, out)
    return out.getvalue()
