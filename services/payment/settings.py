"""Settings of the payment service (prefix `KOMMERCE_PAYMENT_`, then the shared names)."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, SecretStr, model_validator

from kommerce.settings import ServiceSettings

# stripe-mock accepts any key, and the tests sign webhooks with this secret: refused outside
# `local`/`test`.
LOCAL_STRIPE_KEY = "sk_test_kommerce"  # nosec B105
LOCAL_WEBHOOK_SECRET = "whsec_kommerce_local"  # noqa: S105  # nosec B105


class PaymentSettings(ServiceSettings):
    service_name: ClassVar[str] = "payment"

    port: int = Field(default=8107, ge=1, le=65535)
    schema_name: str = "payments"
    migrate_on_start: bool = True
    pool_size: int = Field(default=5, ge=1)
    # Publish the outbox (events and saga replies) from this process.
    relay_enabled: bool = True
    # Apply the saga commands of payment.commands.v1.
    consumer_enabled: bool = True
    consumer_group: str = "payment"

    # Stripe: the API key, and the base URL (stripe-mock locally: KOMMERCE_STRIPE_API_BASE,
    # shared; unset means api.stripe.com). Webhook signing secrets: the current one first, the
    # previous ones while a rotation is under way.
    stripe_api_key: SecretStr = SecretStr(LOCAL_STRIPE_KEY)
    stripe_webhook_secrets: list[SecretStr] = Field(
        default_factory=lambda: [SecretStr(LOCAL_WEBHOOK_SECRET)]
    )
    webhook_tolerance_seconds: int = Field(default=300, ge=1)
    # PayPal (REST): client credentials, the API base and the webhook id to verify against.
    paypal_client_id: str = ""
    paypal_client_secret: SecretStr = SecretStr("")
    paypal_api_base: str = "https://api-m.sandbox.paypal.com"
    paypal_webhook_id: str = ""
    provider_timeout_seconds: float = Field(default=10.0, gt=0)

    # Retries of transient provider errors, and the circuit breaker per provider.
    provider_attempts: int = Field(default=3, ge=1, le=10)
    breaker_failures: int = Field(default=5, ge=1)
    breaker_reset_seconds: float = Field(default=30.0, gt=0)

    # Checkout payments: held at authorization, captured later (manual), or at once.
    capture_method: Literal["manual", "automatic"] = "manual"
    # Where the shopper's browser returns after 3-D Secure or a PayPal approval.
    return_url: str = "http://127.0.0.1:8105/checkout/return"
    # The currency the merchant settles in; payments in others are converted at the FX table.
    settlement_currency: str = "EUR"

    # API idempotency (Redis): how long keys and responses live, and how long a duplicate
    # waits for the first request to finish.
    idempotency_ttl_seconds: int = Field(default=86400, ge=60)
    idempotency_wait_seconds: float = Field(default=10.0, gt=0)

    # Fraud rules (fraud.py): velocity per customer, an amount limit in the settlement
    # currency's minor units, and what a country mismatch does.
    fraud_velocity_window_seconds: int = Field(default=600, ge=1)
    fraud_velocity_review: int = Field(default=5, ge=1)
    fraud_velocity_block: int = Field(default=10, ge=1)
    fraud_review_amount_minor: int = Field(default=100_000, ge=1)
    fraud_block_amount_minor: int = Field(default=1_000_000, ge=1)

    @model_validator(mode="after")
    def _real_credentials_outside_local(self) -> PaymentSettings:
        if self.environment in ("local", "test"):
            return self
        if self.stripe_api_key.get_secret_value() == LOCAL_STRIPE_KEY or any(
            s.get_secret_value() == LOCAL_WEBHOOK_SECRET for s in self.stripe_webhook_secrets
        ):
            raise ValueError(
                f"environment {self.environment!r} needs real Stripe credentials: set "
                "KOMMERCE_PAYMENT_STRIPE_API_KEY and KOMMERCE_PAYMENT_STRIPE_WEBHOOK_SECRETS "
                '(a JSON list, e.g. ["whsec_..."]) from the secret store'
            )
        return self
