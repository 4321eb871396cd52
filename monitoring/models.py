"""Imports every module that declares tables on :class:`monitoring.db.Base`, so ``init_db`` sees them all.

Add a line here when a module declares new tables.
"""

import monitoring.complaints  # noqa: F401
import monitoring.incidents  # noqa: F401
import monitoring.notifications  # noqa: F401
import monitoring.roster.store  # noqa: F401
import monitoring.casework  # noqa: F401
import monitoring.console.users  # noqa: F401
import monitoring.console.queries  # noqa: F401  (index on incident_window.window_start)
import monitoring.attachments  # noqa: F401
import monitoring.followup  # noqa: F401
import monitoring.safety.alarms  # noqa: F401
