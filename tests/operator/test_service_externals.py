"""Database, topics, monitoring and outages: the `Service` operator against the real servers."""

from __future__ import annotations

import asyncio
import base64
import subprocess
import uuid
from typing import Any

import asyncpg
import pytest
from aiokafka.admin import AIOKafkaAdminClient
from kubernetes import client

from tests.helpers import eventually

pytestmark = pytest.mark.operator

GROUP, VERSION, PLURAL = "kommerce.io", "v1alpha1", "services"


def _create(kube: client.ApiClient, namespace: str, name: str, **spec: Any) -> None:
    client.CustomObjectsApi(kube).create_namespaced_custom_object(
        GROUP,
        VERSION,
        namespace,
        PLURAL,
        {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "Service",
            "metadata": {"name": name},
            "spec": {"image": "ghcr.io/kommerce/x", "version": "1", **spec},
        },
    )


def _status(kube: client.ApiClient, namespace: str, name: str) -> dict[str, Any]:
    body = client.CustomObjectsApi(kube).get_namespaced_custom_object(
        GROUP, VERSION, namespace, PLURAL, name
    )
    return dict(body.get("status", {}))  # type: ignore[union-attr]


def _condition(kube: client.ApiClient, namespace: str, name: str, kind: str) -> str:
    for cond in _status(kube, namespace, name).get("conditions", []):
        if cond["type"] == kind:
            return f"{cond['status']}/{cond['reason']}"
    return ""


def _core_secret(kube: client.ApiClient, namespace: str, name: str) -> Any:
    try:
        return client.CoreV1Api(kube).read_namespaced_secret(name, namespace)
    except client.ApiException as exc:
        if exc.status == 404:
            return None
        raise


def _run(coro: Any) -> Any:
    return asyncio.run(coro)


async def _db_exists(admin_url: str, database: str) -> bool:
    conn = await asyncpg.connect(admin_url)
    try:
        return bool(await conn.fetchval("SELECT 1 FROM pg_database WHERE datname=$1", database))
    finally:
        await conn.close()


async def _topic_partitions(bootstrap: str) -> dict[str, int]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        names = await admin.list_topics()
        described = await admin.describe_topics(list(names))
        return {d["topic"]: len(d["partitions"]) for d in described}
    finally:
        await admin.close()


def test_database_topics_and_credentials(
    operator: subprocess.Popen[bytes],
    kube: client.ApiClient,
    namespace: str,
    stack_env: dict[str, str],
) -> None:
    topic = f"orders.{uuid.uuid4().hex[:6]}.v1"
    _create(
        kube,
        namespace,
        "order",
        dependencies={
            "database": {"extensions": ["pg_trgm"]},
            "topics": [{"name": topic, "partitions": 2, "retentionHours": 24}],
        },
    )
    eventually(
        lambda: _condition(kube, namespace, "order", "Ready") == "True/Available",
        what="Service Ready",
    )
    status = _status(kube, namespace, "order")
    database = f"{namespace}_order".replace("-", "_")
    assert status["database"] == database
    assert status["credentialsSecret"] == "order-db"
    assert status["topics"] == [topic]
    # The credentials are dynamic: a generated `Secret` resource, filled from OpenBao.
    secret = eventually(
        lambda: _core_secret(kube, namespace, "order-db"), what="the credentials Secret"
    )
    data = {k: base64.b64decode(v).decode() for k, v in (secret.data or {}).items()}
    assert data["PGDATABASE"] == database
    assert data["PGUSER"].startswith("v-")  # an OpenBao-issued login, not a static role
    owner = secret.metadata.owner_references[0]  # type: ignore[index]
    assert (owner.api_version, owner.kind) == ("kommerce.io/v1alpha1", "Secret")

    async def login_as_service() -> str:
        conn = await asyncpg.connect(data["DATABASE_URL"])
        try:
            await conn.execute("CREATE TABLE t (id int)")  # the role owns its database
            return str(
                await conn.fetchval("SELECT extname FROM pg_extension WHERE extname='pg_trgm'")
            )
        finally:
            await conn.close()

    assert _run(login_as_service()) == "pg_trgm"

    async def owner_role_can_log_in() -> bool:
        conn = await asyncpg.connect(stack_env["KOMMERCE_DATABASE_URL"])
        try:
            return bool(
                await conn.fetchval("SELECT rolcanlogin FROM pg_roles WHERE rolname=$1", database)
            )
        finally:
            await conn.close()

    assert not _run(owner_role_can_log_in())  # no static password: only OpenBao's logins
    assert _run(_topic_partitions(stack_env["KOMMERCE_KAFKA_BOOTSTRAP"]))[topic] == 2
    deployment = client.AppsV1Api(kube).read_namespaced_deployment("order", namespace)
    env_from = deployment.spec.template.spec.containers[0].env_from  # type: ignore[union-attr]
    assert [e.secret_ref.name for e in env_from or []] == ["order-db"]  # type: ignore[union-attr]
    # Growing the topic is applied through the admin API.
    client.CustomObjectsApi(kube).patch_namespaced_custom_object(
        GROUP,
        VERSION,
        namespace,
        PLURAL,
        "order",
        {
            "spec": {
                "dependencies": {
                    "database": {"extensions": ["pg_trgm"]},
                    "topics": [{"name": topic, "partitions": 4}],
                }
            }
        },
    )
    eventually(
        lambda: _run(_topic_partitions(stack_env["KOMMERCE_KAFKA_BOOTSTRAP"]))[topic] == 4,
        what="the topic to grow to 4 partitions",
    )


