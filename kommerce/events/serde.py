"""Events to Kafka records and back: Avro single-object encoding, envelope headers, upcasting.

    value = C3 01 | 8-byte CRC-64-AVRO fingerprint (little-endian) | Avro binary

`encode` validates the payload against the subject's latest version; `decode` finds the writer
version by fingerprint, reads it, and brings it to the latest version: a registered upcaster
for a step (semantic changes, e.g. splitting a field), else Avro schema resolution (new fields
get their defaults, removed ones are dropped).
"""

from __future__ import annotations

import io
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import fastavro
from fastavro.validation import ValidationError, validate

from kommerce.events import message as m
from kommerce.events.schemas import Registry, SchemaVersion

MAGIC = b"\xc3\x01"
Payload = dict[str, Any]
Upcaster = Callable[[Payload], Payload]


class DecodeError(ValueError):
    """A record that cannot be decoded: not single-object encoded, or an unknown schema."""


@dataclass
class Upcasters:
    """Functions that turn version N of a subject's payload into version N+1."""

    steps: dict[tuple[str, int], Upcaster] = field(default_factory=dict)

    def register(self, subject: str, from_version: int) -> Callable[[Upcaster], Upcaster]:
        def decorator(fn: Upcaster) -> Upcaster:
            self.steps[(subject, from_version)] = fn
            return fn

        return decorator


@dataclass(frozen=True)
class Event:
    """A decoded event: the envelope, the version that wrote it, the payload as of now."""

    event_id: str
    type: str
    written_version: int
    version: int
    payload: Payload
    key: str
    occurred_at: datetime
    producer: str
    correlation_id: str
    causation_id: str | None
    traceparent: str | None


def _avro(schema: SchemaVersion, payload: Payload) -> bytes:
    out = io.BytesIO()
    fastavro.schemaless_writer(out, schema.parsed, payload)
    return out.getvalue()


def _traceparent() -> str | None:
    from opentelemetry.propagate import inject

    carrier: dict[str, str] = {}
    inject(carrier)
    return carrier.get("traceparent")


def encode(
    registry: Registry,
    event_type: str,
    payload: Payload,
    *,
    producer: str,
    key: str | None = None,
    caused_by: Event | None = None,
    correlation_id: str | None = None,
    event_id: str | None = None,
    occurred_at: datetime | None = None,
    topic: str | None = None,
) -> m.EncodedMessage:
    """A record for the subject's topic, keyed by the aggregate id (the subject's key field).

    `topic` overrides the subject's topic for messages routed per recipient (saga commands).
    """
    subject = registry.subject(event_type)
    latest = subject.latest
    try:
        validate(payload, latest.parsed, raise_errors=True)
    except ValidationError as exc:
        raise ValueError(f"{event_type} v{latest.version} payload is invalid: {exc}") from exc
    if key is None:
        if subject.key is None:
            raise ValueError(f"{event_type} has no key field in subject.yaml; pass key=")
        key = str(payload[subject.key])
    event_id = event_id or str(uuid.uuid4())
    correlation = correlation_id or (caused_by.correlation_id if caused_by else event_id)
    headers = [
        (m.EVENT_ID, event_id),
        (m.EVENT_TYPE, event_type),
        (m.EVENT_VERSION, str(latest.version)),
        (m.OCCURRED_AT, (occurred_at or datetime.now(UTC)).isoformat()),
        (m.PRODUCER, producer),
        (m.CORRELATION_ID, correlation),
    ]
    if caused_by is not None:
        headers.append((m.CAUSATION_ID, caused_by.event_id))
    traceparent = _traceparent()
    if traceparent:
        headers.append((m.TRACEPARENT, traceparent))
    return m.EncodedMessage(
        topic=topic or subject.topic,
        key=key.encode(),
        value=MAGIC + latest.fingerprint + _avro(latest, payload),
        headers=tuple((k, v.encode()) for k, v in headers),
    )


def _read(data: bytes, writer: Any, reader: Any) -> Payload:
    record = fastavro.schemaless_reader(io.BytesIO(data), writer, reader)
    if not isinstance(record, dict):
        raise DecodeError("event payloads are Avro records")
    return record


def writer_of(registry: Registry, value: bytes) -> SchemaVersion:
    if len(value) < 10 or value[:2] != MAGIC:
        raise DecodeError("not an Avro single-object encoded value (no C3 01 marker)")
    version = registry.by_fingerprint.get(value[2:10])
    if version is None:
        raise DecodeError(
            f"unknown schema fingerprint {value[2:10].hex()}; is schemas/ older than the producer?"
        )
    return version


def decode_payload(
    registry: Registry, value: bytes, upcasters: Upcasters | None = None
) -> tuple[SchemaVersion, Payload]:
    """(writer version, payload upcast to the subject's latest version)."""
    writer = writer_of(registry, value)
    subject = registry.subject(writer.subject)
    steps = (upcasters or Upcasters()).steps
    current = writer
    payload = _read(value[10:], writer.parsed, None)
    while current.version < subject.latest.version:
        following = subject.version(current.version + 1)
        step = steps.get((subject.name, current.version))
        if step is not None:
            payload = step(payload)
        else:  # Avro resolution: defaults for new fields, drop removed ones
            payload = _read(_avro(current, payload), current.parsed, following.parsed)
        current = following
    return writer, payload


def decode(
    registry: Registry,
    *,
    key: bytes | None,
    value: bytes,
    headers: dict[str, str],
    upcasters: Upcasters | None = None,
) -> Event:
    writer, payload = decode_payload(registry, value, upcasters)
    try:
        return Event(
            event_id=headers[m.EVENT_ID],
            type=headers.get(m.EVENT_TYPE, writer.subject),
            written_version=writer.version,
            version=registry.subject(writer.subject).latest.version,
            payload=payload,
            key=(key or b"").decode(),
            occurred_at=datetime.fromisoformat(headers[m.OCCURRED_AT]),
            producer=headers.get(m.PRODUCER, ""),
            correlation_id=headers.get(m.CORRELATION_ID, headers[m.EVENT_ID]),
            causation_id=headers.get(m.CAUSATION_ID),
            traceparent=headers.get(m.TRACEPARENT),
        )
    except KeyError as exc:
        raise DecodeError(f"missing envelope header {exc}") from exc
