"""Invoices and credit notes end to end: issued into the stack's S3, read back with pypdf, served
to the owner and staff only; one invoice per order however many callers race for it."""

from __future__ import annotations

import asyncio
import hashlib
import re
import uuid
from datetime import UTC, datetime

import boto3
import pytest
from sqlalchemy import func, select

from services.order.documents import issue, issue_credit_note, issue_invoice, render
from services.order.documents.issue import NotInvoiceable, RefundNotSucceeded, object_key
from services.order.settings import OrderSettings
from services.order.tables import DOCUMENTS
from tests.integration.order_documents.conftest import Placed, Running, pdf_text, place, refund

pytestmark = pytest.mark.integration

SHIRT = ("Acme Oxford Shirt \u2013 M / Blue", "SHIRT-M", 2, 100_000, 5_000, 1900)
BOOK = ("Das Buch", "BOOK-1", 1, 1_999, 0, 700)


async def german_order(svc: Running, **extra: object) -> Placed:
    return await place(svc, lines=[SHIRT, BOOK], shipping_minor=490, **extra)  # type: ignore[arg-type]


def s3_keys(settings: OrderSettings, prefix: str) -> list[str]:
    client = boto3.client(
        "s3",
        endpoint_url=str(settings.s3_endpoint),
        region_name=settings.s3_region,
        aws_access_key_id=settings.s3_access_key_id,
        aws_secret_access_key=settings.s3_secret_access_key.get_secret_value(),
    )
    listed = client.list_objects_v2(Bucket=settings.invoice_bucket, Prefix=prefix)
    return [o["Key"] for o in listed.get("Contents", [])]


async def download(svc: Running, order: Placed, number: str, **headers: str) -> bytes:
    r = await svc.client.get(
        f"/v1/orders/{order.id}/documents/{number}",
        headers=headers or svc.bearer("shopper", user_id=order.customer_id),
    )
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/pdf"
    assert r.headers["content-disposition"] == f'attachment; filename="{number}.pdf"'
    return r.content


async def test_invoice_in_euro_for_germany(svc: Running, order_settings: OrderSettings) -> None:
    order = await german_order(svc)
    r = await svc.client.post(f"/v1/orders/{order.id}/invoice", headers=svc.bearer("merchant"))
    assert r.status_code == 201, r.text
    body = r.json()
    number = body["number"]
    assert re.fullmatch(r"INV-\d{6}", number)
    assert body["kind"] == "invoice"
    assert body["total_minor"] == order.row["total_minor"] == 234_679
    assert body["currency"] == "EUR"
    assert body["download"] == f"/v1/orders/{order.id}/documents/{number}"

    again = await svc.client.post(f"/v1/orders/{order.id}/invoice", headers=svc.bearer("merchant"))
    assert again.status_code == 200, again.text
    assert again.json()["number"] == number

    pdf = await download(svc, order, number)
    assert hashlib.sha256(pdf).hexdigest() == body["sha256"]
    assert s3_keys(order_settings, f"invoices/{order.id}/") == [object_key(order.id, number)]
    text = pdf_text(pdf)
    for expected in (
        "Kommerce Test Store GmbH",
        f"INVOICE {number}",
        f"Invoice number: {number}",
        f"Order number: {order.number}",
        "Jürgen Groß",
        "80331 München",
        "Acme Oxford Shirt \u2013 M / Blue SHIRT-M 2 1.000,00 € -50,00 € 19 % 2.320,50 €",
        "Das Buch BOOK-1 1 19,99 € 7 % 21,39 €",
        "VAT 7 %: net 19,99 €, tax 1,40 €",
        "VAT 19 %: net 1.950,00 €, tax 370,50 €",
        "Subtotal 2.019,99 €",
        "Discount -50,00 €",
        "Shipping 4,90 €",
        "Tax 371,90 €",
        "Total 2.346,79 €",
    ):
        assert expected in text, f"{expected!r} not in:\n{text}"


async def test_yen_have_no_decimals(svc: Running) -> None:
    order = await place(
        svc,
        currency="JPY",
        locale="ja_JP",
        country="JP",
        lines=[("Teapot", "TEA-1", 3, 1_234, 0, 1000)],
        shipping_minor=500,
    )
    async with svc.ctx.db.session() as session:
        invoice = await issue_invoice(session, svc.ctx.documents, order.id)
    text = pdf_text(await download(svc, order, invoice.number))
    for expected in ("JCT 10 %: net ¥3,702, tax ¥370", "Shipping ¥500", "Total ¥4,572"):
        assert expected in text, f"{expected!r} not in:\n{text}"


