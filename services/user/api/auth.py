"""Public authentication routes: /v1/auth/* and the JWKS."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response, status

from kommerce.auth.claims import Principal
from kommerce.http.responses import problems
from services.user import accounts, factors
from services.user.api.models import (
    Accepted,
    AccessTokenResponse,
    EmailRequest,
    LoginRequest,
    LoginResponse,
    MfaLoginRequest,
    RefreshRequest,
    RegisterRequest,
    ResetRequest,
    StepUpRequest,
    TokenRequest,
    TokenResponse,
)
from services.user.context import UserContext, ctx
from services.user.tokens import TokenPair

router = APIRouter(tags=["auth"], responses=problems(400, 401, 403, 409, 422, 429))
Ctx = Annotated[UserContext, Depends(ctx)]
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


async def current(request: Request, c: Ctx) -> Principal:
    return await c.auth.principal(request)


Current = Annotated[Principal, Depends(current)]


def _tokens(pair: TokenPair) -> TokenResponse:
    return TokenResponse(
        access_token=pair.access_token,
        refresh_token=pair.refresh_token,
        expires_in=pair.expires_in,
        session_id=pair.session_id,
    )


@router.post("/v1/auth/register", status_code=status.HTTP_202_ACCEPTED, response_model=Accepted)
async def register(body: RegisterRequest, request: Request, c: Ctx) -> Accepted:
    """Create an account; the answer is the same whether or not the address had one."""
    await accounts.register(
        c,
        email=body.email,
        password=body.password,
        display_name=body.display_name,
        locale=body.locale,
        client=c.client(request),
    )
    return Accepted(detail="check your inbox to confirm your address")


@router.post("/v1/auth/verify-email", response_model=Accepted)
async def verify_email(body: TokenRequest, request: Request, c: Ctx) -> Accepted:
    await accounts.verify_email(c, token=body.token, client=c.client(request))
    return Accepted(detail="your email address is confirmed")


@router.post(
    "/v1/auth/verify-email/resend", status_code=status.HTTP_202_ACCEPTED, response_model=Accepted
)
async def resend_verification(body: EmailRequest, request: Request, c: Ctx) -> Accepted:
    await accounts.resend_verification(c, email=body.email, client=c.client(request))
    return Accepted(detail="if the address has an unconfirmed account, a new link is on its way")


@router.post("/v1/auth/login", response_model=LoginResponse)
async def login(body: LoginRequest, request: Request, response: Response, c: Ctx) -> LoginResponse:
    result = await accounts.login(
        c, email=body.email, password=body.password, client=c.client(request)
    )
    response.headers.update(NO_STORE)
    if result.tokens is None:
        return LoginResponse(mfa_required=True, mfa_token=result.mfa_token)
    return LoginResponse(tokens=_tokens(result.tokens))


@router.post("/v1/auth/mfa", response_model=TokenResponse)
async def login_mfa(
    body: MfaLoginRequest, request: Request, response: Response, c: Ctx
) -> TokenResponse:
    """The second sign-in step: the challenge from /login and a TOTP or recovery code."""
    pair = await factors.complete_login(
        c, mfa_token=body.mfa_token, code=body.code, client=c.client(request)
    )
    response.headers.update(NO_STORE)
    return _tokens(pair)


@router.post("/v1/auth/refresh", response_model=TokenResponse)
async def refresh(
    body: RefreshRequest, request: Request, response: Response, c: Ctx
) -> TokenResponse:
    """Trade a refresh token for new tokens; the old refresh token is then spent."""
    pair = await accounts.refresh(c, refresh_token=body.refresh_token, client=c.client(request))
    response.headers.update(NO_STORE)
    return _tokens(pair)


@router.post("/v1/auth/logout", status_code=status.HTTP_204_NO_CONTENT)
async def logout(request: Request, principal: Current, c: Ctx) -> None:
    await accounts.logout(c, principal, client=c.client(request))


@router.post(
    "/v1/auth/password-reset/request",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=Accepted,
)
async def request_reset(body: EmailRequest, request: Request, c: Ctx) -> Accepted:
    await accounts.request_password_reset(c, email=body.email, client=c.client(request))
    return Accepted(detail="if the address has an account, a reset link is on its way")


@router.post("/v1/auth/password-reset", response_model=Accepted)
async def reset(body: ResetRequest, request: Request, c: Ctx) -> Accepted:
    await accounts.reset_password(
        c, token=body.token, new_password=body.new_password, client=c.client(request)
    )
    return Accepted(detail="password changed; every session was signed out")


@router.post("/v1/auth/step-up", response_model=AccessTokenResponse)
async def step_up(
    body: StepUpRequest, request: Request, response: Response, principal: Current, c: Ctx
) -> AccessTokenResponse:
    """Re-authenticate (password, and a code when two-factor is on) for sensitive actions."""
    token = await factors.step_up(
        c, principal, password=body.password, code=body.code, client=c.client(request)
    )
    response.headers.update(NO_STORE)
    return AccessTokenResponse(access_token=token, expires_in=c.settings.access_token_seconds)


@router.get("/.well-known/jwks.json", tags=["keys"])
async def jwks(response: Response, c: Ctx) -> dict[str, Any]:
    """The public keys access tokens are signed with (current and still-verifying ones)."""
    response.headers["Cache-Control"] = "public, max-age=300"
    return c.signing.jwks()
