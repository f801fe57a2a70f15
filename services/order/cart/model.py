"""What a cart is: an owner, lines by variant with a quantity and the price the shopper saw,
and at most one coupon code. Prices are never taken from the cart for money: `pricing.quote`
prices it from the catalog every time and compares with what the shopper saw."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass, field

GUEST_PREFIX = "guest:"
# 32 random bytes, URL-safe base64 without padding: what `new_token()` issues.
TOKEN_PATTERN = r"^[A-Za-z0-9_-]{43}$"  # noqa: S105  # nosec B105: a pattern


def new_token() -> str:
    """An opaque guest cart token (256 random bits); it is the only key to a guest cart."""
    return secrets.token_urlsafe(32)


def guest_owner(token: str) -> str:
    """The owner string of a guest cart (a user's cart is owned by the plain user id)."""
    return GUEST_PREFIX + token


@dataclass(frozen=True)
class CartLine:
    variant_id: uuid.UUID
    quantity: int
    seen_price_minor: int  # the unit price the shopper was shown when adding or accepting
    seen_currency: str
    added_ms: int  # when the line was first added (lines are listed in this order)


@dataclass(frozen=True)
class Cart:
    """`owner`: a user id (string), or `guest:<token>` for a guest cart."""

    owner: str
    lines: list[CartLine] = field(default_factory=list)
    coupon: str | None = None

    @property
    def token(self) -> str | None:
        """The guest token, for a guest cart."""
        return self.owner.removeprefix(GUEST_PREFIX) if self.is_guest else None

    @property
    def is_guest(self) -> bool:
        return self.owner.startswith(GUEST_PREFIX)

    def line(self, variant_id: uuid.UUID) -> CartLine | None:
        return next((x for x in self.lines if x.variant_id == variant_id), None)
