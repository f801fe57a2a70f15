"""`Authenticator.optional`: anonymous callers pass as None; a token that is sent is checked."""

from __future__ import annotations

from typing import Annotated

import pytest
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient

from kommerce.auth.claims import Principal
from kommerce.http.errors import install_problem_handlers
from tests.tokens import TokenMinter

pytestmark = pytest.mark.unit
MINTER = TokenMinter()
Maybe = Annotated[Principal | None, Depends(MINTER.authenticator().optional("orders:own"))]

app = FastAPI()
install_problem_handlers(app)


@app.get("/cart")
async def cart(principal: Maybe) -> dict[str, str | None]:
    return {"user": principal.user_id if principal else None}


def test_no_token_is_anonymous_and_a_sent_token_must_be_good() -> None:
    client = TestClient(app)
    assert client.get("/cart").json() == {"user": None}
    ok = client.get("/cart", headers=MINTER.bearer(roles=["shopper"], user_id="u-1"))
    assert ok.json() == {"user": "u-1"}
    bad = client.get("/cart", headers={"Authorization": "Bearer nope"})
    assert bad.status_code == 401
    assert client.get("/cart", headers=MINTER.bearer(roles=[])).status_code == 403
