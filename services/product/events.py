"""The product service's events, recorded through the core outbox in the changing transaction."""

from __future__ import annotations

from kommerce.events.emitter import Emitter

PRODUCT_CHANGED = "product.changed"
PRODUCT_DELETED = "product.deleted"
PRICE_CHANGED = "product.price_changed"
CATEGORY_CHANGED = "product.category_changed"

emit = Emitter("product")
