"""External resources of a `Service`: its PostgreSQL database and role, its Kafka topics.

These live outside Kubernetes, so owner references cannot clean them up: the operator creates
them idempotently on every pass and, behind a finalizer, removes them on deletion only when
`deletionPolicy: Delete` says so. A database is never dropped silently. Every call has a
timeout; a server that is down surfaces as an error the reconciler reports as Degraded.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import asyncpg
from aiokafka.admin import AIOKafkaAdminClient, NewPartitions, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from kommerce.api.v1alpha1.service import ServiceSpec, Topic

CONNECT_TIMEOUT = 5.0
_IDENT = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


class BackingServerError(RuntimeError):
    """A backing server could not be reached or refused; the message names which."""


def database_name(*, namespace: str, name: str, spec: ServiceSpec) -> str:
    if spec.dependencies.database and spec.dependencies.database.name:
        return spec.dependencies.database.name
    return f"{namespace}_{name}".replace("-", "_")[:63]


def _ident(value: str) -> str:
    if not _IDENT.match(value):
        raise ValueError(f"not a safe SQL identifier: {value!r}")
    return f'"{value}"'


class Postgres:
    def __init__(self, admin_url: str) -> None:
        self.admin_url = admin_url
        parts = urlsplit(admin_url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 5432

    async def _connect(self, database: str | None = None) -> asyncpg.Connection:
        url = self.admin_url
        if database:
            url = url.rsplit("/", 1)[0] + f"/{database}"
        try:
            return await asyncpg.connect(url, timeout=CONNECT_TIMEOUT, command_timeout=30)
        except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
            raise BackingServerError(
                f"PostgreSQL at {self.host}:{self.port} unreachable: {type(exc).__name__}: {exc}"
            ) from exc

    async def ensure(self, *, database: str, extensions: list[str]) -> None:
        """Create the database and its owner role (NOLOGIN: no password exists); idempotent.

        Logins are dynamic: OpenBao creates short-lived roles that are members of the owner
        role and act as it (see `openbao_role`), so what they create belongs to the owner.
        """
        conn = await self._connect()
        try:
            role = _ident(database)
            if await conn.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", database):
                await conn.execute(f"ALTER ROLE {role} NOLOGIN PASSWORD NULL")
            else:
                await conn.execute(f"CREATE ROLE {role} NOLOGIN")
            if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", database):
                await conn.execute(f"GRANT {role} TO CURRENT_USER")
                await conn.execute(f"CREATE DATABASE {role} OWNER {role}")
        finally:
            await conn.close()
        if extensions:
            db = await self._connect(database)
            try:
                for extension in extensions:
                    await db.execute(f"CREATE EXTENSION IF NOT EXISTS {_ident(extension)}")
            finally:
                await db.close()

    async def drop(self, database: str) -> None:
        conn = await self._connect()
        try:
            await conn.execute(f"DROP DATABASE IF EXISTS {_ident(database)} WITH (FORCE)")
            await conn.execute(f"DROP ROLE IF EXISTS {_ident(database)}")
        finally:
            await conn.close()


def openbao_role(*, namespace: str, name: str) -> str:
    """The OpenBao database role that issues a Service's logins."""
    return f"svc-{namespace}-{name}"


def creation_statements(owner: str) -> list[str]:
    """SQL OpenBao runs for each new login: a member of the owner role that acts as it."""
    role = _ident(owner)
    return [
        "CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' "
        f"VALID UNTIL '{{{{expiration}}}}' IN ROLE {role};",
        f"ALTER ROLE \"{{{{name}}}}\" SET role = '{owner}';",
    ]


REVOCATION_STATEMENTS = [
    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '{{name}}';",
    'DROP ROLE IF EXISTS "{{name}}";',
]


class Kafka:
    def __init__(self, bootstrap: str, *, replication_factor: int = 1) -> None:
        self.bootstrap = bootstrap
        self.replication_factor = replication_factor

    async def _admin(self) -> AIOKafkaAdminClient:
        admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap, request_timeout_ms=10_000)
        try:
            await admin.start()
        except Exception as exc:
            await admin.close()
            raise BackingServerError(f"Kafka at {self.bootstrap} unreachable: {exc}") from exc
        return admin

    async def ensure(self, topics: list[Topic]) -> list[str]:
        """Create missing topics, grow partitions, set retention. Returns the topic names."""
        if not topics:
            return []
        admin = await self._admin()
        try:
            existing = set(await admin.list_topics())
            missing = [t for t in topics if t.name not in existing]
            if missing:
                await admin.create_topics(
                    [
                        NewTopic(
                            t.name,
                            num_partitions=t.partitions,
                            replication_factor=self.replication_factor,
                            topic_configs={"retention.ms": str(t.retention_hours * 3_600_000)},
                        )
                        for t in missing
                    ]
                )
            present = [t for t in topics if t.name in existing]
            if present:
                described = await admin.describe_topics([t.name for t in present])
                counts = {d["topic"]: len(d["partitions"]) for d in described}
                grow = {
                    t.name: NewPartitions(total_count=t.partitions)
                    for t in present
                    if t.partitions > counts.get(t.name, t.partitions)
                }
                if grow:
                    await admin.create_partitions(grow)
                await admin.alter_configs(
                    [
                        ConfigResource(
                            ConfigResourceType.TOPIC,
                            t.name,
                            configs={"retention.ms": str(t.retention_hours * 3_600_000)},
                        )
                        for t in present
                    ]
                )
        except BackingServerError:
            raise
        except Exception as exc:
            raise BackingServerError(
                f"Kafka at {self.bootstrap}: {type(exc).__name__}: {exc}"
            ) from exc
        finally:
            await admin.close()
        return [t.name for t in topics]

    async def delete(self, names: list[str]) -> None:
        if not names:
            return
        admin = await self._admin()
        try:
            existing = set(await admin.list_topics())
            doomed = [n for n in names if n in existing]
            if doomed:
                await admin.delete_topics(doomed)
        finally:
            await admin.close()
