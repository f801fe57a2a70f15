"""Conditions as Kubernetes API conventions describe them, shared by every operator.

`lastTransitionTime` moves only when a condition's status changes, so engineers can tell how
long something has been broken; reason and message always reflect the latest observation.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any


@dataclass(frozen=True)
class Observed:
    type: str
    status: bool | None  # None: Unknown
    reason: str
    message: str = ""


def merge(
    existing: list[dict[str, Any]],
    observed: list[Observed],
    *,
    generation: int | None,
    now: datetime | None = None,
) -> list[dict[str, Any]]:
    stamp = (now or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
    by_type = {c.get("type"): c for c in existing}
    merged = []
    for obs in observed:
        status = "Unknown" if obs.status is None else ("True" if obs.status else "False")
        previous = by_type.get(obs.type)
        changed = previous is None or previous.get("status") != status
        merged.append(
            {
                "type": obs.type,
                "status": status,
                "reason": obs.reason,
                "message": obs.message,
                "lastTransitionTime": stamp if changed else previous["lastTransitionTime"],  # type: ignore[index]
                "observedGeneration": generation,
            }
        )
    return merged
