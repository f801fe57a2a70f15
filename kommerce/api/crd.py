"""Turn pydantic models into CustomResourceDefinitions (structural OpenAPI v3 schemas).

Kubernetes accepts only *structural* schemas: no `$ref`, every node typed, no
`additionalProperties: false`, no `anyOf` that changes types. Pydantic's JSON schema is
rewritten accordingly: references inlined, `X | None` collapsed to `X` (absent means unset),
titles dropped, descriptions kept (they are what `kubectl explain` shows), and cross-field
rules carried over from `json_schema_extra={"x-kubernetes-validations": [...]}` as CEL.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

GROUP = "kommerce.io"
VERSION = "v1alpha1"
CATEGORY = "kommerce"

Schema = dict[str, Any]


@dataclass(frozen=True)
class PrinterColumn:
    name: str
    json_path: str
    type: str = "string"
    description: str = ""
    priority: int = 0


@dataclass(frozen=True)
class ResourceDefinition:
    kind: str
    plural: str
    singular: str
    short_names: tuple[str, ...]
    spec: type[BaseModel]
    status: type[BaseModel]
    description: str
    columns: tuple[PrinterColumn, ...] = ()
    categories: tuple[str, ...] = field(default=(CATEGORY,))
    scope: str = "Namespaced"  # or "Cluster"

    @property
    def name(self) -> str:
        return f"{self.plural}.{GROUP}"


def structural(model: type[BaseModel]) -> Schema:
    """The structural OpenAPI v3 schema of `model` (by alias, refs inlined)."""
    raw = model.model_json_schema(by_alias=True, mode="validation")
    defs = raw.pop("$defs", {})
    schema: Schema = _rewrite(raw, defs)
    return schema


def _rewrite(node: Any, defs: dict[str, Schema]) -> Any:
    if isinstance(node, list):
        return [_rewrite(item, defs) for item in node]
    if not isinstance(node, dict):
        return node
    node = dict(node)
    if "$ref" in node:
        target = copy.deepcopy(defs[node.pop("$ref").rsplit("/", 1)[-1]])
        target.update(node)  # a field's own description wins over the model's
        node = target
    if "anyOf" in node:
        branches = [b for b in node.pop("anyOf") if b.get("type") != "null"]
        if len(branches) != 1:
            raise ValueError(f"unions other than `X | None` are not structural: {branches}")
        merged = dict(branches[0])
        merged.update({k: v for k, v in node.items() if k != "default" or v is not None})
        node = merged
        if "$ref" in node:
            return _rewrite(node, defs)
    node.pop("title", None)
    if node.get("default", ...) is None:
        node.pop("default")
    if node.get("additionalProperties") is False:
        node.pop("additionalProperties")
    for bound, limit in (("exclusiveMaximum", "maximum"), ("exclusiveMinimum", "minimum")):
        if isinstance(node.get(bound), int | float) and not isinstance(node[bound], bool):
            node[limit] = node[bound]  # JSON Schema 2020-12 number -> OpenAPI 3.0 flag
            node[bound] = True
    if "const" in node:
        node["enum"] = [node.pop("const")]
    if "enum" in node and "type" not in node:
        node["type"] = "string"
    out: Schema = {}
    for key, value in node.items():
        if key == "properties":
            out[key] = {name: _rewrite(prop, defs) for name, prop in value.items()}
        elif key in ("items", "additionalProperties") and isinstance(value, dict):
            out[key] = _rewrite(value, defs)
        else:
            out[key] = value
    return out


def custom_resource_definition(resource: ResourceDefinition) -> dict[str, Any]:
    spec_schema = structural(resource.spec)
    status_schema = structural(resource.status)
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": resource.name,
            "labels": {"app.kubernetes.io/part-of": "kommerce"},
        },
        "spec": {
            "group": GROUP,
            "scope": resource.scope,
            "names": {
                "kind": resource.kind,
                "listKind": f"{resource.kind}List",
                "plural": resource.plural,
                "singular": resource.singular,
                "shortNames": list(resource.short_names),
                "categories": list(resource.categories),
            },
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": [
                        {
                            "name": c.name,
                            "type": c.type,
                            "jsonPath": c.json_path,
                            **({"description": c.description} if c.description else {}),
                            **({"priority": c.priority} if c.priority else {}),
                        }
                        for c in resource.columns
                    ],
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "description": resource.description,
                            "required": ["spec"],
                            "properties": {
                                "apiVersion": {"type": "string"},
                                "kind": {"type": "string"},
                                "metadata": {"type": "object"},
                                "spec": spec_schema,
                                "status": status_schema,
                            },
                        }
                    },
                }
            ],
        },
    }
