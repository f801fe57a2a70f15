"""The search schema's tables (SQLAlchemy Core; created by migrations/versions/0001)."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    Integer,
    MetaData,
    Table,
    Text,
    func,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, TSVECTOR, UUID

METADATA = MetaData()

# the narrow hot table: what matching, filters, sorting and facets read for every match
PRODUCTS = Table(
    "products",
    METADATA,
    Column("product_id", Text, primary_key=True),
    Column("version", BigInteger, nullable=False),
    Column("status", Text, nullable=False),  # draft | active | archived | deleted (tombstone)
    Column("name", Text, nullable=False, server_default=""),
    Column("brand", Text),
    Column("category_ids", ARRAY(Text), nullable=False, server_default="{}"),
    Column("category_path", ARRAY(Text), nullable=False, server_default="{}"),
    Column("attr_pairs", ARRAY(Text), nullable=False, server_default="{}"),  # "name=value"
    Column("prices", JSONB, nullable=False, server_default="{}"),  # {"EUR": {"min":..,"max":..}}
    Column("available", BigInteger, nullable=False, server_default="0"),
    Column("in_stock", Boolean, nullable=False, server_default="false"),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("changed_at", DateTime(timezone=True), nullable=False),
    # search_document(name, brand, category_path, attributes_text, description), set on write
    Column("document", TSVECTOR, nullable=False, server_default=""),
)

# the wide part: read for the returned page's rows and by stock and category updates
PRODUCT_DETAILS = Table(
    "product_details",
    METADATA,
    Column("product_id", Text, primary_key=True),
    Column("slug", Text, nullable=False, server_default=""),
    Column("description", Text, nullable=False, server_default=""),
    Column("category_id", Text),
    Column("attributes", JSONB, nullable=False, server_default="{}"),
    Column("attributes_text", Text, nullable=False, server_default=""),
    Column("variant_ids", ARRAY(Text), nullable=False, server_default="{}"),
    Column("skus", ARRAY(Text), nullable=False, server_default="{}"),
    Column("image_url", Text),
)

VARIANT_STOCK = Table(
    "variant_stock",
    METADATA,
    Column("variant_id", Text, primary_key=True),
    Column("product_id", Text),
    Column("available", BigInteger, nullable=False),
    Column("changed_at", DateTime(timezone=True), nullable=False),
)

CATEGORIES = Table(
    "categories",
    METADATA,
    Column("category_id", Text, primary_key=True),
    Column("path_ids", ARRAY(Text), nullable=False),
    Column("path_names", ARRAY(Text), nullable=False),
    Column("deleted", Boolean, nullable=False, server_default="false"),
    Column("changed_at", DateTime(timezone=True), nullable=False),
)

LEXICON = Table("lexicon", METADATA, Column("word", Text, primary_key=True))
ATTRIBUTE_NAMES = Table("attribute_names", METADATA, Column("name", Text, primary_key=True))

SYNONYMS = Table(
    "synonyms",
    METADATA,
    Column("id", UUID(as_uuid=False), primary_key=True),
    Column("terms", ARRAY(Text), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

RANKING_CONFIGS = Table(
    "ranking_configs",
    METADATA,
    Column("name", Text, primary_key=True),
    Column("config", JSONB, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

EXPERIMENTS = Table(
    "experiments",
    METADATA,
    Column("name", Text, primary_key=True),
    Column("active", Boolean, nullable=False, server_default="true"),
    Column("variants", JSONB, nullable=False),  # [{"name", "ranking", "weight"}]
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

SEARCH_QUERIES = Table(
    "search_queries",
    METADATA,
    Column("query_id", UUID(as_uuid=False), primary_key=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("q", Text, nullable=False),
    Column("normalized", Text, nullable=False),
    Column("total", Integer, nullable=False),
    Column("matched_by", Text, nullable=False),
    Column("user_key", Text),
    Column("experiment", Text),
    Column("variant", Text),
    Column("ranking", Text, nullable=False),
)

SEARCH_CLICKS = Table(
    "search_clicks",
    METADATA,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("query_id", UUID(as_uuid=False), nullable=False),
    Column("product_id", Text, nullable=False),
    Column("position", Integer, nullable=False),
    Column("user_key", Text),
    Column("at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

USER_CATEGORIES = Table(
    "user_categories",
    METADATA,
    Column("user_key", Text, primary_key=True),
    Column("category_id", Text, primary_key=True),
    Column("weight", Float, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)
