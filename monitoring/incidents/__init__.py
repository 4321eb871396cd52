"""Incidents: exceedance and data-missing episodes with their lifecycle, kept in the SQL store.

Identity of an incident series (the "clause identity")
------------------------------------------------------
One series per ``(point, parameter, standard, clause, check)`` of the assessments frame
(:data:`sensors.schema.ASSESSMENT_COLUMNS`). ``check`` is part of the key because one clause can
set two limits on the same parameter (GB 16297-1996 §4: a stack must meet both the concentration and
the height-based rate). At most one *active, not closed* incident exists per series (a partial unique
index enforces it). Data-missing (deadman) incidents use the series ``(point, "*", "", "deadman",
"data_missing")``.

Hysteresis (exceedance incidents)
---------------------------------
Windows of one series are read in time order; ``invalid`` and ``no_data`` windows are gaps: they are
stored but neither open nor clear anything and do not break a run of compliant windows.

* An *episode* starts at the first ``exceeds`` window after the series was idle.
* It becomes an incident once the summed length of its exceeding windows (their union, as windows
  such as the hazardous-waste storage check can overlap) reaches ``min_duration``; compliant windows
  in between do not reset the sum, so a value hovering at the limit still opens. An exceeding window
  with averaging ``single`` (a lab sample) or ``event`` (a ledger event) opens at once.
* It clears at the ``clear_after``-th consecutive compliant window; an episode that never reached
  ``min_duration`` is dropped the same way.
* A person closing an incident while it is still active cuts the episode at the last window seen:
  exceedances after that start a new episode (closing does not mute an ongoing exceedance).

Every applied window is stored (``incident_window``), so processing is idempotent and order-free:
re-applying the same assessments changes nothing; a late or re-evaluated window re-derives the
series from the last point where it was certainly idle (``clear_after`` consecutive compliant
windows before the earliest changed window) and updates the matching incidents in place. Incidents
are matched to episodes by overlap of their exceedance spans, so a backfill never opens a second
incident for an episode already known, and the notifier never re-sends what it sent.

Severity (一般 / 较重 / 严重 — minor / major / severe)
----------------------------------------------------
From the peak of the episode, ``r`` = value / limit (the assessments' ``ratio``):

====================  =============  ====================  ==============================
level                 ratio bands    noise (dB(A)) excess  pH (range limit) ``1 + ratio``
====================  =============  ====================  ==============================
1 一般 minor           1 ≤ r < 1.5    < 5 dB                 < 1.5
2 较重 major           1.5 ≤ r < 3    5 – 10 dB              1.5 – 3
3 严重 severe          r ≥ 3          ≥ 10 dB                ≥ 3
====================  =============  ====================  ==============================

plus one level (at most 3) when the summed exceedance lasts ``long_duration`` or more. A ratio of
two decibel levels means nothing, hence the excess in dB for noise (GB 12348-2008 limits are
levels). For pH the compliance module gives the distance outside the range over the range width.
Data-missing incidents: silence / (interval × factor) < 3 → 一般, < 10 → 较重, else 严重.

Configuration (parameters of :class:`IncidentManager`, defaults from the environment)
--------------------------------------------------------------------------------------
================================  ==========================================================  =======
variable                          meaning                                                     default
================================  ==========================================================  =======
``ENVMON_INCIDENT_MIN_MINUTES``   summed exceedance before an incident opens, minutes          60
``ENVMON_INCIDENT_CLEAR_AFTER``   consecutive compliant windows that clear it                  3
``ENVMON_INCIDENT_ESCALATE_HOURS``  unacknowledged this long → escalate (again each period)    4
``ENVMON_INCIDENT_MAX_ESCALATIONS``  escalation levels at most                                 3
``ENVMON_INCIDENT_LONG_HOURS``    summed exceedance that raises the severity one level, h      24
``ENVMON_DEADMAN_FACTOR``         silence longer than interval_s × factor → data missing       3
================================  ==========================================================  =======

Times are stored in UTC (``DateTime(timezone=True)``; SQLite drops tzinfo, so every read goes
through :func:`_utc`). Everything a person reads is formatted with :func:`fmt_local` (Asia/Shanghai).


Modules: :mod:`~monitoring.incidents.severity` (bands), :mod:`~monitoring.incidents.episodes` (hysteresis,
pure), :mod:`~monitoring.incidents.deadman` (data missing), :mod:`~monitoring.incidents.tables` (SQL),
:mod:`~monitoring.incidents.views` (plain data handed out), :mod:`~monitoring.incidents.manager`
(:class:`IncidentManager`), :mod:`~monitoring.incidents.config`, :mod:`~monitoring.incidents.times`.
"""

from monitoring.incidents.config import IncidentConfig
from monitoring.incidents.deadman import DEADMAN_CHECK, DEADMAN_CLAUSE, DEADMAN_PARAMETER
from monitoring.incidents.episodes import INSTANT_AVERAGING, Episode, derive_episodes
from monitoring.incidents.manager import IncidentError, IncidentManager
from monitoring.incidents.severity import (
    DEADMAN_BANDS,
    NOISE_EXCESS_BANDS_DB,
    RATIO_BANDS,
    SEVERITY_NAMES,
    deadman_severity,
    severity_level,
)
from monitoring.incidents.tables import (
    EXCEEDANCE_KINDS,
    KINDS,
    STATUS_NAMES,
    SYSTEM_ACTOR,
    Incident,
    IncidentEvent,
    IncidentSeries,
    IncidentWindow,
    series_kind,
)
from monitoring.incidents.times import fmt_hours, fmt_local
from monitoring.incidents.views import (
    Action,
    ChangeSet,
    IncidentChange,
    IncidentEventView,
    IncidentView,
)

__all__ = [
    "DEADMAN_BANDS",
    "DEADMAN_CHECK",
    "DEADMAN_CLAUSE",
    "DEADMAN_PARAMETER",
    "EXCEEDANCE_KINDS",
    "INSTANT_AVERAGING",
    "KINDS",
    "NOISE_EXCESS_BANDS_DB",
    "RATIO_BANDS",
    "SEVERITY_NAMES",
    "STATUS_NAMES",
    "SYSTEM_ACTOR",
    "Action",
    "ChangeSet",
    "Episode",
    "Incident",
    "IncidentChange",
    "IncidentConfig",
    "IncidentError",
    "IncidentEvent",
    "IncidentEventView",
    "IncidentManager",
    "IncidentSeries",
    "IncidentView",
    "IncidentWindow",
    "deadman_severity",
    "derive_episodes",
    "fmt_hours",
    "fmt_local",
    "series_kind",
    "severity_level",
]
