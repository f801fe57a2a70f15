"""`Secret` resources against the real OpenBao, PostgreSQL and API server, via the operator."""

from __future__ import annotations

import asyncio
import base64
import subprocess
import threading
import time
from collections.abc import Iterator
from typing import Any

import asyncpg
import hvac
import pytest
from cryptography import x509
from kubernetes import client

from kommerce.openbao.bootstrap import DATABASE_CONNECTION
from tests.helpers import eventually, kommerce

pytestmark = pytest.mark.operator

GROUP, VERSION, PLURAL = "kommerce.io", "v1alpha1", "secrets"


@pytest.fixture
def bao(openbao: dict[str, str]) -> hvac.Client:
    """An admin client (the stack's token), to play the part of whoever writes secrets."""
    return hvac.Client(url=openbao["KOMMERCE_VAULT_ADDR"], token=openbao["KOMMERCE_VAULT_TOKEN"])


def _create(kube: client.ApiClient, namespace: str, name: str, **spec: Any) -> None:
    client.CustomObjectsApi(kube).create_namespaced_custom_object(
        GROUP,
        VERSION,
        namespace,
        PLURAL,
        {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "Secret",
            "metadata": {"name": name},
            "spec": spec,
        },
    )


def _status(kube: client.ApiClient, namespace: str, name: str) -> dict[str, Any]:
    body: Any = client.CustomObjectsApi(kube).get_namespaced_custom_object(
        GROUP, VERSION, namespace, PLURAL, name
    )
    return dict(body.get("status", {}))


def _condition(status: dict[str, Any], kind: str) -> dict[str, Any]:
    return next((c for c in status.get("conditions", []) if c["type"] == kind), {})


def _degraded(kube: client.ApiClient, namespace: str, name: str, *, what: str) -> dict[str, Any]:
    """Wait until the resource is Degraded; returns that condition."""
    return dict(
        eventually(
            lambda: (
                _condition(_status(kube, namespace, name), "Degraded").get("status") == "True"
                and _condition(_status(kube, namespace, name), "Degraded")
            ),
            what=what,
        )
    )


def _data(kube: client.ApiClient, namespace: str, name: str) -> dict[str, str] | None:
    try:
        secret = client.CoreV1Api(kube).read_namespaced_secret(name, namespace)
    except client.ApiException as exc:
        if exc.status == 404:
            return None
        raise
    return {k: base64.b64decode(v).decode() for k, v in (secret.data or {}).items()}


def _delete(kube: client.ApiClient, namespace: str, name: str) -> None:
    client.CustomObjectsApi(kube).delete_namespaced_custom_object(
        GROUP, VERSION, namespace, PLURAL, name
    )

    def gone() -> bool:
        try:
            _status(kube, namespace, name)
        except client.ApiException as exc:
            return exc.status == 404
        return False

    eventually(gone, what=f"Secret resource {name} to be deleted (finalizer released)")


def test_kv_sync_selected_keys_and_propagate_updates(
    operator: subprocess.Popen[bytes], kube: client.ApiClient, namespace: str, bao: hvac.Client
) -> None:
    path = f"tests/{namespace}/stripe"
    bao.secrets.kv.v2.create_or_update_secret(
        path, secret={"api_key": "sk_test_1", "webhook": "whsec_1", "unused": "x"}, mount_point="kv"
    )
    _create(
        kube,
        namespace,
        "stripe",
        kv={"path": path, "keys": ["api_key", "webhook"]},
        refreshInterval="2s",
    )
    assert eventually(lambda: _data(kube, namespace, "stripe"), what="the core Secret") == {
        "api_key": "sk_test_1",
        "webhook": "whsec_1",
    }
    status = eventually(
        lambda: (
            _status(kube, namespace, "stripe").get("version") and _status(kube, namespace, "stripe")
        ),
        what="status",
    )
    assert (status["version"], status["sourceVersion"], status["source"]) == (1, "1", "kv")
    assert _condition(status, "Ready")["status"] == "True"
    bao.secrets.kv.v2.create_or_update_secret(
        path, secret={"api_key": "sk_test_2", "webhook": "whsec_1"}, mount_point="kv"
    )
    eventually(
        lambda: (_data(kube, namespace, "stripe") or {}).get("api_key") == "sk_test_2",
        timeout=20,
        what="the KV update to propagate within the refresh interval",
    )
    eventually(lambda: _status(kube, namespace, "stripe")["version"] == 2, what="version 2")


