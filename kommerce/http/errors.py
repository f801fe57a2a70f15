"""RFC 9457 problem details for every error a service returns.

Domain code raises `Problem` subclasses (NotFound, Conflict, ...); validation errors and HTTP
errors are turned into the same `application/problem+json` shape, so clients have one error
format to handle. Unexpected exceptions become a 500 problem in the observability middleware
(where the request id is still known) and never leak their message.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from kommerce.observability.logging import request_id_var

PROBLEM_JSON = "application/problem+json"
PROBLEM_BASE = "https://kommerce.io/problems/"


class Problem(Exception):
    """A domain error with an HTTP meaning. Subclass it; set status, slug and title."""

    status: int = 400
    slug: str = "bad-request"
    title: str = "Bad request"

    def __init__(
        self, detail: str, *, headers: dict[str, str] | None = None, **extensions: Any
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.headers = headers or {}
        self.extensions = extensions


class NotFound(Problem):
    status, slug, title = 404, "not-found", "Resource not found"


class Conflict(Problem):
    status, slug, title = 409, "conflict", "Conflict with the current state"


class Unauthorized(Problem):
    status, slug, title = 401, "unauthorized", "Authentication required"


class Forbidden(Problem):
    status, slug, title = 403, "forbidden", "Not allowed"


class TooManyRequests(Problem):
    status, slug, title = 429, "too-many-requests", "Too many requests"


class DependencyUnavailable(Problem):
    status, slug, title = 503, "dependency-unavailable", "A dependency is unavailable"


def problem_response(
    request: Request, *, status: int, slug: str, title: str, detail: str | None, **extra: Any
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + slug,
        "title": title,
        "status": status,
        "instance": request.url.path,
    }
    if detail:
        body["detail"] = detail
    if (rid := request_id_var.get()) is not None:
        body["requestId"] = rid
    body.update(extra)
    return JSONResponse(jsonable_encoder(body), status_code=status, media_type=PROBLEM_JSON)


async def _on_problem(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, Problem)
    response = problem_response(
        request,
        status=exc.status,
        slug=exc.slug,
        title=exc.title,
        detail=exc.detail,
        **exc.extensions,
    )
    response.headers.update(exc.headers)
    return response


async def _on_validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {"location": list(e.get("loc", ())), "message": e.get("msg", ""), "type": e.get("type", "")}
        for e in exc.errors()
    ]
    return problem_response(
        request,
        status=422,
        slug="validation-error",
        title="Request validation failed",
        detail=f"{len(errors)} invalid field(s)",
        errors=errors,
    )


async def _on_http(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    slug = {404: "not-found", 405: "method-not-allowed", 401: "unauthorized", 403: "forbidden"}
    response = problem_response(
        request,
        status=exc.status_code,
        slug=slug.get(exc.status_code, f"http-{exc.status_code}"),
        title=_reason(exc.status_code),
        detail=str(exc.detail) if exc.detail else None,
    )
    if exc.headers:
        response.headers.update(exc.headers)
    return response


def _reason(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def install_problem_handlers(app: FastAPI) -> None:
    app.add_exception_handler(Problem, _on_problem)
    app.add_exception_handler(RequestValidationError, _on_validation)
    app.add_exception_handler(StarletteHTTPException, _on_http)
