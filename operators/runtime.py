"""Operator process setup: settings, logging, clients, peering and metrics.

Only one operator replica may act at a time (there are no per-object locks between
processes), so peering is on: replicas with the same peering name see each other and all but
the highest-priority one pause. Every API call and watch has a timeout, so a lost connection
is noticed and retried instead of silently stalling handlers.
"""

from __future__ import annotations

import asyncio
import logging
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import kopf
from prometheus_client import start_http_server

from kommerce.kube import api_client, kubeconfig_from_env
from kommerce.observability.logging import configure_logging
from kommerce.openbao.client import OpenBao, connect_from_env
from kommerce.settings import KommerceSettings
from operators.apply import Applier
from operators.labels import MANAGER
from operators.service.externals import Kafka, Postgres
from operators.service.handlers import Backing

PEERING_NAME = "kommerce"
API_THREADS = 32


def configure(settings: kopf.OperatorSettings, *, peering: bool) -> None:
    settings.persistence.finalizer = "kommerce.io/finalizer"
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix="kommerce.io")
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix="kommerce.io", key="last-handled-configuration"
    )
    settings.posting.level = logging.INFO
    settings.watching.server_timeout = 270
    settings.watching.client_timeout = 300
    settings.watching.connect_timeout = 10
    settings.networking.request_timeout = 30
    settings.networking.connect_timeout = 10
    settings.batching.error_delays = [1, 2, 5, 10, 30, 60]
    settings.execution.max_workers = 8
    # A timer still running when its object is deleted holds the finalizer until it exits;
    # kopf re-checks every `cancellation_polling` seconds (default 60: a minute-long delete).
    settings.background.cancellation_polling = 2
    settings.background.instant_exit_timeout = 0.1
    if peering:
        settings.peering.name = PEERING_NAME
        settings.peering.mandatory = True
        settings.peering.clusterwide = True
    else:
        settings.peering.standalone = True


def backing_from_settings(settings: KommerceSettings, *, openbao: OpenBao | None) -> Backing:
    """The servers external resources live on: the shared KOMMERCE_* connection settings."""
    return Backing(
        postgres=Postgres(str(settings.database_url)) if settings.database_url else None,
        kafka=Kafka(settings.kafka_bootstrap) if settings.kafka_bootstrap else None,
        openbao=openbao,
    )


@kopf.on.login()
def login(**kwargs: Any) -> kopf.ConnectionInfo | None:
    """Authenticate from the kubeconfig (KUBECONFIG) or, in a pod, the service account."""
    return kopf.login_with_kubeconfig(**kwargs) or kopf.login_with_service_account(**kwargs)


@kopf.on.startup()
async def startup(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    options = memo.get("options", {})
    configure_logging(service=MANAGER, level=options.get("log_level", "INFO"))
    configure(settings, peering=options.get("peering", True))
    # Every API call of a reconcile runs in a worker thread (the official client is blocking);
    # the default pool (cores + 4) would queue hundreds of objects' calls behind each other.
    asyncio.get_running_loop().set_default_executor(
        ThreadPoolExecutor(max_workers=API_THREADS, thread_name_prefix="kube-api")
    )
    memo["applier"] = Applier(api_client(kubeconfig_from_env()))
    memo["openbao"] = connect_from_env(kube=memo["applier"].api)
    memo["backing"] = backing_from_settings(KommerceSettings(), openbao=memo["openbao"])
    port = options.get("metrics_port")
    if port:  # loopback locally; the chart sets KOMMERCE_METRICS_BIND=0.0.0.0 in the pod
        start_http_server(port, addr=os.environ.get("KOMMERCE_METRICS_BIND", "127.0.0.1"))
