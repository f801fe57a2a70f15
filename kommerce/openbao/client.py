"""An OpenBao client that logs itself in and says clearly when OpenBao is unavailable.

hvac is synchronous; every call runs in a worker thread so the operator's event loop never
blocks. Authentication is pluggable:

- `kubernetes` (the default for the operator): a service-account JWT is exchanged for a token
  through OpenBao's Kubernetes auth method, which checks it with a TokenReview against the API
  server. In a pod the projected token is read from disk; out of the cluster (the local
  operator) a token for the configured service account is requested with the TokenRequest API.
- `token`: a token from `KOMMERCE_VAULT_TOKEN` or from a Kubernetes Secret
  (`KOMMERCE_VAULT_TOKEN_SECRET=namespace/name`, key `token`) — the development fallback.

A token that expires or is revoked is replaced transparently: a 403 triggers one re-login and
one retry. Connection errors and 5xx answers become `OpenBaoUnavailable`, which names the
address and the cause so the operator can report it in a condition.
"""

from __future__ import annotations

import asyncio
import base64
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar

import hvac
import requests
from hvac import exceptions as hvac_errors

T = TypeVar("T")

AuthMethod = Literal["kubernetes", "token"]
DEFAULT_ROLE = "kommerce-operator"
DEFAULT_SERVICE_ACCOUNT = "kommerce-system/kommerce-operator"
AUDIENCE = "openbao"
TIMEOUT = 10


class OpenBaoUnavailable(RuntimeError):
    """OpenBao could not be reached, is sealed, or failed; the message says which."""


class OpenBaoRefused(RuntimeError):
    """OpenBao answered but refused the request (bad path, missing role, permission)."""


@dataclass(frozen=True)
class AuthConfig:
    method: AuthMethod = "kubernetes"
    role: str = DEFAULT_ROLE
    mount: str = "kubernetes"
    service_account: str = DEFAULT_SERVICE_ACCOUNT  # namespace/name, for TokenRequest
    token: str | None = None
    token_secret: str | None = None  # namespace/name of a Secret with key `token`

    @classmethod
    def from_env(cls) -> AuthConfig:
        method = os.environ.get("KOMMERCE_VAULT_AUTH", "kubernetes")
        if method not in ("kubernetes", "token"):
            raise ValueError(f"KOMMERCE_VAULT_AUTH must be kubernetes or token, not {method!r}")
        return cls(
            method=method,  # type: ignore[arg-type]
            role=os.environ.get("KOMMERCE_VAULT_ROLE", DEFAULT_ROLE),
            service_account=os.environ.get(
                "KOMMERCE_VAULT_SERVICE_ACCOUNT", DEFAULT_SERVICE_ACCOUNT
            ),
            token=os.environ.get("KOMMERCE_VAULT_TOKEN") or None,
            token_secret=os.environ.get("KOMMERCE_VAULT_TOKEN_SECRET") or None,
        )


def _split(ref: str, what: str) -> tuple[str, str]:
    namespace, sep, name = ref.partition("/")
    if not sep or not namespace or not name:
        raise ValueError(f"{what} must be namespace/name, got {ref!r}")
    return namespace, name


def service_account_jwt(kube: Any, service_account: str, *, seconds: int = 3600) -> str:
    """A JWT for the service account with audience `openbao`.

    In a pod: the projected token at `KOMMERCE_VAULT_JWT_FILE` (the chart mounts one).
    Out of the cluster: a fresh token from the TokenRequest API (needs the kubeconfig's user
    to be allowed `serviceaccounts/token` create on that account).
    """
    jwt_file = os.environ.get("KOMMERCE_VAULT_JWT_FILE")
    if jwt_file:
        return Path(jwt_file).read_text().strip()
    from kubernetes import client

    namespace, name = _split(service_account, "KOMMERCE_VAULT_SERVICE_ACCOUNT")
    review = client.CoreV1Api(kube).create_namespaced_service_account_token(
        name,
        namespace,
        client.AuthenticationV1TokenRequest(
            spec=client.V1TokenRequestSpec(audiences=[AUDIENCE], expiration_seconds=seconds)
        ),
    )
    if review.status is None or not review.status.token:
        raise OpenBaoRefused(f"the API server issued no token for {service_account}")
    return str(review.status.token)


def token_from_secret(kube: Any, ref: str) -> str:
    from kubernetes import client

    namespace, name = _split(ref, "KOMMERCE_VAULT_TOKEN_SECRET")
    secret = client.CoreV1Api(kube).read_namespaced_secret(name, namespace)
    encoded = (secret.data or {}).get("token")
    if not encoded:
        raise OpenBaoRefused(f"Secret {ref} has no key `token`")
    return base64.b64decode(encoded).decode().strip()


class OpenBao:
    """A logged-in OpenBao client; `call` runs one hvac operation with re-login and clear errors."""

    def __init__(self, addr: str, auth: AuthConfig, *, kube: Any = None) -> None:
        self.addr = addr.rstrip("/")
        self.auth = auth
        self.kube = kube
        self._client = hvac.Client(url=self.addr, timeout=TIMEOUT)
        self._lock = threading.Lock()
        self._logged_in = False

    def _login(self) -> None:
        if self.auth.method == "token":
            token = self.auth.token
            if token is None and self.auth.token_secret:
                token = token_from_secret(self.kube, self.auth.token_secret)
            if not token:
                raise OpenBaoRefused(
                    "token auth needs KOMMERCE_VAULT_TOKEN or KOMMERCE_VAULT_TOKEN_SECRET"
                )
            self._client.token = token
        else:
            jwt = service_account_jwt(self.kube, self.auth.service_account)
            self._client.auth.kubernetes.login(self.auth.role, jwt, mount_point=self.auth.mount)
        self._logged_in = True

    def _run(self, operation: Callable[[hvac.Client], T]) -> T:
        with self._lock:
            if not self._logged_in:
                self._login()
        try:
            return operation(self._client)
        except hvac_errors.Forbidden:
            if self.auth.method == "token" and self.auth.token:
                raise
            with self._lock:  # the token expired or was revoked: log in again, once
                self._login()
            return operation(self._client)

    def call_sync(self, operation: Callable[[hvac.Client], T], *, what: str) -> T:
        try:
            return self._run(operation)
        except (requests.ConnectionError, requests.Timeout) as exc:
            self._logged_in = False
            raise OpenBaoUnavailable(f"OpenBao at {self.addr} unreachable ({what}): {exc}") from exc
        except (
            hvac_errors.VaultDown,
            hvac_errors.InternalServerError,
            hvac_errors.BadGateway,
        ) as exc:
            raise OpenBaoUnavailable(f"OpenBao at {self.addr} failed ({what}): {exc}") from exc
        except hvac_errors.VaultError as exc:
            raise OpenBaoRefused(f"OpenBao refused {what}: {type(exc).__name__}: {exc}") from exc

    async def call(self, operation: Callable[[hvac.Client], T], *, what: str) -> T:
        return await asyncio.to_thread(self.call_sync, operation, what=what)


def connect_from_env(kube: Any = None) -> OpenBao | None:
    """The OpenBao of `KOMMERCE_VAULT_ADDR` with `AuthConfig.from_env()`, or None if unset."""
    addr = os.environ.get("KOMMERCE_VAULT_ADDR")
    return OpenBao(addr, AuthConfig.from_env(), kube=kube) if addr else None
