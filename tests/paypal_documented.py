"""PayPal's REST bodies as its documentation shows them, for tests at the HTTP boundary (respx):
OAuth2 token (https://developer.paypal.com/api/rest/authentication/), Orders v2
(https://developer.paypal.com/docs/api/orders/v2/), Payments v2
(https://developer.paypal.com/docs/api/payments/v2/), errors
(https://developer.paypal.com/api/rest/responses/) and webhook events
(https://developer.paypal.com/api/rest/webhooks/event-names/).
"""

from __future__ import annotations

from typing import Any

import httpx

from services.payment.providers.paypal import SANDBOX

ORDER = "5O190127TN364715T"


AUTH = "0AW2184448108334S"


CAPTURE = "2GG279541U471931P"


WEBHOOK_ID = "1JE4291016473214C"


TOKEN: dict[str, Any] = {
    "scope": "https://uri.paypal.com/services/payments/payment/authcapture openid",
    "access_token": (  # nosec B105 - the documented sample token
        "A21AAFEpH4PsADK7qSS7pSRsgzfENtu-Q1ysgEDVDESseMHBYXVJYE8ovjj68elIDy8nF26AwPhfXTIeWAZHSLIsQk"
        "SYz9ifg"
    ),
    "token_type": "Bearer",
    "app_id": "APP-80W284485P519543T",
    "expires_in": 31668,
    "nonce": "2020-04-03T15:35:36ZaYZlGvEkV4yVSz8g6bAKFoGSEzuy3CQcz3ljhibkOHg",
}


def links(*pairs: tuple[str, str]) -> list[dict[str, str]]:
    return [{"href": href, "rel": rel, "method": "GET"} for rel, href in pairs]


def amount(value: str, currency: str = "EUR") -> dict[str, str]:
    return {"currency_code": currency, "value": value}


def created_order(value: str = "19.99", currency: str = "EUR") -> dict[str, Any]:
    return {
        "id": ORDER,
        "intent": "AUTHORIZE",
        "status": "PAYER_ACTION_REQUIRED",
        "payment_source": {"paypal": {}},
        "purchase_units": [{"reference_id": "pay_1", "amount": amount(value, currency)}],
        "links": links(
            ("self", f"{SANDBOX}/v2/checkout/orders/{ORDER}"),
            ("payer-action", f"https://www.sandbox.paypal.com/checkoutnow?token={ORDER}"),
        ),
    }


def approved_order() -> dict[str, Any]:
    return {
        "id": ORDER,
        "intent": "AUTHORIZE",
        "status": "APPROVED",
        "payment_source": {
            "paypal": {
                "email_address": "buyer@example.com",
                "account_id": "QYR5Z8XDVJNXQ",
                "name": {"given_name": "John", "surname": "Doe"},
            }
        },
        "purchase_units": [{"reference_id": "pay_1", "amount": amount("19.99")}],
        "payer": {"payer_id": "QYR5Z8XDVJNXQ", "email_address": "buyer@example.com"},
        "links": links(
            ("self", f"{SANDBOX}/v2/checkout/orders/{ORDER}"),
            ("authorize", f"{SANDBOX}/v2/checkout/orders/{ORDER}/authorize"),
        ),
    }


def authorized_order(status: str = "CREATED") -> dict[str, Any]:
    return {
        "id": ORDER,
        "intent": "AUTHORIZE",
        "status": "COMPLETED",
        "purchase_units": [
            {
                "reference_id": "pay_1",
                "amount": amount("19.99"),
                "payments": {
                    "authorizations": [
                        {
                            "status": status,
                            "id": AUTH,
                            "amount": amount("19.99"),
                            "seller_protection": {"status": "ELIGIBLE"},
                            "expiration_time": "2026-12-27T04:31:25Z",
                            "links": links(
                                ("self", f"{SANDBOX}/v2/payments/authorizations/{AUTH}"),
                                ("up", f"{SANDBOX}/v2/checkout/orders/{ORDER}"),
                            ),
                            "create_time": "2026-11-28T04:31:25Z",
                            "update_time": "2026-11-28T04:31:25Z",
                        }
                    ]
                },
            }
        ],
        "links": links(("self", f"{SANDBOX}/v2/checkout/orders/{ORDER}")),
    }


