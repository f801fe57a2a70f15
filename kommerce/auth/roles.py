"""Roles and the permissions they grant: one table, read by the user service (which assigns
roles) and by every service (which checks permissions).

A token carries roles, not permissions, so a change here takes effect for tokens already issued
as soon as the services run the new code, and tokens stay small. Permissions are
`<resource>:<action>` strings; services ask for permissions, never for roles.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum


class Role(StrEnum):
    SHOPPER = "shopper"
    SUPPORT = "support"
    MERCHANT = "merchant"
    ADMIN = "admin"
    PLATFORM_ENGINEER = "platform-engineer"


# What a shopper may do to their own things is checked by ownership in each service;
# these are the permissions beyond "my own account, cart and orders".
_SHOPPER = frozenset({"profile:own", "orders:own", "reviews:write"})
_SUPPORT = frozenset(
    {
        "users:read",
        "orders:read",
        "orders:refund",  # refunds and credit notes
        "audit:read",
        "sessions:revoke",
        "inventory:read",
        "payments:read",  # payments, their history, analytics
    }
)
_MERCHANT = frozenset(
    {
        "catalog:write",
        "inventory:read",
        "inventory:write",
        "search:admin",  # synonyms, boosts, ranking experiments, search analytics
        "orders:read",
        "orders:fulfil",  # fulfil, ship, cancel; approve and receive returns
        "orders:refund",
        "orders:configure",  # coupons, shipping methods, tax rates
        "payments:read",
        "payments:manage",  # capture, cancel, refund, disputes' evidence, FX rates
    }
)
_PLATFORM = frozenset({"platform:read", "platform:deploy", "audit:read"})

ROLE_PERMISSIONS: dict[Role, frozenset[str]] = {
    Role.SHOPPER: _SHOPPER,
    Role.SUPPORT: _SHOPPER | _SUPPORT,
    Role.MERCHANT: _SHOPPER | _MERCHANT,
    Role.PLATFORM_ENGINEER: _SHOPPER | _PLATFORM,
    Role.ADMIN: _SHOPPER
    | _SUPPORT
    | _MERCHANT
    | _PLATFORM
    | {"users:write", "roles:assign", "keys:rotate"},
}

DEFAULT_ROLES: tuple[Role, ...] = (Role.SHOPPER,)


def parse_roles(names: Iterable[str]) -> frozenset[Role]:
    """Known roles among `names` (unknown names from a newer issuer are ignored, not trusted)."""
    known = {r.value for r in Role}
    return frozenset(Role(n) for n in names if n in known)


def permissions_of(roles: Iterable[Role]) -> frozenset[str]:
    granted: set[str] = set()
    for role in roles:
        granted |= ROLE_PERMISSIONS[role]
    return frozenset(granted)