def test_missing_kv_key_is_refused_with_the_reason(
    operator: subprocess.Popen[bytes], kube: client.ApiClient, namespace: str, bao: hvac.Client
) -> None:
    path = f"tests/{namespace}/partial"
    bao.secrets.kv.v2.create_or_update_secret(path, secret={"a": "1"}, mount_point="kv")
    _create(kube, namespace, "partial", kv={"path": path, "keys": ["a", "b"]})
    degraded = _degraded(kube, namespace, "partial", what="Degraded")
    assert degraded["reason"] == "OpenBaoRefused"
    assert "no key(s) b" in degraded["message"]
    assert _data(kube, namespace, "partial") is None


def _database_role(bao: hvac.Client, role: str, *, ttl: str = "1h", max_ttl: str = "24h") -> None:
    bao.secrets.database.create_role(
        role,
        DATABASE_CONNECTION,
        [
            "CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' "
            "VALID UNTIL '{{expiration}}';"
        ],
        default_ttl=ttl,
        max_ttl=max_ttl,
        revocation_statements=[
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '{{name}}';",
            'DROP ROLE IF EXISTS "{{name}}";',
        ],
        mount_point="database",
    )


def _connection(openbao: dict[str, str]) -> dict[str, Any]:
    port = int(openbao["KOMMERCE_DATABASE_URL"].rsplit(":", 1)[1].split("/")[0])
    return {"host": "127.0.0.1", "port": port, "database": "kommerce"}


async def _login(url: str) -> int:
    conn = await asyncpg.connect(url, timeout=5)
    try:
        return int(await conn.fetchval("SELECT 1"))
    finally:
        await conn.close()


def _can_login(url: str) -> bool:
    try:
        return asyncio.run(_login(url)) == 1
    except (asyncpg.InvalidPasswordError, asyncpg.InvalidAuthorizationSpecificationError):
        return False


def test_dynamic_database_credentials_login_renew_and_revoke_on_delete(
    operator: subprocess.Popen[bytes],
    kube: client.ApiClient,
    namespace: str,
    bao: hvac.Client,
    openbao: dict[str, str],
) -> None:
    role = f"test-{namespace}"
    _database_role(bao, role, ttl="15s", max_ttl="10m")
    _create(kube, namespace, "db", database={"role": role, "connection": _connection(openbao)})
    data = eventually(lambda: _data(kube, namespace, "db"), what="dynamic credentials")
    assert data["username"].startswith("v-")
    assert _can_login(data["DATABASE_URL"])
    first = _status(kube, namespace, "db")
    assert first["leaseId"].startswith("database/creds/")
    # Two-thirds into the 15 s lease the operator renews it: same login, later expiry.
    eventually(
        lambda: _status(kube, namespace, "db")["leaseExpiry"] > first["leaseExpiry"],
        timeout=30,
        what="the lease to be renewed",
    )
    assert _data(kube, namespace, "db") == data
    time.sleep(16)  # past the original lease: still valid because it was renewed
    assert _can_login(data["DATABASE_URL"])
    _delete(kube, namespace, "db")
    assert not _can_login(data["DATABASE_URL"])  # the finalizer revoked the lease


class Consumer:
    """Keeps querying PostgreSQL with whatever credentials the Secret holds right now.

    Like a real client it retries a failed query (re-reading the Secret) up to 3 times; a
    request that fails all attempts is lost.
    """

    def __init__(self, kube: client.ApiClient, namespace: str, name: str) -> None:
        self.kube, self.namespace, self.name = kube, namespace, name
        self.ok = self.retried = self.lost = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        async def loop() -> None:
            conn: asyncpg.Connection | None = None
            while not self._stop.is_set():
                for attempt in range(4):
                    try:
                        if conn is None:
                            data = _data(self.kube, self.namespace, self.name) or {}
                            conn = await asyncpg.connect(data["DATABASE_URL"], timeout=5)
                        await conn.fetchval("SELECT 1")
                        self.ok += 1
                        break
                    # InternalClientError: the operator revoked the old login and its
                    # backend was terminated in the middle of a query
                    except (
                        OSError,
                        asyncpg.PostgresError,
                        asyncpg.InterfaceError,
                        asyncpg.InternalClientError,
                    ):
                        self.retried += 1
                        conn = None
                        await asyncio.sleep(0.2 * (attempt + 1))
                else:
                    self.lost += 1
                await asyncio.sleep(0.05)
            if conn is not None:
                await conn.close()

        asyncio.run(loop())

    def __enter__(self) -> Consumer:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)


