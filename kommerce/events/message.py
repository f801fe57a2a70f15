"""What travels on Kafka: the envelope headers and an encoded message, shared by every part.

A Kafka record's value is the Avro payload in single-object encoding (marker `C3 01`, the
schema's CRC-64-AVRO fingerprint, then the Avro binary), so a consumer can always tell which
schema version wrote it. The envelope lives in headers (all values UTF-8 strings) so routing,
idempotency and tracing never need to decode the payload.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Header names (lower-case, `kommerce-` prefix; `traceparent` as W3C Trace Context names it).
EVENT_ID = "kommerce-event-id"
EVENT_TYPE = "kommerce-event-type"
EVENT_VERSION = "kommerce-event-version"
OCCURRED_AT = "kommerce-occurred-at"
PRODUCER = "kommerce-producer"
CORRELATION_ID = "kommerce-correlation-id"
CAUSATION_ID = "kommerce-causation-id"
TRACEPARENT = "traceparent"
# Added to dead letters (see consumer): why and where the message failed.
DLQ_REASON = "kommerce-dlq-reason"
DLQ_TOPIC = "kommerce-dlq-original-topic"
DLQ_PARTITION = "kommerce-dlq-original-partition"
DLQ_OFFSET = "kommerce-dlq-original-offset"
DLQ_GROUP = "kommerce-dlq-group"
DLQ_ATTEMPTS = "kommerce-dlq-attempts"

DLQ_SUFFIX = ".dlq"


def dlq_topic(topic: str) -> str:
    """The dead-letter topic of a topic: `<topic>.dlq`."""
    return topic + DLQ_SUFFIX


@dataclass(frozen=True)
class EncodedMessage:
    """A ready-to-publish Kafka record: the outbox stores these, the relay sends them as is."""

    topic: str
    key: bytes  # the aggregate id (UTF-8): per-key order is per-partition order
    value: bytes  # Avro single-object encoding
    headers: tuple[tuple[str, bytes], ...] = field(default_factory=tuple)

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key == name:
                return value.decode()
        return None

    @property
    def event_id(self) -> str:
        found = self.header(EVENT_ID)
        if found is None:
            raise ValueError(f"message on {self.topic} has no {EVENT_ID} header")
        return found


def headers_dict(
    headers: list[tuple[str, bytes]] | tuple[tuple[str, bytes], ...],
) -> dict[str, str]:
    """Kafka headers as a str -> str dict (the last value wins)."""
    return {k: (v or b"").decode() for k, v in headers}
