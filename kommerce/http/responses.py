"""The problem+json error responses every service's routes document in OpenAPI.

Every error is an RFC 9457 problem (kommerce.http.errors), served as `application/problem+json`.
FastAPI would document a model under the route's media type (`application/json`) and a made-up
422 body, so the schema is inlined under the problem media type instead; `problems(...)` gives the
`responses=` mapping for a router or a route.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from kommerce.http.errors import PROBLEM_JSON


class FieldError(BaseModel):
    location: list[str | int] = Field(description="where the invalid value is, e.g. body.email")
    message: str
    type: str


class ProblemDetails(BaseModel):
    """An RFC 9457 problem; more members (e.g. `required`, `problems`) may follow."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(examples=["https://kommerce.io/problems/not-found"])
    title: str
    status: int
    instance: str | None = None
    detail: str | None = None
    requestId: str | None = None  # the wire name
    errors: list[FieldError] | None = Field(
        default=None, description="request validation failures (422 validation-error only)"
    )


def _inline(schema: dict[str, Any]) -> dict[str, Any]:
    """Resolve the model's local `$defs` so the schema stands alone inside any document."""
    defs = schema.pop("$defs", {})

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return walk(defs[ref.removeprefix("#/$defs/")])
            return {k: walk(v) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    resolved: dict[str, Any] = walk(schema)
    return resolved


PROBLEM_SCHEMA = _inline(ProblemDetails.model_json_schema())

DESCRIPTIONS = {
    400: "Bad request (e.g. an invalid or used token, a bad query)",
    401: "Not authenticated: missing, invalid or expired credentials or code",
    403: "Authenticated but not allowed",
    404: "No such resource",
    409: "Conflicts with the current state",
    422: "The request is not valid (validation-error carries `errors`)",
    429: "Too many requests or failed attempts; see Retry-After",
    503: "A dependency is unavailable",
}


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` entries documenting problem+json bodies for the given statuses."""
    return {
        status: {
            "description": DESCRIPTIONS.get(status, "Error"),
            "content": {PROBLEM_JSON: {"schema": PROBLEM_SCHEMA}},
        }
        for status in statuses
    }
