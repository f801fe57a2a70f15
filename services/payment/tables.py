"""The payment service's tables (schema `payments`).

- `payments`: one row per payment (a Stripe PaymentIntent, a PayPal order) with its status,
  amounts in minor units, the presentment → settlement conversion and the provider's ids.
  Card data is never stored: only the provider's token (`pm_...`) and what it lets us show.
- `payment_history`: every status change and money movement, who or what caused it.
- `refunds`, `disputes`: per payment.
- `webhook_events`: each provider event applied once (its id is the key).
- `customers`, `payment_methods`: the provider's customer and saved-method ids.
- `fx_rates`: settlement conversion rates.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    PrimaryKeyConstraint,
    Table,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB

from kommerce.events.outbox import OUTBOX

METADATA = MetaData()

STATUSES = (
    "pending",
    "requires_action",
    "authorized",
    "captured",
    "partially_refunded",
    "refunded",
    "cancelled",
    "failed",
    "disputed",
)


PAYMENTS = Table(
    "payments",
    METADATA,
    Column("payment_id", Text, primary_key=True),  # pay_<hex>
    Column("order_id", Text, nullable=True),
    Column("customer_id", Text, nullable=False, server_default=""),
    Column("provider", Text, nullable=False),
    Column("provider_reference", Text, nullable=True),  # pi_..., PayPal order id
    Column("provider_data", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    Column("status", Text, nullable=False),
    Column("capture_method", Text, nullable=False),
    Column("payment_method", Text, nullable=False),  # a provider token, never card data
    Column("amount_minor", BigInteger, nullable=False),
    Column("currency", Text, nullable=False),
    Column("captured_minor", BigInteger, nullable=False, server_default="0"),
    Column("refunded_minor", BigInteger, nullable=False, server_default="0"),
    Column("settlement_currency", Text, nullable=False),
    Column("settlement_amount_minor", BigInteger, nullable=False),
    Column("fx_rate", Numeric(24, 12), nullable=False),
    Column("next_action", JSONB, nullable=True),
    Column("client_secret", Text, nullable=True),
    Column("failure_code", Text, nullable=True),
    Column("failure_message", Text, nullable=True),
    Column("fraud_decision", Text, nullable=False, server_default="allow"),
    Column("fraud_score", Integer, nullable=False, server_default="0"),
    Column("fraud_reasons", JSONB, nullable=False, server_default=text("'[]'::jsonb")),
    # The saga command waiting for this payment's outcome (3-D Secure, a pending provider
    # answer): answered when the outcome is known (participant.py).
    Column("pending_command", JSONB, nullable=True),
    Column("version", Integer, nullable=False, server_default="1"),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    CheckConstraint(
        "status IN (" + ", ".join(f"'{s}'" for s in STATUSES) + ")", name="payment_status"
    ),
    CheckConstraint("amount_minor > 0", name="payment_amount_positive"),
    CheckConstraint(
        "captured_minor >= 0 AND captured_minor <= amount_minor", name="payment_captured_range"
    ),
    CheckConstraint(
        "refunded_minor >= 0 AND refunded_minor <= captured_minor", name="payment_refunded_range"
    ),
    CheckConstraint("provider IN ('stripe', 'paypal')", name="payment_provider"),
    CheckConstraint("capture_method IN ('manual', 'automatic')", name="payment_capture_method"),
    CheckConstraint(
        "fraud_decision IN ('allow', 'review', 'block')", name="payment_fraud_decision"
    ),
    UniqueConstraint("provider", "provider_reference", name="payments_provider_reference_key"),
)
# One checkout payment per order (the saga's idempotency key for authorize_payment).
Index("payments_order_idx", PAYMENTS.c.order_id, unique=True)
Index("payments_customer_created_idx", PAYMENTS.c.customer_id, PAYMENTS.c.created_at)
Index("payments_created_idx", PAYMENTS.c.created_at)

PAYMENT_HISTORY = Table(
    "payment_history",
    METADATA,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("payment_id", Text, ForeignKey("payments.payment_id"), nullable=False),
    Column("from_status", Text, nullable=True),
    Column("to_status", Text, nullable=False),
    Column("action", Text, nullable=False),  # authorize, capture, refund, webhook, ...
    Column("amount_minor", BigInteger, nullable=True),
    Column("source", Text, nullable=False),  # api:<user>, saga:<saga id>, webhook:<event id>
    Column("detail", Text, nullable=False, server_default=""),
    Column("at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)
Index("payment_history_payment_idx", PAYMENT_HISTORY.c.payment_id, PAYMENT_HISTORY.c.id)

REFUNDS = Table(
    "refunds",
    METADATA,
    Column("refund_id", Text, primary_key=True),  # rf_<hex>
    Column("payment_id", Text, ForeignKey("payments.payment_id"), nullable=False),
    # The caller's key: the refund saga's refund_id, or an API Idempotency-Key.
    Column("request_key", Text, nullable=False, unique=True),
    Column("amount_minor", BigInteger, nullable=False),
    Column("currency", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("reason", Text, nullable=False, server_default=""),
    Column("provider_reference", Text, nullable=True, unique=True),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    CheckConstraint("amount_minor > 0", name="refund_amount_positive"),
    CheckConstraint("status IN ('pending', 'succeeded', 'failed')", name="refund_status"),
)
Index("refunds_payment_idx", REFUNDS.c.payment_id)

DISPUTES = Table(
    "disputes",
    METADATA,
    Column("dispute_id", Text, primary_key=True),  # dsp_<hex>
    Column("payment_id", Text, ForeignKey("payments.payment_id"), nullable=False),
    Column("provider_reference", Text, nullable=False, unique=True),  # dp_..., PP-D-...
    Column("amount_minor", BigInteger, nullable=False),
    Column("currency", Text, nullable=False),
    Column("reason", Text, nullable=False, server_default=""),
    Column("provider_status", Text, nullable=False),
    Column("status", Text, nullable=False),  # open, won, lost
    Column("evidence_due_by", DateTime(timezone=True), nullable=True),
    Column("evidence_submitted_at", DateTime(timezone=True), nullable=True),
    Column("opened_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("closed_at", DateTime(timezone=True), nullable=True),
    CheckConstraint("status IN ('open', 'won', 'lost')", name="dispute_status"),
)
Index("disputes_payment_idx", DISPUTES.c.payment_id)

WEBHOOK_EVENTS = Table(
    "webhook_events",
    METADATA,
    Column("provider", Text, nullable=False),
    Column("event_id", Text, nullable=False),
    Column("type", Text, nullable=False),
    Column("payment_id", Text, nullable=True),
    Column("outcome", Text, nullable=False),  # applied, ignored, unknown-payment, stale
    Column("occurred_at", DateTime(timezone=True), nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("provider", "event_id"),
)

CUSTOMERS = Table(
    "customers",
    METADATA,
    Column("customer_id", Text, nullable=False),
    Column("provider", Text, nullable=False),
    Column("provider_customer", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("customer_id", "provider"),
)

PAYMENT_METHODS = Table(
    "payment_methods",
    METADATA,
    Column("customer_id", Text, nullable=False),
    Column("provider", Text, nullable=False),
    Column("reference", Text, nullable=False),  # pm_...
    Column("brand", Text, nullable=False),
    Column("last4", Text, nullable=False),
    Column("exp_month", Integer, nullable=True),
    Column("exp_year", Integer, nullable=True),
    Column("country", Text, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("customer_id", "provider", "reference"),
)

# Settlement rates: units of `quote` per unit of `base`, in major units.
FX_RATES = Table(
    "fx_rates",
    METADATA,
    Column("base", Text, nullable=False),
    Column("quote", Text, nullable=False),
    Column("rate", Numeric(24, 12), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("base", "quote"),
    CheckConstraint("rate > 0", name="fx_rate_positive"),
)

OUTBOX.to_metadata(METADATA)
