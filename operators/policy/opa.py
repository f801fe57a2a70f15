"""A small asyncio client of OPA's REST API (policies and data), with keep-alive connections.

One client per event loop: the kopf handlers have one, the webhook thread its own. Every call
has a timeout; a connection error, timeout or 5xx is `OpaUnavailable`, a module OPA refuses
(400: it does not compile next to the others) is `OpaRejected`.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp

from operators.policy import rego
from operators.policy.keepalive import HttpError, KeepAlivePool


class OpaError(Exception):
    pass


class OpaUnavailable(OpaError):
    """OPA cannot be reached or failed (retry later)."""


class OpaRejected(OpaError):
    """OPA refused a module (it does not compile)."""


class OpaClient:
    def __init__(self, url: str, *, timeout: float = 10.0, connections: int = 64) -> None:
        self.url = url.rstrip("/")
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._connections = connections
        self._session: aiohttp.ClientSession | None = None
        self._total = timeout
        self._pool: KeepAlivePool | None = None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=self._timeout,
                connector=aiohttp.TCPConnector(
                    limit=self._connections, keepalive_timeout=60, ttl_dns_cache=300
                ),
                cookie_jar=aiohttp.DummyCookieJar(),
                skip_auto_headers=("User-Agent", "Accept-Encoding", "Accept"),
                auto_decompress=False,
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    async def _request(
        self, method: str, path: str, *, data: bytes | str | None = None, ok: tuple[int, ...] = ()
    ) -> tuple[int, bytes]:
        headers = {"Content-Type": "application/json"} if isinstance(data, bytes) else None
        try:
            async with self._http().request(
                method, self.url + path, data=data, headers=headers
            ) as resp:
                body = await resp.read()
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise OpaUnavailable(
                f"cannot reach OPA at {self.url}: {type(exc).__name__}: {exc}".rstrip(": ")
            ) from exc
        if resp.status >= 500:
            raise OpaUnavailable(f"OPA at {self.url} answered {resp.status}: {body[:300]!r}")
        if resp.status >= 400 and resp.status not in ok:
            raise OpaRejected(_error_text(body) or f"OPA answered {resp.status}")
        return resp.status, body

    async def healthy(self) -> bool:
        try:
            status, _ = await self._request("GET", "/health")
        except OpaError:
            return False
        return status == 200

    async def get_policy(self, policy_id: str) -> str | None:
        """The raw text of a loaded module, or None if OPA does not have it."""
        status, body = await self._request("GET", f"/v1/policies/{policy_id}", ok=(404,))
        if status == 404:
            return None
        raw: str = json.loads(body)["result"]["raw"]
        return raw

    async def list_policy_ids(self) -> list[str]:
        _, body = await self._request("GET", "/v1/policies")
        return [str(p["id"]) for p in json.loads(body).get("result", [])]

    async def put_policy(self, policy_id: str, module: str) -> None:
        await self._request("PUT", f"/v1/policies/{policy_id}", data=module)

    async def ensure_policy(self, policy_id: str, module: str) -> bool:
        """Load `module` unless OPA already has exactly it; True if it had to be (re)loaded."""
        if await self.get_policy(policy_id) == module:
            return False
        await self.put_policy(policy_id, module)
        return True

    async def delete_policy(self, policy_id: str) -> bool:
        status, _ = await self._request("DELETE", f"/v1/policies/{policy_id}", ok=(404,))
        return status != 404

    async def violations_raw(self, package: str, input_json: bytes) -> list[str]:
        """Messages of `violation` for an input already serialised as `{"input": ...}`.

        The hot path (admission, audit): persistent connections of a minimal client.
        """
        if self._pool is None:
            self._pool = KeepAlivePool(self.url, size=self._connections, timeout=self._total)
        try:
            status, body = await self._pool.post(rego.violation_path(package), input_json)
        except (OSError, TimeoutError, asyncio.IncompleteReadError, HttpError) as exc:
            raise OpaUnavailable(
                f"cannot reach OPA at {self.url}: {type(exc).__name__}: {exc}".rstrip(": ")
            ) from exc
        if status >= 500:
            raise OpaUnavailable(f"OPA at {self.url} answered {status}: {body[:300]!r}")
        if status >= 400:
            raise OpaRejected(_error_text(body) or f"OPA answered {status}")
        return messages(json.loads(body).get("result"))

    async def violations(self, package: str, input_doc: dict[str, Any]) -> list[str]:
        return await self.violations_raw(
            package, json.dumps({"input": input_doc}, separators=(",", ":")).encode()
        )


def messages(result: Any) -> list[str]:
    """`violation` entries (`{"msg": ...}`; undefined: none) as strings, sorted."""
    if not result:
        return []
    out = []
    for item in result if isinstance(result, list) else [result]:
        if isinstance(item, dict) and "msg" in item:
            out.append(str(item["msg"]))
        else:
            out.append(json.dumps(item, sort_keys=True))
    return sorted(out)


def _error_text(body: bytes) -> str:
    try:
        data = json.loads(body)
    except ValueError:
        return body.decode(errors="replace")[:500]
    errors = data.get("errors") or []
    parts = [
        f"{e.get('location', {}).get('row', '?')}: {e.get('message', '')}"
        for e in errors
        if isinstance(e, dict)
    ]
    return "; ".join(parts) or str(data.get("message", ""))[:500]
