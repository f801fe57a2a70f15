"""A clean slate for the test cluster: what an interrupted session (SIGKILL, a CI timeout) left.

A session that is killed cannot run its teardown, so the test cluster's etcd may still hold its
objects: the `kommerce-policy` webhook configuration pointing at an operator that no longer
exists (every kommerce.io write is then refused), the library's cluster-scoped Policies denying
the next session's test workloads, and test namespaces whose kommerce.io resources carry
finalizers no operator will remove. They are removed before any test runs.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, cast

from kubernetes import client

from operators.policy import webhookconfig

GROUP, VERSION = "kommerce.io", "v1alpha1"
NAMESPACED = ("services", "secrets")
TEST_NAMESPACES = ("t-", "solo-")


@contextmanager
def _missing_is_fine() -> Iterator[None]:
    try:
        yield
    except client.ApiException as exc:
        if exc.status != 404:
            raise


def _names(items: list[Any]) -> list[str]:
    return [i.metadata.name for i in items if i.metadata and i.metadata.name]


def _list(custom: client.CustomObjectsApi, plural: str) -> list[dict[str, Any]]:
    """Every object of a kommerce.io kind; none when its CRD is not installed yet."""
    with _missing_is_fine():
        listing = cast(dict[str, Any], custom.list_cluster_custom_object(GROUP, VERSION, plural))
        return list(listing["items"])
    return []


def remove(api: client.ApiClient, *, say: Callable[[str], None] = print) -> None:
    admission = client.AdmissionregistrationV1Api(api)
    custom = client.CustomObjectsApi(api)
    core = client.CoreV1Api(api)
    found: list[str] = []

    configs = admission.list_validating_webhook_configuration().items
    if webhookconfig.NAME in _names(configs):
        found.append(f"webhook configuration {webhookconfig.NAME}")
        with _missing_is_fine():
            admission.delete_validating_webhook_configuration(webhookconfig.NAME)

    unstick = {"metadata": {"finalizers": None}}
    for policy in _list(custom, "policies"):
        name = policy["metadata"]["name"]
        found.append(f"Policy {name}")
        with _missing_is_fine():
            custom.patch_cluster_custom_object(GROUP, VERSION, "policies", name, unstick)
            custom.delete_cluster_custom_object(GROUP, VERSION, "policies", name)

    namespaces = [
        ns
        for ns in _names(core.list_namespace().items)
        if ns == "kommerce" or ns.startswith(TEST_NAMESPACES)
    ]
    for plural in NAMESPACED:
        for obj in _list(custom, plural):
            ns, name = obj["metadata"]["namespace"], obj["metadata"]["name"]
            if ns in namespaces:
                with _missing_is_fine():
                    custom.patch_namespaced_custom_object(GROUP, VERSION, ns, plural, name, unstick)
    for ns in namespaces:
        found.append(f"namespace {ns}")
        with _missing_is_fine():
            core.delete_namespace(ns)

    if not found:
        return
    say(f"test cluster: removing what an interrupted session left: {', '.join(found)}")
    deadline = time.monotonic() + 180
    while set(namespaces) & set(_names(core.list_namespace().items)):
        if time.monotonic() > deadline:
            raise AssertionError(f"leftover test namespaces still terminating: {namespaces}")
        time.sleep(1)
