"""Safety alarms in seconds: thresholds as data, the receiver's fast path, and the batch reconciliation.

* :mod:`monitoring.safety.thresholds` — first-/second-level thresholds per safety sensor, from
  ``limits/`` (GB/T 50493-2019, confined-space O₂, GB 15577-2018 placeholders; status kept) with
  per-plant replacements from the plants' safety plans (``monitoring/data/safety_plans.yaml``).
* :mod:`monitoring.safety.alarms` — the alarm book in the SQL store: one alarm per episode of a
  (point, parameter), its level, escalation and messages; idempotent, shared by both paths.
* :mod:`monitoring.safety.fastpath` — the callback the monitoring layer hands to the HJ 212 receiver
  (``sensors/`` never imports ``monitoring/``): it evaluates the packets as they become durable and
  delivers alarms from a worker thread.
* :func:`monitoring.safety.alarms.reconcile` — the batch path (every ingest/evaluate run) judges the
  stored history with the same rules: an alarm is never sent twice and never missed when the fast path
  was down.
"""
