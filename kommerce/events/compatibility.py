"""Avro schema compatibility, by the resolution rules of the Avro specification.

`can_read(reader, writer)` lists why data written with `writer` cannot be read with `reader`,
each reason naming the exact field path (`total.currency`); empty means compatible. Backward
compatibility of a new version = the new schema reads the old one's data; forward = the old
schema reads the new one's data; full = both. Schemas are the parsed JSON (dicts/lists/str);
named types are resolved by (full) name.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

Schema = Any
PROMOTIONS = {
    "int": {"long", "float", "double"},
    "long": {"float", "double"},
    "float": {"double"},
    "string": {"bytes"},
    "bytes": {"string"},
}
PRIMITIVES = {"null", "boolean", "int", "long", "float", "double", "bytes", "string"}


class Mode(StrEnum):
    BACKWARD = "BACKWARD"
    FORWARD = "FORWARD"
    FULL = "FULL"
    NONE = "NONE"


def _named(schema: Schema, namespace: str | None, found: dict[str, Any]) -> None:
    """Collect named types (record, enum, fixed) by full and short name."""
    if isinstance(schema, list):
        for branch in schema:
            _named(branch, namespace, found)
        return
    if not isinstance(schema, dict):
        return
    kind = schema.get("type")
    if kind in ("record", "error", "enum", "fixed"):
        name = schema["name"]
        space = schema.get("namespace", namespace)
        full = name if "." in name or not space else f"{space}.{name}"
        found[full] = schema
        found.setdefault(full.rsplit(".", 1)[-1], schema)
        namespace = full.rsplit(".", 1)[0] if "." in full else space
        for field in schema.get("fields", []):
            _named(field["type"], namespace, found)
    elif kind == "array":
        _named(schema["items"], namespace, found)
    elif kind == "map":
        _named(schema["values"], namespace, found)
    elif isinstance(kind, dict | list):
        _named(kind, namespace, found)


class _Resolver:
    def __init__(self, reader: Schema, writer: Schema) -> None:
        self.reader_names: dict[str, Any] = {}
        self.writer_names: dict[str, Any] = {}
        _named(reader, None, self.reader_names)
        _named(writer, None, self.writer_names)
        self._seen: set[tuple[int, int]] = set()

    def _deref(self, schema: Schema, names: dict[str, Any]) -> Schema:
        if isinstance(schema, str) and schema not in PRIMITIVES:
            return names.get(schema, names.get(schema.rsplit(".", 1)[-1], schema))
        if isinstance(schema, dict) and not isinstance(schema.get("type"), str | type(None)):
            return self._deref(schema["type"], names)
        if isinstance(schema, dict) and schema.get("type") in PRIMITIVES and len(schema) == 1:
            return schema["type"]
        return schema

    @staticmethod
    def _kind(schema: Schema) -> str:
        if isinstance(schema, list):
            return "union"
        if isinstance(schema, str):
            return schema
        return str(schema.get("type"))

    def check(self, reader: Schema, writer: Schema, path: str) -> list[str]:
        reader = self._deref(reader, self.reader_names)
        writer = self._deref(writer, self.writer_names)
        key = (id(reader), id(writer))
        if key in self._seen:  # recursive types: assume compatible on the second visit
            return []
        if isinstance(reader, dict) or isinstance(writer, dict):
            self._seen.add(key)
        where = f"field `{path}`" if path else "the top-level schema"
        r_kind, w_kind = self._kind(reader), self._kind(writer)
        if w_kind == "union":
            problems: list[str] = []
            for branch in writer:
                problems += self.check(reader, branch, path)
            return problems
        if r_kind == "union":
            for branch in reader:
                if not self.check(branch, writer, path):
                    return []
            return [f"{where}: no branch of the reader's union accepts the writer's {w_kind}"]
        if r_kind != w_kind:
            if r_kind in PROMOTIONS.get(w_kind, set()):
                return []
            return [f"{where}: type changed from {w_kind} to {r_kind}"]
        if r_kind in PRIMITIVES:
            return []
        if r_kind == "array":
            return self.check(reader["items"], writer["items"], f"{path}[]")
        if r_kind == "map":
            return self.check(reader["values"], writer["values"], f"{path}{{}}")
        if r_kind == "fixed":
            if reader.get("size") != writer.get("size"):
                return [f"{where}: fixed size changed from {writer['size']} to {reader['size']}"]
            return []
        if r_kind == "enum":
            missing = [s for s in writer["symbols"] if s not in reader["symbols"]]
            if missing and "default" not in reader:
                return [f"{where}: enum symbol(s) {', '.join(missing)} unknown to the reader"]
            return []
        return self._record(reader, writer, path)

    def _record(self, reader: dict[str, Any], writer: dict[str, Any], path: str) -> list[str]:
        problems: list[str] = []
        written = {f["name"]: f for f in writer.get("fields", [])}
        for field in reader.get("fields", []):
            names = [field["name"], *field.get("aliases", [])]
            source = next((written[n] for n in names if n in written), None)
            child = f"{path}.{field['name']}" if path else field["name"]
            if source is None:
                if "default" not in field:
                    problems.append(
                        f"field `{child}`: the reader requires it but the writer does not "
                        "write it and it has no default"
                    )
                continue
            problems += self.check(field["type"], source["type"], child)
        return problems


def can_read(reader: Schema, writer: Schema) -> list[str]:
    """Why data written with `writer` cannot be read with `reader` (empty: it can)."""
    return _Resolver(reader, writer).check(reader, writer, "")


def incompatibilities(new: Schema, old: Schema, mode: Mode) -> list[str]:
    """What breaks between an old and a new version of a subject under `mode`."""
    problems: list[str] = []
    if mode in (Mode.BACKWARD, Mode.FULL):
        problems += [f"backward (new reads old): {p}" for p in can_read(new, old)]
    if mode in (Mode.FORWARD, Mode.FULL):
        problems += [f"forward (old reads new): {p}" for p in can_read(old, new)]
    return problems
