"""Settings for every Kommerce process, from the environment (pydantic-settings).

Connection settings have one name everywhere (`KOMMERCE_DATABASE_URL`, `KOMMERCE_REDIS_URL`, ...),
the names `kommerce stack env` prints, so nothing hard-codes a port. Each service also has its own
prefix (`KOMMERCE_PLATFORM_API_...`) that overrides the shared value for that service alone,
e.g. `KOMMERCE_USER_DATABASE_URL` gives the user service its own database.
"""

from __future__ import annotations

import ipaddress
from typing import Any, ClassVar, Literal

from pydantic import AnyHttpUrl, Field, PostgresDsn, RedisDsn, SecretStr, field_validator
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

SHARED_PREFIX = "KOMMERCE_"
# The local stack's S3 endpoint (a moto server) accepts any key; these are its defaults, refused
# outside `local`/`test` by the services that store objects (`uses_local_s3_keys`).
LOCAL_S3_KEY_ID = "kommerce"
LOCAL_S3_SECRET = "kommerce-local-secret"  # noqa: S105  # nosec B105: the local stack's, by design


class KommerceSettings(BaseSettings):
    """The connection settings every process may need; all optional until a process uses them."""

    model_config = SettingsConfigDict(env_prefix=SHARED_PREFIX, extra="ignore", frozen=True)

    environment: Literal["local", "test", "staging", "production"] = "local"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["json", "text"] = "json"
    database_url: PostgresDsn | None = None
    redis_url: RedisDsn | None = None
    kafka_bootstrap: str | None = None
    amqp_url: str | None = None
    vault_addr: AnyHttpUrl | None = None
    vault_token: SecretStr | None = None
    opa_url: AnyHttpUrl | None = None
    prometheus_url: AnyHttpUrl | None = None
    mlflow_url: AnyHttpUrl | None = None
    stripe_api_base: AnyHttpUrl | None = None
    smtp_host: str | None = None
    smtp_port: int | None = Field(default=None, ge=1, le=65535)
    s3_endpoint: AnyHttpUrl | None = None
    s3_region: str = "us-east-1"
    s3_access_key_id: str = LOCAL_S3_KEY_ID
    s3_secret_access_key: SecretStr = SecretStr(LOCAL_S3_SECRET)
    opensearch_url: AnyHttpUrl | None = None
    kubeconfig: str | None = None
    trace_console: bool = False
    # Where services find the user service's signing keys, and what its tokens must say.
    auth_jwks_url: AnyHttpUrl | None = None
    auth_issuer: str | None = None
    auth_audience: str = "kommerce"

    @field_validator("kafka_bootstrap")
    @classmethod
    def _bootstrap_is_host_port(cls, value: str | None) -> str | None:
        if value is None:
            return value
        for server in value.split(","):
            host, sep, port = server.strip().rpartition(":")
            if not sep or not host or not port.isdigit():
                raise ValueError(f"expected host:port[,host:port...], got {value!r}")
        return value

    def uses_local_s3_keys(self) -> bool:
        """Whether either S3 key is still the local stack's default."""
        return (
            self.s3_access_key_id == LOCAL_S3_KEY_ID
            or self.s3_secret_access_key.get_secret_value() == LOCAL_S3_SECRET
        )

    def async_database_url(self) -> str:
        """The database URL for SQLAlchemy's asyncpg dialect."""
        if self.database_url is None:
            raise RuntimeError(
                "KOMMERCE_DATABASE_URL is not set; run `eval $(kommerce stack env)` first"
            )
        return str(self.database_url).replace("postgresql://", "postgresql+asyncpg://", 1)


class _SharedEnvSource(EnvSettingsSource):
    """`KOMMERCE_<NAME>` for the shared connection fields only (not a service's host or port)."""

    def __call__(self) -> dict[str, Any]:
        values = super().__call__()
        return {k: v for k, v in values.items() if k in KommerceSettings.model_fields}


class ServiceSettings(KommerceSettings):
    """Base for one service's settings: its own prefix first, then the shared `KOMMERCE_` names.

    Subclasses set `service_name`; the prefix is derived from it (`platform-api` ->
    `KOMMERCE_PLATFORM_API_`).
    """

    service_name: ClassVar[str] = "service"

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    shutdown_timeout_seconds: float = Field(default=20.0, gt=0)
    readiness_timeout_seconds: float = Field(default=2.0, gt=0)

    @field_validator("host")
    @classmethod
    def _loopback_unless_explicit(cls, value: str) -> str:
        try:
            ipaddress.ip_address(value)
        except ValueError as exc:
            if value != "localhost":
                raise ValueError(f"host must be an IP address or localhost, got {value!r}") from exc
        return value

    @classmethod
    def env_prefix(cls) -> str:
        return f"{SHARED_PREFIX}{cls.service_name.upper().replace('-', '_')}_"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.model_config = SettingsConfigDict(
            **{**cls.model_config, "env_prefix": cls.env_prefix()}
        )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        shared = _SharedEnvSource(settings_cls, env_prefix=SHARED_PREFIX)
        return init_settings, env_settings, shared, dotenv_settings, file_secret_settings