@pytest.fixture
def consumer_deployment(kube: client.ApiClient, namespace: str) -> Iterator[str]:
    apps = client.AppsV1Api(kube)
    body = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "reader"},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "reader"}},
            "template": {
                "metadata": {"labels": {"app": "reader"}},
                "spec": {
                    "containers": [
                        {
                            "name": "app",
                            "image": "ghcr.io/kommerce/reader:1",
                            "envFrom": [{"secretRef": {"name": "rotating"}}],
                        }
                    ]
                },
            },
        },
    }
    apps.create_namespaced_deployment(namespace, body)
    return "reader"


def _template_annotations(kube: client.ApiClient, namespace: str, name: str) -> dict[str, str]:
    deployment = client.AppsV1Api(kube).read_namespaced_deployment(name, namespace)
    return dict(deployment.spec.template.metadata.annotations or {})  # type: ignore[union-attr]


def test_rotation_restarts_consumers_once_and_loses_no_request(
    operator: subprocess.Popen[bytes],
    kube: client.ApiClient,
    namespace: str,
    bao: hvac.Client,
    openbao: dict[str, str],
    consumer_deployment: str,
) -> None:
    role = f"test-{namespace}"
    _database_role(bao, role)
    _create(
        kube,
        namespace,
        "rotating",
        database={"role": role, "connection": _connection(openbao), "revokeAfter": "3s"},
    )
    old = eventually(lambda: _data(kube, namespace, "rotating"), what="credentials")
    assert _template_annotations(kube, namespace, "reader") == {}  # first sync: no restart
    with Consumer(kube, namespace, "rotating") as consumer:
        eventually(lambda: consumer.ok > 20, what="the consumer to be querying")
        done = kommerce("secret", "rotate", "rotating", "-n", namespace, "--timeout", "60")
        assert done.returncode == 0, done.stdout + done.stderr
        assert "restarted: Deployment/reader" in done.stdout
        new = _data(kube, namespace, "rotating") or {}
        assert new["username"] != old["username"]
        # The old login stays valid for revokeAfter, then the operator revokes it.
        eventually(lambda: not _can_login(old["DATABASE_URL"]), timeout=30, what="old revoked")
        served = consumer.ok
        eventually(lambda: consumer.ok > served + 20, what="the consumer to go on on new creds")
    assert consumer.lost == 0, f"lost {consumer.lost} requests ({consumer.retried} retries)"
    assert _can_login(new["DATABASE_URL"])
    status = _status(kube, namespace, "rotating")
    assert status["version"] == 2
    annotations = _template_annotations(kube, namespace, "reader")
    assert annotations["secret.kommerce.io/rotating"] == status["checksum"]
    generation = client.AppsV1Api(kube).read_namespaced_deployment("reader", namespace)
    time.sleep(12)  # two more timer passes: nothing restarts again
    later = client.AppsV1Api(kube).read_namespaced_deployment("reader", namespace)
    assert later.metadata.generation == generation.metadata.generation  # type: ignore[union-attr]


