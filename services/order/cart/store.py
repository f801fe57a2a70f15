"""Carts in Redis: one hash of lines and one hash of cart-level fields per cart.

    order:cart:{<owner>}:lines   variant_id -> "<quantity>|<seen price minor>|<currency>|<added ms>"
    order:cart:{<owner>}:meta    coupon -> code

Every change is one Lua script (or one MULTI), so concurrent requests on the same cart never
lose a line or exceed a limit; every read and write moves both keys' expiry to
`cart_ttl_seconds` from now (sliding expiry). Prices are strings in Redis and never computed
there (Lua numbers are doubles).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis

from services.order.cart.model import Cart, CartLine
from services.order.settings import OrderSettings

_LINE = r"^(%d+)|(%-?%d+)|(%u+)|(%d+)$"

# KEYS: lines, meta. ARGV: variant, quantity, mode (add|set), price, currency, now_ms,
# max_lines, max_quantity, ttl.
# Returns {new quantity, quantity before} or {-1 too many lines | -2 quantity over the limit |
# -3 another currency, quantity before, the cart's currency}.
_CHANGE = (
    """
local cur = redis.call('HGET', KEYS[1], ARGV[1])
local price, currency, added = ARGV[4], ARGV[5], ARGV[6]
local have = 0
if cur then
  local q, p, c, t = string.match(cur, '"""
    + _LINE
    + """')
  have, price, currency, added = tonumber(q), p, c, t
end
local new = tonumber(ARGV[2])
if ARGV[3] == 'add' then new = have + new end
if new <= 0 then
  redis.call('HDEL', KEYS[1], ARGV[1])
else
  if not cur then
    if redis.call('HLEN', KEYS[1]) >= tonumber(ARGV[7]) then return {-1, have, ''} end
    for _, v in ipairs(redis.call('HVALS', KEYS[1])) do
      local _, _, other = string.match(v, '"""
    + _LINE
    + """')
      if other ~= ARGV[5] then return {-3, have, other} end
    end
  end
  if new > tonumber(ARGV[8]) then return {-2, have, ''} end
  redis.call('HSET', KEYS[1], ARGV[1], new .. '|' .. price .. '|' .. currency .. '|' .. added)
end
redis.call('EXPIRE', KEYS[1], ARGV[9])
redis.call('EXPIRE', KEYS[2], ARGV[9])
return {new, have, ''}
"""
)

# KEYS: lines, meta. ARGV: ttl, then (variant, price, currency) triples. Returns lines updated.
_ACCEPT = (
    """
local n = 0
for i = 2, #ARGV, 3 do
  local cur = redis.call('HGET', KEYS[1], ARGV[i])
  if cur then
    local q, _, _, t = string.match(cur, '"""
    + _LINE
    + """')
    redis.call('HSET', KEYS[1], ARGV[i], q .. '|' .. ARGV[i + 1] .. '|' .. ARGV[i + 2] .. '|' .. t)
    n = n + 1
  end
end
redis.call('EXPIRE', KEYS[1], ARGV[1])
redis.call('EXPIRE', KEYS[2], ARGV[1])
return n
"""
)

# KEYS: guest lines, guest meta, user lines, user meta. ARGV: max_lines, max_quantity, ttl.
# Returns {lines added, lines combined, lines clamped to the quantity limit, lines dropped}.
_MERGE = (
    """
local g = redis.call('HGETALL', KEYS[1])
local added, combined, clamped, dropped = 0, 0, 0, 0
local max_lines, max_q = tonumber(ARGV[1]), tonumber(ARGV[2])
for i = 1, #g, 2 do
  local vid, val = g[i], g[i + 1]
  local gq = string.match(val, '"""
    + _LINE
    + """')
  local cur = redis.call('HGET', KEYS[3], vid)
  if cur then
    local uq, up, uc, ut = string.match(cur, '"""
    + _LINE
    + """')
    local n = tonumber(uq) + tonumber(gq)
    if n > max_q then
      n = max_q
      clamped = clamped + 1
    end
    redis.call('HSET', KEYS[3], vid, n .. '|' .. up .. '|' .. uc .. '|' .. ut)
    combined = combined + 1
  elseif redis.call('HLEN', KEYS[3]) < max_lines then
    redis.call('HSET', KEYS[3], vid, val)
    added = added + 1
  else
    dropped = dropped + 1
  end
end
local coupon = redis.call('HGET', KEYS[2], 'coupon')
if coupon and redis.call('HEXISTS', KEYS[4], 'coupon') == 0 then
  redis.call('HSET', KEYS[4], 'coupon', coupon)
end
redis.call('DEL', KEYS[1], KEYS[2])
redis.call('EXPIRE', KEYS[3], ARGV[3])
redis.call('EXPIRE', KEYS[4], ARGV[3])
return {added, combined, clamped, dropped}
"""
)


