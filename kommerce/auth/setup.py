"""Build a service's `Authenticator` from its settings (`KOMMERCE_AUTH_JWKS_URL`, ...).

At start-up: `auth = authenticator(settings)`; routes then depend on
`auth.require("orders:read")`; at shutdown `await auth.verifier.keys.aclose()` (the JWKS cache
owns an HTTP client).
"""

from __future__ import annotations

from kommerce.auth.dependency import Authenticator
from kommerce.auth.keys import JwksKeys
from kommerce.auth.verifier import TokenVerifier
from kommerce.settings import KommerceSettings


class AuthNotConfigured(RuntimeError):
    pass


def authenticator(settings: KommerceSettings) -> Authenticator:
    if settings.auth_jwks_url is None or not settings.auth_issuer:
        raise AuthNotConfigured(
            "set KOMMERCE_AUTH_JWKS_URL (the user service's /.well-known/jwks.json) and "
            "KOMMERCE_AUTH_ISSUER (its issuer, KOMMERCE_USER_ISSUER) to authenticate requests"
        )
    keys = JwksKeys(str(settings.auth_jwks_url))
    return Authenticator(
        TokenVerifier(keys, issuer=settings.auth_issuer, audience=settings.auth_audience)
    )
