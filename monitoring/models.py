"""Imports every module that declares tables on :class:`monitoring.db.Base`, so ``init_db`` sees them all.

Add a line here when a module declares new tables.
"""

import importlib
import importlib.util

for _name in ("monitoring.incidents", "monitoring.notifications", "monitoring.roster.store",
              "monitoring.complaints"):
    if importlib.util.find_spec(_name.rsplit(".", 1)[0]) and importlib.util.find_spec(_name):
        importlib.import_module(_name)
