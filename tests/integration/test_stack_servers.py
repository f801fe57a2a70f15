"""A real operation against each server of the local stack, through the clients services use."""

from __future__ import annotations

import asyncio
import smtplib
import time
import uuid
from email.message import EmailMessage
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.integration


async def test_postgres_round_trip(stack_env: dict[str, str]) -> None:
    from sqlalchemy import text

    from kommerce.data.db import Database
    from kommerce.settings import KommerceSettings

    db = Database(url=KommerceSettings().async_database_url(), schema="it_roundtrip")
    try:
        await db.ensure_schema()
        async with db.session() as session:
            await session.execute(text("DROP TABLE IF EXISTS items"))
            await session.execute(text("CREATE TABLE items (id int primary key, name text)"))
            await session.execute(text("INSERT INTO items VALUES (1, 'widget')"))
        async with db.session() as session:
            name = (await session.execute(text("SELECT name FROM items WHERE id = 1"))).scalar()
            schema = (await session.execute(text("SELECT current_schema()"))).scalar()
        assert name == "widget"
        assert schema == "it_roundtrip"
    finally:
        await db.close()


async def test_postgres_role_may_create_databases(stack_env: dict[str, str]) -> None:
    import asyncpg

    name = f"it_{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(stack_env["KOMMERCE_DATABASE_URL"])
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
        await conn.execute(f'DROP DATABASE "{name}"')
    finally:
        await conn.close()


async def test_redis_set_get(stack_env: dict[str, str]) -> None:
    from kommerce.data.cache import redis_client

    client = redis_client(stack_env["KOMMERCE_REDIS_URL"])
    try:
        key = f"it:{uuid.uuid4().hex}"
        await client.set(key, "value", ex=60)
        assert await client.get(key) == "value"
    finally:
        await client.aclose()


async def test_kafka_produce_consume_new_topic(stack_env: dict[str, str]) -> None:
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    bootstrap = stack_env["KOMMERCE_KAFKA_BOOTSTRAP"]
    topic = f"it.{uuid.uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=2, replication_factor=1)])
    finally:
        await admin.close()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        await producer.send_and_wait(topic, b"hello", key=b"order-1")
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=f"it-{topic}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        message = await asyncio.wait_for(consumer.getone(), timeout=30)
    finally:
        await consumer.stop()
    assert (message.key, message.value) == (b"order-1", b"hello")


async def test_rabbitmq_publish_consume(stack_env: dict[str, str]) -> None:
    import aio_pika

    connection = await aio_pika.connect_robust(stack_env["KOMMERCE_AMQP_URL"], timeout=10)
    async with connection:
        channel = await connection.channel()
        queue = await channel.declare_queue(f"it-{uuid.uuid4().hex[:8]}", auto_delete=True)
        await channel.default_exchange.publish(
            aio_pika.Message(body=b"ping", message_id="m-1"), routing_key=queue.name
        )
        message = await queue.get(timeout=10)
        assert message is not None
        await message.ack()
        assert message.body == b"ping"
        assert message.message_id == "m-1"


def test_openbao_kv_write_read(stack_env: dict[str, str]) -> None:
    import hvac

    client = hvac.Client(
        url=stack_env["KOMMERCE_VAULT_ADDR"], token=stack_env["KOMMERCE_VAULT_TOKEN"], timeout=5
    )
    assert client.is_authenticated()
    assert not client.sys.is_sealed()  # the stack initialised and unsealed it
    if "it-kv/" not in client.sys.list_mounted_secrets_engines()["data"]:
        client.sys.enable_secrets_engine("kv", path="it-kv", options={"version": "2"})
    path = f"it/{uuid.uuid4().hex[:8]}"
    client.secrets.kv.v2.create_or_update_secret(
        path=path, secret={"api_key": "s3cr3t"}, mount_point="it-kv"
    )
    read = client.secrets.kv.v2.read_secret_version(
        path=path, raise_on_deleted_version=True, mount_point="it-kv"
    )
    assert read["data"]["data"] == {"api_key": "s3cr3t"}


