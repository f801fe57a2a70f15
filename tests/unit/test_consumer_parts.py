"""Pure parts of consumers and dead letters: backoff, DLQ headers, replay planning, times."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest
from click.testing import CliRunner
from prometheus_client import CollectorRegistry

from kommerce.cli.events import events
from kommerce.events import message as m
from kommerce.events.consumer import (
    ConsumedMessage,
    ConsumerMetrics,
    PoisonMessage,
    RetryPolicy,
    failure_reason,
)
from kommerce.events.dlq import (
    DeadLetter,
    DeadLetterError,
    dead_letter_headers,
    parse_time,
    plan_replay,
    replayed_topic,
    resolve_dlq,
    without_dlq_headers,
)

pytestmark = pytest.mark.unit


def test_backoff_grows_exponentially_with_jitter_and_is_capped() -> None:
    policy = RetryPolicy(attempts=8, base=0.1, cap=1.0)
    assert [policy.ceiling(n) for n in range(1, 8)] == pytest.approx(
        [0.1, 0.2, 0.4, 0.8, 1.0, 1.0, 1.0]
    )
    for seed in range(20):
        delays = policy.schedule(random.Random(seed))
        assert len(delays) == 7  # one before each retry
        for n, delay in enumerate(delays, start=1):
            assert policy.ceiling(n) / 2 <= delay <= policy.ceiling(n)
    # Jitter: two consumers failing together do not retry in lockstep.
    assert policy.schedule(random.Random(1)) != policy.schedule(random.Random(2))


def test_backoff_survives_long_outages_and_validates() -> None:
    assert RetryPolicy(base=0.5, cap=30).ceiling(10_000) == 30
    assert RetryPolicy(attempts=1).schedule() == []
    with pytest.raises(ValueError, match="attempts"):
        RetryPolicy(attempts=0)
    with pytest.raises(ValueError, match="base"):
        RetryPolicy(base=2, cap=1)


def test_failure_reason_is_type_and_message_bounded() -> None:
    assert failure_reason(ValueError("bad price")) == "ValueError: bad price"
    assert failure_reason(KeyError()) == "KeyError"
    long = failure_reason(RuntimeError("x" * 5000))
    assert len(long) == 1000
    assert long.startswith("RuntimeError: xxx")
    assert long.endswith("...")


def test_dead_letter_headers_keep_originals_and_replace_old_dlq_headers() -> None:
    original = [
        (m.EVENT_ID, b"e-1"),
        (m.EVENT_TYPE, b"orders.OrderPlaced"),
        (m.DLQ_REASON, b"an older failure"),
    ]
    headers = dead_letter_headers(
        original,
        reason="ValueError: bad",
        topic="orders",
        partition=3,
        offset=42,
        group="billing",
        attempts=5,
    )
    found = dict(headers)
    assert found[m.EVENT_ID] == b"e-1"
    assert found[m.EVENT_TYPE] == b"orders.OrderPlaced"
    assert found[m.DLQ_REASON] == b"ValueError: bad"
    assert found[m.DLQ_TOPIC] == b"orders"
    assert found[m.DLQ_PARTITION] == b"3"
    assert found[m.DLQ_OFFSET] == b"42"
    assert found[m.DLQ_GROUP] == b"billing"
    assert found[m.DLQ_ATTEMPTS] == b"5"
    assert [k for k, _ in headers].count(m.DLQ_REASON) == 1
    # A replay publishes the original headers again, in their order.
    assert without_dlq_headers(headers) == tuple(original[:2])


def _record(headers: list[tuple[str, bytes]], **over: object) -> SimpleNamespace:
    fields: dict[str, object] = {
        "topic": "orders",
        "partition": 1,
        "offset": 7,
        "key": b"k",
        "value": b"v",
        "headers": headers,
        "timestamp": 1_700_000_000_000,
    }
    fields.update(over)
    return SimpleNamespace(**fields)


def test_consumed_message_from_record() -> None:
    msg = ConsumedMessage.from_record(_record([(m.EVENT_ID, b"e-9"), (m.EVENT_TYPE, b"T")]))
    assert msg.event_id == "e-9"
    assert msg.event_type == "T"
    assert msg.headers == {m.EVENT_ID: "e-9", m.EVENT_TYPE: "T"}
    assert msg.timestamp == datetime.fromtimestamp(1_700_000_000, UTC)
    assert (msg.topic, msg.partition, msg.offset, msg.key, msg.value) == (
        "orders",
        1,
        7,
        b"k",
        b"v",
    )


@pytest.mark.parametrize("headers", [[], [(m.EVENT_ID, b"  ")], [(m.EVENT_TYPE, b"T")]])
def test_message_without_event_id_is_poison(headers: list[tuple[str, bytes]]) -> None:
    with pytest.raises(PoisonMessage, match=m.EVENT_ID):
        ConsumedMessage.from_record(_record(headers))


def test_metrics_register_once_per_registry() -> None:
    registry = CollectorRegistry()
    metrics = ConsumerMetrics.create(registry)
    metrics.lag.labels("g", "t", "0").set(3)
    metrics.handled.labels("g", "t").inc()
    assert (
        registry.get_sample_value(
            "kommerce_consumer_lag", {"group": "g", "topic": "t", "partition": "0"}
        )
        == 3
    )
    assert (
        registry.get_sample_value("kommerce_consumer_handled_total", {"group": "g", "topic": "t"})
        == 1
    )
    ConsumerMetrics.create()  # private registries never clash


def _letter(offset: int, partition: int = 0) -> DeadLetter:
    return DeadLetter(
        partition=partition,
        offset=offset,
        key=None,
        value=b"",
        headers=((m.DLQ_TOPIC, b"orders"),),
        timestamp=datetime.now(UTC),
        dlq="orders.dlq",
    )


def test_plan_replay_skips_what_was_replayed() -> None:
    letters = [_letter(0), _letter(1), _letter(2)]
    plan = plan_replay(letters, {"0:1"}, offsets=None)
    assert [d.offset for d in plan.replay] == [0, 2]
    assert [d.offset for d in plan.already] == [1]
    plan = plan_replay(letters, {"0:1"}, offsets=[1, 2])
    assert [d.offset for d in plan.replay] == [2]
    assert [d.offset for d in plan_replay(letters, {"0:1"}, offsets=[1], force=True).replay] == [1]
    with pytest.raises(DeadLetterError, match="offset"):
        plan_replay(letters, set(), offsets=[9])
    assert letters[0].original_topic == "orders"


def test_topic_names() -> None:
    assert resolve_dlq("orders") == "orders.dlq"
    assert resolve_dlq("orders.dlq") == "orders.dlq"
    assert replayed_topic("orders.dlq") == "orders.dlq.replayed"


def test_parse_time() -> None:
    assert parse_time("2026-11-27T17:00:00Z") == datetime(2026, 11, 27, 17, tzinfo=UTC)
    assert parse_time("2026-11-27T17:00:00") == datetime(2026, 11, 27, 17, tzinfo=UTC)
    assert parse_time("1700000000000") == datetime.fromtimestamp(1_700_000_000, UTC)
    with pytest.raises(DeadLetterError, match="ISO 8601"):
        parse_time("yesterday")


def test_cli_explains_missing_bootstrap_and_bad_usage() -> None:
    runner = CliRunner()
    done = runner.invoke(events, ["dlq", "list", "orders"], env={"KOMMERCE_KAFKA_BOOTSTRAP": ""})
    assert done.exit_code != 0
    assert "KOMMERCE_KAFKA_BOOTSTRAP" in done.output
    done = runner.invoke(events, ["dlq", "replay", "orders", "--bootstrap", "x:1"])
    assert done.exit_code == 2
    assert "--offset N" in done.output
    done = runner.invoke(
        events,
        ["replay", "--topic", "t", "--from", "soon", "--group", "g", "--bootstrap", "x:1"],
    )
    assert done.exit_code == 2
    assert "ISO 8601" in done.output
