"""Zones ingested in parallel processes (monitoring.ingest.ingest_zones), against the throwaway influxd."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from monitoring.config import LOCAL_TZ, load_settings
from monitoring.ingest import ingest_zones
from monitoring.registry import load_registry
from tests.dags.conftest import simulate_into_spool

pytestmark = pytest.mark.influx

START = datetime(2026, 11, 16, 8, 0, tzinfo=LOCAL_TZ)


def test_zones_in_parallel_store_everything_and_a_failing_zone_does_not_stop_the_others(
        settings, influx_store, monkeypatch):
    monkeypatch.setenv("ENVMON_INFLUX_URL", influx_store.url)
    monkeypatch.setenv("ENVMON_INFLUX_DB", influx_store.database)
    settings = load_settings().ensure_dirs()
    registry = load_registry(settings.registry_path)
    end = START + timedelta(hours=2)
    sent = {z: simulate_into_spool(registry, settings.spool_dir, z, START, end,
                                   extra=[b"##garbage"] if z == "jiangkou" else [])
            for z in ("jiangkou", "nanxi", "gaoyang")}

    reports, failures = ingest_zones(["jiangkou", "no-such-zone", "nanxi", "gaoyang"], settings=settings,
                                     registry=registry, workers=2)

    assert [r.zone for r in reports] == ["jiangkou", "nanxi", "gaoyang"]
    [failed] = failures
    assert failed.zone == "no-such-zone" and "no-such-zone" in failed.error
    reports = {r.zone: r for r in reports}
    for zone, readings in sent.items():
        unique = len(readings.drop_duplicates(["point", "parameter", "statistic", "period", "time"]))
        assert reports[zone].readings_stored == unique, zone
        assert set(reports[zone].seconds) >= {"decode", "units", "quality", "write"}
    # the garbage line is in jiangkou's quarantine with its reason; nothing else was rejected
    assert reports["jiangkou"].quarantined == 1 and reports["nanxi"].quarantined == 0
    text = Path(reports["jiangkou"].quarantine_file).read_text(encoding="utf-8")
    [record] = [json.loads(line) for line in text.splitlines()]
    assert record["raw"] == "##garbage" and record["reason"].startswith("length field is not 4 digits")
    assert record["stage"] == "decode" and record["origin"].rsplit(":", 1)[1].isdigit()   # segment:line
    assert influx_store.count("readings") == sum(r.readings_stored for r in reports.values())
    stored = influx_store.read_readings(START, end)
    assert set(stored["zone"]) == set(sent)