def test_opa_policy_put_and_query(stack_env: dict[str, str]) -> None:
    opa = stack_env["KOMMERCE_OPA_URL"]
    policy = """package kommerce.it

import rego.v1

default allow := false

allow if input.user.roles[_] == "admin"
"""
    with httpx.Client(base_url=opa, timeout=5) as client:
        put = client.put("/v1/policies/it", content=policy, headers={"content-type": "text/plain"})
        assert put.status_code == 200, put.text
        admin = client.post(
            "/v1/data/kommerce/it/allow", json={"input": {"user": {"roles": ["admin"]}}}
        )
        shopper = client.post(
            "/v1/data/kommerce/it/allow", json={"input": {"user": {"roles": ["shopper"]}}}
        )
        broken = client.put(
            "/v1/policies/bad",
            content="package x\nallow if {",
            headers={"content-type": "text/plain"},
        )
    assert admin.json()["result"] is True
    assert shopper.json()["result"] is False
    assert broken.status_code == 400


def test_mlflow_experiment_and_run(stack_env: dict[str, str]) -> None:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=stack_env["KOMMERCE_MLFLOW_URL"])
    experiment_id = client.create_experiment(f"it-{uuid.uuid4().hex[:8]}")
    run = client.create_run(experiment_id)
    client.log_param(run.info.run_id, "learning_rate", "0.01")
    client.log_metric(run.info.run_id, "rmse", 0.42, step=1)
    client.set_terminated(run.info.run_id)
    fetched = client.get_run(run.info.run_id)
    assert fetched.data.params == {"learning_rate": "0.01"}
    assert fetched.data.metrics == {"rmse": 0.42}
    assert fetched.info.status == "FINISHED"


def test_stripe_mock_payment_intent(stack_env: dict[str, str]) -> None:
    import stripe

    client = stripe.StripeClient(
        "sk_test_123",
        base_addresses={"api": stack_env["KOMMERCE_STRIPE_API_BASE"]},
        max_network_retries=0,
    )
    intent = client.v1.payment_intents.create(
        params={"amount": 2599, "currency": "eur", "payment_method_types": ["card"]}
    )
    assert intent.object == "payment_intent"
    assert intent.id.startswith("pi_")
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.payment_intents.create(params={"currency": "eur"})  # type: ignore[typeddict-item]


def test_smtp_message_reaches_the_sink(stack_env: dict[str, str]) -> None:
    maildir = Path(stack_env["KOMMERCE_SMTP_MAILDIR"])
    subject = f"it-{uuid.uuid4().hex}"
    message = EmailMessage()
    message["From"] = "shop@kommerce.test"
    message["To"] = "shopper@example.test"
    message["Subject"] = subject
    message.set_content("Your order has shipped.")
    with smtplib.SMTP(
        stack_env["KOMMERCE_SMTP_HOST"], int(stack_env["KOMMERCE_SMTP_PORT"]), timeout=5
    ) as smtp:
        smtp.send_message(message)
    deadline = time.monotonic() + 10
    found: list[Path] = []
    while time.monotonic() < deadline and not found:
        found = [p for p in maildir.glob("*.eml") if subject in p.read_text(errors="replace")]
        time.sleep(0.1)
    assert found, f"no message with subject {subject} in {maildir}"
    assert "shopper@example.test" in found[0].read_text()


def test_s3_put_get(stack_env: dict[str, str]) -> None:
    import boto3

    s3 = boto3.client(
        "s3",
        endpoint_url=stack_env["KOMMERCE_S3_ENDPOINT"],
        aws_access_key_id="kommerce",
        aws_secret_access_key="kommerce",
        region_name="us-east-1",
    )
    bucket = f"it-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="models/a.bin", Body=b"\x00\x01weights")
    body = s3.get_object(Bucket=bucket, Key="models/a.bin")["Body"].read()
    assert body == b"\x00\x01weights"
