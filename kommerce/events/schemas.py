"""The schema registry in `schemas/`: one subject per event type, versions in files.

    schemas/<domain>.<event>/subject.yaml   topic, compatibility mode, partition key field
    schemas/<domain>.<event>/v1.avsc        version 1 (Avro JSON)
    schemas/<domain>.<event>/v2.avsc        version 2, compatible with v1 under the mode

Every version is checked against every earlier one (transitively) with the subject's mode
(default FULL: backward and forward). A message names the version that wrote it by the
schema's CRC-64-AVRO fingerprint (Avro single-object encoding), so consumers can always find it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import fastavro
import yaml
from fastavro.schema import fingerprint, to_parsing_canonical_form

from kommerce.events.compatibility import Mode, incompatibilities
from kommerce.paths import REPO_ROOT

SCHEMA_ROOT = REPO_ROOT / "schemas"
SUBJECT = re.compile(r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$")
VERSION_FILE = re.compile(r"^v([1-9][0-9]*)\.avsc$")
TOPIC = re.compile(r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*\.v[1-9][0-9]*$")


class SchemaError(ValueError):
    """A schema file or subject is malformed; the message names the file."""


@dataclass(frozen=True)
class SchemaVersion:
    subject: str
    version: int
    schema: dict[str, Any]  # as written (JSON)
    parsed: Any  # fastavro's parsed schema
    fingerprint: bytes  # 8 bytes, little-endian CRC-64-AVRO of the canonical form

    @property
    def fingerprint_hex(self) -> str:
        return self.fingerprint.hex()


@dataclass(frozen=True)
class Subject:
    name: str
    topic: str
    compatibility: Mode
    key: str | None  # payload field used as the partition key (the aggregate id)
    versions: tuple[SchemaVersion, ...] = field(default_factory=tuple)

    @property
    def latest(self) -> SchemaVersion:
        return self.versions[-1]

    def version(self, number: int) -> SchemaVersion:
        if not 1 <= number <= len(self.versions):
            raise KeyError(f"{self.name} has no version {number}")
        return self.versions[number - 1]


def _fingerprint(parsed: Any) -> bytes:
    value = int(fingerprint(to_parsing_canonical_form(parsed), "CRC-64-AVRO"), 16)
    return value.to_bytes(8, "little")


def load_subject(directory: Path) -> Subject:
    name = directory.name
    if not SUBJECT.match(name):
        raise SchemaError(f"{directory}: subject names are <domain>.<event> (snake_case)")
    meta_path = directory / "subject.yaml"
    meta = yaml.safe_load(meta_path.read_text()) if meta_path.exists() else {}
    topic = meta.get("topic", f"{name}.v1")
    if not TOPIC.match(topic):
        raise SchemaError(f"{meta_path}: topic {topic!r} is not <domain>.<event>.v<major>")
    try:
        mode = Mode(str(meta.get("compatibility", "FULL")).upper())
    except ValueError as exc:
        raise SchemaError(f"{meta_path}: compatibility must be one of {list(Mode)}") from exc
    files = sorted(
        (int(m.group(1)), p) for p in directory.iterdir() if (m := VERSION_FILE.match(p.name))
    )
    if not files:
        raise SchemaError(f"{directory}: no v1.avsc")
    if [n for n, _ in files] != list(range(1, len(files) + 1)):
        raise SchemaError(f"{directory}: versions must be v1..vN without gaps")
    versions = []
    for number, path in files:
        try:
            raw = json.loads(path.read_text())
            parsed = fastavro.parse_schema(raw, _write_hint=False)
        except (ValueError, fastavro.schema.SchemaParseException) as exc:
            raise SchemaError(f"{path}: {exc}") from exc
        versions.append(SchemaVersion(name, number, raw, parsed, _fingerprint(parsed)))
    key = meta.get("key")
    if key is not None and key not in {f["name"] for f in versions[-1].schema.get("fields", [])}:
        raise SchemaError(f"{meta_path}: key field {key!r} is not in the latest schema")
    return Subject(name, topic, mode, key, tuple(versions))


class Registry:
    def __init__(self, subjects: list[Subject]) -> None:
        self.subjects = {s.name: s for s in subjects}
        self.by_fingerprint: dict[bytes, SchemaVersion] = {}
        for subject in subjects:
            for version in subject.versions:
                other = self.by_fingerprint.get(version.fingerprint)
                if other is not None and other.subject != subject.name:
                    raise SchemaError(
                        f"{subject.name} v{version.version} has the same schema as "
                        f"{other.subject} v{other.version}; give each event its own record name"
                    )
                self.by_fingerprint.setdefault(version.fingerprint, version)

    @classmethod
    def load(cls, root: Path = SCHEMA_ROOT) -> Registry:
        return cls([load_subject(d) for d in sorted(root.iterdir()) if d.is_dir()])

    def subject(self, name: str) -> Subject:
        try:
            return self.subjects[name]
        except KeyError:
            raise KeyError(f"no schema subject {name!r} in schemas/") from None

    def check(self) -> dict[str, list[str]]:
        """Subject -> what breaks (empty lists: compatible)."""
        report: dict[str, list[str]] = {}
        for subject in self.subjects.values():
            problems: list[str] = []
            if subject.compatibility != Mode.NONE:
                for new in subject.versions[1:]:
                    for old in subject.versions[: new.version - 1]:
                        problems += [
                            f"v{new.version} vs v{old.version}: {p}"
                            for p in incompatibilities(
                                new.schema, old.schema, subject.compatibility
                            )
                        ]
            report[subject.name] = problems
        return report
