"""Ports, credentials and connection URLs of the local stack: the one place they are decided.

`kommerce stack env` prints these as `export` lines and the settings objects read the same
names, so nothing else in the repository hard-codes a port. Credentials are generated on first
use and kept (mode 0600) in the state directory, never in the repository.
"""

from __future__ import annotations

import json
import os
import secrets
import threading
from dataclasses import dataclass
from pathlib import Path

from kommerce.paths import state_dir

BASE_PORTS: dict[str, int] = {
    "postgres": 15432,
    "redis": 16379,
    "kafka": 19092,
    "kafka-controller": 19093,
    "rabbitmq": 15673,
    "rabbitmq-dist": 15674,
    "epmd": 15675,
    "openbao": 18200,
    "openbao-cluster": 18201,
    "opa": 18181,
    "prometheus": 19090,
    "mlflow": 15000,
    "stripe-mock": 12111,
    "stripe-mock-https": 12112,
    "smtp": 11025,
    "s3": 19000,
    # not 19200/19300: ports a multiple of 100 apart collide across KOMMERCE_PORT_OFFSETs
    "opensearch": 19211,
    "opensearch-transport": 19261,
}


def port_offset() -> int:
    raw = os.environ.get("KOMMERCE_PORT_OFFSET", "0")
    try:
        return int(raw)
    except ValueError as exc:
        raise ValueError(f"KOMMERCE_PORT_OFFSET must be an integer, got {raw!r}") from exc


def port(name: str) -> int:
    return BASE_PORTS[name] + port_offset()


@dataclass(frozen=True)
class Credentials:
    postgres_password: str
    kommerce_db_password: str
    redis_password: str
    rabbitmq_password: str
    vault_token: str


_credentials_lock = threading.Lock()


def credentials(root: Path | None = None) -> Credentials:
    """Load the stack's credentials, generating them on first use."""
    path = (root or stack_root()) / "credentials.json"
    with _credentials_lock:
        if path.exists():
            return Credentials(**json.loads(path.read_text()))
        return _generate(path)


def _generate(path: Path) -> Credentials:
    creds = Credentials(
        postgres_password=secrets.token_urlsafe(18),
        kommerce_db_password=secrets.token_urlsafe(18),
        redis_password=secrets.token_urlsafe(18),
        rabbitmq_password=secrets.token_urlsafe(18),
        vault_token="kommerce-dev-" + secrets.token_hex(12),
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(creds.__dict__, out)
    return creds


def stack_root() -> Path:
    return state_dir() / "stack"


def environment() -> dict[str, str]:
    """The KOMMERCE_* connection settings of the local stack."""
    c = credentials()
    return {
        "KOMMERCE_DATABASE_URL": (
            f"postgresql://kommerce:{c.kommerce_db_password}@127.0.0.1:{port('postgres')}/kommerce"
        ),
        "KOMMERCE_REDIS_URL": f"redis://:{c.redis_password}@127.0.0.1:{port('redis')}/0",
        "KOMMERCE_KAFKA_BOOTSTRAP": f"127.0.0.1:{port('kafka')}",
        "KOMMERCE_AMQP_URL": f"amqp://kommerce:{c.rabbitmq_password}@127.0.0.1:{port('rabbitmq')}/",
        "KOMMERCE_VAULT_ADDR": f"http://127.0.0.1:{port('openbao')}",
        "KOMMERCE_VAULT_TOKEN": c.vault_token,
        "KOMMERCE_OPA_URL": f"http://127.0.0.1:{port('opa')}",
        "KOMMERCE_PROMETHEUS_URL": f"http://127.0.0.1:{port('prometheus')}",
        "KOMMERCE_PROMETHEUS_TARGETS_DIR": str(stack_root() / "prometheus" / "targets"),
        "KOMMERCE_MLFLOW_URL": f"http://127.0.0.1:{port('mlflow')}",
        "KOMMERCE_STRIPE_API_BASE": f"http://127.0.0.1:{port('stripe-mock')}",
        "KOMMERCE_SMTP_HOST": "127.0.0.1",
        "KOMMERCE_SMTP_PORT": str(port("smtp")),
        "KOMMERCE_SMTP_MAILDIR": str(stack_root() / "smtp" / "mail"),
        "KOMMERCE_S3_ENDPOINT": f"http://127.0.0.1:{port('s3')}",
        "KOMMERCE_OPENSEARCH_URL": f"http://127.0.0.1:{port('opensearch')}",
        # the user service as `kommerce service run user` serves it (its default port)
        "KOMMERCE_AUTH_JWKS_URL": "http://127.0.0.1:8101/.well-known/jwks.json",
        "KOMMERCE_AUTH_ISSUER": "http://127.0.0.1:8101",
    }
