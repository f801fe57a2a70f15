"""The order service's tables (schema `orders`). Migrations in `migrations/` create them.

- `catalog_variants`: what the service knows of sellable variants (price, currency, status),
  a projection of `product.changed`/`product.deleted`; carts are priced from it.
- `coupons`, `shipping_methods`, `tax_rates`: reference data managed by staff.
- `orders`, `order_lines`, `order_history`: the write model. Every status change goes through
  `services.order.states` and leaves a history row (who, when, why); history is append-only.
- `idempotency_keys` (kommerce.data.idempotency): checkout requests by (customer, key), stored
  with the response in the transaction that creates the order.
- `shipments`, `tracking_events`: carrier tracking (signed webhook).
- `returns`, `return_lines`, `refunds`: after-sale, driven by sagas.
- `documents`: invoice and credit note PDFs (the bytes live in S3).
- `customer_orders`: the read model of a customer's orders, rebuilt by replaying `order.*`
  (`projection_positions`: where a replay has got to).
- `sagas`, `saga_log` (kommerce.events.saga) and `outbox` (kommerce.events.outbox).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    Sequence,
    Table,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID

from kommerce.data.idempotency import IDEMPOTENCY_KEYS
from kommerce.events.outbox import OUTBOX
from kommerce.events.projection import POSITIONS
from kommerce.events.saga import SAGA_LOG, SAGAS
from services.order.states import OrderStatus

SCHEMA = "orders"
METADATA = MetaData()
STATUSES = ", ".join(f"'{s.value}'" for s in OrderStatus)


# Human numbers: KO-000042 for orders, INV-000042 / CN-000042 for invoices and credit notes.
ORDER_NUMBERS = Sequence("order_numbers", metadata=METADATA)
INVOICE_NUMBERS = Sequence("invoice_numbers", metadata=METADATA)
CREDIT_NOTE_NUMBERS = Sequence("credit_note_numbers", metadata=METADATA)


def _at(name: str = "created_at") -> Column[object]:
    return Column(name, DateTime(timezone=True), nullable=False, server_default=func.now())


CATALOG_VARIANTS = Table(
    "catalog_variants",
    METADATA,
    Column("variant_id", UUID(as_uuid=True), primary_key=True),
    Column("product_id", UUID(as_uuid=True), nullable=False, index=True),
    Column("sku", Text, nullable=False),
    Column("name", Text, nullable=False),  # product name, then the variant's name
    Column("price_minor", BigInteger, nullable=False),
    Column("currency", Text, nullable=False),
    Column("sellable", Boolean, nullable=False),  # product active and variant not removed
    Column("weight_grams", BigInteger, nullable=True),
    Column("product_version", BigInteger, nullable=False),
    _at("updated_at"),
)

COUPONS = Table(
    "coupons",
    METADATA,
    Column("code", Text, primary_key=True),  # stored upper-case
    Column("kind", Text, nullable=False),  # percent | fixed
    Column("value", BigInteger, nullable=False),  # basis points (percent) or minor units
    Column("currency", Text, nullable=True),  # fixed coupons: the currency of `value`
    Column("min_subtotal_minor", BigInteger, nullable=False, server_default="0"),
    Column("starts_at", DateTime(timezone=True), nullable=True),
    Column("ends_at", DateTime(timezone=True), nullable=True),
    Column("max_redemptions", Integer, nullable=True),
    Column("redeemed", Integer, nullable=False, server_default="0"),
    Column("active", Boolean, nullable=False, server_default=text("true")),
    _at(),
    CheckConstraint("kind IN ('percent', 'fixed')", name="coupon_kind"),
    CheckConstraint("value > 0", name="coupon_value"),
    CheckConstraint("kind <> 'percent' OR value <= 10000", name="coupon_percent_max"),
    CheckConstraint("kind <> 'fixed' OR currency IS NOT NULL", name="coupon_fixed_currency"),
    CheckConstraint(
        "max_redemptions IS NULL OR redeemed <= max_redemptions", name="coupon_redemptions"
    ),
)

SHIPPING_METHODS = Table(
    "shipping_methods",
    METADATA,
    Column("code", Text, nullable=False),
    Column("currency", Text, nullable=False),
    Column("name", Text, nullable=False),
    Column("price_minor", BigInteger, nullable=False),
    Column("countries", ARRAY(Text), nullable=False, server_default="{}"),  # empty: everywhere
    Column("min_days", Integer, nullable=False),
    Column("max_days", Integer, nullable=False),
    Column("active", Boolean, nullable=False, server_default=text("true")),
    PrimaryKeyConstraint("code", "currency"),
    CheckConstraint("price_minor >= 0", name="shipping_price"),
    CheckConstraint("0 <= min_days AND min_days <= max_days", name="shipping_days"),
)

TAX_RATES = Table(
    "tax_rates",
    METADATA,
    Column("country", Text, primary_key=True),  # ISO 3166-1 alpha-2
    Column("name", Text, nullable=False),  # e.g. VAT, GST
    Column("rate_bp", Integer, nullable=False),  # basis points: 1900 = 19 %
    CheckConstraint("rate_bp >= 0 AND rate_bp <= 10000", name="tax_rate_range"),
)

ORDERS = Table(
    "orders",
    METADATA,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("number", Text, nullable=False, unique=True),  # KO-000001, what people quote
    Column("customer_id", UUID(as_uuid=True), nullable=False),
    Column("email", Text, nullable=False),
    Column("locale", Text, nullable=False, server_default="en_US"),
    Column("status", Text, nullable=False),
    Column("currency", Text, nullable=False),
    Column("subtotal_minor", BigInteger, nullable=False),
    Column("discount_minor", BigInteger, nullable=False, server_default="0"),
    Column("shipping_minor", BigInteger, nullable=False, server_default="0"),
    Column("tax_minor", BigInteger, nullable=False, server_default="0"),
    Column("total_minor", BigInteger, nullable=False),
    Column("refunded_minor", BigInteger, nullable=False, server_default="0"),
    Column("coupon_code", Text, nullable=True),
    Column("shipping_method", Text, nullable=False),
    Column("shipping_address", JSONB, nullable=False),
    Column("billing_address", JSONB, nullable=False),
    Column("payment_method", Text, nullable=False),  # a provider token/id, never card data
    Column("saga_id", UUID(as_uuid=True), nullable=True, unique=True),
    Column("reservation_id", Text, nullable=True),
    Column("payment_id", Text, nullable=True),
    Column("failure_reason", Text, nullable=True),
    Column("estimated_delivery", Date, nullable=True),
    Column("version", Integer, nullable=False, server_default="1"),  # +1 per status change
    _at(),
    _at("updated_at"),
    CheckConstraint(f"status IN ({STATUSES})", name="order_status"),
    CheckConstraint(
        "subtotal_minor >= 0 AND discount_minor >= 0 AND shipping_minor >= 0 "
        "AND tax_minor >= 0 AND total_minor >= 0",
        name="order_amounts",
    ),
    CheckConstraint(
        "refunded_minor >= 0 AND refunded_minor <= total_minor", name="order_refund_max"
    ),
    Index("orders_customer_idx", "customer_id", "created_at"),
)

ORDER_LINES = Table(
    "order_lines",
    METADATA,
    Column("order_id", UUID(as_uuid=True), ForeignKey("orders.id"), nullable=False),
    Column("line_no", Integer, nullable=False),
    Column("variant_id", UUID(as_uuid=True), nullable=False),
    Column("product_id", UUID(as_uuid=True), nullable=False),
    Column("sku", Text, nullable=False),
    Column("name", Text, nullable=False),
    Column("quantity", Integer, nullable=False),
    Column("unit_price_minor", BigInteger, nullable=False),
    Column("discount_minor", BigInteger, nullable=False, server_default="0"),
    Column("tax_rate_bp", Integer, nullable=False, server_default="0"),
    Column("tax_minor", BigInteger, nullable=False, server_default="0"),
    Column("total_minor", BigInteger, nullable=False),  # quantity*unit - discount + tax
    Column("returned_quantity", Integer, nullable=False, server_default="0"),
    PrimaryKeyConstraint("order_id", "line_no"),
    CheckConstraint("quantity > 0", name="line_quantity"),
    CheckConstraint(
        "returned_quantity >= 0 AND returned_quantity <= quantity", name="line_returned"
    ),
)

ORDER_HISTORY = Table(
    "order_history",
    METADATA,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("order_id", UUID(as_uuid=True), ForeignKey("orders.id"), nullable=False),
    _at("at"),
    Column("from_status", Text, nullable=True),  # NULL: the order was created
    Column("to_status", Text, nullable=False),
    Column("actor", Text, nullable=False),  # a user id, or system:<component>
    Column("reason", Text, nullable=False, server_default=""),
    Index("order_history_order_idx", "order_id", "id"),
)

SHIPMENTS = Table(
    "shipments",
    METADATA,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("order_id", UUID(as_uuid=True), ForeignKey("orders.id"), nullable=False, index=True),
    Column("carrier", Text, nullable=False),
    Column("tracking_number", Text, nullable=False),
    Column("tracking_url", Text, nullable=True),
    Column("status", Text, nullable=False),  # label_created, in_transit, ..., delivered
    Column("estimated_delivery", Date, nullable=True),
    Column("shipped_at", DateTime(timezone=True), nullable=True),
    Column("delivered_at", DateTime(timezone=True), nullable=True),
    _at(),
    UniqueConstraint("carrier", "tracking_number", name="shipments_tracking_key"),
)

TRACKING_EVENTS = Table(
    "tracking_events",
    METADATA,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("shipment_id", UUID(as_uuid=True), ForeignKey("shipments.id"), nullable=False),
    Column("carrier", Text, nullable=False),
    Column("carrier_event_id", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("occurred_at", DateTime(timezone=True), nullable=False),
    Column("location", Text, nullable=False, server_default=""),
    Column("description", Text, nullable=False, server_default=""),
    _at("received_at"),
    UniqueConstraint("carrier", "carrier_event_id", name="tracking_events_once"),
    Index("tracking_events_shipment_idx", "shipment_id", "occurred_at"),
)

RETURNS = Table(
    "returns",
    METADATA,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("order_id", UUID(as_uuid=True), ForeignKey("orders.id"), nullable=False, index=True),
    # requested -> approved | rejected; approved -> received -> refunded | refund_failed
    Column("status", Text, nullable=False),
    Column("reason", Text, nullable=False),
    Column("note", Text, nullable=False, server_default=""),
    Column("requested_by", Text, nullable=False),
    Column("decided_by", Text, nullable=True),
    Column("refund_minor", BigInteger, nullable=True),
    Column("saga_id", UUID(as_uuid=True), nullable=True),
    _at(),
    _at("updated_at"),
)

RETURN_LINES = Table(
    "return_lines",
    METADATA,
    Column("return_id", UUID(as_uuid=True), ForeignKey("returns.id"), nullable=False),
    Column("line_no", Integer, nullable=False),
    Column("quantity", Integer, nullable=False),
    Column("reason", Text, nullable=False, server_default=""),
    PrimaryKeyConstraint("return_id", "line_no"),
    CheckConstraint("quantity > 0", name="return_line_quantity"),
)

REFUNDS = Table(
    "refunds",
    METADATA,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("order_id", UUID(as_uuid=True), ForeignKey("orders.id"), nullable=False, index=True),
    Column("return_id", UUID(as_uuid=True), ForeignKey("returns.id"), nullable=True),
    Column("amount_minor", BigInteger, nullable=False),
    Column("currency", Text, nullable=False),
    Column("status", Text, nullable=False),  # pending | succeeded | failed
    Column("reason", Text, nullable=False, server_default=""),
    Column("requested_by", Text, nullable=False),
    Column("saga_id", UUID(as_uuid=True), nullable=True, unique=True),
    Column("provider_refund_id", Text, nullable=True),
    _at(),
    _at("updated_at"),
    CheckConstraint("amount_minor > 0", name="refund_positive"),
    CheckConstraint("status IN ('pending', 'succeeded', 'failed')", name="refund_status"),
)

DOCUMENTS = Table(
    "documents",
    METADATA,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("order_id", UUID(as_uuid=True), ForeignKey("orders.id"), nullable=False, index=True),
    Column("kind", Text, nullable=False),  # invoice | credit_note
    Column("number", Text, nullable=False, unique=True),  # INV-000001, CN-000001
    Column("refund_id", UUID(as_uuid=True), ForeignKey("refunds.id"), nullable=True),
    Column("object_key", Text, nullable=False),
    Column("total_minor", BigInteger, nullable=False),
    Column("currency", Text, nullable=False),
    Column("sha256", Text, nullable=False),
    _at(),
    CheckConstraint("kind IN ('invoice', 'credit_note')", name="document_kind"),
    Index(
        "documents_one_invoice_idx",
        "order_id",
        unique=True,
        postgresql_where=text("kind = 'invoice'"),
    ),
    Index(
        "documents_one_credit_note_idx",
        "refund_id",
        unique=True,
        postgresql_where=text("kind = 'credit_note'"),
    ),
)

CUSTOMER_ORDERS = Table(
    "customer_orders",
    METADATA,
    Column("order_id", UUID(as_uuid=True), primary_key=True),
    Column("customer_id", UUID(as_uuid=True), nullable=False),
    Column("number", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("currency", Text, nullable=False),
    Column("total_minor", BigInteger, nullable=False),
    Column("refunded_minor", BigInteger, nullable=False, server_default="0"),
    Column("item_count", Integer, nullable=False),
    Column("summary", JSONB, nullable=False),  # lines (name, quantity), tracking
    Column("estimated_delivery", Date, nullable=True),
    Column("placed_at", DateTime(timezone=True), nullable=False),
    Column("version", Integer, nullable=False),  # the order version last applied
    _at("updated_at"),
    Index("customer_orders_customer_idx", "customer_id", "placed_at"),
)

OUTBOX.to_metadata(METADATA)
IDEMPOTENCY_KEYS.to_metadata(METADATA)
SAGAS.to_metadata(METADATA)
SAGA_LOG.to_metadata(METADATA)
POSITIONS.to_metadata(METADATA)  # the customer read model's replay positions
