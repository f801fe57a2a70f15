"""Names that tie a `Policy` to its Rego module: package, OPA policy id, query path.

A policy named `required-labels` declares `package kommerce.policies.required_labels`, is
loaded into OPA as `kommerce/required-labels` and evaluated at
`/v1/data/kommerce/policies/required_labels/violation`.
"""

from __future__ import annotations

import re

from kommerce.api.v1alpha1.policy import PACKAGE_PREFIX

POLICY_ID_PREFIX = "kommerce/"
_PACKAGE = re.compile(r"^\s*package\s+([A-Za-z_][\w.]*)\s*(?:#.*)?$", re.MULTILINE)


def snake(name: str) -> str:
    return name.replace("-", "_").replace(".", "_")


def expected_package(name: str) -> str:
    return f"{PACKAGE_PREFIX}.{snake(name)}"


def package_of(module: str) -> str | None:
    """The package a Rego module declares (the first `package` line), or None."""
    found = _PACKAGE.search(module)
    return found.group(1) if found else None


def policy_id(name: str) -> str:
    return f"{POLICY_ID_PREFIX}{name}"


def violation_path(package: str) -> str:
    """The data API path of the package's `violation` set."""
    return "/v1/data/" + package.replace(".", "/") + "/violation"
