"""The user service's events travel outbox → relay → Kafka and decode with their schemas."""

from __future__ import annotations

import asyncio
import contextlib
import uuid

import httpx
import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError
from prometheus_client import CollectorRegistry
from sqlalchemy import text

from kommerce.events.relay import Relay, relay_metrics
from kommerce.events.schemas import Registry
from kommerce.events.serde import decode
from services.user.settings import UserSettings
from tests.integration.user.conftest import Mailbox, Running, bearer, register_verified, sign_in

pytestmark = pytest.mark.integration
REGISTRY = Registry.load()
SUBJECTS = [
    "user.registered",
    "user.email_verified",
    "user.password_reset_requested",
    "user.role_changed",
]
TOPICS = [REGISTRY.subject(s).topic for s in SUBJECTS]


async def ensure_topics(bootstrap: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        for topic in TOPICS:
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics([NewTopic(topic, num_partitions=3, replication_factor=1)])
    finally:
        await admin.close()


async def test_user_events_reach_kafka(
    client: httpx.AsyncClient,
    mailbox: Mailbox,
    user_service: Running,
    user_settings: UserSettings,
    stack_env: dict[str, str],
) -> None:
    bootstrap = stack_env["KOMMERCE_KAFKA_BOOTSTRAP"]
    await ensure_topics(bootstrap)
    address, _ = await register_verified(client, mailbox)
    await client.post("/v1/auth/password-reset/request", json={"email": address})
    me = (
        await client.get("/v1/me", headers=bearer((await sign_in(client, address))["access_token"]))
    ).json()
    user_id = me["id"]
    async with user_service.ctx.db.session() as session:  # an admin grants a role
        admin_id = uuid.uuid4()
        await session.execute(
            text("INSERT INTO users (id, email) VALUES (:i, :e)"),
            {"i": admin_id, "e": f"admin-{admin_id.hex[:8]}@example.com"},
        )
        await session.execute(
            text("INSERT INTO user_roles (user_id, role) VALUES (:i, 'admin')"), {"i": admin_id}
        )
    admin_token = user_service.ctx.tokens.access_token(
        user_id=admin_id, session_id=str(uuid.uuid4()), roles=["admin"], amr=["pwd"], auth_time=0
    )
    r = await client.put(f"/v1/admin/users/{user_id}/roles/merchant", headers=bearer(admin_token))
    assert r.status_code == 200, r.text

    relay = Relay(
        database_url=user_settings.async_database_url(),
        schema=user_settings.schema_name,
        bootstrap=bootstrap,
        poll_interval=0.05,
        metrics=relay_metrics(CollectorRegistry()),
    )
    await relay.start()
    consumer = AIOKafkaConsumer(
        *TOPICS,
        bootstrap_servers=bootstrap,
        group_id=f"it-user-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="earliest",
    )
    await consumer.start()
    seen: dict[str, dict[str, object]] = {}
    try:
        deadline = asyncio.get_running_loop().time() + 60
        while len(seen) < len(SUBJECTS):
            assert asyncio.get_running_loop().time() < deadline, f"only saw {sorted(seen)}"
            batches = await consumer.getmany(timeout_ms=500)
            for records in batches.values():
                for record in records:
                    if record.key != user_id.encode():
                        continue
                    event = decode(
                        REGISTRY,
                        key=record.key,
                        value=record.value,
                        headers={k: v.decode() for k, v in record.headers},
                    )
                    seen[event.type] = event.payload
    finally:
        await consumer.stop()
        await relay.stop()
    assert seen["user.role_changed"]["role"] == "merchant"
    assert seen["user.role_changed"]["change"] == "granted"
    assert seen["user.email_verified"]["method"] == "link"
    assert "token" not in str(seen["user.password_reset_requested"])
