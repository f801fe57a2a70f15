"""What each `Secret` source reads from or does in OpenBao; returns the data to write.

Every function takes the parsed source and a logged-in `OpenBao`; errors surface as
`OpenBaoUnavailable` (retry later) or `OpenBaoRefused` (fix the spec or OpenBao's set-up).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

from hvac import exceptions as hvac_errors

from kommerce.api.v1alpha1.secret import (
    Connection,
    DatabaseSource,
    KvSource,
    PkiSource,
    TransitSource,
    seconds,
)
from kommerce.openbao.client import OpenBao, OpenBaoRefused


@dataclass
class Fetched:
    """Data for the core Secret plus what the status records about where it came from."""

    data: dict[str, str]
    secret_type: str = "Opaque"  # noqa: S105 - a Secret type
    source_version: str | None = None
    lease_id: str | None = None
    lease_duration: int | None = None
    lease_expiry: datetime | None = None
    not_after: datetime | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


async def read_kv(bao: OpenBao, src: KvSource) -> Fetched:
    response = await bao.call(
        lambda c: c.secrets.kv.v2.read_secret_version(
            path=src.path, mount_point=src.mount, raise_on_deleted_version=True
        ),
        what=f"read {src.mount}/{src.path}",
    )
    values: dict[str, Any] = response["data"]["data"] or {}
    missing = [k for k in src.keys if k not in values]
    if missing:
        raise OpenBaoRefused(f"{src.mount}/{src.path} has no key(s) {', '.join(missing)}")
    chosen = {k: values[k] for k in (src.keys or sorted(values))}
    return Fetched(
        data={k: _text(v) for k, v in chosen.items()},
        source_version=str(response["data"]["metadata"]["version"]),
    )


def database_data(username: str, password: str, connection: Connection | None) -> dict[str, str]:
    data = {"username": username, "password": password}
    if connection is not None:
        url = (
            f"postgresql://{quote(username)}:{quote(password)}@{connection.host}:"
            f"{connection.port}/{connection.database}"
        )
        data |= {
            "PGHOST": connection.host,
            "PGPORT": str(connection.port),
            "PGDATABASE": connection.database,
            "PGUSER": username,
            "PGPASSWORD": password,
            "DATABASE_URL": url,
            "KOMMERCE_DATABASE_URL": url,
        }
    return data


async def issue_database(bao: OpenBao, src: DatabaseSource) -> Fetched:
    response = await bao.call(
        lambda c: c.secrets.database.generate_credentials(src.role, mount_point=src.mount),
        what=f"issue credentials for {src.mount}/roles/{src.role}",
    )
    duration = int(response["lease_duration"])
    return Fetched(
        data=database_data(
            response["data"]["username"], response["data"]["password"], src.connection
        ),
        source_version=response["data"]["username"],
        lease_id=response["lease_id"],
        lease_duration=duration,
        lease_expiry=_now() + timedelta(seconds=duration),
    )


async def renew_lease(bao: OpenBao, lease_id: str, increment: int) -> int:
    """Extend a lease; returns the duration OpenBao granted (capped by the role's max TTL)."""
    response = await bao.call(
        lambda c: c.sys.renew_lease(lease_id, increment=increment), what=f"renew {lease_id}"
    )
    return int(response["lease_duration"])


async def revoke_lease(bao: OpenBao, lease_id: str) -> None:
    await bao.call(lambda c: c.sys.revoke_lease(lease_id), what=f"revoke {lease_id}")


async def issue_certificate(bao: OpenBao, src: PkiSource) -> Fetched:
    params: dict[str, Any] = {"ttl": src.ttl}
    if src.alt_names:
        params["alt_names"] = ",".join(src.alt_names)
    response = await bao.call(
        lambda c: c.secrets.pki.generate_certificate(
            src.role, src.common_name, extra_params=params, mount_point=src.mount
        ),
        what=f"issue a certificate from {src.mount}/issue/{src.role}",
    )
    data = response["data"]
    not_after = datetime.fromtimestamp(int(data["expiration"]), UTC)
    chain = data.get("ca_chain") or [data["issuing_ca"]]
    return Fetched(
        data={
            "tls.crt": "\n".join([data["certificate"], *chain]) + "\n",
            "tls.key": data["private_key"] + "\n",
            "ca.crt": chain[-1] + "\n",
        },
        secret_type="kubernetes.io/tls",  # noqa: S106  # nosec B106 - a Secret type
        source_version=data["serial_number"],
        lease_duration=int((not_after - _now()).total_seconds()),
        not_after=not_after,
    )


async def revoke_certificate(bao: OpenBao, mount: str, serial: str) -> None:
    await bao.call(
        lambda c: c.secrets.pki.revoke_certificate(serial, mount_point=mount),
        what=f"revoke certificate {serial}",
    )


async def ensure_transit(bao: OpenBao, src: TransitSource, *, rotate: bool) -> Fetched:
    """Create the key if missing; rotate it when asked or when its latest version is too old."""

    def read(c: Any) -> dict[str, Any] | None:
        try:
            return dict(c.secrets.transit.read_key(src.key, mount_point=src.mount)["data"])
        except hvac_errors.InvalidPath:
            return None

    key = await bao.call(read, what=f"read transit key {src.key}")
    if key is None:
        await bao.call(
            lambda c: c.secrets.transit.create_key(
                src.key, key_type=src.type, mount_point=src.mount
            ),
            what=f"create transit key {src.key}",
        )
        key = await bao.call(read, what=f"read transit key {src.key}")
        assert key is not None
        rotate = False
    latest = int(key["latest_version"])
    created = key["keys"][str(latest)]
    created_at = (
        datetime.fromtimestamp(created, UTC)
        if isinstance(created, int | float)
        else datetime.fromisoformat(str(created.get("creation_time")).replace("Z", "+00:00"))
    )
    if rotate or _now() - created_at >= timedelta(seconds=seconds(src.rotation_period)):
        await bao.call(
            lambda c: c.secrets.transit.rotate_key(src.key, mount_point=src.mount),
            what=f"rotate transit key {src.key}",
        )
        latest, created_at = latest + 1, _now()
    return Fetched(
        data={
            "KOMMERCE_TRANSIT_MOUNT": src.mount,
            "KOMMERCE_TRANSIT_KEY": src.key,
            "KOMMERCE_VAULT_ADDR": bao.addr,
        },
        source_version=str(latest),
        extra={"rotated_at": created_at},
    )


async def delete_kv(bao: OpenBao, src: KvSource) -> None:
    await bao.call(
        lambda c: c.secrets.kv.v2.delete_metadata_and_all_versions(src.path, mount_point=src.mount),
        what=f"delete {src.mount}/{src.path}",
    )


async def delete_transit_key(bao: OpenBao, src: TransitSource) -> None:
    def delete(c: Any) -> None:
        c.secrets.transit.update_key_configuration(
            src.key, deletion_allowed=True, mount_point=src.mount
        )
        c.secrets.transit.delete_key(src.key, mount_point=src.mount)

    await bao.call(delete, what=f"delete transit key {src.key}")