async def test_kuwaiti_dinar_have_three_decimals(svc: Running) -> None:
    order = await place(
        svc,
        currency="KWD",
        locale="en_US",
        country="KW",
        lines=[("Lamp", "LAMP-1", 1, 1_234_567, 0, 0)],
    )
    async with svc.ctx.db.session() as session:
        invoice = await issue_invoice(session, svc.ctx.documents, order.id)
    text = pdf_text(await download(svc, order, invoice.number))
    for expected in ("Tax 0 %: net KWD1,234.567, tax KWD0.000", "Total KWD1,234.567"):
        assert expected in text, f"{expected!r} not in:\n{text}"


async def test_credit_note_for_a_partial_refund(svc: Running) -> None:
    order = await german_order(svc)
    refund_id = await refund(svc, order, 10_000, reason="late delivery")
    async with svc.ctx.db.session() as session:
        note = await issue_credit_note(session, svc.ctx.documents, refund_id)
    async with svc.ctx.db.session() as session:
        assert await issue_credit_note(session, svc.ctx.documents, refund_id) == note
        invoice = await issue_invoice(session, svc.ctx.documents, order.id)  # issued on the way
    assert re.fullmatch(r"CN-\d{6}", note.number)
    assert (note.kind, note.refund_id, note.total_minor) == ("credit_note", refund_id, -10_000)

    r = await svc.client.get(f"/v1/orders/{order.id}/documents", headers=svc.bearer("support"))
    assert r.status_code == 200, r.text
    assert [(d["kind"], d["number"], d["total_minor"]) for d in r.json()] == [
        ("invoice", invoice.number, 234_679),
        ("credit_note", note.number, -10_000),
    ]
    text = pdf_text(await download(svc, order, note.number))
    # 100,00 € spread over the lines and shipping by their gross value, tax at each line's rate
    for expected in (
        f"CREDIT NOTE {note.number}",
        f"Corrects invoice: {invoice.number}",
        "Reason: late delivery",
        "VAT 19 %: net -83,09 €, tax -15,79 €",
        "VAT 7 %: net -0,85 €, tax -0,06 €",
        "Net credited -84,15 €",
        "Tax credited -15,85 €",
        "Total credited -100,00 €",
        f"reduces invoice {invoice.number} by 100,00 €",
    ):
        assert expected in text, f"{expected!r} not in:\n{text}"


async def test_credit_note_for_returned_items(svc: Running) -> None:
    order = await german_order(svc)
    refund_id = await refund(svc, order, 116_025, returned={1: 1})  # one shirt of two
    async with svc.ctx.db.session() as session:
        note = await issue_credit_note(session, svc.ctx.documents, refund_id)
    text = pdf_text(await download(svc, order, note.number, **svc.bearer("merchant")))
    for expected in (
        "Acme Oxford Shirt \u2013 M / Blue SHIRT-M 1 19 % -975,00 € -185,25 € -1.160,25 €",
        "VAT 19 %: net -975,00 €, tax -185,25 €",
        "Total credited -1.160,25 €",
    ):
        assert expected in text, f"{expected!r} not in:\n{text}"
    assert "Das Buch" not in text


async def test_only_paid_orders_and_succeeded_refunds(svc: Running) -> None:
    pending = await german_order(svc, status="awaiting_payment")
    r = await svc.client.post(f"/v1/orders/{pending.id}/invoice", headers=svc.bearer("merchant"))
    assert r.status_code == 409, r.text
    assert r.json()["type"].endswith("/order-not-invoiceable")
    async with svc.ctx.db.session() as session:
        with pytest.raises(NotInvoiceable):
            await issue_invoice(session, svc.ctx.documents, pending.id)

    order = await german_order(svc, status="delivered")
    waiting = await refund(svc, order, 500, status="pending")
    async with svc.ctx.db.session() as session:
        with pytest.raises(RefundNotSucceeded):
            await issue_credit_note(session, svc.ctx.documents, waiting)
    r = await svc.client.post(f"/v1/orders/{uuid.uuid4()}/invoice", headers=svc.bearer("merchant"))
    assert r.status_code == 404, r.text


