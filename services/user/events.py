"""The user service's events, recorded through the core outbox in the changing transaction."""

from __future__ import annotations

from kommerce.events.emitter import Emitter

emit = Emitter("user")
