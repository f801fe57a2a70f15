"""What the search service's routes share: settings, database, backend, tuning, analytics."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request

from kommerce.auth.dependency import Authenticator
from kommerce.auth.setup import authenticator
from kommerce.data.db import Database
from services.search.analytics import Analytics
from services.search.backend import SearchBackend
from services.search.personalization import ClickPersonalizer, Personalizer
from services.search.postgres.backend import PostgresBackend
from services.search.settings import SearchSettings
from services.search.tuning import Tuning


@dataclass
class SearchContext:
    settings: SearchSettings
    db: Database
    backend: SearchBackend
    tuning: Tuning
    analytics: Analytics
    personalizer: Personalizer
    auth: Authenticator

    @classmethod
    def build(
        cls,
        settings: SearchSettings,
        *,
        auth: Authenticator | None = None,
        backend: SearchBackend | None = None,
    ) -> SearchContext:
        db = Database(url=settings.async_database_url(), schema=settings.schema_name)
        backend = backend or configured_backend(settings)
        return cls(
            settings=settings,
            db=db,
            backend=backend,
            tuning=Tuning(db=db, backend=backend),
            analytics=Analytics(db),
            personalizer=ClickPersonalizer(
                db, cache_seconds=settings.personalization_cache_seconds
            ),
            auth=auth or authenticator(settings),
        )


def configured_backend(settings: SearchSettings) -> SearchBackend:
    """The backend `KOMMERCE_SEARCH_BACKEND` names (postgres unless set)."""
    if settings.backend == "opensearch":
        from services.search.opensearch.backend import OpenSearchBackend

        if settings.opensearch_url is None:
            raise ValueError(
                "KOMMERCE_SEARCH_BACKEND=opensearch needs KOMMERCE_OPENSEARCH_URL "
                "(`kommerce stack env` prints it for the local stack)"
            )
        return OpenSearchBackend(
            url=str(settings.opensearch_url).rstrip("/"),
            index_prefix=settings.opensearch_index_prefix,
            min_fulltext_hits=settings.min_fulltext_hits,
        )
    return PostgresBackend(
        dsn=str(settings.database_url),
        schema=settings.schema_name,
        pool_size=settings.index_pool_size,
        min_fulltext_hits=settings.min_fulltext_hits,
        work_mem=settings.index_work_mem,
    )


def ctx(request: Request) -> SearchContext:
    c: SearchContext = request.app.state.ctx
    return c
