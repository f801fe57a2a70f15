"""`Secret`: a Kubernetes Secret kept in sync with OpenBao.

Exactly one source says where the data comes from: a KV v2 path, dynamic database credentials,
a PKI certificate, or a transit key. The operator writes the data into a core Secret (same name
by default), renews or rotates it on its schedule, restarts the workloads that consume it once
per rotation, and records versions, lease expiry and conditions in the status.
"""

from __future__ import annotations

import re
from datetime import datetime

from pydantic import Field

from kommerce.api.crd import PrinterColumn, ResourceDefinition
from kommerce.api.v1alpha1.common import ApiModel, DeletionPolicy, ResourceStatus

DURATION = r"^([0-9]+(ms|s|m|h))+$"
PATH = r"^[A-Za-z0-9._/-]+$"
NAME = r"^[A-Za-z0-9._-]+$"
_DURATION_PART = re.compile(r"([0-9]+)(ms|s|m|h)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}


def seconds(duration: str) -> float:
    """'1h30m' -> 5400.0 (Go-style durations, as Kubernetes and OpenBao write them)."""
    if not re.fullmatch(DURATION, duration):
        raise ValueError(f"not a duration like 30s, 5m or 1h30m: {duration!r}")
    return sum(int(n) * _UNIT_SECONDS[u] for n, u in _DURATION_PART.findall(duration))


class KvSource(ApiModel):
    """Keys of a KV v2 secret."""

    mount: str = Field(default="kv", pattern=NAME, description="KV v2 mount path.")
    path: str = Field(pattern=PATH, description="Secret path under the mount, e.g. payment/stripe.")
    keys: list[str] = Field(
        default_factory=list, description="Keys to copy (default: all keys at the path)."
    )


class Connection(ApiModel):
    """Where the database is; the credentials are added to these to form URLs."""

    host: str = Field(description="PostgreSQL host as the workloads reach it.")
    port: int = Field(default=5432, ge=1, le=65535, description="PostgreSQL port.")
    database: str = Field(pattern=r"^[a-z_][a-z0-9_]{0,62}$", description="Database name.")


class DatabaseSource(ApiModel):
    """Dynamic credentials from the database secrets engine (a new login per lease)."""

    mount: str = Field(default="database", pattern=NAME, description="Database engine mount.")
    role: str = Field(pattern=NAME, description="OpenBao database role to issue credentials for.")
    connection: Connection | None = Field(
        default=None,
        description="If set, PGHOST, PGPORT, PGDATABASE and DATABASE_URL are written too.",
    )
    revoke_after: str = Field(
        default="60s",
        pattern=DURATION,
        description="After a rotation, how long the previous credentials stay valid.",
    )


class PkiSource(ApiModel):
    """A certificate from a PKI mount, renewed before it expires (a kubernetes.io/tls Secret)."""

    mount: str = Field(default="pki", pattern=NAME, description="PKI mount path.")
    role: str = Field(default="kommerce", pattern=NAME, description="PKI role to issue from.")
    common_name: str = Field(min_length=1, max_length=253, description="Certificate common name.")
    alt_names: list[str] = Field(default_factory=list, description="DNS subject alternative names.")
    ttl: str = Field(default="720h", pattern=DURATION, description="Certificate lifetime.")
    renew_at: float = Field(
        default=0.67,
        gt=0.0,
        lt=1.0,
        description="Renew once this fraction of the lifetime has passed (default 0.67).",
    )


class TransitSource(ApiModel):
    """A named transit key, created if missing and rotated on schedule (no key material leaves)."""

    mount: str = Field(default="transit", pattern=NAME, description="Transit mount path.")
    key: str = Field(pattern=NAME, description="Key name.")
    type: str = Field(
        default="aes256-gcm96",
        pattern=r"^(aes128-gcm96|aes256-gcm96|chacha20-poly1305|ed25519|ecdsa-p256|rsa-2048)$",
        description="Key type (on creation).",
    )
    rotation_period: str = Field(
        default="720h", pattern=DURATION, description="Rotate the key this often."
    )


class SecretSpec(ApiModel):
    """Desired state: one source, where to write it, how often to refresh."""

    model_config = ApiModel.model_config | {
        "json_schema_extra": {
            "x-kubernetes-validations": [
                {
                    "rule": "[has(self.kv), has(self.database), has(self.pki), "
                    "has(self.transit)].filter(x, x).size() == 1",
                    "message": "set exactly one of kv, database, pki or transit",
                }
            ]
        }
    }

    kv: KvSource | None = Field(default=None, description="Copy keys from a KV v2 path.")
    database: DatabaseSource | None = Field(default=None, description="Dynamic DB credentials.")
    pki: PkiSource | None = Field(default=None, description="An X.509 certificate.")
    transit: TransitSource | None = Field(default=None, description="A transit encryption key.")
    secret_name: str | None = Field(
        default=None,
        pattern=r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$",
        description="Name of the core Secret to write (default: this resource's name).",
    )
    refresh_interval: str = Field(
        default="60s",
        pattern=DURATION,
        description="How often OpenBao is checked for changes (KV) and schedules (transit).",
    )
    rollout_restart: bool = Field(
        default=True,
        description="Restart the Deployments and StatefulSets that use the Secret on rotation.",
    )
    deletion_policy: DeletionPolicy = Field(
        default=DeletionPolicy.RETAIN,
        description=(
            "On delete, leases are always revoked; Delete also removes the OpenBao data "
            "(KV path, transit key, issued certificate), Retain keeps it."
        ),
    )

    def source_kind(self) -> str:
        for kind in ("kv", "database", "pki", "transit"):
            if getattr(self, kind) is not None:
                return kind
        raise ValueError("set exactly one of kv, database, pki or transit")


class PendingRevocation(ApiModel):
    lease_id: str = Field(description="Lease of superseded credentials.")
    revoke_after: datetime = Field(description="When it is revoked.")


class SecretStatus(ResourceStatus):
    """What was synced, when, and what happens next."""

    secret_name: str | None = Field(default=None, description="The core Secret written.")
    source: str | None = Field(default=None, description="kv, database, pki or transit.")
    version: int | None = Field(default=None, description="Increments when the data changes.")
    checksum: str | None = Field(default=None, description="sha256 of the data (first 16 hex).")
    source_version: str | None = Field(
        default=None,
        description="KV version, certificate serial, or transit key version last synced.",
    )
    last_synced: datetime | None = Field(default=None, description="Last successful sync.")
    last_rotated: datetime | None = Field(default=None, description="Last time data changed.")
    next_refresh: datetime | None = Field(default=None, description="When OpenBao is next read.")
    lease_id: str | None = Field(default=None, description="Current lease (database).")
    lease_duration: int | None = Field(default=None, description="Lease length in seconds.")
    lease_expiry: datetime | None = Field(default=None, description="When the lease ends.")
    not_after: datetime | None = Field(default=None, description="Certificate expiry (pki).")
    pending_revocations: list[PendingRevocation] = Field(
        default_factory=list, description="Superseded leases and when they are revoked."
    )
    rotation_request: str | None = Field(
        default=None, description="The last `kommerce.io/rotate` annotation value handled."
    )
    restarted: list[str] = Field(
        default_factory=list, description="Workloads restarted for the current version."
    )
    failures: int | None = Field(default=None, description="Consecutive failed attempts.")
    next_attempt: datetime | None = Field(
        default=None, description="After failures: no OpenBao call before this (backoff)."
    )


SECRET = ResourceDefinition(
    kind="Secret",
    plural="secrets",
    singular="secret",
    short_names=("ksec", "ksecret"),
    spec=SecretSpec,
    status=SecretStatus,
    description="A Kubernetes Secret synced from OpenBao: KV, dynamic DB creds, PKI or transit.",
    columns=(
        PrinterColumn("Source", ".status.source"),
        PrinterColumn("Ready", '.status.conditions[?(@.type=="Ready")].status'),
        PrinterColumn("Version", ".status.version", type="integer"),
        PrinterColumn("Synced", ".status.lastSynced", type="date"),
        PrinterColumn("Reason", '.status.conditions[?(@.type=="Ready")].reason'),
        PrinterColumn("Expires", ".status.leaseExpiry", priority=1),
        PrinterColumn("Age", ".metadata.creationTimestamp", type="date"),
    ),
)
