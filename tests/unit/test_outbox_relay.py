"""The outbox and relay's pure parts: row encoding, lock keys, backoff, metrics, CLI checks."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from click.testing import CliRunner
from prometheus_client import CollectorRegistry
from sqlalchemy.dialects import postgresql
from sqlalchemy.schema import CreateIndex, CreateTable

from kommerce.cli.main import cli
from kommerce.events import message as m
from kommerce.events.message import EncodedMessage
from kommerce.events.outbox import (
    OUTBOX,
    OutboxError,
    headers_from_json,
    headers_to_json,
    outbox_values,
    row_to_outbox,
)
from kommerce.events.relay import backoff_delay, describe, lock_key, relay_metrics

pytestmark = pytest.mark.unit


def _message(event_id: str = "", **headers: bytes) -> EncodedMessage:
    event_id = event_id or str(uuid.uuid4())
    return EncodedMessage(
        topic="orders.v1",
        key=b"order-1",
        value=b"\xc3\x01payload",
        headers=((m.EVENT_ID, event_id.encode()), *headers.items()),
    )


def test_headers_round_trip_in_order() -> None:
    headers = ((m.EVENT_ID, b"x"), (m.TRACEPARENT, b"00-abc-def-01"), (m.EVENT_ID, b"y"))
    stored = headers_to_json(headers)
    assert stored == [[m.EVENT_ID, "x"], [m.TRACEPARENT, "00-abc-def-01"], [m.EVENT_ID, "y"]]
    assert headers_from_json(stored) == headers


def test_non_utf8_header_is_refused() -> None:
    with pytest.raises(OutboxError, match="not UTF-8"):
        headers_to_json((("bad", b"\xff\xfe"),))


def test_outbox_values_keep_the_message() -> None:
    event_id = str(uuid.uuid4())
    msg = _message(event_id, **{m.EVENT_TYPE: b"order.Placed"})
    values = outbox_values(msg)
    assert values["event_id"] == uuid.UUID(event_id)
    assert (values["topic"], values["key"], values["value"]) == (msg.topic, msg.key, msg.value)
    row = row_to_outbox(
        1,
        uuid.UUID(event_id),
        msg.topic,
        msg.key,
        msg.value,
        values["headers"],  # type: ignore[arg-type]
        datetime.now(tz=UTC),
    )
    assert row.message == msg


def test_event_id_must_be_a_uuid() -> None:
    with pytest.raises(OutboxError, match="not a UUID"):
        outbox_values(_message("not-a-uuid"))
    with pytest.raises(OutboxError, match="no kommerce-event-id"):
        outbox_values(EncodedMessage(topic="t", key=b"k", value=b"v"))


def test_table_ddl_has_the_contract_columns() -> None:
    ddl = str(CreateTable(OUTBOX).compile(dialect=postgresql.dialect()))  # type: ignore[no-untyped-call]
    for fragment in (
        "id BIGSERIAL NOT NULL",
        "event_id UUID NOT NULL",
        "key BYTEA NOT NULL",
        "value BYTEA NOT NULL",
        "headers JSONB NOT NULL",
        "created_at TIMESTAMP WITH TIME ZONE DEFAULT now() NOT NULL",
        "published_at TIMESTAMP WITH TIME ZONE",
        "UNIQUE (event_id)",
    ):
        assert fragment in ddl
    (index,) = OUTBOX.indexes
    index_ddl = str(CreateIndex(index).compile(dialect=postgresql.dialect()))  # type: ignore[no-untyped-call]
    assert "WHERE published_at IS NULL" in index_ddl


def test_lock_key_is_stable_signed_64_bit_and_per_schema() -> None:
    assert lock_key("orders") == lock_key("orders")
    assert lock_key("orders") != lock_key("payments")
    for schema in ("orders", "payments", "a", "x" * 63):
        assert -(2**63) <= lock_key(schema) < 2**63


def test_backoff_doubles_up_to_the_cap() -> None:
    delays = [backoff_delay(n, base=0.5, cap=10) for n in range(0, 8)]
    assert delays == [0.0, 0.5, 1.0, 2.0, 4.0, 8.0, 10.0, 10.0]
    assert backoff_delay(10_000, base=0.5, cap=10) == 10.0


def test_metrics_are_registered_by_schema() -> None:
    registry = CollectorRegistry()
    metrics = relay_metrics(registry)
    metrics.backlog.labels("orders").set(3)
    metrics.published.labels("orders").inc(2)
    metrics.latency.labels("orders").observe(0.2)
    assert registry.get_sample_value("outbox_backlog", {"schema": "orders"}) == 3
    assert registry.get_sample_value("outbox_published_total", {"schema": "orders"}) == 2
    assert (
        registry.get_sample_value("outbox_publish_latency_seconds_count", {"schema": "orders"}) == 1
    )
    assert registry.get_sample_value("outbox_lag_seconds", {"schema": "orders"}) is None


def test_cli_refuses_a_bad_schema_and_a_missing_bootstrap(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KOMMERCE_KAFKA_BOOTSTRAP", raising=False)
    monkeypatch.setenv("KOMMERCE_DATABASE_URL", "postgresql://u:p@127.0.0.1:5432/db")
    runner = CliRunner()
    bad = runner.invoke(cli, ["events", "relay", "--schema", "Bad-Name"])
    assert bad.exit_code == 2
    assert "not a valid schema name" in bad.output
    missing = runner.invoke(cli, ["events", "relay", "--schema", "orders"])
    assert missing.exit_code == 2
    assert "KOMMERCE_KAFKA_BOOTSTRAP" in missing.output


def test_failures_are_described_on_one_line() -> None:
    assert describe(TimeoutError()) == "TimeoutError: no detail"
    assert describe(RuntimeError("broker gone\n[SQL: ...]")) == "RuntimeError: broker gone"
    assert describe(OSError("OSError: already named")) == "OSError: already named"
