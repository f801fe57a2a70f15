"""Another service authenticates and authorizes from the token alone.

The user service runs as a real process (`kommerce service run user`); a second FastAPI app
uses the core library's dependency with `KOMMERCE_AUTH_JWKS_URL` pointing at it. Many requests
cost one JWKS fetch, permissions are enforced, and the other service keeps working while the
user service is down.
"""

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import httpx
import pytest
from fastapi import Depends, FastAPI

from kommerce.auth.claims import Principal
from kommerce.auth.keys import JwksKeys
from kommerce.auth.setup import AuthNotConfigured, authenticator
from kommerce.http.errors import install_problem_handlers
from kommerce.settings import KommerceSettings
from tests.integration.user.conftest import PASSWORD, Mailbox, bearer

pytestmark = pytest.mark.integration
KOMMERCE = Path(sys.executable).parent / "kommerce"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def user_process(
    stack_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "KOMMERCE_ENVIRONMENT": "test",
        "KOMMERCE_USER_SCHEMA_NAME": f"users_p{uuid.uuid4().hex[:8]}",
        "KOMMERCE_USER_SECRET_KEY": uuid.uuid4().hex + uuid.uuid4().hex,
        "KOMMERCE_USER_ISSUER": url,
        "KOMMERCE_LOG_LEVEL": "WARNING",
    }
    log = tmp_path_factory.mktemp("user-service") / "user.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(KOMMERCE), "service", "run", "user", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"user service did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.2)
        yield url, process
    finally:
        if process.poll() is None:
            process.terminate()
            process.wait(timeout=30)


def other_service(jwks_url: str, issuer: str) -> tuple[FastAPI, JwksKeys]:
    settings = KommerceSettings(auth_jwks_url=jwks_url, auth_issuer=issuer)
    auth = authenticator(settings)
    app = FastAPI()
    install_problem_handlers(app)

    @app.get("/orders/mine")
    async def mine(
        principal: Annotated[Principal, Depends(auth.require("orders:own"))],
    ) -> dict[str, str]:
        return {"user": principal.user_id}

    @app.post("/catalog")
    async def write(
        principal: Annotated[Principal, Depends(auth.require("catalog:write"))],
    ) -> dict[str, str]:
        return {"ok": "yes"}

    keys = auth.verifier.keys
    assert isinstance(keys, JwksKeys)
    return app, keys


def test_settings_must_name_the_issuer() -> None:
    with pytest.raises(AuthNotConfigured, match="KOMMERCE_AUTH_JWKS_URL"):
        authenticator(KommerceSettings(auth_jwks_url=None, auth_issuer=None))


async def test_other_service_verifies_tokens_without_calling_the_user_service(
    user_process: tuple[str, "subprocess.Popen[bytes]"], mailbox: Mailbox
) -> None:
    url, process = user_process
    address = f"p{uuid.uuid4().hex[:10]}@example.com"
    async with httpx.AsyncClient(base_url=url) as users:
        r = await users.post("/v1/auth/register", json={"email": address, "password": PASSWORD})
        assert r.status_code == 202, r.text
        token = Mailbox.token(await mailbox.wait_for(address))
        assert (await users.post("/v1/auth/verify-email", json={"token": token})).status_code == 200
        r = await users.post("/v1/auth/login", json={"email": address, "password": PASSWORD})
        access = r.json()["tokens"]["access_token"]

    app, keys = other_service(f"{url}/.well-known/jwks.json", url)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://orders.test") as orders:
        for _ in range(200):
            r = await orders.get("/orders/mine", headers=bearer(access))
            assert r.status_code == 200, r.text
        assert keys.fetches == 1
        r = await orders.post("/catalog", headers=bearer(access))
        assert r.status_code == 403
        assert r.json()["required"] == ["catalog:write"]
        r = await orders.get("/orders/mine")
        assert r.status_code == 401
        # the user service stops (SIGTERM, drained): tokens still verify from the cached keys
        process.terminate()
        process.wait(timeout=30)
        assert (await orders.get("/orders/mine", headers=bearer(access))).status_code == 200
        forged = access[:-4] + ("AAAA" if not access.endswith("AAAA") else "BBBB")
        assert (await orders.get("/orders/mine", headers=bearer(forged))).status_code == 401
    await keys.aclose()
