"""Bulk import and export of the catalogue (`/v1/catalog/imports`, `/v1/catalog/export`).

An import is a job: the upload (multipart `file`, or the request body itself) is spooled to a
temporary file as it arrives, then imported in the background while `GET
/v1/catalog/imports/{id}` reports its progress and counts; `?wait=true` imports before answering.
Row errors are downloadable as JSON Lines or CSV. Export streams the whole catalogue in slug
order. Everything here needs `catalog:write` (exports include drafts).
"""

from __future__ import annotations

import asyncio
import csv
import io
import logging
import tempfile
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import IO, Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field
from starlette.datastructures import UploadFile

from kommerce.auth.claims import Principal
from kommerce.http.errors import NotFound, Problem
from kommerce.http.responses import problems
from services.product import exporter, importer
from services.product.context import ProductContext, actor, ctx, writer
from services.product.exporter import Format

router = APIRouter(prefix="/v1/catalog", tags=["import and export"], responses=problems(401, 403))
log = logging.getLogger("kommerce.product.transfer")
MAX_UPLOAD_BYTES = 2 * 1024**3
CHUNK = 256 * 1024
STALE_AFTER = timedelta(minutes=5)  # a running job without progress this long was interrupted
_running: set[asyncio.Task[None]] = set()  # keeps background imports referenced

Ctx = Annotated[ProductContext, Depends(ctx)]
Writer = Annotated[Principal, Depends(writer)]
FormatQuery = Annotated[Format | None, Query(alias="format", description="default: from the file")]


class UploadTooLarge(Problem):
    status, slug, title = 413, "upload-too-large", "The file is too large"


class BadUpload(Problem):
    status, slug, title = 400, "bad-upload", "The upload cannot be read"


class ImportJob(BaseModel):
    id: str
    state: Literal["running", "succeeded", "failed"]
    format: Format
    filename: str
    rows: int = Field(description="products read so far (rows of a CSV product count once)")
    created: int
    updated: int
    unchanged: int
    failed: int
    bytes_done: int
    bytes_total: int | None
    percent: float | None = Field(description="bytes read of the file, when its size is known")
    rate: float = Field(description="products per second")
    message: str = Field(description="why the job failed, if it did")
    started_at: datetime
    updated_at: datetime
    finished_at: datetime | None
    errors_url: str


def _job_out(row: dict[str, Any]) -> ImportJob:
    state, message = row["state"], row["message"]
    now = datetime.now(UTC)
    if state == "running" and now - row["updated_at"] > STALE_AFTER:
        state = "failed"
        message = (
            "interrupted: no progress for over 5 minutes (the service stopped?); import the "
            "file again, which skips what was already imported"
        )
    end = row["finished_at"] or (now if state == "running" else row["updated_at"])
    seconds = max((end - row["started_at"]).total_seconds(), 1e-3)
    total = row["bytes_total"]
    return ImportJob(
        id=str(row["id"]),
        state=state,
        format=row["format"],
        filename=row["filename"],
        rows=row["rows"],
        created=row["created"],
        updated=row["updated"],
        unchanged=row["unchanged"],
        failed=row["failed"],
        bytes_done=row["bytes_done"],
        bytes_total=total,
        percent=round(100 * row["bytes_done"] / total, 1) if total else None,
        rate=round(row["rows"] / seconds, 1),
        message=message,
        started_at=row["started_at"],
        updated_at=row["updated_at"],
        finished_at=row["finished_at"],
        errors_url=f"/v1/catalog/imports/{row['id']}/errors",
    )


async def _spool(chunks: AsyncIterator[bytes], into: IO[bytes]) -> int:
    size = 0
    async for chunk in chunks:
        size += len(chunk)
        if size > MAX_UPLOAD_BYTES:
            raise UploadTooLarge(f"imports are limited to {MAX_UPLOAD_BYTES} bytes; split the file")
        await asyncio.to_thread(into.write, chunk)
    return size


async def _upload_chunks(upload: UploadFile) -> AsyncIterator[bytes]:
    while chunk := await upload.read(CHUNK):
        yield chunk


async def _receive(request: Request, into: IO[bytes]) -> tuple[str, str, int]:
    """Spool the upload into `into`: (filename, content type, size)."""
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        try:
            form = await request.form(max_files=1, max_fields=5)
        except Exception as exc:  # the multipart parser's errors have no common base
            raise BadUpload(f"not a valid multipart body: {exc}") from exc
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise BadUpload("send the file in a multipart field named `file`")
        try:
            size = await _spool(_upload_chunks(upload), into)
        finally:
            await upload.close()
        name = "".join(c for c in upload.filename or "" if c.isprintable())[:500]
        return name, upload.content_type or "", size
    return "", content_type, await _spool(request.stream(), into)


