"""Fixtures for the user service: the real app on the test stack's PostgreSQL, Redis and SMTP sink.

Each test session gets its own schema (so reruns start clean) and the app runs in-process through
its lifespan (migrations, signing key), reached with httpx over ASGI. Mail is read back from the
SMTP sink's maildir.
"""

from __future__ import annotations

import asyncio
import email
import os
import re
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from email.message import Message
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from services.user.app import create_app
from services.user.settings import UserSettings

PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="session")
def user_settings(stack_env: dict[str, str]) -> UserSettings:
    schema = f"users_t{uuid.uuid4().hex[:8]}"
    return UserSettings(
        environment="test",
        schema_name=schema,
        secret_key="test-secret-key-" + uuid.uuid4().hex,
        # generous limits; the abuse tests build their own app with tight ones
        login_per_ip_per_minute=10_000,
        login_per_account_per_minute=10_000,
        register_per_ip_per_hour=10_000,
        reset_per_ip_per_hour=10_000,
        reset_per_account_per_hour=10_000,
    )


class Running:
    def __init__(self, app: FastAPI, client: httpx.AsyncClient) -> None:
        self.app = app
        self.client = client

    @property
    def ctx(self) -> Any:
        return self.app.state.ctx


async def start(settings: UserSettings) -> tuple[FastAPI, Any]:
    app = create_app(settings)
    lifespan = app.router.lifespan_context(app)
    await lifespan.__aenter__()
    return app, lifespan


@pytest.fixture(scope="session")
async def user_service(user_settings: UserSettings) -> AsyncIterator[Running]:
    app, lifespan = await start(user_settings)
    transport = httpx.ASGITransport(app=app, client=("198.51.100.7", 40000))
    async with httpx.AsyncClient(
        transport=transport, base_url="http://user.test", headers={"User-Agent": "pytest-httpx"}
    ) as client:
        yield Running(app, client)
    await lifespan.__aexit__(None, None, None)


@pytest.fixture
def client(user_service: Running) -> httpx.AsyncClient:
    return user_service.client


class Mailbox:
    """Messages the SMTP sink received, newest last."""

    def __init__(self, maildir: Path) -> None:
        self.maildir = maildir

    def to(self, address: str) -> list[Message]:
        found = []
        if not self.maildir.exists():
            return []
        for path in sorted(self.maildir.glob("*.eml")):
            message = email.message_from_bytes(path.read_bytes())
            if address.lower() in message.get("X-Kommerce-Envelope-To", "").lower():
                found.append(message)
        return found

    async def wait_for(self, address: str, *, count: int = 1, seconds: float = 10.0) -> Message:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            messages = self.to(address)
            if len(messages) >= count:
                return messages[count - 1]
            await asyncio.sleep(0.05)
        raise AssertionError(f"no mail #{count} to {address} within {seconds} s")

    @staticmethod
    def token(message: Message) -> str:
        body = message.get_payload(decode=True)
        assert isinstance(body, bytes)
        match = re.search(r"token=([A-Za-z0-9_\-.%]+)", body.decode())
        assert match, body.decode()
        from urllib.parse import unquote

        return unquote(match.group(1))


@pytest.fixture(scope="session")
def mailbox(stack_env: dict[str, str]) -> Mailbox:
    return Mailbox(Path(os.environ["KOMMERCE_SMTP_MAILDIR"]))


def new_email() -> str:
    return f"u{uuid.uuid4().hex[:12]}@example.com"


async def register_verified(
    client: httpx.AsyncClient, mailbox: Mailbox, *, password: str = PASSWORD
) -> tuple[str, str]:
    """A registered, verified account: (email, password)."""
    address = new_email()
    r = await client.post("/v1/auth/register", json={"email": address, "password": password})
    assert r.status_code == 202, r.text
    token = Mailbox.token(await mailbox.wait_for(address))
    r = await client.post("/v1/auth/verify-email", json={"token": token})
    assert r.status_code == 200, r.text
    return address, password


async def sign_in(client: httpx.AsyncClient, address: str, password: str = PASSWORD) -> Any:
    r = await client.post("/v1/auth/login", json={"email": address, "password": password})
    assert r.status_code == 200, r.text
    return r.json()["tokens"]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def fresh() -> Iterator[str]:
    return new_email()
