"""data_capture_deadman and hazardous_waste_daily with dag.test() against the throwaway influxd."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from monitoring.incidents import IncidentManager
from monitoring.influx import HW_LEDGER_MEASUREMENT, LEDGER_FIELDS, LEDGER_TAGS
from sensors.schema import LEDGER_COLUMNS, conform

pytestmark = [pytest.mark.influx, pytest.mark.airflow]


def test_deadman_start_up_grace_then_one_county_incident_not_one_per_point(pipeline_env, influx_store, registry):
    """Only one point reports: that is the receiver or the network, not 156 devices. Nothing during the
    start-up grace; after it, ONE county-level incident listing the silent points (issue #8)."""
    from dags.data_capture_deadman import DAG

    alive, silent = "JK-002-DA001", "JK-003-DA001"          # both online, 60 s interval
    now = pd.Timestamp(datetime.now(UTC)).floor("min")
    influx_store.write_readings(conform(pd.DataFrame({
        "time": [now - pd.Timedelta(minutes=1)], "zone": "jiangkou", "enterprise": "JK-002", "point": alive,
        "kind": "stack", "parameter": "a34013", "statistic": "avg", "period": "1min", "value": [10.0],
        "unit": "mg/m3", "flag": "N", "source": "sim", "batch": "t"})))

    assert DAG.test().state == "success"          # first run: the watch starts now (grace)
    assert [i for i in IncidentManager(pipeline_env.sql_url).list() if i.kind == "data_missing"] == []

    # the stack has been up for an hour
    (pipeline_env.records_dir / "deadman-since").write_text((now - pd.Timedelta(hours=1)).isoformat())
    assert DAG.test().state == "success"
    manager = IncidentManager(pipeline_env.sql_url)
    missing = [i for i in manager.list() if i.kind == "data_missing"]
    assert [i.point for i in missing] == ["county"]
    (opened,) = [e for e in manager.history(missing[0].id) if e.action == "open"]
    assert silent in opened.detail["points"] and alive not in opened.detail["points"]


def test_daily_ledger_check_finds_waste_stored_over_a_year(pipeline_env, influx_store, registry):
    from dags.hazardous_waste_daily import DAG

    store = registry.points_of(kind="hw_store")[0]
    day = (pd.Timestamp(datetime.now(UTC)) - timedelta(days=400)).normalize()
    ledger = pd.DataFrame({
        "date": [day], "zone": store.zone, "enterprise": store.enterprise, "store": store.id,
        "waste_code": f"{store.parameters[0]} 900-252-{store.parameters[0][2:]}", "quantity_in_t": [0.4],
        "quantity_out_t": [0.0], "manifest": pd.NA, "receiver": pd.NA, "receiver_licence": pd.NA,
        "confirmed": pd.Series([pd.NaT], dtype="datetime64[ns, UTC]"),
        "received": pd.Series([pd.NaT], dtype="datetime64[ns, UTC]"), "source": "ledger", "batch": "t"}).astype(
        {c: t for c, t in LEDGER_COLUMNS.items() if c not in ("date", "confirmed", "received")})
    influx_store.write_frame(ledger, HW_LEDGER_MEASUREMENT, LEDGER_TAGS, LEDGER_FIELDS, "date")

    assert DAG.test().state == "success"

    found = [i for i in IncidentManager(pipeline_env.sql_url).list() if i.point == store.id]
    assert [i.check for i in found] == ["storage_days"]
    assert found[0].peak_value >= 400 and found[0].limit == 365