def _format_of(asked: Format | None, filename: str, content_type: str) -> Format:
    if asked is not None:
        return asked
    if filename.lower().endswith(".csv") or content_type.startswith("text/csv"):
        return "csv"
    return "jsonl"


async def _import(c: ProductContext, job_id: uuid.UUID, file: IO[bytes], fmt: Format, who: str,
                  size: int) -> None:  # fmt: skip
    try:
        await importer.run(c.db, file, fmt=fmt, job_id=job_id, actor=who, bytes_total=size)
    except importer.ImportFileError:
        pass  # recorded on the job
    except Exception:
        log.exception("import job %s failed", job_id)
    finally:
        file.close()


@router.post(
    "/imports",
    status_code=202,
    response_model=ImportJob,
    summary="Import products (JSON Lines or CSV); idempotent",
    responses={
        200: {"model": ImportJob, "description": "Imported (`wait=true`)"},
        **problems(400, 413, 422),
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/x-ndjson": {"schema": {"type": "string", "format": "binary"}},
                "text/csv": {"schema": {"type": "string", "format": "binary"}},
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "properties": {"file": {"type": "string", "format": "binary"}},
                        "required": ["file"],
                    }
                },
            },
        }
    },
)
async def start_import(
    request: Request,
    response: Response,
    c: Ctx,
    principal: Writer,
    fmt: FormatQuery = None,
    wait: Annotated[bool, Query(description="import before answering (200)")] = False,
) -> ImportJob:
    """The file is one product per line (JSON Lines) or one variant per row (CSV); see
    docs/product-transfer.md. A bad row is reported and never stops the good ones."""
    file = tempfile.TemporaryFile()  # noqa: SIM115 - closed by the import task
    try:
        filename, content_type, size = await _receive(request, file)
        await asyncio.to_thread(file.seek, 0)
        fmt = _format_of(fmt, filename, content_type)
        job_id = await importer.create_job(
            c.db, fmt=fmt, actor=actor(principal), filename=filename, bytes_total=size
        )
    except BaseException:
        file.close()
        raise
    work = _import(c, job_id, file, fmt, actor(principal), size)
    if wait:
        await work
        response.status_code = 200
    else:
        task = asyncio.create_task(work, name=f"import-{job_id}")
        _running.add(task)
        task.add_done_callback(_running.discard)
    response.headers["Location"] = f"/v1/catalog/imports/{job_id}"
    return await _job(c, job_id)


async def _job(c: ProductContext, job_id: uuid.UUID) -> ImportJob:
    row = await importer.get_job(c.db, job_id)
    if row is None:
        raise NotFound(f"no import job {job_id}")
    return _job_out(row)


@router.get(
    "/imports/{job_id}",
    response_model=ImportJob,
    summary="An import's progress and counts",
    responses=problems(404, 422),
)
async def get_import(job_id: uuid.UUID, c: Ctx, _: Writer) -> ImportJob:
    return await _job(c, job_id)


ERROR_COLUMNS = ("line", "slug", "sku", "field", "message")


async def _error_report(c: ProductContext, job_id: uuid.UUID, fmt: Format) -> AsyncIterator[bytes]:
    if fmt == "csv":
        yield (",".join(ERROR_COLUMNS) + "\n").encode()
    buffer = io.StringIO()
    writer_ = csv.writer(buffer, lineterminator="\n")
    async for error in importer.row_errors(c.db, job_id):
        if fmt == "jsonl":
            yield exporter.jsonl_line(error.as_dict()).encode()
        else:
            writer_.writerow([str(error.as_dict()[k]) for k in ERROR_COLUMNS])
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()


@router.get(
    "/imports/{job_id}/errors",
    summary="An import's row errors (line, slug, sku, field, message)",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"application/x-ndjson": {}, "text/csv": {}}},
        **problems(404, 422),
    },
)
async def import_errors(
    job_id: uuid.UUID,
    c: Ctx,
    _: Writer,
    fmt: Annotated[Format, Query(alias="format")] = "jsonl",
) -> StreamingResponse:
    await _job(c, job_id)
    return StreamingResponse(
        _error_report(c, job_id, fmt),
        media_type=exporter.MEDIA_TYPES[fmt],
        headers={"Content-Disposition": f'attachment; filename="import-{job_id}-errors.{fmt}"'},
    )


@router.get(
    "/export",
    summary="The whole catalogue as JSON Lines or CSV (streamed)",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/x-ndjson": {}, "text/csv": {}}}, **problems(422)},
)
async def export(
    c: Ctx, _: Writer, fmt: Annotated[Format, Query(alias="format")] = "jsonl"
) -> StreamingResponse:
    """The import format, in slug order: importing it reproduces the catalogue."""
    return StreamingResponse(
        exporter.stream(c.db, fmt),
        media_type=exporter.MEDIA_TYPES[fmt],
        headers={"Content-Disposition": f'attachment; filename="catalog.{fmt}"'},
    )
