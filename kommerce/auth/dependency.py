"""The FastAPI dependency every service authenticates and authorizes requests with.

    auth = Authenticator(TokenVerifier(JwksKeys(settings.jwks_url), issuer=..., audience=...))

    @router.get("/v1/orders/{id}")
    async def get_order(principal: Principal = Depends(auth.require("orders:read"))): ...

A missing or bad token is a 401 problem with `WWW-Authenticate: Bearer error="invalid_token"`;
a valid token without the permission is a 403 naming the permission. `require_recent(seconds)`
is the step-up check for sensitive actions (401 with `error="insufficient_user_authentication"`,
RFC 9470, telling the client to re-authenticate).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from kommerce.auth.claims import InvalidToken, Principal
from kommerce.auth.keys import KeysUnavailable
from kommerce.auth.verifier import TokenVerifier
from kommerce.http.errors import DependencyUnavailable, Forbidden, Problem

_bearer = HTTPBearer(auto_error=False, description="An access token from the user service")


class InvalidCredentials(Problem):
    status, slug, title = 401, "invalid-token", "Authentication required"


class StepUpRequired(Problem):
    status, slug, title = 401, "step-up-required", "Recent authentication required"


SessionCheck = Callable[[Principal], Awaitable[bool]]


class Authenticator:
    """`session_revoked` (optional) is asked after the signature checks out; the user service
    uses it so its own endpoints refuse a signed-out session's tokens at once (other services
    accept them until they expire, at most the access-token lifetime)."""

    def __init__(
        self, verifier: TokenVerifier, *, session_revoked: SessionCheck | None = None
    ) -> None:
        self.verifier = verifier
        self.session_revoked = session_revoked

    async def principal(self, request: Request) -> Principal:
        credentials: HTTPAuthorizationCredentials | None = await _bearer(request)
        if credentials is None:
            raise InvalidCredentials(
                "send an access token: Authorization: Bearer <token>",
                headers={"WWW-Authenticate": "Bearer"},
            )
        try:
            principal = await self.verifier.verify(credentials.credentials)
        except KeysUnavailable as exc:
            raise DependencyUnavailable(f"cannot check the token now: {exc}") from exc
        except InvalidToken as exc:
            raise InvalidCredentials(
                str(exc), headers={"WWW-Authenticate": 'Bearer error="invalid_token"'}
            ) from exc
        if self.session_revoked is not None and await self.session_revoked(principal):
            raise InvalidCredentials(
                "this session was signed out; sign in again",
                headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
            )
        request.state.principal = principal
        return principal

    def require(self, *permissions: str) -> Callable[[Request], Awaitable[Principal]]:
        """A dependency: the caller's principal, if it holds every permission named."""

        async def dependency(request: Request) -> Principal:
            principal = await self.principal(request)
            missing = [p for p in permissions if not principal.can(p)]
            if missing:
                raise Forbidden(
                    f"this needs the permission {', '.join(missing)}",
                    required=missing,
                )
            return principal

        return dependency

    def optional(self, *permissions: str) -> Callable[[Request], Awaitable[Principal | None]]:
        """A dependency for routes open to anonymous callers too (a guest cart): None when no
        `Authorization` header is sent; a token that is sent must be valid and hold every
        permission named (401/403 as `require`), never silently ignored."""
        required = self.require(*permissions)

        async def dependency(request: Request) -> Principal | None:
            if not request.headers.get("authorization"):
                return None
            return await required(request)

        return dependency

    def require_recent(
        self, seconds: float, *, mfa_if_enrolled: Callable[[Principal], Awaitable[bool]] | None
    ) -> Callable[[Request], Awaitable[Principal]]:
        """A dependency for sensitive actions: authenticated within `seconds` (step-up)."""

        async def dependency(request: Request) -> Principal:
            principal = await self.principal(request)
            if not principal.authenticated_within(seconds):
                raise StepUpRequired(
                    f"authenticate again (POST /v1/auth/step-up) within {int(seconds)} s "
                    "before this action",
                    headers={
                        "WWW-Authenticate": 'Bearer error="insufficient_user_authentication", '
                        f'max_age="{int(seconds)}"'
                    },
                )
            needs_mfa = mfa_if_enrolled is not None and not principal.used_mfa
            if needs_mfa and mfa_if_enrolled is not None and await mfa_if_enrolled(principal):
                raise StepUpRequired(
                    "this account uses two-factor authentication: step up with a code",
                    headers={
                        "WWW-Authenticate": 'Bearer error="insufficient_user_authentication", '
                        'acr_values="mfa"'
                    },
                )
            return principal

        return dependency
