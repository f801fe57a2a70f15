"""`Service`: one commerce, ML or platform service, declared as YAML.

The spec says what the service is (image, version, ports, probes), how much of it runs
(replicas or autoscaling), what it needs (database, Kafka topics, cache, secrets), who may call
it, how it is exposed and what it promises (SLOs). The operator turns it into a Deployment and
friends plus external resources; the status tells engineers and other services how it is wired.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import Field

from kommerce.api.crd import PrinterColumn, ResourceDefinition
from kommerce.api.v1alpha1.common import ApiModel, DeletionPolicy, ResourceStatus

DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
UNIQUE_PORT_NAMES = (
    "!has(self.ports) || self.ports.all(p, self.ports.exists_one(q, q.name == p.name))"
)
UNIQUE_PORT_NUMBERS = (
    "!has(self.ports) || self.ports.all(p, self.ports.exists_one(q, q.port == p.port))"
)
QUANTITY = r"^[0-9]+(\.[0-9]+)?(m|Ki|Mi|Gi|Ti|k|M|G|T)?$"


class Autoscaling(ApiModel):
    """Horizontal autoscaling on CPU (an HorizontalPodAutoscaler)."""

    model_config = ApiModel.model_config | {
        "json_schema_extra": {
            "x-kubernetes-validations": [
                {
                    "rule": "self.minReplicas <= self.maxReplicas",
                    "message": "autoscaling.minReplicas must not exceed autoscaling.maxReplicas",
                }
            ]
        }
    }

    min_replicas: int = Field(default=2, ge=1, le=100, description="Lowest replica count.")
    max_replicas: int = Field(default=5, ge=1, le=100, description="Highest replica count.")
    target_cpu_utilization_percentage: int = Field(
        default=70, ge=10, le=100, description="Average CPU utilisation the autoscaler aims for."
    )


class ResourceAmounts(ApiModel):
    cpu: str | None = Field(default=None, pattern=QUANTITY, description="CPU, e.g. 250m or 1.")
    memory: str | None = Field(default=None, pattern=QUANTITY, description="Memory, e.g. 256Mi.")


class Resources(ApiModel):
    """Container resource requests and limits."""

    requests: ResourceAmounts = Field(
        default_factory=lambda: ResourceAmounts(cpu="100m", memory="128Mi"),
        description="What the scheduler reserves.",
    )
    limits: ResourceAmounts = Field(
        default_factory=lambda: ResourceAmounts(memory="512Mi"),
        description="The most the container may use.",
    )


class Port(ApiModel):
    name: str = Field(pattern=DNS_LABEL, max_length=15, description="Port name, e.g. http.")
    port: int = Field(ge=1, le=65535, description="Container and Service port.")
    protocol: Literal["TCP", "UDP"] = Field(default="TCP", description="TCP or UDP.")


class HttpProbe(ApiModel):
    path: str = Field(pattern=r"^/", description="HTTP path, e.g. /healthz.")
    port: str = Field(default="http", description="Name of a declared port.")
    initial_delay_seconds: int = Field(default=0, ge=0, le=600, description="Wait before probing.")
    period_seconds: int = Field(default=10, ge=1, le=300, description="Seconds between probes.")
    failure_threshold: int = Field(default=3, ge=1, le=30, description="Failures before acting.")


class Probes(ApiModel):
    """Kubernetes probes; every Kommerce service serves /healthz and /readyz."""

    liveness: HttpProbe = Field(
        default_factory=lambda: HttpProbe(path="/healthz"),
        description="Restart the container when this fails (default GET /healthz).",
    )
    readiness: HttpProbe = Field(
        default_factory=lambda: HttpProbe(path="/readyz"),
        description="Take the pod out of the Service while this fails (default GET /readyz).",
    )


class Database(ApiModel):
    """A PostgreSQL database and login role of the service's own."""

    name: str | None = Field(
        default=None,
        pattern=r"^[a-z_][a-z0-9_]{0,62}$",
        description="Database name; default: the service name with dashes as underscores.",
    )
    extensions: list[str] = Field(
        default_factory=list, description="Extensions to create, e.g. pg_trgm."
    )


class Topic(ApiModel):
    """A Kafka topic the service produces to."""

    name: str = Field(pattern=r"^[a-zA-Z0-9._-]{1,249}$", description="Topic name, e.g. orders.v1.")
    partitions: int = Field(default=3, ge=1, le=1000, description="Partition count (only grows).")
    retention_hours: int = Field(
        default=168, ge=1, le=87600, description="How long records are kept (retention.ms)."
    )


class SecretRef(ApiModel):
    """A Secret whose keys become environment variables."""

    name: str = Field(pattern=DNS_LABEL, description="Secret name in the same namespace.")
    optional: bool = Field(default=False, description="Start even if the Secret is missing.")


class Dependencies(ApiModel):
    database: Database | None = Field(default=None, description="PostgreSQL database, if any.")
    topics: list[Topic] = Field(default_factory=list, description="Kafka topics it owns.")
    cache: bool = Field(default=False, description="Whether it uses Redis.")
    secrets: list[SecretRef] = Field(default_factory=list, description="Secrets to mount as env.")
    transit: bool = Field(
        default=False,
        description=(
            "Whether it encrypts data with an OpenBao transit key of its own (a generated "
            "`<name>-transit` Secret resource; required for PII-classified services)."
        ),
    )


