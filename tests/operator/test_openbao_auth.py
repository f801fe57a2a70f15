"""How the operator authenticates to OpenBao: Kubernetes auth, and the token fallback."""

from __future__ import annotations

import asyncio
import os
from typing import Any

import pytest
from kubernetes import client

from kommerce.openbao.client import AuthConfig, OpenBao, OpenBaoRefused
from tests.helpers import kommerce

pytestmark = pytest.mark.operator


def _policies(bao: OpenBao) -> list[str]:
    response: dict[str, Any] = asyncio.run(
        bao.call(lambda c: c.auth.token.lookup_self(), what="lookup-self")
    )
    return list(response["data"]["policies"])


def test_kubernetes_auth_logs_in_with_the_operator_policy(
    openbao: dict[str, str], kube: client.ApiClient
) -> None:
    bao = OpenBao(openbao["KOMMERCE_VAULT_ADDR"], AuthConfig(method="kubernetes"), kube=kube)
    assert "kommerce-operator" in _policies(bao)


def test_kubernetes_auth_refuses_another_service_account(
    openbao: dict[str, str], kube: client.ApiClient, namespace: str
) -> None:
    client.CoreV1Api(kube).create_namespaced_service_account(
        namespace, client.V1ServiceAccount(metadata={"name": "intruder"})
    )
    auth = AuthConfig(method="kubernetes", service_account=f"{namespace}/intruder")
    bao = OpenBao(openbao["KOMMERCE_VAULT_ADDR"], auth, kube=kube)
    with pytest.raises(OpenBaoRefused, match=r"permission denied|not authorized|Forbidden"):
        _policies(bao)


def test_token_from_a_kubernetes_secret_is_the_development_fallback(
    openbao: dict[str, str], kube: client.ApiClient, namespace: str
) -> None:
    client.CoreV1Api(kube).create_namespaced_secret(
        namespace,
        client.V1Secret(
            metadata={"name": "openbao-token"},
            string_data={"token": openbao["KOMMERCE_VAULT_TOKEN"]},
        ),
    )
    auth = AuthConfig(method="token", token_secret=f"{namespace}/openbao-token")
    bao = OpenBao(openbao["KOMMERCE_VAULT_ADDR"], auth, kube=kube)
    assert "root" in _policies(bao)


def test_bootstrap_is_idempotent(openbao: dict[str, str], kubeconfig: Any) -> None:
    done = kommerce("openbao", "bootstrap", env={**os.environ, "KUBECONFIG": str(kubeconfig)})
    assert done.returncode == 0, done.stdout + done.stderr
    assert "kv/ (kv) present" in done.stdout
    status = kommerce("openbao", "status")
    assert "sealed: False" in status.stdout
    assert "database" in status.stdout
