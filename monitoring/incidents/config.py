"""Thresholds of the incident rules (:class:`IncidentConfig`), taken from :class:`monitoring.config.Settings`
(variables listed in :mod:`monitoring.incidents` and :mod:`monitoring.config`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from monitoring.config import Settings


@dataclass(frozen=True)
class IncidentConfig:
    """Thresholds of the incident rules.

    Attributes
    ----------
    min_duration : timedelta
        Summed exceedance before an incident opens (``ENVMON_INCIDENT_MIN_MINUTES``, 60 min).
    clear_after : int
        Consecutive compliant windows that clear it (``ENVMON_INCIDENT_CLEAR_AFTER``, 3).
    escalate_after : timedelta
        Unacknowledged this long → escalate, again each period (``ENVMON_INCIDENT_ESCALATE_HOURS``, 4 h).
    max_escalations : int
        Escalation levels at most (``ENVMON_INCIDENT_MAX_ESCALATIONS``, 3).
    long_duration : timedelta
        Summed exceedance that raises the severity one level (``ENVMON_INCIDENT_LONG_HOURS``, 24 h).
    deadman_factor : float
        Silence longer than ``interval_s × factor`` → data missing (``ENVMON_DEADMAN_FACTOR``, 3).
    """

    min_duration: timedelta = timedelta(minutes=60)
    clear_after: int = 3
    escalate_after: timedelta = timedelta(hours=4)
    max_escalations: int = 3
    long_duration: timedelta = timedelta(hours=24)
    deadman_factor: float = 3.0
    deadman_delay_s: float = 300.0
    deadman_recover: timedelta = timedelta(minutes=10)
    deadman_group_share: float = 0.5

    @classmethod
    def from_settings(cls, settings: Settings) -> IncidentConfig:
        """The thresholds of a :class:`~monitoring.config.Settings` snapshot."""
        return cls(min_duration=settings.incident_min_duration, clear_after=settings.incident_clear_after,
                   escalate_after=settings.incident_escalate_after,
                   max_escalations=settings.incident_max_escalations,
                   long_duration=settings.incident_long_duration, deadman_factor=settings.deadman_factor,
                   deadman_delay_s=settings.deadman_delay_s, deadman_recover=settings.deadman_recover,
                   deadman_group_share=settings.deadman_group_share)
