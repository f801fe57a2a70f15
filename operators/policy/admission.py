"""Admission wiring: serving certificate, webhook server, and the webhook configuration.

Started by the Policy startup handler with `kommerce operator run --admission`. Out of cluster
(`--webhook-url https://127.0.0.1:PORT`, the default) the configuration is deleted again on a
clean shutdown, so a stopped dev operator does not block the cluster; in a cluster
(`--webhook-service NAMESPACE/NAME`) it stays, and the replicas share the certificate through
the Secret `NAME-tls`.
"""

from __future__ import annotations

import asyncio
import logging
import os
from dataclasses import dataclass
from typing import Any

from kubernetes import client

from operators.apply import Applier
from operators.policy import certs, webhookconfig
from operators.policy.index import PolicyIndex
from operators.policy.watcher import PolicyWatcher
from operators.policy.webhook import WebhookServer

BIND_ENV = "KOMMERCE_WEBHOOK_BIND"
log = logging.getLogger("kommerce.operator.policy.admission")


def endpoint_from_options(options: dict[str, Any]) -> webhookconfig.Endpoint:
    port = int(options.get("webhook_port", 9443))
    service = options.get("webhook_service")
    if service:
        namespace, _, name = str(service).partition("/")
        return webhookconfig.Endpoint(
            service_namespace=namespace, service_name=name, service_port=port
        )
    return webhookconfig.Endpoint(url=options.get("webhook_url") or f"https://127.0.0.1:{port}")


@dataclass
class Admission:
    index: PolicyIndex
    applier: Applier
    api: client.ApiClient
    opa_url: str | None
    endpoint: webhookconfig.Endpoint
    port: int
    kommerce_failure_policy: webhookconfig.FailurePolicy = "Fail"
    workload_failure_policy: webhookconfig.FailurePolicy = "Ignore"
    server: WebhookServer | None = None
    watcher: PolicyWatcher | None = None

    @classmethod
    def from_options(
        cls,
        options: dict[str, Any],
        *,
        index: PolicyIndex,
        applier: Applier,
        api: client.ApiClient,
        opa_url: str | None,
    ) -> Admission:
        return cls(
            index=index,
            applier=applier,
            api=api,
            opa_url=opa_url,
            endpoint=endpoint_from_options(options),
            port=int(options.get("webhook_port", 9443)),
            kommerce_failure_policy=options.get("kommerce_failure_policy", "Fail"),
            workload_failure_policy=options.get("workload_failure_policy", "Ignore"),
        )

    def _cert(self) -> certs.ServingCert:
        if self.endpoint.url:
            return certs.issue(self.endpoint.hosts())
        namespace = str(self.endpoint.service_namespace)
        name = f"{self.endpoint.service_name}-tls"
        core = client.CoreV1Api(self.api)
        try:
            return certs.ServingCert.from_secret(
                core.read_namespaced_secret(name, namespace).to_dict()
            )
        except client.ApiException as exc:
            if exc.status != 404:
                raise
        cert = certs.issue(self.endpoint.hosts())
        body = {
            "apiVersion": "v1",
            "kind": "Secret",
            "type": "kubernetes.io/tls",
            "metadata": {"name": name, "namespace": namespace},
            "data": cert.secret_data(),
        }
        try:
            core.create_namespaced_secret(namespace, body)  # type: ignore[arg-type]
        except client.ApiException as exc:
            if exc.status != 409:
                raise
            # another replica was first: use its certificate
            return certs.ServingCert.from_secret(
                core.read_namespaced_secret(name, namespace).to_dict()
            )
        return cert

    async def start(self) -> None:
        cert = await asyncio.to_thread(self._cert)
        self.watcher = PolicyWatcher(self.api, self.index)
        self.watcher.start()
        # In a pod the Service must reach it; the chart also sets KOMMERCE_WEBHOOK_BIND.
        default_host = "127.0.0.1" if self.endpoint.url else "0.0.0.0"  # nosec B104
        self.server = WebhookServer(
            index=self.index,
            opa_url=self.opa_url,
            host=os.environ.get(BIND_ENV, default_host),
            port=self.port,
            cert=cert,
            synced=self.watcher.synced,
        )
        await asyncio.to_thread(self.server.start)
        manifest = webhookconfig.configuration(
            endpoint=self.endpoint,
            ca_bundle=cert.ca_pem,
            kommerce_failure_policy=self.kommerce_failure_policy,
            workload_failure_policy=self.workload_failure_policy,
        )
        await self.applier.apply(manifest)
        log.info(
            "admission webhook registered",
            extra={"configuration": webhookconfig.NAME, "endpoint": self.endpoint.hosts()[0]},
        )

    async def stop(self) -> None:
        if self.endpoint.local:
            try:
                await asyncio.to_thread(
                    client.AdmissionregistrationV1Api(
                        self.api
                    ).delete_validating_webhook_configuration,
                    webhookconfig.NAME,
                    _request_timeout=10,
                )
                log.info("admission webhook configuration removed (local operator stopping)")
            except client.ApiException as exc:
                if exc.status != 404:
                    log.warning(
                        "cannot remove the webhook configuration", extra={"error": str(exc)}
                    )
            except Exception as exc:  # the API server may already be gone
                log.warning("cannot remove the webhook configuration", extra={"error": str(exc)})
        if self.server is not None:
            await asyncio.to_thread(self.server.stop)
        if self.watcher is not None:
            self.watcher.stop()
