"""The inventory service's events, recorded through the core outbox in the changing transaction."""

from __future__ import annotations

from kommerce.events.emitter import Emitter, registry

STOCK_CHANGED = "inventory.stock_changed"
LOW_STOCK = "inventory.low_stock"
STOCK_RESERVED = "inventory.stock_reserved"

emit = Emitter("inventory")
message = emit.message

__all__ = ["LOW_STOCK", "STOCK_CHANGED", "STOCK_RESERVED", "emit", "message", "registry"]
