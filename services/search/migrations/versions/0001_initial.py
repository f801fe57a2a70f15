"""search index (products: the narrow hot table for matching, sorting and facets;
product_details: what only the returned page reads; stock, categories, lexicon), synonyms, ranking configs, experiments,
analytics, per-user categories, projection positions"""

from alembic import op

revision = "0001"
down_revision = None

# services migrating at the same time may race to create an extension: the loser ignores it
EXTENSIONS = [
    f"DO $$ BEGIN CREATE EXTENSION IF NOT EXISTS {name} WITH SCHEMA public; "
    "EXCEPTION WHEN unique_violation OR duplicate_object THEN NULL; END $$"
    for name in ("pg_trgm", "fuzzystrmatch")
]

TABLES = """
CREATE FUNCTION search_document(name text, brand text, category_path text[],
  attributes_text text, description text) RETURNS tsvector
LANGUAGE sql STABLE PARALLEL SAFE AS $f$
  SELECT setweight(to_tsvector('english'::regconfig, name), 'A')
    || setweight(to_tsvector('english'::regconfig,
         coalesce(brand, '') || ' ' || array_to_string(category_path, ' ')), 'B')
    || setweight(to_tsvector('english'::regconfig, attributes_text), 'C')
    || setweight(to_tsvector('english'::regconfig, description), 'D')
$f$;
CREATE TABLE products (
  product_id text PRIMARY KEY,
  version bigint NOT NULL,
  status text NOT NULL,
  name text NOT NULL DEFAULT '',
  brand text,
  category_ids text[] NOT NULL DEFAULT '{}',
  category_path text[] NOT NULL DEFAULT '{}',
  attr_pairs text[] NOT NULL DEFAULT '{}',
  prices jsonb NOT NULL DEFAULT '{}',
  available bigint NOT NULL DEFAULT 0,
  in_stock boolean NOT NULL DEFAULT false,
  created_at timestamptz NOT NULL,
  changed_at timestamptz NOT NULL,
  document tsvector NOT NULL DEFAULT ''
);
CREATE INDEX products_document_idx ON products USING gin (document) WHERE status = 'active';
CREATE INDEX products_name_trgm_idx ON products USING gin (lower(name) public.gin_trgm_ops)
  WHERE status = 'active';
CREATE INDEX products_categories_idx ON products USING gin (category_ids)
  WHERE status = 'active';
CREATE INDEX products_attr_pairs_idx ON products USING gin (attr_pairs) WHERE status = 'active';
CREATE INDEX products_brand_idx ON products (brand) WHERE status = 'active';
CREATE INDEX products_created_idx ON products (created_at DESC) WHERE status = 'active';
CREATE TABLE product_details (
  product_id text PRIMARY KEY,
  slug text NOT NULL DEFAULT '',
  description text NOT NULL DEFAULT '',
  category_id text,
  attributes jsonb NOT NULL DEFAULT '{}',
  attributes_text text NOT NULL DEFAULT '',
  variant_ids text[] NOT NULL DEFAULT '{}',
  skus text[] NOT NULL DEFAULT '{}',
  image_url text
);
CREATE INDEX product_details_variants_idx ON product_details USING gin (variant_ids);

CREATE TABLE variant_stock (
  variant_id text PRIMARY KEY,
  product_id text,
  available bigint NOT NULL,
  changed_at timestamptz NOT NULL
);
CREATE TABLE categories (
  category_id text PRIMARY KEY,
  path_ids text[] NOT NULL,
  path_names text[] NOT NULL,
  deleted boolean NOT NULL DEFAULT false,
  changed_at timestamptz NOT NULL
);
CREATE TABLE lexicon (word text PRIMARY KEY);
CREATE INDEX lexicon_trgm_idx ON lexicon USING gin (word public.gin_trgm_ops);
CREATE TABLE attribute_names (name text PRIMARY KEY);

CREATE TABLE synonyms (
  id uuid PRIMARY KEY,
  terms text[] NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE ranking_configs (
  name text PRIMARY KEY,
  config jsonb NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE experiments (
  name text PRIMARY KEY,
  active boolean NOT NULL DEFAULT true,
  variants jsonb NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE search_queries (
  query_id uuid PRIMARY KEY,
  at timestamptz NOT NULL,
  q text NOT NULL,
  normalized text NOT NULL,
  total integer NOT NULL,
  matched_by text NOT NULL,
  user_key text,
  experiment text,
  variant text,
  ranking text NOT NULL
);
CREATE INDEX search_queries_at_idx ON search_queries (at);
CREATE INDEX search_queries_normalized_idx ON search_queries (normalized text_pattern_ops);
CREATE TABLE search_clicks (
  id bigserial PRIMARY KEY,
  query_id uuid NOT NULL,
  product_id text NOT NULL,
  position integer NOT NULL,
  user_key text,
  at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX search_clicks_query_idx ON search_clicks (query_id);
CREATE TABLE user_categories (
  user_key text NOT NULL,
  category_id text NOT NULL,
  weight double precision NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (user_key, category_id)
);
CREATE TABLE projection_positions (
  projection text NOT NULL,
  topic text NOT NULL,
  partition integer NOT NULL,
  next_offset bigint NOT NULL,
  PRIMARY KEY (projection, topic, partition)
);
"""


def upgrade() -> None:
    for statement in EXTENSIONS:
        op.execute(statement)
    for statement in TABLES.split(";\n"):
        if statement.strip():
            op.execute(statement)


def downgrade() -> None:
    for table in (
        "projection_positions",
        "user_categories",
        "search_clicks",
        "search_queries",
        "experiments",
        "ranking_configs",
        "synonyms",
        "attribute_names",
        "lexicon",
        "categories",
        "variant_stock",
        "product_details",
        "products",
    ):
        op.execute(f"DROP TABLE IF EXISTS {table}")
    op.execute("DROP FUNCTION IF EXISTS search_document")
