from __future__ import annotations

from typing import ClassVar

import pytest
from pydantic import ValidationError

from kommerce.settings import KommerceSettings, ServiceSettings

pytestmark = pytest.mark.unit


class DemoSettings(ServiceSettings):
    service_name: ClassVar[str] = "demo-svc"


def test_service_prefix_derived_from_name() -> None:
    assert DemoSettings.env_prefix() == "KOMMERCE_DEMO_SVC_"


def test_service_value_overrides_shared(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KOMMERCE_DATABASE_URL", "postgresql://a:b@127.0.0.1:5432/shared")
    monkeypatch.setenv("KOMMERCE_DEMO_SVC_DATABASE_URL", "postgresql://a:b@127.0.0.1:5432/own")
    assert str(DemoSettings().database_url).endswith("/own")


def test_shared_value_used_when_service_has_none(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KOMMERCE_REDIS_URL", "redis://127.0.0.1:6379/0")
    assert str(DemoSettings().redis_url) == "redis://127.0.0.1:6379/0"


def test_shared_prefix_does_not_set_service_port(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KOMMERCE_PORT", "9999")
    monkeypatch.setenv("KOMMERCE_DEMO_SVC_PORT", "8123")
    assert DemoSettings().port == 8123
    monkeypatch.delenv("KOMMERCE_DEMO_SVC_PORT")
    assert DemoSettings().port == 8000


def test_async_database_url_uses_asyncpg(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KOMMERCE_DATABASE_URL", "postgresql://u:p@127.0.0.1:15432/kommerce")
    assert KommerceSettings().async_database_url().startswith("postgresql+asyncpg://u:p@")


def test_missing_database_url_says_what_to_do(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KOMMERCE_DATABASE_URL", raising=False)
    with pytest.raises(RuntimeError, match="kommerce stack env"):
        KommerceSettings().async_database_url()


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("KOMMERCE_DATABASE_URL", "mysql://x@y/z"),
        ("KOMMERCE_KAFKA_BOOTSTRAP", "localhost"),
        ("KOMMERCE_SMTP_PORT", "70000"),
        ("KOMMERCE_LOG_LEVEL", "LOUD"),
    ],
)
def test_invalid_values_are_rejected_with_field_name(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError) as err:
        KommerceSettings()
    assert name.removeprefix("KOMMERCE_").lower() in str(err.value)


def test_host_must_be_an_address(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KOMMERCE_DEMO_SVC_HOST", "not a host")
    with pytest.raises(ValidationError, match="host"):
        DemoSettings()
