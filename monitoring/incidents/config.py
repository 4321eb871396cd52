"""Thresholds of the incident rules (:class:`IncidentConfig`); the variables are listed in
:mod:`monitoring.incidents`.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from datetime import timedelta


# ---------------------------------------------------------------------------------------------------
# configuration
# ---------------------------------------------------------------------------------------------------
def _env_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"environment variable {name}={raw!r} is not a number") from None
    if value < 0 or not math.isfinite(value):
        raise ValueError(f"environment variable {name}={raw!r} must be a finite number ≥ 0")
    return value


@dataclass(frozen=True)
class IncidentConfig:
    """Thresholds of the incident rules; see the module docstring for the variables."""

    min_duration: timedelta = timedelta(minutes=60)
    clear_after: int = 3
    escalate_after: timedelta = timedelta(hours=4)
    max_escalations: int = 3
    long_duration: timedelta = timedelta(hours=24)
    deadman_factor: float = 3.0

    @classmethod
    def from_env(cls) -> IncidentConfig:
        return cls(
            min_duration=timedelta(minutes=_env_float("ENVMON_INCIDENT_MIN_MINUTES", 60)),
            clear_after=max(1, int(_env_float("ENVMON_INCIDENT_CLEAR_AFTER", 3))),
            escalate_after=timedelta(hours=_env_float("ENVMON_INCIDENT_ESCALATE_HOURS", 4)),
            max_escalations=int(_env_float("ENVMON_INCIDENT_MAX_ESCALATIONS", 3)),
            long_duration=timedelta(hours=_env_float("ENVMON_INCIDENT_LONG_HOURS", 24)),
            deadman_factor=_env_float("ENVMON_DEADMAN_FACTOR", 3),
        )