async def test_one_invoice_under_concurrent_calls(
    svc: Running, order_settings: OrderSettings
) -> None:
    order = await german_order(svc)

    async def issue_once() -> str:
        async with svc.ctx.db.session() as session:
            return (await issue_invoice(session, svc.ctx.documents, order.id)).number

    numbers = await asyncio.gather(*(issue_once() for _ in range(6)))
    assert len(set(numbers)) == 1
    async with svc.ctx.db.session() as session:
        count = await session.scalar(select(func.count()).where(DOCUMENTS.c.order_id == order.id))
    assert count == 1
    assert s3_keys(order_settings, f"invoices/{order.id}/") == [object_key(order.id, numbers[0])]

    other = await german_order(svc)
    responses = await asyncio.gather(
        *(
            svc.client.post(f"/v1/orders/{other.id}/invoice", headers=svc.bearer("merchant"))
            for _ in range(4)
        )
    )
    assert sorted(r.status_code for r in responses) == [200, 200, 200, 201]
    assert len({r.json()["number"] for r in responses}) == 1


async def test_who_may_see_an_invoice(svc: Running) -> None:
    order = await german_order(svc)
    async with svc.ctx.db.session() as session:
        invoice = await issue_invoice(session, svc.ctx.documents, order.id)
    base = f"/v1/orders/{order.id}/documents"
    owner = svc.bearer("shopper", user_id=order.customer_id)
    stranger = svc.bearer("shopper")

    r = await svc.client.get(base, headers=owner)
    assert r.status_code == 200
    assert [d["number"] for d in r.json()] == [invoice.number]
    for path in (base, f"{base}/{invoice.number}"):
        r = await svc.client.get(path, headers=stranger)
        assert r.status_code == 404, r.text  # not 403: the order's existence is not revealed
        assert r.json()["type"].endswith("/order-not-found")
        assert (await svc.client.get(path)).status_code == 401
        # exactly what a caller gets for an order that does not exist
        unknown = path.replace(str(order.id), str(uuid.uuid4()))
        missing = await svc.client.get(unknown, headers=stranger)
        assert (missing.status_code, missing.json()["type"]) == (404, r.json()["type"])
    for staff in ("support", "merchant"):
        await download(svc, order, invoice.number, **svc.bearer(staff))

    # another order's document number under this order, or an unknown one
    other = await german_order(svc, customer_id=order.customer_id)
    r = await svc.client.get(f"/v1/orders/{other.id}/documents/{invoice.number}", headers=owner)
    assert r.status_code == 404
    assert r.json()["type"].endswith("/document-not-found")
    # only staff who fulfil orders issue invoices
    r = await svc.client.post(f"/v1/orders/{order.id}/invoice", headers=owner)
    assert r.status_code == 403, r.text
    r = await svc.client.post(f"/v1/orders/{order.id}/invoice", headers=svc.bearer("support"))
    assert r.status_code == 403, r.text


async def test_a_lost_or_altered_pdf_is_refused(svc: Running) -> None:
    order = await german_order(svc)
    async with svc.ctx.db.session() as session:
        invoice = await issue_invoice(session, svc.ctx.documents, order.id)
    await svc.ctx.documents.objects.put(invoice.object_key, b"%PDF-1.3 forged", "application/pdf")
    path = f"/v1/orders/{order.id}/documents/{invoice.number}"
    r = await svc.client.get(path, headers=svc.bearer("merchant"))
    assert r.status_code == 503
    assert r.json()["type"].endswith("/document-unavailable")
    await svc.ctx.documents.objects.delete(invoice.object_key)
    r = await svc.client.get(path, headers=svc.bearer("merchant"))
    assert r.status_code == 503, r.text


async def test_the_unique_index_backs_up_the_lock(
    svc: Running, order_settings: OrderSettings
) -> None:
    """An issuer that skipped the order lock loses at the insert: its PDF is removed and the
    recorded invoice returned."""
    order = await german_order(svc)
    async with svc.ctx.db.session() as session:
        invoice = await issue_invoice(session, svc.ctx.documents, order.id)
    late = render.DocumentData(
        kind="invoice",
        number="INV-999999",
        issued_at=datetime(2026, 11, 28, tzinfo=UTC),
        order_number=order.number,
        order_date=datetime(2026, 11, 28, tzinfo=UTC),
        currency="EUR",
        locale="de_DE",
        seller=svc.ctx.documents.seller,
        billing={},
        shipping={},
        lines=(),
        totals=render.Totals(0, 0, 0, 0, 0),
    )
    async with svc.ctx.db.session() as session:
        got = await issue._store(
            session, svc.ctx.documents, late, order_id=order.id, refund_id=None, total_minor=0
        )
    assert got == invoice
    assert s3_keys(order_settings, f"invoices/{order.id}/") == [invoice.object_key]
