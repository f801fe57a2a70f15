"""`SearchBackend`: what the search service needs from an index (PostgreSQL or OpenSearch).

The service owns the HTTP API, analytics, experiments, personalisation and the event
consumption; it turns events into `SearchDocument`s and `StockLevel`s and asks the backend to
hold and search them. Every write carries the product's `version` (or the stock's
`changed_at`): a backend keeps what it holds when an older one arrives (stale or duplicate
events are no-ops), and remembers deletions so a late `product.changed` cannot resurrect a
deleted product.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from services.search.models import (
    SearchDocument,
    SearchRequest,
    SearchResult,
    StockLevel,
    Suggestion,
    SynonymGroup,
)


class UnknownName(ValueError):
    """A facet or filter name the index does not know; `valid` lists the ones it does."""

    def __init__(self, kind: str, names: Sequence[str], valid: Sequence[str]) -> None:
        self.kind = kind
        self.names = list(names)
        self.valid = list(valid)
        super().__init__(f"unknown {kind} {', '.join(self.names)}; valid: {', '.join(valid)}")


@runtime_checkable
class SearchBackend(Protocol):
    async def start(self) -> None:
        """Prepare the index (create it if missing); called once at service start."""

    async def close(self) -> None: ...

    async def index_documents(self, documents: Sequence[SearchDocument]) -> int:
        """Insert or replace; a document older than (or as old as) the held version is
        ignored. Returns how many were applied."""

    async def delete(self, product_id: str, version: int) -> bool:
        """Remove a product unless the index holds a newer version; False if ignored."""

    async def set_stock(self, levels: Sequence[StockLevel]) -> int:
        """Record variants' available-to-sell (newer `changed_at` wins); a product is in stock
        when the sum over its variants is positive. Returns how many were applied."""

    async def rename_category(
        self, category_id: str, path_ids: Sequence[str], path_names: Sequence[str]
    ) -> int:
        """A category was renamed or moved: rewrite the paths of products in its subtree."""

    async def search(self, request: SearchRequest) -> SearchResult:
        """Match, filter, rank and page; facet counts over the filtered matches.
        Raises `UnknownName` for an unknown facet or attribute filter."""

    async def suggest(self, prefix: str, *, limit: int = 10) -> list[Suggestion]:
        """Product names starting with (or close to) `prefix`, best first."""

    async def set_synonyms(self, groups: Sequence[SynonymGroup]) -> None:
        """Replace the synonym groups used to expand queries (no reindex)."""

    async def facet_names(self) -> list[str]:
        """Valid facet names: the fixed ones plus `attr.<name>` per known attribute."""

    async def clear(self) -> None:
        """Empty the index (a projection rebuild)."""
