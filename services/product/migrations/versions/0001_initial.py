"""brands, categories (ltree), attributes, products (JSONB document), variants, price history,
images, co-occurrence, import jobs and errors, outbox"""

from alembic import op

revision = "0001"
down_revision = None

# ltree lives in `public` (on every service's search_path); the advisory lock serialises
# services that create it at the same time (IF NOT EXISTS alone races on the catalog).
EXTENSION = """
SELECT pg_advisory_xact_lock(hashtext('kommerce-extension-ltree'));
CREATE EXTENSION IF NOT EXISTS ltree SCHEMA public;
"""

TABLES = """
CREATE TABLE brands (
    id uuid PRIMARY KEY,
    name text NOT NULL UNIQUE,
    slug text NOT NULL UNIQUE,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE categories (
    id uuid PRIMARY KEY,
    parent_id uuid REFERENCES categories (id),
    name text NOT NULL,
    slug text NOT NULL,
    path public.ltree NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT categories_parent_name_key UNIQUE NULLS NOT DISTINCT (parent_id, name)
);
CREATE INDEX categories_path_gist ON categories USING gist (path);
CREATE TABLE attributes (
    id uuid PRIMARY KEY,
    name text NOT NULL UNIQUE,
    type text NOT NULL,
    allowed_values jsonb NOT NULL DEFAULT '[]',
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE products (
    id uuid PRIMARY KEY,
    slug text NOT NULL UNIQUE,
    name text NOT NULL,
    status text NOT NULL,
    brand_id uuid REFERENCES brands (id),
    category_id uuid REFERENCES categories (id),
    version bigint NOT NULL,
    document jsonb NOT NULL DEFAULT '{}',
    created_by text NOT NULL DEFAULT '',
    updated_by text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT products_status_check CHECK (status IN ('draft', 'active', 'archived'))
);
CREATE INDEX products_category_idx ON products (category_id, id);
CREATE INDEX products_brand_idx ON products (brand_id, id);
CREATE INDEX products_status_idx ON products (status, id);
CREATE INDEX products_document_gin ON products USING gin (document jsonb_path_ops);
CREATE TABLE variants (
    id uuid PRIMARY KEY,
    product_id uuid NOT NULL REFERENCES products (id) ON DELETE CASCADE,
    sku text NOT NULL UNIQUE,
    name text NOT NULL DEFAULT '',
    attributes jsonb NOT NULL DEFAULT '{}',
    price_amount bigint NOT NULL,
    currency varchar(3) NOT NULL,
    weight_grams integer,
    position integer NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT variants_price_not_negative CHECK (price_amount >= 0),
    CONSTRAINT variants_currency_check CHECK (currency ~ '^[A-Z]{3}$')
);
CREATE INDEX variants_product_idx ON variants (product_id, position);
CREATE TABLE price_history (
    id bigserial PRIMARY KEY,
    variant_id uuid NOT NULL REFERENCES variants (id) ON DELETE CASCADE,
    amount bigint NOT NULL,
    currency varchar(3) NOT NULL,
    valid_from timestamptz NOT NULL,
    valid_to timestamptz,
    changed_by text NOT NULL DEFAULT ''
);
CREATE INDEX price_history_variant_idx ON price_history (variant_id, valid_from);
CREATE TABLE images (
    id uuid PRIMARY KEY,
    product_id uuid NOT NULL REFERENCES products (id) ON DELETE CASCADE,
    content_type text NOT NULL,
    width integer NOT NULL,
    height integer NOT NULL,
    size_bytes bigint NOT NULL,
    keys jsonb NOT NULL,
    position integer NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX images_product_idx ON images (product_id, position);
CREATE TABLE co_occurrence (
    product_id uuid NOT NULL,
    other_id uuid NOT NULL,
    orders bigint NOT NULL,
    PRIMARY KEY (product_id, other_id)
);
CREATE INDEX co_occurrence_rank_idx ON co_occurrence (product_id, orders DESC);
CREATE TABLE import_jobs (
    id uuid PRIMARY KEY,
    format text NOT NULL,
    state text NOT NULL,
    actor text NOT NULL DEFAULT '',
    filename text NOT NULL DEFAULT '',
    bytes_total bigint,
    bytes_done bigint NOT NULL DEFAULT 0,
    rows bigint NOT NULL DEFAULT 0,
    created bigint NOT NULL DEFAULT 0,
    updated bigint NOT NULL DEFAULT 0,
    unchanged bigint NOT NULL DEFAULT 0,
    failed bigint NOT NULL DEFAULT 0,
    message text NOT NULL DEFAULT '',
    started_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz,
    CONSTRAINT import_jobs_state_check CHECK (state IN ('running', 'succeeded', 'failed'))
);
CREATE TABLE import_errors (
    id bigserial PRIMARY KEY,
    job_id uuid NOT NULL REFERENCES import_jobs (id) ON DELETE CASCADE,
    line bigint NOT NULL,
    slug text NOT NULL DEFAULT '',
    sku text NOT NULL DEFAULT '',
    field text NOT NULL DEFAULT '',
    message text NOT NULL
);
CREATE INDEX import_errors_job_idx ON import_errors (job_id, id);
CREATE TABLE outbox (
    id bigserial PRIMARY KEY,
    event_id uuid NOT NULL UNIQUE,
    topic text NOT NULL,
    key bytea NOT NULL,
    value bytea NOT NULL,
    headers jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    published_at timestamptz
);
CREATE INDEX outbox_unpublished_idx ON outbox (id) WHERE published_at IS NULL;
"""

DROP = """
DROP TABLE outbox, import_errors, import_jobs, co_occurrence, images, price_history, variants,
    products, attributes, categories, brands;
"""


def _run(script: str) -> None:
    # One statement per call: asyncpg prepares each, and a prepared statement holds one command.
    for statement in script.split(";\n"):
        if statement.strip():
            op.execute(statement)


def upgrade() -> None:
    _run(EXTENSION)
    _run(TABLES)


def downgrade() -> None:
    _run(DROP)
