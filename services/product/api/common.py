"""Shared bits of the product routers: ETags carry the product version, If-Match checks it."""

from __future__ import annotations

from fastapi import Response

from kommerce.http.errors import Problem
from services.product.errors import PreconditionRequired


class InvalidPrecondition(Problem):
    status, slug, title = 400, "invalid-if-match", "If-Match is not a version ETag"


def etag(version: int) -> str:
    return f'"{version}"'


def set_etag(response: Response, version: int) -> None:
    response.headers["ETag"] = etag(version)


def expected_version(if_match: str | None, *, required: bool = False) -> int | None:
    """The version an If-Match header names; None for `*` (or no header when optional)."""
    if if_match is None:
        if required:
            raise PreconditionRequired("send If-Match with the ETag of the version you read")
        return None
    value = if_match.strip()
    if value == "*":
        return None
    value = value.removeprefix("W/").strip('"')
    if not value.isdigit() or len(value) > 18:
        raise InvalidPrecondition(f"If-Match {if_match!r} is not an ETag of this API")
    return int(value)
