"""`OpenSearchBackend`: the `SearchBackend` on an OpenSearch server (opensearch-py's async client).

Writes are bulk requests with external versions (see `index.py`), so stale or re-delivered
events are rejected by OpenSearch itself (a 409 per document, counted as "not applied").
A product's `in_stock` is denormalised into its document: whoever changes a product or a
variant's stock re-derives it from the stock documents (real-time GETs) and writes a correction
with the next external version, which fails, and is retried, if anything wrote in between.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Sequence
from datetime import datetime
from typing import Any, TypeVar

from opensearchpy import AsyncOpenSearch, NotFoundError, TransportError
from opensearchpy.helpers import async_bulk, async_scan

from kommerce.money import exponent
from services.search import querytext
from services.search.backend import UnknownName
from services.search.models import (
    ATTRIBUTE_PREFIX,
    FIXED_FACETS,
    SearchDocument,
    SearchRequest,
    SearchResult,
    StockLevel,
    Suggestion,
    SynonymGroup,
)
from services.search.opensearch import index, query

PRICE_BOUNDS = [0, 10, 25, 50, 100, 250, 500, 1000]  # major units, as the PostgreSQL backend
CORRECTION_ATTEMPTS = 8
CLOSED_INDEX_WAIT_SECONDS = 10.0
T = TypeVar("T")


class OpenSearchBackend:
    def __init__(
        self,
        *,
        url: str,
        index_prefix: str = "kommerce-search",
        min_fulltext_hits: int = 1,
        refresh: bool = False,
        timeout: float = 10.0,
    ) -> None:
        """`refresh=True` makes every write visible to search before it returns (tests);
        otherwise OpenSearch's refresh interval (1 s) applies."""
        self.url = url
        self.products = f"{index_prefix}-products"
        self.stock = f"{index_prefix}-stock"
        self.min_fulltext_hits = min_fulltext_hits
        self.refresh = refresh
        self.timeout = timeout
        self._client: AsyncOpenSearch | None = None

    @property
    def client(self) -> AsyncOpenSearch:
        if self._client is None:
            raise RuntimeError("OpenSearchBackend.start() was not called")
        return self._client

    async def start(self) -> None:
        if self._client is None:
            self._client = AsyncOpenSearch(hosts=[self.url], timeout=self.timeout)
        await self._create_indices(synonyms=[])

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None

    async def _create_indices(self, *, synonyms: Sequence[str]) -> None:
        for name, body in (
            (self.products, index.products_settings(synonyms)),
            (self.stock, index.STOCK_SETTINGS),
        ):
            if not await self.client.indices.exists(index=name):
                try:
                    await self.client.indices.create(index=name, body=body)
                except TransportError as exc:  # another replica created it first
                    if exc.error != "resource_already_exists_exception":
                        raise
        await self.client.cluster.health(
            index=f"{self.products},{self.stock}",
            wait_for_status="yellow",
            timeout="30s",
            request_timeout=35,
        )

    async def refresh_indices(self) -> None:
        """Make every write so far visible to search (tests; a rename's subtree lookup)."""
        await self.client.indices.refresh(index=f"{self.products},{self.stock}")

    # -- writes ---------------------------------------------------------------------------

    async def _bulk(self, actions: list[dict[str, Any]]) -> list[str]:
        """Run the actions; returns the ids applied. Version conflicts are expected (stale
        writes) and skipped; writes refused while a synonym update has the index closed are
        retried; any other failure raises."""
        applied: list[str] = []
        deadline = asyncio.get_running_loop().time() + CLOSED_INDEX_WAIT_SECONDS
        while actions:
            _, errors = await async_bulk(
                self.client,
                actions,
                raise_on_error=False,
                raise_on_exception=True,
                refresh=self.refresh,
            )
            failed: dict[str, dict[str, Any]] = {}
            for error in errors if isinstance(errors, list) else []:
                (detail,) = error.values()
                failed[str(detail["_id"])] = detail
            applied += [str(a["_id"]) for a in actions if str(a["_id"]) not in failed]
            retry = []
            for detail in failed.values():
                if detail.get("status") == 409:
                    continue
                if _reloading(detail) and asyncio.get_running_loop().time() < deadline:
                    retry.append(str(detail["_id"]))
                    continue
                raise RuntimeError(f"OpenSearch bulk write failed: {detail}")
            actions = [a for a in actions if str(a["_id"]) in retry]
            if actions:
                await asyncio.sleep(0.1)
        return applied

    async def _mget(self, index_name: str, ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        """Real-time GETs: what the index holds now, refreshed or not. id -> hit."""
        wanted = list(dict.fromkeys(ids))
        if not wanted:
            return {}
        found = await self._retry_closed(
            lambda: self.client.mget(index=index_name, body={"ids": wanted}, realtime=True)
        )
        return {d["_id"]: d for d in found["docs"] if d.get("found")}

    async def _available(self, variant_ids: Iterable[str]) -> dict[str, int]:
        docs = await self._mget(self.stock, variant_ids)
        return {vid: int(d["_source"]["available"]) for vid, d in docs.items()}

    @staticmethod
    def _total(variant_ids: Sequence[str], available: dict[str, int]) -> int:
        return sum(max(available.get(v, 0), 0) for v in variant_ids)

    async def index_documents(self, documents: Sequence[SearchDocument]) -> int:
        latest: dict[str, SearchDocument] = {}
        for document in documents:  # a batch may hold several versions of one product
            held = latest.get(document.product_id)
            if held is None or document.version > held.version:
                latest[document.product_id] = document
        if not latest:
            return 0
        existing = await self._mget(self.products, latest)
        available = await self._available(v for d in latest.values() for v in d.variant_ids)
        actions = []
        for pid, document in latest.items():
            if int(existing.get(pid, {}).get("_version", 0)) >= index.product_version(
                document.version
            ):
                continue  # stale: OpenSearch would refuse it anyway
            held = existing.get(pid, {}).get("_source", {})
            created = (
                held.get("created_at") if held.get("status") not in (None, "deleted") else None
            )
            body = index.product_body(
                document,
                available=self._total(document.variant_ids, available),
                created_at=datetime.fromisoformat(created) if created else document.changed_at,
            )
            actions.append(
                {
                    "_op_type": "index",
                    "_index": self.products,
                    "_id": pid,
                    "_source": body,
                    "version": index.product_version(document.version),
                    "version_type": "external",
                }
            )
        applied = await self._bulk(actions)
        # a variant's stock may have changed between the read above and the write
        await self._correct_stock(applied)
        return len(applied)

    async def _correct_stock(self, product_ids: Sequence[str]) -> None:
        """Make each product's `in_stock`/`available` agree with its variants' stock documents.

        Read the product (with its external version), then its variants' stock, and write a
        correction at version + 1; a conflict means something wrote in between: read again."""
        pending = list(dict.fromkeys(product_ids))
        for _ in range(CORRECTION_ATTEMPTS):
            if not pending:
                return
            held = await self._mget(self.products, pending)
            live = {
                pid: hit for pid, hit in held.items() if hit["_source"].get("status") != "deleted"
            }
            available = await self._available(
                v for hit in live.values() for v in hit["_source"].get("variant_ids", [])
            )
            actions = []
            for pid, hit in live.items():
                source = hit["_source"]
                total = self._total(source.get("variant_ids", []), available)
                if source.get("available") == total:
                    continue
                actions.append(
                    {
                        "_op_type": "index",
                        "_index": self.products,
                        "_id": pid,
                        "_source": {**source, "available": total, "in_stock": total > 0},
                        "version": int(hit["_version"]) + 1,
                        "version_type": "external",
                    }
                )
            done = set(await self._bulk(actions))
            pending = [str(a["_id"]) for a in actions if a["_id"] not in done]
        if pending:
            raise RuntimeError(f"in-stock correction kept conflicting for {pending}")

    async def delete(self, product_id: str, version: int) -> bool:
        applied = await self._bulk(
            [
                {
                    "_op_type": "index",
                    "_index": self.products,
                    "_id": product_id,
                    "_source": index.tombstone_body(product_id, version),
                    "version": index.product_version(version),
                    "version_type": "external",
                }
            ]
        )
        return bool(applied)

    async def set_stock(self, levels: Sequence[StockLevel]) -> int:
        newest: dict[str, StockLevel] = {}
        for level in levels:
            held = newest.get(level.variant_id)
            if held is None or level.changed_at > held.changed_at:
                newest[level.variant_id] = level
        owners = await self._owners(newest.values())
        actions = [
            {
                "_op_type": "index",
                "_index": self.stock,
                "_id": level.variant_id,
                "_source": {
                    "variant_id": level.variant_id,
                    "product_id": owners.get(level.variant_id),
                    "available": level.available,
                    "changed_at": level.changed_at.isoformat(),
                },
                "version": index.stock_version(level.changed_at),
                "version_type": "external",
            }
            for level in newest.values()
        ]
        applied = await self._bulk(actions)
        await self._correct_stock([owners[v] for v in applied if v in owners])
        return len(applied)

    async def _owners(self, levels: Iterable[StockLevel]) -> dict[str, str]:
        """variant id -> product id: from the event, else the stock document held, else the
        product documents listing the variant."""
        owners = {lv.variant_id: lv.product_id for lv in levels if lv.product_id}
        unknown = [lv.variant_id for lv in levels if not lv.product_id]
        if not unknown:
            return owners
        for vid, hit in (await self._mget(self.stock, unknown)).items():
            if hit["_source"].get("product_id"):
                owners[vid] = str(hit["_source"]["product_id"])
        unknown = [v for v in unknown if v not in owners]
        if unknown:
            found = await self._retry_closed(
                lambda: self.client.search(
                    index=self.products,
                    body={
                        "size": len(unknown),
                        "_source": ["product_id", "variant_ids"],
                        "query": {"terms": {"variant_ids": unknown}},
                    },
                )
            )
            for hit in found["hits"]["hits"]:
                for vid in set(hit["_source"].get("variant_ids", [])) & set(unknown):
                    owners[vid] = str(hit["_source"]["product_id"])
        return owners

    async def rename_category(
        self, category_id: str, path_ids: Sequence[str], path_names: Sequence[str]
    ) -> int:
        await self.refresh_indices()
        changed = 0
        pending: list[str] | None = None
        for _ in range(CORRECTION_ATTEMPTS):
            if pending is None:
                hits = [
                    hit
                    async for hit in async_scan(
                        self.client,
                        index=self.products,
                        query={"query": {"term": {"category_ids": category_id}}},
                        version=True,
                    )
                ]
            else:
                hits = list((await self._mget(self.products, pending)).values())
            actions = []
            for hit in hits:
                source = hit["_source"]
                if category_id not in source.get("category_ids", []):
                    continue
                body = index.with_category_path(source, category_id, path_ids, path_names)
                if body["category_keys"] == source.get("category_keys"):
                    continue
                actions.append(
                    {
                        "_op_type": "index",
                        "_index": self.products,
                        "_id": hit["_id"],
                        "_source": body,
                        "version": int(hit["_version"]) + 1,
                        "version_type": "external",
                    }
                )
            done = set(await self._bulk(actions))
            changed += len(done)
            pending = [str(a["_id"]) for a in actions if a["_id"] not in done]
            if not pending:
                break
        return changed

    async def clear(self) -> None:
        synonyms = await self._synonym_rules()
        await self.client.indices.delete(
            index=f"{self.products},{self.stock}", ignore_unavailable=True
        )
        await self._create_indices(synonyms=synonyms)

    async def _synonym_rules(self) -> list[str]:
        try:
            found = await self.client.indices.get_settings(
                index=self.products, name=f"index.analysis.filter.{index.SYNONYM_FILTER}.synonyms"
            )
        except NotFoundError:
            return []
        settings = found.get(self.products, {}).get("settings", {})
        rules = (
            settings.get("index", {})
            .get("analysis", {})
            .get("filter", {})
            .get(index.SYNONYM_FILTER, {})
            .get("synonyms", [])
        )
        return [str(r) for r in rules]

    async def set_synonyms(self, groups: Sequence[SynonymGroup]) -> None:
        """Analysis settings change only on a closed index: close, update, reopen (searches
        meanwhile wait, see `_retry_closed`). No reindex: synonyms apply at search time."""
        rules = index.synonym_rules(groups)
        if rules == await self._synonym_rules():
            return
        await self.client.indices.close(index=self.products)
        try:
            await self.client.indices.put_settings(
                index=self.products,
                body={"analysis": {"filter": {index.SYNONYM_FILTER: {"synonyms": rules}}}},
            )
        finally:
            await self.client.indices.open(index=self.products, wait_for_active_shards=1)
        await self.client.cluster.health(
            index=self.products, wait_for_status="yellow", timeout="30s", request_timeout=35
        )

    # -- reads ----------------------------------------------------------------------------

    async def _retry_closed(self, call: Callable[[], Awaitable[T]]) -> T:
        """Run a read, waiting out the moments the index is closed for a synonym update."""
        deadline = asyncio.get_running_loop().time() + CLOSED_INDEX_WAIT_SECONDS
        delay = 0.05
        while True:
            try:
                return await call()
            except TransportError as exc:
                # closed (400), then reopened but its shard not yet started (503)
                reloading = _closing(str(exc.error), str(exc.info)) or exc.status_code == 503
                if not reloading or asyncio.get_running_loop().time() > deadline:
                    raise
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.5)

    async def _attribute_names(self) -> list[str]:
        response = await self._retry_closed(
            lambda: self.client.search(
                index=self.products,
                body={
                    "size": 0,
                    "aggs": {"names": {"terms": {"field": "attr_names", "size": 10_000}}},
                },
            )
        )
        return sorted(str(b["key"]) for b in response["aggregations"]["names"]["buckets"])

    async def facet_names(self) -> list[str]:
        return [*FIXED_FACETS, *(ATTRIBUTE_PREFIX + a for a in await self._attribute_names())]

    async def _check_names(self, request: SearchRequest) -> None:
        wanted = {
            f.removeprefix(ATTRIBUTE_PREFIX)
            for f in request.facets
            if f.startswith(ATTRIBUTE_PREFIX)
        } | set(request.filters.attributes)
        unknown_fixed = [
            f
            for f in request.facets
            if f not in FIXED_FACETS and not f.startswith(ATTRIBUTE_PREFIX)
        ]
        if not wanted and not unknown_fixed:
            return
        attributes = await self._attribute_names()
        valid = [*FIXED_FACETS, *(ATTRIBUTE_PREFIX + a for a in attributes)]
        unknown = [f for f in request.facets if f not in valid]
        if unknown:
            raise UnknownName("facet", unknown, valid)
        bad_filters = sorted(set(request.filters.attributes) - set(attributes))
        if bad_filters:
            raise UnknownName("attribute filter", bad_filters, attributes)

    @staticmethod
    def price_bounds(currency: str) -> list[int]:
        try:
            scale = 10 ** exponent(currency)
        except ValueError:  # an unknown currency: assume two digits
            scale = 100
        return [b * scale for b in PRICE_BOUNDS]

    async def _run(self, request: SearchRequest, match: query.Match) -> dict[str, Any]:
        body = query.search_body(request, match, price_bounds=self.price_bounds(request.currency))
        return await self._retry_closed(lambda: self.client.search(index=self.products, body=body))

    async def search(self, request: SearchRequest) -> SearchResult:
        await self._check_names(request)
        if not querytext.words(request.q):
            return query.search_result(request, await self._run(request, "all"), "all")
        exact = await self._run(request, "fulltext")
        if int(exact["hits"]["total"]["value"]) >= self.min_fulltext_hits:
            return query.search_result(request, exact, "fulltext")
        return query.search_result(request, await self._run(request, "fuzzy"), "fuzzy")

    async def suggest(self, prefix: str, *, limit: int = 10) -> list[Suggestion]:
        text = " ".join(prefix.split())[:100]
        if not text:
            return []
        completion: dict[str, Any] = {"field": "suggest", "size": limit, "skip_duplicates": True}
        if len(text) >= 3:
            completion["fuzzy"] = {"fuzziness": "AUTO"}
        response = await self._retry_closed(
            lambda: self.client.search(
                index=self.products,
                body={
                    "_source": ["product_id", "name"],
                    "suggest": {"names": {"prefix": text, "completion": completion}},
                },
            )
        )
        seen: set[str] = set()
        out = []
        for entry in response.get("suggest", {}).get("names", []):
            for option in entry.get("options", []):
                source = option.get("_source", {})
                pid = str(source.get("product_id", option["_id"]))
                if pid in seen:
                    continue
                seen.add(pid)
                out.append(
                    Suggestion(
                        text=source.get("name", option["text"]),
                        kind="product",
                        product_id=pid,
                        score=float(option.get("_score", 0.0)),
                    )
                )
        return out[:limit]


def _reloading(detail: dict[str, Any]) -> bool:
    """A bulk item refused because the index is closed or its shard is still starting."""
    error = detail.get("error")
    if not isinstance(error, dict):
        return detail.get("status") == 503
    return _closing(str(error.get("type")), str(error.get("reason"))) or detail.get("status") == 503


def _closing(kind: str, reason: str) -> bool:
    """Closed, or blocked for writes while "preparing to close"."""
    return kind == "index_closed_exception" or (
        kind == "cluster_block_exception" and "close" in reason
    )
