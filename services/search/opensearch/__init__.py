"""The OpenSearch backend: the same `SearchBackend` on an OpenSearch index (opensearch-py).

Selected with `KOMMERCE_SEARCH_BACKEND=opensearch`; see docs/search-opensearch.md.
"""

from services.search.opensearch.backend import OpenSearchBackend

__all__ = ["OpenSearchBackend"]
