"""`KOMMERCE_SEARCH_BACKEND` picks the search index: PostgreSQL unless told otherwise."""

import pytest

from services.search.context import configured_backend
from services.search.opensearch.backend import OpenSearchBackend
from services.search.postgres.backend import PostgresBackend
from services.search.settings import SearchSettings

pytestmark = pytest.mark.unit
DB = "postgresql://kommerce:secret@127.0.0.1:5432/kommerce"


def test_postgres_is_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KOMMERCE_SEARCH_BACKEND", raising=False)
    backend = configured_backend(SearchSettings(database_url=DB))
    assert isinstance(backend, PostgresBackend)


def test_opensearch_when_configured() -> None:
    settings = SearchSettings(
        database_url=DB, backend="opensearch", opensearch_url="http://127.0.0.1:9200"
    )
    backend = configured_backend(settings)
    assert isinstance(backend, OpenSearchBackend)
    assert backend.products == "kommerce-search-products"


def test_opensearch_without_a_url_says_what_to_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KOMMERCE_OPENSEARCH_URL", raising=False)  # set while the stack runs
    settings = SearchSettings(database_url=DB, backend="opensearch")
    with pytest.raises(ValueError, match="KOMMERCE_OPENSEARCH_URL"):
        configured_backend(settings)