class ExposureType(StrEnum):
    INTERNAL = "Internal"
    INGRESS = "Ingress"


class Exposure(ApiModel):
    """How the service is reached: only inside the cluster, or through an Ingress."""

    model_config = ApiModel.model_config | {
        "json_schema_extra": {
            "x-kubernetes-validations": [
                {
                    "rule": "self.type != 'Ingress' || has(self.host)",
                    "message": "exposure.host is required when exposure.type is Ingress",
                }
            ]
        }
    }

    type: ExposureType = Field(default=ExposureType.INTERNAL, description="Internal or Ingress.")
    host: str | None = Field(default=None, description="Ingress host, e.g. shop.example.com.")
    path: str = Field(default="/", pattern=r"^/", description="Ingress path prefix.")


class AvailabilityObjective(ApiModel):
    objective: float = Field(
        ge=90.0, lt=100.0, description="Percent of requests that must not fail (5xx), e.g. 99.9."
    )


class LatencyObjective(ApiModel):
    threshold_ms: int = Field(ge=1, le=60000, description="A request is fast if quicker than this.")
    objective: float = Field(
        ge=50.0, lt=100.0, description="Percent of requests that must be fast."
    )


class Monitoring(ApiModel):
    """Service level objectives; burn-rate alerts are generated from them."""

    availability: AvailabilityObjective | None = Field(
        default=None, description="Share of requests that must succeed."
    )
    latency: LatencyObjective | None = Field(
        default=None, description="Share of requests that must be faster than a threshold."
    )


class ServiceSpec(ApiModel):
    """Desired state of a Kommerce service."""

    model_config = ApiModel.model_config | {
        "json_schema_extra": {
            "x-kubernetes-validations": [
                {
                    "rule": "!(has(self.replicas) && has(self.autoscaling))",
                    "message": "set either replicas or autoscaling, not both",
                },
                {
                    "rule": UNIQUE_PORT_NAMES,
                    "message": "port names must be unique",
                },
                {
                    "rule": UNIQUE_PORT_NUMBERS,
                    "message": "port numbers must be unique",
                },
            ]
        }
    }

    image: str = Field(
        min_length=1,
        max_length=255,
        pattern=r"^[^\s@]+(@sha256:[a-f0-9]{64})?$",
        description="Container image, e.g. ghcr.io/kommerce/order (tag from `version`).",
    )
    version: str = Field(
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9._-]+$",
        description="Version to run; used as the image tag unless the image has one.",
    )
    replicas: int | None = Field(
        default=None, ge=0, le=100, description="Fixed replica count (default 1); or autoscaling."
    )
    autoscaling: Autoscaling | None = Field(default=None, description="CPU autoscaling bounds.")
    resources: Resources = Field(default_factory=Resources, description="Requests and limits.")
    ports: list[Port] = Field(
        default_factory=lambda: [Port(name="http", port=8080)],
        min_length=1,
        max_length=10,
        description="Ports the container listens on; the first is the main one.",
    )
    env: dict[str, str] = Field(default_factory=dict, description="Environment variables.")
    config: dict[str, str] = Field(
        default_factory=dict, description="Configuration files' contents, mounted from a ConfigMap."
    )
    probes: Probes = Field(default_factory=Probes, description="Liveness and readiness probes.")
    dependencies: Dependencies = Field(
        default_factory=Dependencies, description="Database, topics, cache, secrets."
    )
    callers: list[Annotated[str, Field(pattern=DNS_LABEL, max_length=63)]] = Field(
        default_factory=list,
        max_length=50,
        description="Names of Services allowed to call this one (NetworkPolicy); empty: none.",
    )
    exposure: Exposure = Field(default_factory=Exposure, description="Internal or Ingress.")
    monitoring: Monitoring = Field(default_factory=Monitoring, description="SLO objectives.")
    deletion_policy: DeletionPolicy = Field(
        default=DeletionPolicy.RETAIN,
        description="Retain (default) keeps the database and topics on delete; Delete drops them.",
    )


class ServiceStatus(ResourceStatus):
    """Observed state and wiring of the service."""

    ready_replicas: int | None = Field(default=None, description="Pods ready to serve.")
    endpoint: str | None = Field(default=None, description="In-cluster URL of the main port.")
    database: str | None = Field(default=None, description="Name of the service's database.")
    credentials_secret: str | None = Field(
        default=None, description="Secret holding the database credentials."
    )
    topics: list[str] = Field(default_factory=list, description="Kafka topics that exist.")
    notes: list[str] = Field(default_factory=list, description="What was skipped and why.")


SERVICE = ResourceDefinition(
    kind="Service",
    plural="services",
    singular="service",
    short_names=("ksv", "kservice"),
    spec=ServiceSpec,
    status=ServiceStatus,
    description=(
        "A Kommerce service: a workload with its database, topics, monitoring and network policy."
    ),
    columns=(
        PrinterColumn("Version", ".spec.version", description="Version running"),
        PrinterColumn("Ready", '.status.conditions[?(@.type=="Ready")].status'),
        PrinterColumn("Replicas", ".status.readyReplicas", type="integer"),
        PrinterColumn("Reason", '.status.conditions[?(@.type=="Ready")].reason'),
        PrinterColumn("Endpoint", ".status.endpoint", priority=1),
        PrinterColumn("Age", ".metadata.creationTimestamp", type="date"),
    ),
)
