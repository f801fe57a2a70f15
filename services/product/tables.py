"""The product service's tables (schema `catalog`). Migrations in `migrations/` create them.

Products keep what is filtered or joined on in columns (slug, name, status, brand, category,
version) and the rest of the document (description, attributes, SEO) in JSONB. Categories are a
tree materialised with `ltree`: `path` is the ids from the root (hex, one label each), so a
subtree (`path <@ p`) and the ancestors (`path @> p`) are single GiST-indexed queries and moving a
subtree is one UPDATE of the paths under it.
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
    String,
    Table,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.types import UserDefinedType

from kommerce.events.outbox import OUTBOX

SCHEMA = "catalog"
METADATA = MetaData()


class Ltree(UserDefinedType[str]):
    cache_ok = True

    def get_col_spec(self, **kw: object) -> str:
        return "ltree"


def _created() -> Column[object]:
    return Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now())


def _updated() -> Column[object]:
    return Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now())


BRANDS = Table(
    "brands",
    METADATA,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("name", Text, nullable=False, unique=True),
    Column("slug", Text, nullable=False, unique=True),
    _created(),
)

CATEGORIES = Table(
    "categories",
    METADATA,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("parent_id", UUID(as_uuid=True), ForeignKey("categories.id")),
    Column("name", Text, nullable=False),
    Column("slug", Text, nullable=False),
    Column("path", Ltree(), nullable=False),
    _created(),
    _updated(),
    UniqueConstraint(
        "parent_id", "name", name="categories_parent_name_key", postgresql_nulls_not_distinct=True
    ),
)
Index("categories_path_gist", CATEGORIES.c.path, postgresql_using="gist")

ATTRIBUTES = Table(
    "attributes",
    METADATA,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("name", Text, nullable=False, unique=True),
    Column("type", Text, nullable=False),  # text | number | boolean | enum
    Column("allowed_values", JSONB, nullable=False, server_default=text("'[]'")),
    _created(),
)

PRODUCTS = Table(
    "products",
    METADATA,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("slug", Text, nullable=False, unique=True),
    Column("name", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("brand_id", UUID(as_uuid=True), ForeignKey("brands.id")),
    Column("category_id", UUID(as_uuid=True), ForeignKey("categories.id")),
    Column("version", BigInteger, nullable=False),
    Column("document", JSONB, nullable=False, server_default=text("'{}'")),
    Column("created_by", Text, nullable=False, server_default=""),
    Column("updated_by", Text, nullable=False, server_default=""),
    _created(),
    _updated(),
    CheckConstraint("status IN ('draft', 'active', 'archived')", name="products_status_check"),
)
Index("products_category_idx", PRODUCTS.c.category_id, PRODUCTS.c.id)
Index("products_brand_idx", PRODUCTS.c.brand_id, PRODUCTS.c.id)
Index("products_status_idx", PRODUCTS.c.status, PRODUCTS.c.id)
Index(
    "products_document_gin",
    PRODUCTS.c.document,
    postgresql_using="gin",
    postgresql_ops={"document": "jsonb_path_ops"},
)

VARIANTS = Table(
    "variants",
    METADATA,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column(
        "product_id",
        UUID(as_uuid=True),
        ForeignKey("products.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("sku", Text, nullable=False, unique=True),
    Column("name", Text, nullable=False, server_default=""),
    Column("attributes", JSONB, nullable=False, server_default=text("'{}'")),
    Column("price_amount", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("weight_grams", Integer),
    Column("position", Integer, nullable=False, server_default=text("0")),
    _created(),
    CheckConstraint("price_amount >= 0", name="variants_price_not_negative"),
    CheckConstraint("currency ~ '^[A-Z]{3}$'", name="variants_currency_check"),
)
Index("variants_product_idx", VARIANTS.c.product_id, VARIANTS.c.position)

PRICE_HISTORY = Table(
    "price_history",
    METADATA,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column(
        "variant_id",
        UUID(as_uuid=True),
        ForeignKey("variants.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("amount", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("valid_from", DateTime(timezone=True), nullable=False),
    Column("valid_to", DateTime(timezone=True)),  # NULL: the current price
    Column("changed_by", Text, nullable=False, server_default=""),
)
Index("price_history_variant_idx", PRICE_HISTORY.c.variant_id, PRICE_HISTORY.c.valid_from)

IMAGES = Table(
    "images",
    METADATA,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column(
        "product_id",
        UUID(as_uuid=True),
        ForeignKey("products.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("content_type", Text, nullable=False),
    Column("width", Integer, nullable=False),
    Column("height", Integer, nullable=False),
    Column("size_bytes", BigInteger, nullable=False),
    Column("keys", JSONB, nullable=False),  # {"original": key, "160": key, "480": key}
    Column("position", Integer, nullable=False, server_default=text("0")),
    _created(),
)
Index("images_product_idx", IMAGES.c.product_id, IMAGES.c.position)

# How often two products were bought in one order (both directions stored).
CO_OCCURRENCE = Table(
    "co_occurrence",
    METADATA,
    Column("product_id", UUID(as_uuid=True), primary_key=True),
    Column("other_id", UUID(as_uuid=True), primary_key=True),
    Column("orders", BigInteger, nullable=False),
)
Index("co_occurrence_rank_idx", CO_OCCURRENCE.c.product_id, CO_OCCURRENCE.c.orders.desc())

IMPORT_JOBS = Table(
    "import_jobs",
    METADATA,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("format", Text, nullable=False),  # jsonl | csv
    Column("state", Text, nullable=False),  # running | succeeded | failed
    Column("actor", Text, nullable=False, server_default=""),
    Column("filename", Text, nullable=False, server_default=""),
    Column("bytes_total", BigInteger),
    Column("bytes_done", BigInteger, nullable=False, server_default=text("0")),
    Column("rows", BigInteger, nullable=False, server_default=text("0")),
    Column("created", BigInteger, nullable=False, server_default=text("0")),
    Column("updated", BigInteger, nullable=False, server_default=text("0")),
    Column("unchanged", BigInteger, nullable=False, server_default=text("0")),
    Column("failed", BigInteger, nullable=False, server_default=text("0")),
    Column("message", Text, nullable=False, server_default=""),
    Column("started_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("finished_at", DateTime(timezone=True)),
    CheckConstraint("state IN ('running', 'succeeded', 'failed')", name="import_jobs_state_check"),
)

IMPORT_ERRORS = Table(
    "import_errors",
    METADATA,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column(
        "job_id",
        UUID(as_uuid=True),
        ForeignKey("import_jobs.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("line", BigInteger, nullable=False),
    Column("slug", Text, nullable=False, server_default=""),
    Column("sku", Text, nullable=False, server_default=""),
    Column("field", Text, nullable=False, server_default=""),
    Column("message", Text, nullable=False),
)
Index("import_errors_job_idx", IMPORT_ERRORS.c.job_id, IMPORT_ERRORS.c.id)

OUTBOX.to_metadata(METADATA)
