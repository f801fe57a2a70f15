"""API schemas of platform-api."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel


class ClusterInfo(BaseModel):
    """What the Kubernetes control plane reports about itself."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)

    server_version: str = Field(description="kube-apiserver gitVersion, e.g. v1.36.3")
    platform: str = Field(description="OS/architecture the API server was built for")
    nodes: int = Field(ge=0, description="Nodes registered with the API server")
    ready_nodes: int = Field(ge=0, description="Nodes whose Ready condition is True")
