"""Settings of the search service (prefix `KOMMERCE_SEARCH_`, then the shared `KOMMERCE_` names)."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from kommerce.settings import ServiceSettings


class SearchSettings(ServiceSettings):
    service_name: ClassVar[str] = "search"

    port: int = Field(default=8104, ge=1, le=65535)
    # where the index lives: PostgreSQL full text + pg_trgm (default), or OpenSearch
    # (KOMMERCE_OPENSEARCH_URL, `kommerce stack env` prints it)
    backend: Literal["postgres", "opensearch"] = "postgres"
    opensearch_index_prefix: str = Field(
        default="kommerce-search", pattern=r"^[a-z0-9][a-z0-9_-]*$"
    )
    schema_name: str = "search"
    migrate_on_start: bool = True
    # keep the index current from product.* and inventory.stock_changed (a projection)
    consume_events: bool = True
    index_pool_size: int = Field(default=10, ge=1, le=100)
    index_work_mem: str = Field(default="32MB", pattern=r"^[1-9][0-9]*(kB|MB|GB)$")
    # full text finding fewer products than this turns on typo tolerance
    min_fulltext_hits: int = Field(default=1, ge=1, le=100)
    # ranking configs, synonyms and experiments written by another replica show up this late
    config_refresh_seconds: float = Field(default=5.0, gt=0)
    # analytics are buffered in memory and written in batches this often
    analytics_flush_seconds: float = Field(default=1.0, gt=0)
    personalization_cache_seconds: float = Field(default=5.0, ge=0)
    default_currency: str = "EUR"