@pytest.mark.parametrize("policy", ["Retain", "Delete"])
def test_deletion_policy(
    operator: subprocess.Popen[bytes],
    kube: client.ApiClient,
    namespace: str,
    stack_env: dict[str, str],
    policy: str,
) -> None:
    topic = f"pay.{uuid.uuid4().hex[:6]}.v1"
    _create(
        kube,
        namespace,
        "pay",
        deletionPolicy=policy,
        dependencies={"database": {}, "topics": [{"name": topic}]},
    )
    eventually(
        lambda: _condition(kube, namespace, "pay", "Ready") == "True/Available",
        what="Service Ready",
    )
    admin_url = stack_env["KOMMERCE_DATABASE_URL"]
    database = _status(kube, namespace, "pay")["database"]
    assert _run(_db_exists(admin_url, database))
    client.CustomObjectsApi(kube).delete_namespaced_custom_object(
        GROUP, VERSION, namespace, PLURAL, "pay"
    )

    def deleted() -> bool:
        try:
            _status(kube, namespace, "pay")
        except client.ApiException as exc:
            return exc.status == 404
        return False

    eventually(deleted, what="the Service to be deleted (finalizer released)")
    topics = _run(_topic_partitions(stack_env["KOMMERCE_KAFKA_BOOTSTRAP"]))
    if policy == "Retain":
        assert _run(_db_exists(admin_url, database))
        assert topic in topics
    else:
        assert not _run(_db_exists(admin_url, database))
        eventually(
            lambda: topic not in _run(_topic_partitions(stack_env["KOMMERCE_KAFKA_BOOTSTRAP"])),
            what="the topic to be deleted",
        )


MONITORING_CRDS = [("servicemonitors", "ServiceMonitor"), ("prometheusrules", "PrometheusRule")]


def test_monitoring_skipped_then_applied_when_crds_exist(
    operator: subprocess.Popen[bytes],
    kube: client.ApiClient,
    namespace: str,
) -> None:
    slo = {"availability": {"objective": 99.9}, "latency": {"thresholdMs": 250, "objective": 99}}
    _create(kube, namespace, "search", monitoring=slo)
    eventually(
        lambda: _condition(kube, namespace, "search", "Ready") == "True/Available",
        what="Service Ready",
    )
    notes = _status(kube, namespace, "search").get("notes", [])
    assert any("monitoring.coreos.com CRDs are not installed" in n for n in notes)
    ext = client.ApiextensionsV1Api(kube)
    for plural, kind in MONITORING_CRDS:  # minimal stand-ins with the real group and kinds
        ext.create_custom_resource_definition(
            {  # type: ignore[arg-type]
                "apiVersion": "apiextensions.k8s.io/v1",
                "kind": "CustomResourceDefinition",
                "metadata": {"name": f"{plural}.monitoring.coreos.com"},
                "spec": {
                    "group": "monitoring.coreos.com",
                    "scope": "Namespaced",
                    "names": {"plural": plural, "kind": kind},
                    "versions": [
                        {
                            "name": "v1",
                            "served": True,
                            "storage": True,
                            "schema": {
                                "openAPIV3Schema": {
                                    "type": "object",
                                    "x-kubernetes-preserve-unknown-fields": True,
                                }
                            },
                        }
                    ],
                },
            }
        )
    try:
        custom = client.CustomObjectsApi(kube)
        rule = eventually(
            lambda: custom.get_namespaced_custom_object(
                "monitoring.coreos.com", "v1", namespace, "prometheusrules", "search"
            ),
            timeout=90,
            what="the PrometheusRule",
        )
        alerts = [r["alert"] for g in rule["spec"]["groups"] for r in g["rules"] if "alert" in r]
        assert "KommerceSLOErrorsBudgetBurn" in alerts
        assert "KommerceSLOLatencyBudgetBurn" in alerts
        eventually(
            lambda: custom.get_namespaced_custom_object(
                "monitoring.coreos.com", "v1", namespace, "servicemonitors", "search"
            ),
            what="the ServiceMonitor",
        )
        eventually(
            lambda: not _status(kube, namespace, "search").get("notes"),
            what="the skip note to disappear",
        )
    finally:
        for plural, _kind in MONITORING_CRDS:
            ext.delete_custom_resource_definition(f"{plural}.monitoring.coreos.com")


def test_postgres_outage_degrades_and_recovers(
    operator: subprocess.Popen[bytes],
    kube: client.ApiClient,
    namespace: str,
) -> None:
    from kommerce.runtime import orchestrate
    from kommerce.stack.servers import servers

    _create(kube, namespace, "user", dependencies={"database": {}})
    eventually(
        lambda: _condition(kube, namespace, "user", "Ready") == "True/Available",
        what="Service Ready",
    )
    postgres = [s for s in servers() if s.name == "postgres"]
    orchestrate.down(postgres, say=lambda _m: None)
    try:
        eventually(
            lambda: _condition(kube, namespace, "user", "Degraded") == "True/DependencyUnavailable",
            timeout=60,
            what="Degraded",
        )
        assert _condition(kube, namespace, "user", "Ready") == "False/DependencyUnavailable"
    finally:
        orchestrate.up(postgres, say=lambda _m: None)
    eventually(
        lambda: _condition(kube, namespace, "user", "Ready") == "True/Available",
        timeout=90,
        what="Ready again after PostgreSQL returned",
    )
    assert _condition(kube, namespace, "user", "Degraded") == "False/AsExpected"
