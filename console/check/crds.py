"""Validate custom resources (Argo CD Applications, AppProjects) against their CRDs'
openAPIV3Schema, strictly: an unknown field is an error, as with `kubectl --validate=strict`."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import yaml

# CRDs are large (ApplicationSet's is 1.4 MB): libyaml's C loader reads them far faster.
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class CrdError(Exception):
    pass


def strict(schema: Any) -> Any:
    """The schema with `additionalProperties: false` wherever properties are listed and the CRD
    does not preserve unknown fields (the API server would prune or reject them)."""
    if isinstance(schema, dict):
        out = {k: strict(v) for k, v in schema.items()}
        if (
            "properties" in out
            and "additionalProperties" not in out
            and not out.get("x-kubernetes-preserve-unknown-fields")
        ):
            out["additionalProperties"] = False
        return out
    if isinstance(schema, list):
        return [strict(v) for v in schema]
    return schema


@dataclass(frozen=True)
class Validator:
    schemas: dict[tuple[str, str], dict[str, Any]]  # (apiVersion, kind) -> JSON schema

    @classmethod
    def from_dir(cls, directory: Path) -> Validator:
        if not directory.is_dir():
            raise CrdError(f"{directory}: not a directory (--crd-dir)")
        schemas: dict[tuple[str, str], dict[str, Any]] = {}
        for path in sorted(directory.glob("*.y*ml")):
            try:
                docs = list(yaml.load_all(path.read_text(encoding="utf-8"), Loader=_Loader))
            except yaml.YAMLError as exc:
                raise CrdError(f"{path}: not valid YAML: {exc}") from None
            for doc in docs:
                if not isinstance(doc, dict) or doc.get("kind") != "CustomResourceDefinition":
                    continue
                spec = doc["spec"]
                for version in spec.get("versions", []):
                    schema = (version.get("schema") or {}).get("openAPIV3Schema")
                    if schema:
                        key = (f"{spec['group']}/{version['name']}", spec["names"]["kind"])
                        body = strict(copy.deepcopy(schema))
                        # apiVersion/kind/metadata are the API machinery's, not the CRD's.
                        body.setdefault("properties", {})["metadata"] = {"type": "object"}
                        schemas[key] = body
        if not schemas:
            raise CrdError(f"{directory}: no CustomResourceDefinition found (--crd-dir)")
        return cls(schemas)

    def knows(self, obj: dict[str, Any]) -> bool:
        return (str(obj.get("apiVersion")), str(obj.get("kind"))) in self.schemas

    def errors(self, obj: dict[str, Any]) -> list[str]:
        schema = self.schemas[(str(obj["apiVersion"]), str(obj["kind"]))]
        name = (obj.get("metadata") or {}).get("name", "?")
        out = []
        for err in sorted(
            jsonschema.Draft7Validator(schema).iter_errors(obj), key=lambda e: list(e.path)
        ):
            where = ".".join(str(p) for p in err.absolute_path) or "(root)"
            out.append(f"{obj['kind']}/{name}: {where}: {err.message}")
        return out
