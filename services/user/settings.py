"""Settings of the user service (prefix `KOMMERCE_USER_`, then the shared `KOMMERCE_` names)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import AnyHttpUrl, BaseModel, Field, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

from kommerce.settings import ServiceSettings


class OAuthClient(BaseModel):
    """One provider's client registration (`KOMMERCE_USER_OAUTH__GOOGLE__CLIENT_ID`, ...).

    Endpoints default to the provider's real ones; overriding them is for tests and proxies.
    """

    client_id: str
    client_secret: SecretStr
    authorize_url: AnyHttpUrl | None = None
    token_url: AnyHttpUrl | None = None
    userinfo_url: AnyHttpUrl | None = None
    emails_url: AnyHttpUrl | None = None
    jwks_url: AnyHttpUrl | None = None
    issuer: str | None = None


class Argon2Parameters(BaseModel):
    """argon2id cost; defaults are OWASP's first recommendation (19 MiB, t=2, p=1)."""

    time_cost: int = Field(default=2, ge=1)
    memory_cost_kib: int = Field(default=19_456, ge=8_192)
    parallelism: int = Field(default=1, ge=1)


class UserSettings(ServiceSettings):
    service_name: ClassVar[str] = "user"

    model_config = SettingsConfigDict(env_nested_delimiter="__")

    port: int = Field(default=8101, ge=1, le=65535)
    schema_name: str = "users"
    migrate_on_start: bool = True
    public_url: AnyHttpUrl = AnyHttpUrl("http://127.0.0.1:8101")
    # The front end's pages that mail links point at (`?token=...` is appended).
    verify_email_url: AnyHttpUrl = AnyHttpUrl("http://127.0.0.1:8101/v1/auth/verify-email")
    reset_password_url: AnyHttpUrl = AnyHttpUrl("http://127.0.0.1:8101/v1/auth/password-reset")
    # Key-encryption key for TOTP secrets and signing keys, and the HMAC key for one-time
    # tokens. Required outside `local`/`test` (the generated Secret resource provides it).
    secret_key: SecretStr | None = None
    mail_from: str = "Kommerce <no-reply@kommerce.example>"

    issuer: str = "http://127.0.0.1:8101"
    audience: str = "kommerce"
    access_token_seconds: int = Field(default=300, ge=30, le=3600)
    refresh_token_days: int = Field(default=30, ge=1, le=365)
    verification_token_hours: int = Field(default=24, ge=1)
    reset_token_minutes: int = Field(default=30, ge=5)
    mfa_challenge_minutes: int = Field(default=5, ge=1)
    step_up_seconds: int = Field(default=300, ge=30)
    key_rotation_days: int = Field(default=30, ge=1)

    argon2: Argon2Parameters = Argon2Parameters()
    password_min_length: int = Field(default=12, ge=8)
    password_max_length: int = Field(default=128, le=1024)

    # Abuse protection (per sliding window); lockout doubles from its base up to its cap.
    login_per_ip_per_minute: int = Field(default=20, ge=1)
    login_per_account_per_minute: int = Field(default=10, ge=1)
    register_per_ip_per_hour: int = Field(default=20, ge=1)
    reset_per_ip_per_hour: int = Field(default=20, ge=1)
    reset_per_account_per_hour: int = Field(default=5, ge=1)
    lockout_after_failures: int = Field(default=5, ge=1)
    lockout_base_seconds: int = Field(default=30, ge=1)
    lockout_max_seconds: int = Field(default=3600, ge=1)
    trust_forwarded_for: bool = False  # behind the ingress: the client is X-Forwarded-For's last

    oauth: dict[str, OAuthClient] = Field(default_factory=dict)
    oauth_redirect_base: AnyHttpUrl = AnyHttpUrl("http://127.0.0.1:8101/v1/auth/oauth")

    @model_validator(mode="after")
    def _secret_key_outside_dev(self) -> UserSettings:
        if self.secret_key is None and self.environment not in ("local", "test"):
            raise ValueError("KOMMERCE_USER_SECRET_KEY is required outside local/test environments")
        if self.secret_key is not None and len(self.secret_key.get_secret_value()) < 32:
            raise ValueError("KOMMERCE_USER_SECRET_KEY must be at least 32 characters")
        unknown = set(self.oauth) - {"google", "github", "facebook"}
        if unknown:
            raise ValueError(
                f"unknown OAuth provider(s) {sorted(unknown)}; use google, github, facebook"
            )
        return self
