"""One-time (idempotent) OpenBao set-up for the platform, run with an admin token.

What it configures, and why:

- secrets engines `kv` (KV v2), `database` (dynamic PostgreSQL credentials), `pki` (a root CA
  and a `kommerce` issuing role) and `transit` (encryption as a service);
- the database connection `platform-postgres`, which holds the only privileged PostgreSQL login
  (it never leaves OpenBao);
- the `kommerce-operator` policy: exactly the paths the operators use;
- the Kubernetes auth method pointed at the API server and the `kommerce-operator` role bound
  to the operator's service account (tokens with audience `openbao` only, so a token meant for
  OpenBao is useless against the API server). OpenBao checks them with TokenReview as the
  `openbao-token-reviewer` service account (`system:auth-delegator`), whose token lives only
  in OpenBao; both service accounts are created on the Kubernetes side.

Running it again changes nothing that is already right.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import hvac

from kommerce.openbao.client import AUDIENCE, DEFAULT_ROLE, DEFAULT_SERVICE_ACCOUNT

KV_MOUNT, DATABASE_MOUNT, PKI_MOUNT, TRANSIT_MOUNT = "kv", "database", "pki", "transit"
DATABASE_CONNECTION = "platform-postgres"
PKI_ROLE = "kommerce"
OPERATOR_POLICY = "kommerce-operator"
REVIEWER = "openbao-token-reviewer"

OPERATOR_POLICY_HCL = f"""
# Written by `kommerce openbao bootstrap`: what the Kommerce operators may do.
path "{KV_MOUNT}/data/*" {{ capabilities = ["create", "read", "update", "delete"] }}
path "{KV_MOUNT}/metadata/*" {{ capabilities = ["read", "list", "delete"] }}
path "{DATABASE_MOUNT}/roles/*" {{ capabilities = ["create", "read", "update", "delete"] }}
path "{DATABASE_MOUNT}/creds/*" {{ capabilities = ["read"] }}
path "{PKI_MOUNT}/issue/*" {{ capabilities = ["create", "update"] }}
path "{PKI_MOUNT}/revoke" {{ capabilities = ["create", "update"] }}
path "{PKI_MOUNT}/cert/ca" {{ capabilities = ["read"] }}
path "{TRANSIT_MOUNT}/keys/*" {{ capabilities = ["create", "read", "update", "delete"] }}
path "{TRANSIT_MOUNT}/keys/+/rotate" {{ capabilities = ["update"] }}
path "{TRANSIT_MOUNT}/keys/+/config" {{ capabilities = ["update"] }}
path "sys/leases/renew" {{ capabilities = ["update"] }}
path "sys/leases/revoke" {{ capabilities = ["update"] }}
path "sys/leases/lookup" {{ capabilities = ["update"] }}
"""


@dataclass(frozen=True)
class BootstrapConfig:
    """Where things are: OpenBao (admin token), PostgreSQL (privileged URL), the API server."""

    postgres_admin_url: str  # postgresql://user:password@host:port/db, privileged
    kubernetes_host: str  # the API server URL OpenBao calls for TokenReview
    kubernetes_ca_pem: str
    service_account: str = DEFAULT_SERVICE_ACCOUNT
    role: str = DEFAULT_ROLE
    token_ttl: str = "1h"  # noqa: S105 - a lifetime, not a token


def _ensure_mount(bao: hvac.Client, path: str, backend: str, **options: Any) -> bool:
    mounts = bao.sys.list_mounted_secrets_engines()
    mounts = mounts.get("data", mounts)
    if f"{path}/" in mounts:
        return False
    bao.sys.enable_secrets_engine(backend, path=path, **options)
    return True


def _configure_database(bao: hvac.Client, admin_url: str) -> None:
    parts = urlsplit(admin_url)
    template = (
        f"postgresql://{{{{username}}}}:{{{{password}}}}@{parts.hostname}:{parts.port or 5432}"
        f"{parts.path or '/postgres'}?sslmode=disable"
    )
    bao.secrets.database.configure(
        DATABASE_CONNECTION,
        "postgresql-database-plugin",
        verify_connection=True,
        allowed_roles=["*"],
        connection_url=template,
        username=parts.username,
        password=parts.password,
        mount_point=DATABASE_MOUNT,
    )


def _configure_pki(bao: hvac.Client) -> None:
    bao.sys.tune_mount_configuration(PKI_MOUNT, max_lease_ttl="87600h")
    ca = bao.secrets.pki.read_ca_certificate(mount_point=PKI_MOUNT)
    if not ca:
        bao.secrets.pki.generate_root(
            "internal",
            "Kommerce Platform Root CA",
            extra_params={"ttl": "87600h", "key_type": "ec", "key_bits": 256},
            mount_point=PKI_MOUNT,
        )
    bao.secrets.pki.create_or_update_role(
        PKI_ROLE,
        extra_params={
            "allowed_domains": ["kommerce.local", "svc", "svc.cluster.local", "localhost"],
            "allow_subdomains": True,
            "allow_bare_domains": True,
            "allow_localhost": True,
            "allow_ip_sans": True,
            "key_type": "ec",
            "key_bits": 256,
            "max_ttl": "720h",
        },
        mount_point=PKI_MOUNT,
    )


def _configure_kubernetes_auth(bao: hvac.Client, config: BootstrapConfig, reviewer: str) -> None:
    methods = bao.sys.list_auth_methods()
    methods = methods.get("data", methods)
    if "kubernetes/" not in methods:
        bao.sys.enable_auth_method("kubernetes")
    bao.auth.kubernetes.configure(
        config.kubernetes_host,
        kubernetes_ca_cert=config.kubernetes_ca_pem,
        token_reviewer_jwt=reviewer,
        disable_local_ca_jwt=True,  # OpenBao runs outside the cluster
    )
    namespace, name = config.service_account.split("/", 1)
    bao.auth.kubernetes.create_role(
        config.role,
        bound_service_account_names=[name],
        bound_service_account_namespaces=[namespace],
        policies=[OPERATOR_POLICY],
        ttl=config.token_ttl,
        audience=AUDIENCE,
    )


def _ensure_service_accounts(kube: Any, service_account: str) -> str:
    """The operator's service account, and the reviewer's; returns the reviewer's token."""
    from kubernetes import client

    namespace, name = service_account.split("/", 1)
    core, rbac = client.CoreV1Api(kube), client.RbacAuthorizationV1Api(kube)

    def create(fn: Callable[[], Any]) -> None:
        try:
            fn()
        except client.ApiException as exc:
            if exc.status != 409:
                raise

    create(lambda: core.create_namespace(client.V1Namespace(metadata={"name": namespace})))
    for account in (name, REVIEWER):
        create(
            lambda account=account: core.create_namespaced_service_account(  # type: ignore[misc]
                namespace, client.V1ServiceAccount(metadata={"name": account})
            )
        )
    create(
        lambda: rbac.create_cluster_role_binding(
            client.V1ClusterRoleBinding(
                metadata={"name": f"{REVIEWER}-auth-delegator"},
                role_ref=client.V1RoleRef(
                    api_group="rbac.authorization.k8s.io",
                    kind="ClusterRole",
                    name="system:auth-delegator",
                ),
                subjects=[
                    client.RbacV1Subject(kind="ServiceAccount", name=REVIEWER, namespace=namespace)
                ],
            )
        )
    )
    # A service-account token Secret: the token controller fills it in; it does not expire
    # (revoke it by deleting the Secret, then run bootstrap again).
    create(
        lambda: core.create_namespaced_secret(
            namespace,
            client.V1Secret(
                metadata={
                    "name": REVIEWER,
                    "annotations": {"kubernetes.io/service-account.name": REVIEWER},
                },
                type="kubernetes.io/service-account-token",
            ),
        )
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        secret = core.read_namespaced_secret(REVIEWER, namespace)
        token = (secret.data or {}).get("token")
        if token:
            return base64.b64decode(token).decode()
        time.sleep(0.5)
    raise RuntimeError(
        f"the token controller did not fill Secret {namespace}/{REVIEWER} within 30s; "
        "is kube-controller-manager running (`kommerce cluster status`)?"
    )


def bootstrap(
    bao: hvac.Client, config: BootstrapConfig, *, kube: Any, say: Callable[[str], None]
) -> None:
    if bao.sys.is_sealed():
        raise RuntimeError(f"OpenBao at {bao.url} is sealed; unseal it first")
    for path, backend, options in (
        (KV_MOUNT, "kv", {"options": {"version": "2"}}),
        (DATABASE_MOUNT, "database", {}),
        (PKI_MOUNT, "pki", {}),
        (TRANSIT_MOUNT, "transit", {}),
    ):
        created = _ensure_mount(bao, path, backend, **options)
        say(f"  secrets engine {path}/ ({backend}) {'enabled' if created else 'present'}")
    _configure_database(bao, config.postgres_admin_url)
    say(f"  database connection {DATABASE_CONNECTION} verified")
    _configure_pki(bao)
    say(f"  pki root CA and role {PKI_ROLE} ready")
    bao.sys.create_or_update_policy(OPERATOR_POLICY, OPERATOR_POLICY_HCL)
    reviewer = _ensure_service_accounts(kube, config.service_account)
    _configure_kubernetes_auth(bao, config, reviewer)
    say(
        f"  kubernetes auth: role {config.role} for service account {config.service_account} "
        f"(TokenReview at {config.kubernetes_host})"
    )


def kube_connection(kube: Any) -> tuple[str, str]:
    """The API server URL and CA bundle (PEM) of a kubernetes ApiClient."""
    configuration = kube.configuration
    ca_file = configuration.ssl_ca_cert
    if not ca_file:
        raise RuntimeError("the kubeconfig has no certificate-authority; cannot configure auth")
    return str(configuration.host), Path(ca_file).read_text()
