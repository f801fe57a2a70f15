from __future__ import annotations

import json
import logging

import pytest

from kommerce.observability.logging import JsonFormatter, request_id_var, trace_id_var

pytestmark = pytest.mark.unit


def _record(msg: str, **extra: object) -> logging.LogRecord:
    record = logging.makeLogRecord({"name": "t", "levelname": "INFO", "msg": msg, "args": ()})
    for key, value in extra.items():
        setattr(record, key, value)
    return record


def test_json_line_carries_request_and_trace_ids() -> None:
    rid = request_id_var.set("req-1")
    tid = trace_id_var.set("a" * 32)
    try:
        line = JsonFormatter(service="svc").format(_record("hello %s", order_id=7))
    finally:
        request_id_var.reset(rid)
        trace_id_var.reset(tid)
    entry = json.loads(line)
    assert entry["message"] == "hello %s"
    assert entry["request_id"] == "req-1"
    assert entry["trace_id"] == "a" * 32
    assert entry["service"] == "svc"
    assert entry["order_id"] == 7
    assert entry["level"] == "info"


def test_no_ids_outside_a_request() -> None:
    entry = json.loads(JsonFormatter(service="svc").format(_record("idle")))
    assert "request_id" not in entry
    assert "trace_id" not in entry


def test_exceptions_are_serialised() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        import sys

        record = _record("failed")
        record.exc_info = sys.exc_info()
    entry = json.loads(JsonFormatter(service="svc").format(record))
    assert "ValueError: boom" in entry["exception"]
