"""kommerce.auth: access-token verification, roles -> permissions and the FastAPI dependency.

Keys are generated here (Ed25519) and tokens are signed with PyJWT using the claims and header
the user service's issuer uses (services/user/tokens.py, services/user/signing.py).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import Depends, FastAPI

from kommerce.auth.claims import REQUIRED_CLAIMS, InvalidToken, Principal, access_claims
from kommerce.auth.dependency import Authenticator
from kommerce.auth.keys import StaticKeys, public_jwk
from kommerce.auth.roles import ROLE_PERMISSIONS, Role
from kommerce.auth.verifier import TokenVerifier
from kommerce.http.errors import PROBLEM_JSON, install_problem_handlers

pytestmark = pytest.mark.unit

ISSUER = "https://user.kommerce.test"
AUDIENCE = "kommerce"
KID = "20261127-abcdef012345"


def claims(**overrides: Any) -> dict[str, Any]:
    """The claims the issuer puts in an access token (overrides replace; None removes)."""
    base = access_claims(
        issuer=ISSUER,
        audience=AUDIENCE,
        user_id=str(uuid.uuid4()),
        session_id=uuid.uuid4().hex,
        roles=["shopper"],
        amr=["pwd"],
        lifetime_seconds=900,
    )
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def sign(
    key: Ed25519PrivateKey, payload: dict[str, Any], *, kid: str = KID, typ: str | None = "at+jwt"
) -> str:
    """A token as the issuer signs it (typ None: no typ header at all)."""
    return jwt.encode(payload, key, algorithm="EdDSA", headers={"kid": kid, "typ": typ})


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _hand_made(header: dict[str, Any], payload: dict[str, Any], signature: bytes = b"") -> str:
    return f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(payload).encode())}." + (
        _b64(signature)
    )


KEY = Ed25519PrivateKey.generate()
VERIFIER = TokenVerifier(
    StaticKeys({"keys": [public_jwk(KID, KEY)]}), issuer=ISSUER, audience=AUDIENCE
)
AUTH = Authenticator(VERIFIER)
MFA_ENROLLED: set[str] = set()  # user ids with a second factor


async def mfa_enrolled(principal: Principal) -> bool:
    return principal.user_id in MFA_ENROLLED


# A tiny service: module level, so FastAPI can resolve the (postponed) annotations.
Reader = Annotated[Principal, Depends(AUTH.require("orders:read"))]
Fulfiller = Annotated[Principal, Depends(AUTH.require("orders:read", "orders:fulfil"))]
Recent = Annotated[Principal, Depends(AUTH.require_recent(300, mfa_if_enrolled=mfa_enrolled))]

app = FastAPI()
install_problem_handlers(app)


@app.get("/orders")
async def orders(principal: Reader) -> dict[str, str]:
    return {"user": principal.user_id}


@app.post("/fulfil")
async def fulfil(principal: Fulfiller) -> dict[str, str]:
    return {"user": principal.user_id}


@app.delete("/account")
async def delete_account(principal: Recent) -> dict[str, str]:
    return {"user": principal.user_id}


@pytest.fixture
def key() -> Ed25519PrivateKey:
    return KEY


@pytest.fixture
def verifier() -> TokenVerifier:
    return VERIFIER


async def rejected(verifier: TokenVerifier, token: str) -> str:
    """Both verification paths refuse `token`; returns the message."""
    with pytest.raises(InvalidToken) as caught:
        await verifier.verify(token)
    with pytest.raises(InvalidToken):
        verifier.verify_cached(token)
    return str(caught.value)


# -- valid tokens -------------------------------------------------------------------------------


async def test_valid_token_gives_principal_with_permissions_of_roles(
    key: Ed25519PrivateKey, verifier: TokenVerifier
) -> None:
    payload = claims(roles=["merchant", "support"], amr=["pwd", "otp"], auth_time=1_700_000_000)
    token = sign(key, payload)

    principal = await verifier.verify(token)

    assert principal == verifier.verify_cached(token)
    assert principal.user_id == payload["sub"]
    assert principal.session_id == payload["sid"]
    assert principal.token_id == payload["jti"]
    assert principal.expires_at == payload["exp"]
    assert principal.auth_time == 1_700_000_000
    assert principal.amr == ("pwd", "otp")
    assert principal.used_mfa
    assert principal.roles == {Role.MERCHANT, Role.SUPPORT}
    assert principal.permissions == ROLE_PERMISSIONS[Role.MERCHANT] | ROLE_PERMISSIONS[Role.SUPPORT]
    assert principal.can("catalog:write")
    assert principal.can("sessions:revoke")
    assert principal.can("profile:own")  # every role includes the shopper's permissions
    assert not principal.can("keys:rotate")  # admin only
    assert principal.claims["iss"] == ISSUER


async def test_shopper_has_only_shopper_permissions(
    key: Ed25519PrivateKey, verifier: TokenVerifier
) -> None:
    principal = await verifier.verify(sign(key, claims()))
    assert principal.roles == {Role.SHOPPER}
    assert principal.permissions == {"profile:own", "orders:own", "reviews:write"}
    assert not principal.used_mfa


async def test_audience_list_and_verifier_with_several_audiences(key: Ed25519PrivateKey) -> None:
    keys = StaticKeys({"keys": [public_jwk(KID, key)]})
    several = TokenVerifier(keys, issuer=ISSUER, audience=["orders", AUDIENCE])
    assert (await several.verify(sign(key, claims(aud=AUDIENCE)))).roles == {Role.SHOPPER}
    single = TokenVerifier(keys, issuer=ISSUER, audience=AUDIENCE)
    assert await single.verify(sign(key, claims(aud=["other", AUDIENCE])))


async def test_unknown_role_names_are_ignored(
    key: Ed25519PrivateKey, verifier: TokenVerifier
) -> None:
    principal = await verifier.verify(sign(key, claims(roles=["superuser", "support", "ADMIN"])))
    assert principal.roles == {Role.SUPPORT}
    assert principal.permissions == ROLE_PERMISSIONS[Role.SUPPORT]
    assert not principal.can("users:write")

    nobody = await verifier.verify(sign(key, claims(roles=["root"])))
    assert nobody.roles == frozenset()
    assert nobody.permissions == frozenset()


async def test_auth_time_defaults_to_iat(key: Ed25519PrivateKey, verifier: TokenVerifier) -> None:
    payload = claims(auth_time=None, amr=None)
    principal = await verifier.verify(sign(key, payload))
    assert principal.auth_time == payload["iat"]
    assert principal.amr == ()


def test_authenticated_within() -> None:
    principal = Principal.from_claims(claims(auth_time=1_000, iat=2_000))
    assert principal.auth_time == 1_000
    assert principal.authenticated_within(300, now=1_299)
    assert principal.authenticated_within(300, now=1_300)  # the boundary counts
    assert not principal.authenticated_within(300, now=1_301)
    fresh = Principal.from_claims(claims())  # auth_time = now
    assert fresh.authenticated_within(5)
    assert not Principal.from_claims(claims(auth_time=int(time.time()) - 600)).authenticated_within(
        300
    )


@pytest.mark.parametrize("roles", ["admin", [1, 2], None, {"admin": True}])
def test_malformed_roles_claim_is_invalid(roles: Any) -> None:
    payload = claims()
    payload["roles"] = roles
    with pytest.raises(InvalidToken, match="roles"):
        Principal.from_claims(payload)


def test_amr_must_be_a_list() -> None:
    with pytest.raises(InvalidToken, match="amr"):
        Principal.from_claims(claims(amr="pwd"))


# -- rejected tokens ----------------------------------------------------------------------------


async def test_expired_token(key: Ed25519PrivateKey, verifier: TokenVerifier) -> None:
    now = int(time.time())
    old = claims(iat=now - 1000, nbf=now - 1000, auth_time=now - 1000, exp=now - 31)
    assert "expired" in await rejected(verifier, sign(key, old))


async def test_expiry_within_leeway_is_accepted(
    key: Ed25519PrivateKey, verifier: TokenVerifier
) -> None:
    now = int(time.time())
    assert await verifier.verify(sign(key, claims(exp=now - 5)))


async def test_not_yet_valid_token(key: Ed25519PrivateKey, verifier: TokenVerifier) -> None:
    later = int(time.time()) + 600
    message = await rejected(verifier, sign(key, claims(nbf=later)))
    assert "not yet valid" in message


async def test_wrong_audience(key: Ed25519PrivateKey, verifier: TokenVerifier) -> None:
    assert "audience" in (await rejected(verifier, sign(key, claims(aud="billing")))).lower()


async def test_wrong_issuer(key: Ed25519PrivateKey, verifier: TokenVerifier) -> None:
    token = sign(key, claims(iss="https://evil.example"))
    assert "issuer" in (await rejected(verifier, token)).lower()


async def test_tampered_payload(key: Ed25519PrivateKey, verifier: TokenVerifier) -> None:
    head, _, signature = sign(key, claims()).split(".")
    promoted = _b64(json.dumps(claims(roles=["admin"])).encode())
    message = await rejected(verifier, f"{head}.{promoted}.{signature}")
    assert "signature" in message.lower()


async def test_tampered_signature(key: Ed25519PrivateKey, verifier: TokenVerifier) -> None:
    head, payload, signature = sign(key, claims()).split(".")
    raw = bytearray(_unb64(signature))
    raw[0] ^= 0x01
    assert "signature" in (await rejected(verifier, f"{head}.{payload}.{_b64(bytes(raw))}")).lower()


async def test_signed_by_another_key_with_the_same_kid(verifier: TokenVerifier) -> None:
    impostor = Ed25519PrivateKey.generate()
    token = sign(impostor, claims(roles=["admin"]), kid=KID)
    assert "signature" in (await rejected(verifier, token)).lower()


async def test_alg_none_is_rejected(verifier: TokenVerifier) -> None:
    token = _hand_made({"alg": "none", "typ": "at+jwt", "kid": KID}, claims(roles=["admin"]))
    assert "algorithm" in await rejected(verifier, token)


async def test_hs256_with_the_public_key_as_secret_is_rejected(
    key: Ed25519PrivateKey, verifier: TokenVerifier
) -> None:
    """The classic key-confusion attack: HMAC keyed with the (public) verification key."""
    payload = claims(roles=["admin"])
    public = key.public_key()
    secrets = [
        public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
        public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw),
        json.dumps(public_jwk(KID, key)).encode(),
    ]
    for secret in secrets:
        for alg in ("HS256", "EdDSA"):  # honest header, and one lying about the algorithm
            header = {"alg": alg, "typ": "at+jwt", "kid": KID}
            head = _b64(json.dumps(header).encode())
            body = _b64(json.dumps(payload).encode())
            mac = hmac.new(secret, f"{head}.{body}".encode(), hashlib.sha256).digest()
            await rejected(verifier, f"{head}.{body}.{_b64(mac)}")


@pytest.mark.parametrize("typ", [None, "JWT", "jwt", "at+JWT ", "dpop+jwt"])
async def test_missing_or_wrong_typ(
    key: Ed25519PrivateKey, verifier: TokenVerifier, typ: str | None
) -> None:
    assert "at+jwt" in await rejected(verifier, sign(key, claims(), typ=typ))


async def test_unknown_kid(key: Ed25519PrivateKey, verifier: TokenVerifier) -> None:
    token = sign(key, claims(), kid="20260101-000000000000")
    with pytest.raises(InvalidToken, match="unknown signing key '20260101-000000000000'"):
        await verifier.verify(token)
    with pytest.raises(InvalidToken, match="not cached"):
        verifier.verify_cached(token)


async def test_missing_kid(key: Ed25519PrivateKey, verifier: TokenVerifier) -> None:
    token = jwt.encode(claims(), key, algorithm="EdDSA", headers={"typ": "at+jwt"})
    assert "kid" in await rejected(verifier, token)


@pytest.mark.parametrize("missing", REQUIRED_CLAIMS)
async def test_missing_required_claim(
    key: Ed25519PrivateKey, verifier: TokenVerifier, missing: str
) -> None:
    payload = claims()
    del payload[missing]
    message = await rejected(verifier, sign(key, payload))
    assert missing in message


@pytest.mark.parametrize("garbage", ["", "not-a-jwt", "a.b.c", "Bearer x.y.z", "...."])
async def test_malformed_tokens(verifier: TokenVerifier, garbage: str) -> None:
    await rejected(verifier, garbage)


# -- the FastAPI dependency ---------------------------------------------------------------------


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://svc") as client:
        yield client


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_no_token_is_401_with_www_authenticate(http: httpx.AsyncClient) -> None:
    for headers in ({}, {"Authorization": "Basic dXNlcjpwdw=="}, {"Authorization": "Bearer"}):
        response = await http.get("/orders", headers=headers)
        assert response.status_code == 401, headers
        assert response.headers["WWW-Authenticate"] == "Bearer"
        assert response.headers["content-type"] == PROBLEM_JSON
        body = response.json()
        assert body["type"].endswith("/invalid-token")
        assert "Authorization: Bearer" in body["detail"]


async def test_invalid_token_is_401_invalid_token(
    http: httpx.AsyncClient, key: Ed25519PrivateKey
) -> None:
    now = int(time.time())
    expired = sign(key, claims(roles=["admin"], iat=now - 999, nbf=now - 999, exp=now - 100))
    forged = sign(Ed25519PrivateKey.generate(), claims(roles=["admin"]))
    for token in (expired, forged, "garbage"):
        response = await http.get("/orders", headers=bearer(token))
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'
        assert response.json()["status"] == 401
    assert "expired" in (await http.get("/orders", headers=bearer(expired))).json()["detail"]


async def test_missing_permission_is_403_naming_it(
    http: httpx.AsyncClient, key: Ed25519PrivateKey
) -> None:
    shopper = sign(key, claims(roles=["shopper"]))
    response = await http.get("/orders", headers=bearer(shopper))
    assert response.status_code == 403
    body = response.json()
    assert body["type"].endswith("/forbidden")
    assert "orders:read" in body["detail"]
    assert body["required"] == ["orders:read"]

    support = sign(key, claims(roles=["support"]))  # has orders:read, not orders:fulfil
    response = await http.post("/fulfil", headers=bearer(support))
    assert response.status_code == 403
    assert response.json()["required"] == ["orders:fulfil"]


async def test_permission_granted_is_200(http: httpx.AsyncClient, key: Ed25519PrivateKey) -> None:
    payload = claims(roles=["merchant"])
    response = await http.get("/orders", headers=bearer(sign(key, payload)))
    assert response.status_code == 200
    assert response.json() == {"user": payload["sub"]}
    assert (await http.post("/fulfil", headers=bearer(sign(key, payload)))).status_code == 200
    admin = sign(key, claims(roles=["admin"]))
    assert (await http.get("/orders", headers=bearer(admin))).status_code == 200


async def test_step_up_required_when_auth_time_is_old(
    http: httpx.AsyncClient, key: Ed25519PrivateKey
) -> None:
    old = int(time.time()) - 301 - 5
    response = await http.delete("/account", headers=bearer(sign(key, claims(auth_time=old))))
    assert response.status_code == 401
    assert response.json()["type"].endswith("/step-up-required")
    assert response.headers["WWW-Authenticate"] == (
        'Bearer error="insufficient_user_authentication", max_age="300"'
    )

    recent = sign(key, claims(auth_time=int(time.time()) - 10))
    assert (await http.delete("/account", headers=bearer(recent))).status_code == 200

    no_token = await http.delete("/account")
    assert no_token.status_code == 401
    assert no_token.headers["WWW-Authenticate"] == "Bearer"


async def test_step_up_asks_for_mfa_when_enrolled(
    http: httpx.AsyncClient, key: Ed25519PrivateKey
) -> None:
    payload = claims(amr=["pwd"])
    MFA_ENROLLED.add(payload["sub"])
    response = await http.delete("/account", headers=bearer(sign(key, payload)))
    assert response.status_code == 401
    assert 'acr_values="mfa"' in response.headers["WWW-Authenticate"]

    with_code = sign(key, {**payload, "amr": ["pwd", "otp"]})
    assert (await http.delete("/account", headers=bearer(with_code))).status_code == 200
