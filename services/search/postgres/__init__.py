"""The PostgreSQL backend: full-text search (weighted tsvector, GIN) + pg_trgm typo tolerance."""
