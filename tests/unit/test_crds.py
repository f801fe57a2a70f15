from __future__ import annotations

import json
from typing import Any

import pytest

from kommerce.api import registry
from kommerce.api.crd import custom_resource_definition, structural
from kommerce.api.v1alpha1.service import SERVICE, ServiceSpec

pytestmark = pytest.mark.unit


def test_crds_directory_is_up_to_date() -> None:
    stale = registry.stale()
    assert stale == [], f"run `kommerce crds generate`: {stale}"


def _walk(node: Any) -> list[dict[str, Any]]:
    found = []
    if isinstance(node, dict):
        found.append(node)
        for value in node.values():
            found += _walk(value)
    elif isinstance(node, list):
        for value in node:
            found += _walk(value)
    return found


@pytest.mark.parametrize("resource", registry.RESOURCES, ids=lambda r: r.kind)
def test_schemas_are_structural(resource: Any) -> None:
    crd = custom_resource_definition(resource)
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    for node in _walk(schema["properties"]["spec"]) + _walk(schema["properties"]["status"]):
        assert "$ref" not in node
        assert "anyOf" not in node
        assert "title" not in node
        assert node.get("additionalProperties") is not False
        if "properties" in node:
            assert node.get("type") == "object", json.dumps(node)[:200]
    assert crd["spec"]["names"]["categories"] == ["kommerce"]
    assert not {"svc", "deploy", "ksvc"} & set(crd["spec"]["names"]["shortNames"])


def test_every_spec_field_is_described() -> None:
    spec = structural(ServiceSpec)
    for name, prop in spec["properties"].items():
        assert prop.get("description"), name


def test_spec_defaults_make_a_minimal_service_complete() -> None:
    spec = ServiceSpec.model_validate({"image": "ghcr.io/kommerce/order", "version": "1.0.0"})
    assert spec.ports[0].port == 8080
    assert spec.probes.readiness.path == "/readyz"
    assert spec.deletion_policy == "Retain"
    assert spec.model_dump(by_alias=True)["deletionPolicy"] == "Retain"


def test_unknown_fields_are_rejected_by_the_model() -> None:
    with pytest.raises(ValueError, match="replica"):
        ServiceSpec.model_validate({"image": "x", "version": "1", "replica": 2})


def test_service_resource_metadata() -> None:
    assert SERVICE.name == "services.kommerce.io"
    assert "ksv" in SERVICE.short_names