def test_pki_certificate_is_renewed_at_the_configured_fraction(
    operator: subprocess.Popen[bytes], kube: client.ApiClient, namespace: str
) -> None:
    _create(
        kube,
        namespace,
        "tls",
        pki={
            "commonName": f"order.{namespace}.svc",
            "altNames": [f"order.{namespace}.svc.cluster.local"],
            "ttl": "20s",
            "renewAt": 0.5,
        },
    )
    data = eventually(lambda: _data(kube, namespace, "tls"), what="the certificate")
    cert = x509.load_pem_x509_certificate(data["tls.crt"].encode())
    assert cert.subject.rfc4514_string() == f"CN=order.{namespace}.svc"
    ca = x509.load_pem_x509_certificate(data["ca.crt"].encode())
    cert.verify_directly_issued_by(ca)
    secret = client.CoreV1Api(kube).read_namespaced_secret("tls", namespace)
    assert secret.type == "kubernetes.io/tls"
    serial = _status(kube, namespace, "tls")["sourceVersion"]
    started = time.monotonic()
    eventually(
        lambda: _status(kube, namespace, "tls")["sourceVersion"] != serial,
        timeout=30,
        what="the certificate to be renewed",
    )
    assert time.monotonic() - started < 20  # renewed before it expired
    assert (_data(kube, namespace, "tls") or {})["tls.crt"] != data["tls.crt"]


def test_transit_key_created_and_rotated_without_restarting_anyone(
    operator: subprocess.Popen[bytes], kube: client.ApiClient, namespace: str, bao: hvac.Client
) -> None:
    key = f"test-{namespace}"
    _create(
        kube,
        namespace,
        "enc",
        transit={"key": key, "rotationPeriod": "1h"},
        deletionPolicy="Delete",
    )
    data = eventually(lambda: _data(kube, namespace, "enc"), what="the transit Secret")
    assert data["KOMMERCE_TRANSIT_KEY"] == key
    assert bao.secrets.transit.read_key(key)["data"]["latest_version"] == 1
    done = kommerce("secret", "rotate", "enc", "-n", namespace, "--timeout", "60")
    assert done.returncode == 0, done.stdout + done.stderr
    assert bao.secrets.transit.read_key(key)["data"]["latest_version"] == 2
    status = _status(kube, namespace, "enc")
    assert (status["sourceVersion"], status["version"]) == ("2", 1)  # same data: no restart
    _delete(kube, namespace, "enc")
    with pytest.raises(hvac.exceptions.InvalidPath):
        bao.secrets.transit.read_key(key)  # deletionPolicy Delete removed it


def test_rotate_unknown_resource_says_what_to_do(kube: client.ApiClient, namespace: str) -> None:
    done = kommerce("secret", "rotate", "nope", "-n", namespace)
    assert done.returncode != 0
    assert f"no Secret resource {namespace}/nope" in done.stderr


def test_openbao_outage_degrades_keeps_the_secret_and_recovers(
    operator: subprocess.Popen[bytes], kube: client.ApiClient, namespace: str, bao: hvac.Client
) -> None:
    from kommerce.runtime import orchestrate
    from kommerce.stack.servers import servers

    path = f"tests/{namespace}/outage"
    bao.secrets.kv.v2.create_or_update_secret(path, secret={"k": "v1"}, mount_point="kv")
    _create(kube, namespace, "outage", kv={"path": path}, refreshInterval="1s")
    eventually(lambda: _data(kube, namespace, "outage"), what="the first sync")
    openbao_server = [s for s in servers() if s.name == "openbao"]
    orchestrate.down(openbao_server, say=lambda _m: None)
    try:
        degraded = _degraded(kube, namespace, "outage", what="Degraded while OpenBao is down")
        assert degraded["reason"] == "OpenBaoUnavailable"
        assert "unreachable" in degraded["message"]
        time.sleep(20)
        status = _status(kube, namespace, "outage")
        # Backoff (5 s, 10 s, 20 s, ...) bounds the calls: a 1 s refresh would have made ~25.
        assert status["failures"] <= 4, status
        assert _data(kube, namespace, "outage") == {"k": "v1"}  # never wiped
        assert _condition(status, "Ready")["status"] == "True"
    finally:
        orchestrate.up(openbao_server, say=lambda _m: None)
    bao.secrets.kv.v2.create_or_update_secret(path, secret={"k": "v2"}, mount_point="kv")
    eventually(
        lambda: (
            _condition(_status(kube, namespace, "outage"), "Degraded").get("status") == "False"
            and (_data(kube, namespace, "outage") or {}).get("k") == "v2"
        ),
        timeout=90,
        what="automatic recovery when OpenBao is back",
    )
