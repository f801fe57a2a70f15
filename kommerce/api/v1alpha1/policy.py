"""`Policy`: a Rego policy with its tests, enforced at admission and audited (cluster-scoped).

The module (inline or from a ConfigMap) declares `package kommerce.policies.<snake_name>` and
produces `violation contains {"msg": msg}` (the Gatekeeper shape). The operator runs the test
modules first and only then loads the module into OPA; the validating webhook evaluates matching
requests against every active policy, and a periodic audit checks the objects that already exist.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import Field, WithJsonSchema, model_validator

from kommerce.api.crd import PrinterColumn, ResourceDefinition
from kommerce.api.v1alpha1.common import ApiModel, ResourceStatus

DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
DNS_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$"
MAX_VIOLATIONS = 20
PACKAGE_PREFIX = "kommerce.policies"

FreeForm = Annotated[
    dict[str, Any],
    WithJsonSchema(
        {
            "type": "object",
            "x-kubernetes-preserve-unknown-fields": True,
            "description": "Passed to the policy as `input.parameters` (any JSON object).",
        }
    ),
]


class EnforcementAction(StrEnum):
    DENY = "deny"
    WARN = "warn"
    DRYRUN = "dryrun"


class ConfigMapKeyRef(ApiModel):
    """One key of a ConfigMap (the operator reads it; ConfigMaps are namespaced)."""

    namespace: str = Field(pattern=DNS_LABEL, max_length=63, description="ConfigMap namespace.")
    name: str = Field(pattern=DNS_SUBDOMAIN, max_length=253, description="ConfigMap name.")
    key: str = Field(
        pattern=r"^[-._a-zA-Z0-9]+$", max_length=253, description="Key holding the Rego text."
    )


class RegoSource(ApiModel):
    """Where Rego text comes from when it is not inline."""

    config_map_key_ref: ConfigMapKeyRef = Field(description="A key of a ConfigMap.")


class KindMatch(ApiModel):
    """API groups and kinds (as in Gatekeeper; `*` matches any, `""` is the core group)."""

    api_groups: list[str] = Field(
        default_factory=lambda: ["*"],
        max_length=20,
        description='API groups, e.g. ["kommerce.io"], [""] (core) or ["*"] (any).',
    )
    kinds: list[str] = Field(
        default_factory=lambda: ["*"],
        max_length=20,
        description='Kinds, e.g. ["Service"] or ["*"] (any).',
    )


class Match(ApiModel):
    """Which requests and objects the policy applies to (empty lists: everything)."""

    kinds: list[KindMatch] = Field(
        default_factory=list, max_length=20, description="Kinds the policy applies to; empty: all."
    )
    namespaces: list[str] = Field(
        default_factory=list,
        max_length=100,
        description="Only these namespaces (a trailing `*` is a prefix); empty: all.",
    )
    excluded_namespaces: list[str] = Field(
        default_factory=list,
        max_length=100,
        description="Never these namespaces (a trailing `*` is a prefix).",
    )


class PolicySpec(ApiModel):
    """Desired state of a policy: its Rego module, its tests, what it matches and how it acts."""

    model_config = ApiModel.model_config | {
        "json_schema_extra": {
            "x-kubernetes-validations": [
                {
                    "rule": "has(self.rego) != has(self.regoFrom)",
                    "message": "set exactly one of rego and regoFrom",
                }
            ]
        }
    }

    description: str = Field(default="", max_length=2000, description="What the policy is for.")
    rego: str | None = Field(
        default=None,
        min_length=1,
        max_length=100_000,
        description=(
            "The Rego v1 module; it declares `package kommerce.policies.<policy name with - as _>`."
        ),
    )
    rego_from: RegoSource | None = Field(
        default=None, description="The module from a ConfigMap key instead of inline."
    )
    tests: list[Annotated[str, Field(max_length=100_000)]] = Field(
        default_factory=list,
        max_length=20,
        description="Inline Rego test modules (`test_` rules); all must pass before activation.",
    )
    tests_from: list[RegoSource] = Field(
        default_factory=list, max_length=20, description="Test modules from ConfigMap keys."
    )
    enforcement_action: EnforcementAction = Field(
        default=EnforcementAction.DENY,
        description="deny (reject), warn (admit with a warning) or dryrun (only log and count).",
    )
    match: Match = Field(default_factory=Match, description="Kinds and namespaces it applies to.")
    parameters: FreeForm = Field(
        default_factory=dict, description="Passed to the policy as `input.parameters`."
    )

    @model_validator(mode="after")
    def _one_source(self) -> PolicySpec:
        if (self.rego is None) == (self.rego_from is None):
            raise ValueError("set exactly one of rego and regoFrom")
        return self


class PolicyTestResults(ApiModel):
    """Outcome of the policy's test modules for the latest spec."""

    passed: int = Field(default=0, ge=0, description="Tests that passed.")
    failed: int = Field(default=0, ge=0, description="Tests that failed or raised an error.")
    failures: list[str] = Field(
        default_factory=list, description="Names of the failing tests (package.rule)."
    )


class Violation(ApiModel):
    """An existing object that breaks the policy (found by the audit)."""

    kind: str = Field(description="Kind of the object.")
    namespace: str = Field(default="", description="Namespace ('' for cluster-scoped objects).")
    name: str = Field(description="Name of the object.")
    message: str = Field(description="The policy's message.")


class PolicyStatus(ResourceStatus):
    """Whether the policy is enforced, its test results and what the last audit found."""

    package: str | None = Field(default=None, description="Rego package of the module.")
    active: bool = Field(default=False, description="Loaded into OPA and enforced.")
    active_generation: int | None = Field(
        default=None,
        description="The generation that is enforced (older than the spec while tests fail).",
    )
    tests: PolicyTestResults = Field(default_factory=PolicyTestResults, description="Test results.")
    violations: list[Violation] = Field(
        default_factory=list,
        max_length=MAX_VIOLATIONS,
        description=f"Violations found by the last audit (at most {MAX_VIOLATIONS}).",
    )
    total_violations: int = Field(default=0, ge=0, description="All violations of the last audit.")
    last_audit: datetime | None = Field(default=None, description="When the last audit ran.")


POLICY = ResourceDefinition(
    kind="Policy",
    plural="policies",
    singular="policy",
    short_names=("kpol",),
    spec=PolicySpec,
    status=PolicyStatus,
    scope="Cluster",
    description=(
        "A Rego policy with its tests: enforced at admission (deny, warn or dryrun) and audited "
        "against existing objects."
    ),
    columns=(
        PrinterColumn("Action", ".spec.enforcementAction", description="deny, warn or dryrun"),
        PrinterColumn("Active", ".status.active", type="boolean"),
        PrinterColumn("Ready", '.status.conditions[?(@.type=="Ready")].status'),
        PrinterColumn("Violations", ".status.totalViolations", type="integer"),
        PrinterColumn("Reason", '.status.conditions[?(@.type=="Ready")].reason', priority=1),
        PrinterColumn("Age", ".metadata.creationTimestamp", type="date"),
    ),
)
