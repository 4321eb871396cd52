"""Read-only questions other modules ask the incident store (they never read its tables themselves)."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
from sqlalchemy import func, select

from monitoring.db import session_scope
from monitoring.incidents.tables import Incident, IncidentSeries

#: Columns of :func:`incidents_opened_since`.
OPENED_COLUMNS: dict[str, str] = {"enterprise": "string", "opened_at": "datetime64[ns, UTC]",
                                  "kind": "string", "severity": "int64"}


def incidents_opened_since(db_url: str, since: datetime) -> pd.DataFrame:
    """Incidents of enterprise points opened at or after ``since`` (any status).

    Parameters
    ----------
    db_url : str
        SQLAlchemy URL of the SQL store (``Settings.sql_url``).
    since : datetime
        Aware; compared with the episode start (``started_at``, else ``created_at`` for data-missing
        incidents without a known last reading).

    Returns
    -------
    pandas.DataFrame
        :data:`OPENED_COLUMNS`: enterprise, opened_at (UTC), kind (``exceedance`` | ``data_missing``),
        severity (1–3). A database error is raised, never turned into "no incidents".
    """
    since_utc = since.astimezone(UTC)
    opened = func.coalesce(Incident.started_at, Incident.created_at)
    with session_scope(db_url) as s:
        rows = s.execute(select(IncidentSeries.enterprise, opened, Incident.kind, Incident.severity)
                         .join(IncidentSeries, IncidentSeries.id == Incident.series_id)
                         .where(IncidentSeries.enterprise.is_not(None), opened >= since_utc)).all()
    frame = pd.DataFrame(rows, columns=list(OPENED_COLUMNS))
    frame["opened_at"] = pd.to_datetime(frame["opened_at"], utc=True)
    return frame.astype(OPENED_COLUMNS)
