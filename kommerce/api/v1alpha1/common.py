"""Pieces every Kommerce resource shares: camelCase models, conditions, deletion policy."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel


class ApiModel(BaseModel):
    """camelCase on the wire (as Kubernetes), snake_case in Python; unknown fields rejected."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


class ConditionType(StrEnum):
    READY = "Ready"
    PROGRESSING = "Progressing"
    DEGRADED = "Degraded"
    SYNCED = "Synced"


class Condition(ApiModel):
    """The latest observation of one aspect of the resource (Kubernetes API conventions)."""

    type: str = Field(description="Ready, Progressing, Degraded or Synced.")
    status: Literal["True", "False", "Unknown"] = Field(description="True, False or Unknown.")
    reason: str = Field(description="CamelCase machine-readable cause; see docs/reasons.md.")
    message: str = Field(default="", description="Human-readable detail: what happened, what next.")
    last_transition_time: datetime = Field(description="When status last changed.")
    observed_generation: int | None = Field(
        default=None, description="The metadata.generation this condition was computed for."
    )


class DeletionPolicy(StrEnum):
    RETAIN = "Retain"
    DELETE = "Delete"


class ResourceStatus(ApiModel):
    """Status fields every Kommerce resource has."""

    observed_generation: int | None = Field(
        default=None, description="The metadata.generation the status reflects."
    )
    conditions: list[Condition] = Field(
        default_factory=list, description="Ready, Progressing, Degraded and Synced conditions."
    )
