"""Avro schemas: compatibility rules, the registry, encoding, decoding and upcasting."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from kommerce.events import message as m
from kommerce.events.compatibility import Mode, can_read, incompatibilities
from kommerce.events.schemas import SCHEMA_ROOT, Registry, SchemaError
from kommerce.events.serde import DecodeError, Upcasters, decode, decode_payload, encode
from tests.helpers import kommerce

pytestmark = pytest.mark.unit


def _record(*fields: dict[str, Any], name: str = "Thing") -> dict[str, Any]:
    return {"type": "record", "name": name, "namespace": "t", "fields": list(fields)}


ID = {"name": "id", "type": "string"}


def test_adding_a_field_with_default_is_fully_compatible() -> None:
    old = _record(ID)
    new = _record(ID, {"name": "channel", "type": "string", "default": "web"})
    assert incompatibilities(new, old, Mode.FULL) == []


def test_adding_a_field_without_default_breaks_backward_and_names_it() -> None:
    old = _record(ID)
    new = _record(ID, {"name": "currency", "type": "string"})
    problems = incompatibilities(new, old, Mode.FULL)
    assert problems == [
        "backward (new reads old): field `currency`: the reader requires it but the writer "
        "does not write it and it has no default"
    ]
    assert incompatibilities(new, old, Mode.FORWARD) == []  # old readers ignore it


def test_removing_a_field_without_default_breaks_forward() -> None:
    old = _record(ID, {"name": "total", "type": "long"})
    new = _record(ID)
    assert incompatibilities(new, old, Mode.BACKWARD) == []
    assert incompatibilities(new, old, Mode.FORWARD) == [
        "forward (old reads new): field `total`: the reader requires it but the writer does "
        "not write it and it has no default"
    ]


def test_nested_type_change_names_the_path() -> None:
    line = {
        "name": "lines",
        "type": {"type": "array", "items": _record({"name": "qty", "type": "int"}, name="Line")},
    }
    wider = {
        "name": "lines",
        "type": {"type": "array", "items": _record({"name": "qty", "type": "long"}, name="Line")},
    }
    old, new = _record(ID, line), _record(ID, wider)
    assert incompatibilities(new, old, Mode.BACKWARD) == []  # int promotes to long
    assert incompatibilities(new, old, Mode.FORWARD) == [
        "forward (old reads new): field `lines[].qty`: type changed from long to int"
    ]


def test_enums_unions_and_aliases() -> None:
    old_enum = {"name": "p", "type": {"type": "enum", "name": "P", "symbols": ["a"]}}
    new_enum = {"name": "p", "type": {"type": "enum", "name": "P", "symbols": ["a", "b"]}}
    assert can_read(_record(old_enum), _record(new_enum)) == [
        "field `p`: enum symbol(s) b unknown to the reader"
    ]
    optional = {"name": "note", "type": ["null", "string"], "default": None}
    assert can_read(_record(ID, optional), _record(ID, {"name": "note", "type": "string"})) == []
    renamed = {"name": "customer", "type": "string", "aliases": ["user"]}
    assert can_read(_record(renamed), _record({"name": "user", "type": "string"})) == []


def test_repository_schemas_are_compatible() -> None:
    report = Registry.load().check()
    assert report
    assert all(problems == [] for problems in report.values()), report


def _copy_schemas(tmp_path: Path) -> Path:
    root = tmp_path / "schemas"
    shutil.copytree(SCHEMA_ROOT, root)
    return root


def test_cli_check_fails_naming_the_field(tmp_path: Path) -> None:
    root = _copy_schemas(tmp_path)
    v3 = json.loads((root / "order.placed" / "v3.avsc").read_text())
    v3["fields"].append({"name": "coupon", "type": "string"})  # no default
    (root / "order.placed" / "v4.avsc").write_text(json.dumps(v3))
    done = kommerce("schemas", "check", "--root", str(root))
    assert done.returncode == 1
    assert "FAIL order.placed" in done.stdout
    assert "v4 vs v1: backward (new reads old): field `coupon`" in done.stdout
    assert "incompatible" in done.stderr
    ok = kommerce("schemas", "check")
    assert ok.returncode == 0, ok.stdout + ok.stderr


def test_malformed_subject_is_reported_with_its_file(tmp_path: Path) -> None:
    root = _copy_schemas(tmp_path)
    (root / "order.placed" / "v5.avsc").write_text("{}")
    with pytest.raises(SchemaError, match=r"v1\.\.vN without gaps"):
        Registry.load(root)
    (root / "order.placed" / "v5.avsc").unlink()
    (root / "order.placed" / "v4.avsc").write_text('{"type": "record"}')
    with pytest.raises(SchemaError, match=r"v4\.avsc"):
        Registry.load(root)


PLACED = {
    "order_id": "o-1",
    "customer_id": "c-1",
    "currency": "EUR",
    "total_minor": 2500,
    "lines": [
        {"variant_id": "v-1", "quantity": 2, "unit_price_minor": 1250, "sku": "S-1", "name": "Lamp"}
    ],
    "channel": "app",
    "number": "KO-000001",
    "placed_at": None,
}


def test_encode_carries_the_envelope_and_single_object_encoding() -> None:
    registry = Registry.load()
    msg = encode(registry, "order.placed", PLACED, producer="order")
    headers = m.headers_dict(msg.headers)
    assert msg.topic == "order.placed.v1"
    assert msg.key == b"o-1"  # the subject's key field
    assert msg.value[:2] == b"\xc3\x01"
    assert msg.value[2:10] == registry.subject("order.placed").latest.fingerprint
    assert headers[m.EVENT_TYPE] == "order.placed"
    assert headers[m.EVENT_VERSION] == "3"
    assert headers[m.PRODUCER] == "order"
    assert headers[m.CORRELATION_ID] == headers[m.EVENT_ID]  # it starts a conversation
    event = decode(registry, key=msg.key, value=msg.value, headers=headers)
    assert event.payload == PLACED
    follow = encode(
        registry,
        "order.confirmed",
        {"order_id": "o-1", "payment_id": "p-1"},
        producer="order",
        caused_by=event,
    )
    follow_headers = m.headers_dict(follow.headers)
    assert follow_headers[m.CAUSATION_ID] == event.event_id
    assert follow_headers[m.CORRELATION_ID] == event.correlation_id


def test_invalid_payload_is_refused() -> None:
    with pytest.raises(ValueError, match=r"order\.placed v3 payload is invalid"):
        encode(Registry.load(), "order.placed", {"order_id": 1}, producer="x")


def test_old_versions_decode_into_the_current_model() -> None:
    import io

    import fastavro

    registry = Registry.load()
    v1 = registry.subject("order.placed").version(1)
    old = {
        "order_id": "o-1",
        "customer_id": "c-1",
        "currency": "EUR",
        "total_minor": 2500,
        "lines": [{"variant_id": "v-1", "quantity": 2, "unit_price_minor": 1250}],
    }
    out = io.BytesIO()
    fastavro.schemaless_writer(out, v1.parsed, old)
    value = b"\xc3\x01" + v1.fingerprint + out.getvalue()
    writer, payload = decode_payload(registry, value)
    assert writer.version == 1
    # Avro resolution: the v2 and v3 defaults
    assert payload == old | {
        "lines": [
            {"variant_id": "v-1", "quantity": 2, "unit_price_minor": 1250, "sku": "", "name": ""}
        ],
        "channel": "web",
        "number": "",
        "placed_at": None,
    }
    upcasters = Upcasters()

    @upcasters.register("order.placed", from_version=1)
    def channel_from_customer(p: dict[str, Any]) -> dict[str, Any]:
        return p | {"channel": "api" if p["customer_id"].startswith("c-") else "web"}

    assert decode_payload(registry, value, upcasters)[1]["channel"] == "api"


def test_undecodable_values_say_why() -> None:
    registry = Registry.load()
    with pytest.raises(DecodeError, match="no C3 01 marker"):
        decode_payload(registry, b"{json}")
    with pytest.raises(DecodeError, match="unknown schema fingerprint"):
        decode_payload(registry, b"\xc3\x01" + b"\x00" * 8 + b"\x00")
