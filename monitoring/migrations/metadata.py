"""Every table of the SQL store, registered explicitly: the metadata Alembic compares the revisions with.

A module that declares a table on :class:`monitoring.db.Base` is listed here by its table classes. Only
Alembic's environment (``env.py``), the ``envmon db`` commands and ``tests/monitoring/test_migrations.py``
import this module; :mod:`monitoring.db` does not (the revisions carry the schema), so there is no cycle
db → tables → db. Add a new table here and write its revision.
"""

from __future__ import annotations

from sqlalchemy import MetaData

from monitoring.attachments import InspectionPhoto
from monitoring.casework import Evidence, IncidentCase, IncidentStep
from monitoring.complaints import Complaint
from monitoring.console.queries import WINDOW_START_INDEX
from monitoring.console.users import ConsoleUser, LoginFailure
from monitoring.db import Base
from monitoring.followup import FollowUpTask
from monitoring.incidents.tables import Incident, IncidentEvent, IncidentSeries, IncidentWindow
from monitoring.notifications.tables import Notification, NotificationAttempt
from monitoring.roster.tables import (
    ConflictRow,
    DrawRow,
    InspectorRow,
    PublicationRow,
    ResultRow,
    SupersessionRow,
    TaskRow,
)
from monitoring.safety.alarms import SafetyAlarm, SafetyMessage

#: The ORM classes of every table, by the module that declares them.
TABLES = (
    Complaint,
    IncidentSeries, IncidentWindow, Incident, IncidentEvent,
    Notification, NotificationAttempt,
    InspectorRow, ConflictRow, DrawRow, TaskRow, SupersessionRow, ResultRow, PublicationRow,
    IncidentCase, IncidentStep, Evidence,
    ConsoleUser, LoginFailure,
    InspectionPhoto,
    FollowUpTask,
    SafetyAlarm, SafetyMessage,
)
#: Indexes declared apart from their table's module (the console's query index on incident windows).
INDEXES = (WINDOW_START_INDEX,)


def register_tables() -> MetaData:
    """The metadata with every table of :data:`TABLES` on it (importing this module registered them)."""
    missing = {t.__table__.name for t in TABLES} - set(Base.metadata.tables)
    assert not missing, missing
    assert all(ix.table is not None for ix in INDEXES)
    return Base.metadata
