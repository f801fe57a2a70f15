"""The cart: a Redis store (`CartStore`), pricing and validation (`quote`) and availability
from inventory (`Availability`). Checkout uses:

    cart = await CartStore(c.redis, settings).load(user_id)       # Cart | None
    q = await quote(session, cart, availability=Availability(c.http, settings),
                    coupon=cart.coupon, shipping_method=..., country=...)
    ... q.ready, q.problems, q.lines, q.total_minor ...
    await CartStore(c.redis, settings).clear(user_id)
"""

from services.order.cart.availability import Availability, AvailabilityUnknown
from services.order.cart.model import Cart, CartLine, guest_owner, new_token
from services.order.cart.pricing import (
    Discount,
    Discounts,
    Quote,
    QuotedLine,
    ShippingQuote,
    quote,
)
from services.order.cart.store import CartLimit, CartStore, Merged

__all__ = [
    "Availability",
    "AvailabilityUnknown",
    "Cart",
    "CartLimit",
    "CartLine",
    "CartStore",
    "Discount",
    "Discounts",
    "Merged",
    "Quote",
    "QuotedLine",
    "ShippingQuote",
    "guest_owner",
    "new_token",
    "quote",
]
