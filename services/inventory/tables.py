"""The inventory service's tables (schema `inventory`). Migrations in `migrations/` create them.

Stock can never go negative: `stock_levels` has CHECK constraints (`on_hand >= 0`,
`0 <= reserved <= on_hand`), and every change is a conditional UPDATE made while holding the
variant's row lock in `variants` (taken in variant-id order, so concurrent writers never deadlock).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import UUID

from kommerce.events.outbox import OUTBOX

SCHEMA = "inventory"
METADATA = MetaData()


def _at(name: str = "created_at") -> Column[object]:
    return Column(name, DateTime(timezone=True), nullable=False, server_default=func.now())


WAREHOUSES = Table(
    "warehouses",
    METADATA,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("code", Text, nullable=False, unique=True),
    Column("name", Text, nullable=False),
    Column("latitude", Float, nullable=False),
    Column("longitude", Float, nullable=False),
    Column("country", Text, nullable=False),
    _at(),
)

# What inventory knows of a variant (from product events), and the per-variant lock and version.
VARIANTS = Table(
    "variants",
    METADATA,
    Column("variant_id", UUID(as_uuid=True), primary_key=True),
    Column("product_id", UUID(as_uuid=True)),
    Column("sku", Text),
    Column("price_amount", BigInteger),
    Column("currency", Text),
    Column("product_version", BigInteger, nullable=False, server_default=text("0")),
    Column("deleted", Boolean, nullable=False, server_default=text("false")),
    # +1 on every stock change of the variant: orders the events and the ATS cache writes.
    Column("stock_version", BigInteger, nullable=False, server_default=text("0")),
    _at("updated_at"),
)
Index("variants_product_idx", VARIANTS.c.product_id)

STOCK_LEVELS = Table(
    "stock_levels",
    METADATA,
    Column("variant_id", UUID(as_uuid=True), ForeignKey("variants.variant_id"), nullable=False),
    Column("warehouse_id", UUID(as_uuid=True), ForeignKey("warehouses.id"), nullable=False),
    Column("on_hand", BigInteger, nullable=False, server_default=text("0")),
    Column("reserved", BigInteger, nullable=False, server_default=text("0")),
    Column("reorder_point", Integer),
    Column("target_level", Integer),
    # Set when available fell below reorder_point (the alert was sent); cleared at or above it.
    Column("low_stock_alerted", Boolean, nullable=False, server_default=text("false")),
    _at("updated_at"),
    PrimaryKeyConstraint("variant_id", "warehouse_id"),
    CheckConstraint("on_hand >= 0", name="stock_on_hand_not_negative"),
    CheckConstraint("reserved >= 0", name="stock_reserved_not_negative"),
    CheckConstraint("reserved <= on_hand", name="stock_available_not_negative"),
    CheckConstraint("reorder_point IS NULL OR reorder_point >= 0", name="stock_reorder_point"),
    CheckConstraint("target_level IS NULL OR target_level >= 0", name="stock_target_level"),
)
Index("stock_levels_warehouse_idx", STOCK_LEVELS.c.warehouse_id)

RESERVATIONS = Table(
    "reservations",
    METADATA,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("key", Text, nullable=False, unique=True),  # the checkout / order id
    Column("status", Text, nullable=False),  # active | confirmed | released | expired
    Column("strategy", Text, nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("lines", Text, nullable=False),  # canonical JSON of the requested lines
    Column("actor", Text, nullable=False),
    _at(),
    _at("updated_at"),
)
Index(
    "reservations_expiring_idx",
    RESERVATIONS.c.expires_at,
    postgresql_where=RESERVATIONS.c.status == "active",
)

ALLOCATIONS = Table(
    "reservation_allocations",
    METADATA,
    Column(
        "reservation_id",
        UUID(as_uuid=True),
        ForeignKey("reservations.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("variant_id", UUID(as_uuid=True), nullable=False),
    Column("warehouse_id", UUID(as_uuid=True), ForeignKey("warehouses.id"), nullable=False),
    Column("quantity", Integer, nullable=False),
    PrimaryKeyConstraint("reservation_id", "variant_id", "warehouse_id"),
    CheckConstraint("quantity > 0", name="allocation_quantity_positive"),
)

# Append-only audit trail of every stock movement (a trigger refuses UPDATE/DELETE/TRUNCATE).
MOVEMENTS = Table(
    "movements",
    METADATA,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    _at("at"),
    Column("actor", Text, nullable=False),
    Column("variant_id", UUID(as_uuid=True), nullable=False),
    Column("warehouse_id", UUID(as_uuid=True), nullable=False),
    Column("reason", Text, nullable=False),
    Column("delta_on_hand", BigInteger, nullable=False),
    Column("delta_reserved", BigInteger, nullable=False),
    Column("on_hand_after", BigInteger, nullable=False),
    Column("reserved_after", BigInteger, nullable=False),
    Column("reservation_id", UUID(as_uuid=True)),
    Column("note", Text, nullable=False, server_default=""),
)
Index("movements_variant_idx", MOVEMENTS.c.variant_id, MOVEMENTS.c.id)
Index("movements_at_idx", MOVEMENTS.c.at)

SUPPLIERS = Table(
    "suppliers",
    METADATA,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("name", Text, nullable=False, unique=True),
    Column("lead_time_days", Integer, nullable=False),
    _at(),
    CheckConstraint("lead_time_days >= 0", name="supplier_lead_time"),
)

SUPPLIER_VARIANTS = Table(
    "supplier_variants",
    METADATA,
    Column(
        "supplier_id",
        UUID(as_uuid=True),
        ForeignKey("suppliers.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("variant_id", UUID(as_uuid=True), nullable=False),
    Column("cost_amount", BigInteger, nullable=False),
    Column("currency", Text, nullable=False),
    PrimaryKeyConstraint("supplier_id", "variant_id"),
    CheckConstraint("cost_amount >= 0", name="supplier_cost_not_negative"),
)
Index("supplier_variants_variant_idx", SUPPLIER_VARIANTS.c.variant_id)

OUTBOX.to_metadata(METADATA)

__all__ = [
    "ALLOCATIONS",
    "METADATA",
    "MOVEMENTS",
    "OUTBOX",
    "RESERVATIONS",
    "SCHEMA",
    "STOCK_LEVELS",
    "SUPPLIERS",
    "SUPPLIER_VARIANTS",
    "VARIANTS",
    "WAREHOUSES",
]
