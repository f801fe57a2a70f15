"""What the order service's tests and benchmarks create and share: the event subjects of the
services a checkout runs through, the saga command and reply topics, a shipping address."""

from __future__ import annotations

PRODUCT_SUBJECTS = [
    "product.changed",
    "product.deleted",
    "product.price_changed",
    "product.category_changed",
]
INVENTORY_SUBJECTS = ["inventory.stock_changed", "inventory.low_stock", "inventory.stock_reserved"]
ORDER_SUBJECTS = [
    "order.placed",
    "order.status_changed",
    "order.confirmed",
    "order.cancelled",
    "order.shipped",
    "order.delivered",
    "order.refunded",
]
SUBJECTS = [*PRODUCT_SUBJECTS, *INVENTORY_SUBJECTS, *ORDER_SUBJECTS]
SAGA_TOPICS = [
    "inventory.commands.v1",
    "payment.commands.v1",
    "checkout.replies.v1",
    "refund.replies.v1",
    "cancel.replies.v1",
]
BERLIN = {"latitude": 52.52, "longitude": 13.405}
ADDRESS = {
    "name": "Ada Lovelace",
    "line1": "Unter den Linden 1",
    "city": "Berlin",
    "postal_code": "10117",
    "country": "DE",
    **BERLIN,
}
