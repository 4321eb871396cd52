"""The measurements of the InfluxDB database and their tag/field layout (see :mod:`monitoring.influx`)."""

from __future__ import annotations

from sensors import schema

READINGS_MEASUREMENT = "readings"
ASSESSMENTS_MEASUREMENT = "assessments"
CAPTURE_MEASUREMENT = "capture"
HW_LEDGER_MEASUREMENT = "hw_ledger"

#: Fields a ``readings`` line may carry (the lean shape, see :mod:`monitoring.influx`); ``value`` and
#: ``flag`` are on every line, the others only where they say something the tags do not imply.
READINGS_FIELDS = ["value", "flag", "qualifier", "unit", "source"]
#: Fields of ``readings`` lines written before the lean shape (2026-11, issue #13): read, never written.
LEGACY_READINGS_FIELDS = ["batch"]

#: Suggested layout for :meth:`InfluxStore.write_frame` of an assessments frame (time = window_start).
ASSESSMENT_TAGS = ["zone", "enterprise", "point", "kind", "parameter", "check", "averaging"]
ASSESSMENT_FIELDS = [c for c in schema.ASSESSMENT_COLUMNS
                     if c not in ASSESSMENT_TAGS and c != "window_start"]
#: Suggested layout for the hazardous-waste ledger (time = date). Quantities in t.
LEDGER_TAGS = ["zone", "enterprise", "store", "waste_code"]
LEDGER_FIELDS = [c for c in schema.LEDGER_COLUMNS if c not in LEDGER_TAGS and c != "date"]
