"""Settings of platform-api (prefix `KOMMERCE_PLATFORM_API_`, then the shared `KOMMERCE_` names)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from kommerce.settings import ServiceSettings


class PlatformApiSettings(ServiceSettings):
    service_name: ClassVar[str] = "platform-api"

    port: int = Field(default=8100, ge=1, le=65535)
    kube_timeout_seconds: float = Field(default=5.0, gt=0)
