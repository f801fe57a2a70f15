"""The payment sandbox's tables (schema `payment_sandbox`): authorizations, refunds, outbox."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Index,
    MetaData,
    Table,
    Text,
    func,
)

from kommerce.events.outbox import OUTBOX

METADATA = MetaData()

# One authorization per order (the saga's idempotency key for authorize_payment).
AUTHORIZATIONS = Table(
    "authorizations",
    METADATA,
    Column("payment_id", Text, primary_key=True),  # pi_sandbox_<hex>
    Column("order_id", Text, nullable=False, unique=True),
    Column("customer_id", Text, nullable=False, server_default=""),
    Column("amount_minor", BigInteger, nullable=False),
    Column("currency", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("payment_method", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    CheckConstraint("status IN ('authorized', 'voided', 'captured')", name="authorization_status"),
    CheckConstraint("amount_minor > 0", name="authorization_amount_positive"),
)

# One row per refund_id (the refund saga's idempotency key for refund_payment).
REFUNDS = Table(
    "refunds",
    METADATA,
    Column("refund_id", Text, primary_key=True),
    Column("payment_id", Text, ForeignKey("authorizations.payment_id"), nullable=False, index=True),
    Column("amount_minor", BigInteger, nullable=False),
    Column("currency", Text, nullable=False),
    Column("provider_refund_id", Text, nullable=False, unique=True),  # re_sandbox_<hex>
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    CheckConstraint("amount_minor > 0", name="refund_amount_positive"),
)
Index("authorizations_created_idx", AUTHORIZATIONS.c.created_at)

OUTBOX.to_metadata(METADATA)