class CartLimit(Exception):
    """A change refused by the cart's limits (the API turns it into a 422)."""

    def __init__(self, code: str, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.extra = extra


@dataclass(frozen=True)
class Merged:
    added: int  # guest lines new to the user's cart
    combined: int  # guest lines whose quantity was added to the user's line
    clamped: int  # of those, lines cut to the quantity limit
    dropped: int  # guest lines left out: the user's cart had no room for more lines


def _keys(owner: str) -> list[str]:
    base = f"order:cart:{{{owner}}}"
    return [f"{base}:lines", f"{base}:meta"]


def _line(variant: str, value: str) -> CartLine:
    quantity, price, currency, added = value.split("|")
    return CartLine(
        variant_id=uuid.UUID(variant),
        quantity=int(quantity),
        seen_price_minor=int(price),
        seen_currency=currency,
        added_ms=int(added),
    )


class CartStore:
    """Carts by owner: a user id string (what checkout passes) or `guest_owner(token)`."""

    def __init__(self, redis: Redis[Any], settings: OrderSettings) -> None:
        self.redis = redis
        self.ttl = settings.cart_ttl_seconds
        self.max_lines = settings.cart_max_lines
        self.max_quantity = settings.cart_max_quantity
        self._change = redis.register_script(_CHANGE)
        self._accept = redis.register_script(_ACCEPT)
        self._merge = redis.register_script(_MERGE)

    @staticmethod
    def keys(owner: str) -> list[str]:
        """The Redis keys of a cart (lines, meta)."""
        return _keys(owner)

    async def load(self, owner: str) -> Cart | None:
        """The cart (None when it has neither lines nor a coupon); refreshes its expiry."""
        lines_key, meta_key = _keys(owner)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hgetall(lines_key)
            pipe.hgetall(meta_key)
            pipe.expire(lines_key, self.ttl)
            pipe.expire(meta_key, self.ttl)
            raw_lines, meta, *_ = await pipe.execute()
        if not raw_lines and not meta:
            return None
        lines = sorted(
            (_line(k, v) for k, v in raw_lines.items()),
            key=lambda x: (x.added_ms, str(x.variant_id)),
        )
        return Cart(owner=owner, lines=lines, coupon=meta.get("coupon"))

    async def get(self, owner: str) -> Cart:
        """The cart, empty when there is none (refreshes its expiry)."""
        return await self.load(owner) or Cart(owner=owner)

    async def change(
        self,
        owner: str,
        variant_id: uuid.UUID,
        quantity: int,
        *,
        price_minor: int,
        currency: str,
        now_ms: int,
        add: bool,
    ) -> int:
        """Add `quantity` to a line (`add`) or set it (0 removes); the price and currency are
        recorded as seen only for a new line. Returns the line's new quantity; raises CartLimit
        (too-many-lines, quantity-limit, currency-mismatch)."""
        new, before, other = await self._change(
            keys=_keys(owner),
            args=[
                str(variant_id),
                quantity,
                "add" if add else "set",
                price_minor,
                currency,
                now_ms,
                self.max_lines,
                self.max_quantity,
                self.ttl,
            ],
        )
        new = int(new)
        if new == -1:
            raise CartLimit(
                "too-many-lines",
                f"a cart holds at most {self.max_lines} different items",
                max_lines=self.max_lines,
            )
        if new == -2:
            raise CartLimit(
                "quantity-limit",
                f"at most {self.max_quantity} of one item per cart "
                f"(the cart has {int(before)} already)",
                max_quantity=self.max_quantity,
                in_cart=int(before),
            )
        if new == -3:
            raise CartLimit(
                "currency-mismatch",
                f"this item is priced in {currency} and the cart in {other}; "
                "one cart holds one currency",
                cart_currency=other,
                currency=currency,
            )
        return new

    async def remove(self, owner: str, variant_id: uuid.UUID) -> bool:
        """Remove a line; False when it was not in the cart."""
        lines_key, meta_key = _keys(owner)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hdel(lines_key, str(variant_id))
            pipe.expire(lines_key, self.ttl)
            pipe.expire(meta_key, self.ttl)
            removed, *_ = await pipe.execute()
        return bool(removed)

    async def set_coupon(self, owner: str, code: str | None) -> None:
        lines_key, meta_key = _keys(owner)
        async with self.redis.pipeline(transaction=True) as pipe:
            if code is None:
                pipe.hdel(meta_key, "coupon")
            else:
                pipe.hset(meta_key, "coupon", code)
            pipe.expire(lines_key, self.ttl)
            pipe.expire(meta_key, self.ttl)
            await pipe.execute()

    async def accept_prices(self, owner: str, prices: dict[uuid.UUID, tuple[int, str]]) -> int:
        """Record these (price, currency) as seen on the lines still in the cart."""
        args: list[str | int] = [self.ttl]
        for variant, (price, currency) in prices.items():
            args += [str(variant), price, currency]
        return int(await self._accept(keys=_keys(owner), args=args))

    async def merge(self, guest: str, user: str) -> Merged:
        """Move a guest cart into a user's: quantities of the same item are summed (cut to
        the limit), the user's coupon wins, the guest cart is deleted. A second call finds no
        guest cart and changes nothing."""
        added, combined, clamped, dropped = await self._merge(
            keys=[*_keys(guest), *_keys(user)],
            args=[self.max_lines, self.max_quantity, self.ttl],
        )
        return Merged(int(added), int(combined), int(clamped), int(dropped))

    async def clear(self, owner: str) -> None:
        """Delete the cart (after checkout, or on request)."""
        await self.redis.delete(*_keys(owner))
