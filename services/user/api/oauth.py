"""Sign-in with Google, GitHub and Facebook, and managing the linked provider accounts.

- GET  /v1/auth/oauth/{provider}/start     -> 302 to the provider (or `?mode=json`: the URL)
- GET  /v1/auth/oauth/{provider}/callback  -> where the provider sends the browser back
- POST /v1/me/identities/{provider}        -> start linking a provider to the signed-in account
- GET  /v1/me/identities                   -> the linked provider accounts
- DELETE /v1/me/identities/{provider}      -> unlink (never the last way to sign in)

Starting a flow sets a browser-key cookie (HttpOnly, SameSite=Lax so the provider's redirect
back carries it, scoped to the callback path); the callback must bring it back, so a callback
URL opened in another browser than the one that started the flow is refused.

The protocol checks live in `services.user.oauth.flow`, the account rules in
`services.user.oauth.linking`; this module only maps them to HTTP.
"""

from __future__ import annotations

import secrets
import uuid
from datetime import datetime
from typing import Annotated, Literal
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Request, Response, status
from fastapi.responses import JSONResponse, RedirectResponse
from pydantic import BaseModel

from kommerce.http.errors import NotFound
from kommerce.http.responses import problems
from services.user.api.auth import NO_STORE, Current
from services.user.api.models import LoginResponse, TokenResponse
from services.user.context import UserContext, ctx
from services.user.oauth import OAuthError, OAuthFlow, linking
from services.user.oauth.flow import STATE_TTL_SECONDS

router = APIRouter(tags=["oauth"], responses=problems(400, 401, 403, 404, 409, 422, 429))
Ctx = Annotated[UserContext, Depends(ctx)]


def oauth_flow(request: Request, c: Ctx) -> OAuthFlow:
    """One flow object per app (it caches the providers' signing keys)."""
    found = getattr(request.app.state, "oauth_flow", None)
    if not isinstance(found, OAuthFlow):
        found = OAuthFlow(c.redis, c.settings)
        request.app.state.oauth_flow = found
    return found


Flow = Annotated[OAuthFlow, Depends(oauth_flow)]


class AuthorizeUrl(BaseModel):
    authorize_url: str


class LinkedIdentity(BaseModel):
    provider: str
    subject: str
    email: str
    linked_at: datetime


BROWSER_COOKIE = "kommerce_oauth_browser"


def _browser_key(request: Request) -> str:
    """The browser's key: the one it already has (parallel flows share it) or a new one."""
    found = request.cookies.get(BROWSER_COOKIE, "")
    return found if len(found) >= 43 else secrets.token_urlsafe(32)


def _set_browser_cookie(response: Response, flow: OAuthFlow, key: str) -> None:
    base = urlsplit(str(flow.settings.oauth_redirect_base))
    response.set_cookie(
        BROWSER_COOKIE,
        key,
        max_age=STATE_TTL_SECONDS,
        path=base.path or "/",
        secure=base.scheme == "https",
        httponly=True,
        samesite="lax",
    )


def _configured(flow: OAuthFlow, provider: str) -> None:
    if provider not in flow.configured:
        raise NotFound(f"sign-in with {provider!r} is not available")


@router.get(
    "/v1/auth/oauth/{provider}/start",
    response_model=AuthorizeUrl,
    responses={302: {"description": "to the provider's authorization page"}},
)
async def start(
    provider: str,
    request: Request,
    c: Ctx,
    flow: Flow,
    mode: Literal["redirect", "json"] = "redirect",
) -> Response:
    """Send the browser to the provider; `?mode=json` returns the URL instead."""
    _configured(flow, provider)
    await c.limiter.enforce(c.limits.login_ip, c.client(request).ip)
    key = _browser_key(request)
    url = await flow.begin(provider, browser_key=key)
    answer: Response = (
        JSONResponse(AuthorizeUrl(authorize_url=url).model_dump(), headers=NO_STORE)
        if mode == "json"
        else RedirectResponse(url, status_code=status.HTTP_302_FOUND, headers=NO_STORE)
    )
    _set_browser_cookie(answer, flow, key)
    return answer


@router.get("/v1/auth/oauth/{provider}/callback", response_model=LoginResponse | LinkedIdentity)
async def callback(
    provider: str,
    request: Request,
    response: Response,
    c: Ctx,
    flow: Flow,
    code: str | None = None,
    state: str | None = None,
    error: str | None = None,
    error_description: str | None = None,
) -> LoginResponse | LinkedIdentity:
    """Signs in (tokens, or an MFA challenge), or finishes linking for a link flow."""
    _configured(flow, provider)
    client = c.client(request)
    await c.limiter.enforce(c.limits.login_ip, client.ip)
    try:
        done = await flow.complete(
            provider,
            code=code,
            state=state,
            error=error,
            error_description=error_description,
            browser_key=request.cookies.get(BROWSER_COOKIE),
        )
    except OAuthError as exc:
        await linking.flow_failed(c, exc, provider=provider, client=client)
    response.headers.update(NO_STORE)
    if done.purpose == "link":
        linked = await linking.link(c, done, client=client)
        return LinkedIdentity(**linked.__dict__)
    result = await linking.sign_in(c, done, client=client)
    if result.tokens is None:
        return LoginResponse(mfa_required=True, mfa_token=result.mfa_token)
    pair = result.tokens
    return LoginResponse(
        tokens=TokenResponse(
            access_token=pair.access_token,
            refresh_token=pair.refresh_token,
            expires_in=pair.expires_in,
            session_id=pair.session_id,
        )
    )


@router.post("/v1/me/identities/{provider}", response_model=AuthorizeUrl, tags=["me"])
async def start_link(
    provider: str, request: Request, response: Response, principal: Current, flow: Flow
) -> AuthorizeUrl:
    """Start linking: send the browser to the returned URL; the callback links the account."""
    _configured(flow, provider)
    key = _browser_key(request)
    url = await flow.begin(
        provider, purpose="link", user_id=uuid.UUID(principal.user_id), browser_key=key
    )
    _set_browser_cookie(response, flow, key)
    response.headers.update(NO_STORE)
    return AuthorizeUrl(authorize_url=url)


@router.get("/v1/me/identities", response_model=list[LinkedIdentity], tags=["me"])
async def list_identities(principal: Current, c: Ctx) -> list[LinkedIdentity]:
    async with c.db.session() as session:
        found = await linking.identities(session, uuid.UUID(principal.user_id))
    return [LinkedIdentity(**i.__dict__) for i in found]


@router.delete("/v1/me/identities/{provider}", status_code=status.HTTP_204_NO_CONTENT, tags=["me"])
async def unlink(provider: str, request: Request, principal: Current, c: Ctx) -> None:
    """Refused (409) when it is the account's last way to sign in."""
    await linking.unlink(c, uuid.UUID(principal.user_id), provider, client=c.client(request))