def capture_body(value: str = "19.99", status: str = "COMPLETED") -> dict[str, Any]:
    return {
        "id": CAPTURE,
        "amount": amount(value),
        "final_capture": True,
        "seller_protection": {"status": "ELIGIBLE"},
        "status": status,
        "supplementary_data": {"related_ids": {"order_id": ORDER, "authorization_id": AUTH}},
        "create_time": "2026-11-28T05:00:00Z",
        "update_time": "2026-11-28T05:00:00Z",
        "links": links(
            ("self", f"{SANDBOX}/v2/payments/captures/{CAPTURE}"),
            ("refund", f"{SANDBOX}/v2/payments/captures/{CAPTURE}/refund"),
            ("up", f"{SANDBOX}/v2/payments/authorizations/{AUTH}"),
        ),
    }


def refund_body(value: str = "5.00", status: str = "COMPLETED") -> dict[str, Any]:
    return {
        "id": "1JU08902781691411",
        "amount": amount(value),
        "status": status,
        "note_to_payer": "Defective product",
        "create_time": "2026-11-28T06:00:00Z",
        "links": links(
            ("self", f"{SANDBOX}/v2/payments/refunds/1JU08902781691411"),
            ("up", f"{SANDBOX}/v2/payments/captures/{CAPTURE}"),
        ),
    }


def error(status: int, name: str, issue: str, description: str) -> httpx.Response:
    return httpx.Response(
        status,
        json={
            "name": name,
            "details": [{"issue": issue, "description": description}],
            "message": "The requested action could not be performed, semantically incorrect, "
            "or failed business validation.",
            "debug_id": "c9a75b43fc807",
            "links": [
                {
                    "href": f"https://developer.paypal.com/docs/api/orders/v2/#error-{issue}",
                    "rel": "information_link",
                    "method": "GET",
                }
            ],
        },
    )


HEADERS = {
    "PAYPAL-AUTH-ALGO": "SHA256withRSA",
    "PAYPAL-CERT-URL": "https://api.sandbox.paypal.com/v1/notifications/certs/CERT-360caa42-fca2a594-1d93a270",
    "PAYPAL-TRANSMISSION-ID": "69cd13f0-d67a-11e5-baa3-778b53f4ae55",
    "PAYPAL-TRANSMISSION-SIG": (
        "lmI95Jx3Y9nhR5SJWlHVIWpg4AgFk7n9bCHSRxbrd8A9zrhdu2rMyFrmz+Zjh3s3boXB07VXCXUZy/UF"
        "zUlnGJn0wDugt7FlSvdKeIJenLRemUxYCPVoEZzg9VFNqOa48gMkvF+XTpxBeUx/kWy6B5cp7GkT2+pO"
        "owfRK7OaynuxUoKW3JcMWw272VKjLTtTAShncla7tGF+55rxyt2KNZIIqxNMJ48RDZheGU5w1npu9dZH"
        "nPgTXB9iomeVRoD8O/jhRpnKsGrDschyNdkeh81BJJMH4Ctc6lnCCquoP/GzCzz33MMsNdid7vL/NIWa"
        "CsekQpW26FpWPi/tfj8nLA=="
    ),
    "PAYPAL-TRANSMISSION-TIME": "2016-02-18T20:01:35Z",
}


def paypal_event(event_type: str, resource: dict[str, Any], resource_type: str) -> dict[str, Any]:
    return {
        "id": "WH-58D329510W468432D-8HN650336L201105X",
        "event_version": "1.0",
        "create_time": "2026-11-28T04:31:25.940Z",
        "resource_type": resource_type,
        "resource_version": "2.0",
        "event_type": event_type,
        "summary": f"{event_type} summary",
        "resource": resource,
        "links": links(
            (
                "self",
                f"{SANDBOX}/v1/notifications/webhooks-events/WH-58D329510W468432D-8HN650336L201105X",
            ),
        ),
    }
