"""Zones ingested in parallel processes (monitoring.ingest.ingest_zones), against the throwaway influxd."""

from __future__ import annotations

import json
import sys
import time
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


_STARTS = Path("/nonexistent")   # set by the test below before the workers fork


def _record_start(zone: str):
    """Stands in for a zone's run in a worker: notes which zone started (one O_APPEND write each)."""
    from monitoring.ingest import IngestReport

    with _STARTS.open("a", encoding="utf-8") as fh:
        fh.write(zone + "\n")
    time.sleep(0.3)          # long enough that the first two are both running before the third starts
    return IngestReport(zone=zone, batch=f"{zone}-test")


def test_the_biggest_zones_start_first_and_reports_keep_the_callers_order(settings, tmp_path, monkeypatch):
    """Five zones over two workers ran 3 + 2: started biggest first, the last one to start is the smallest,
    so no big zone is left to run alone at the end (issue #13)."""
    from monitoring import ingest
    from sensors.spool import SegmentWriter

    monkeypatch.setattr(sys.modules[__name__], "_STARTS", tmp_path / "starts.txt")
    monkeypatch.setattr(ingest, "_one_zone_in_worker", _record_start)
    writer = SegmentWriter(settings.spool_dir)
    for zone, packets in (("nanxi", 5), ("jiangkou", 50), ("gaoyang", 20)):
        writer.append(zone, [b"##0010QN=%07d0000" % i for i in range(packets)])
    writer.rotate()
    lab = settings.landing_dir / "nanxi" / "lab"
    lab.mkdir(parents=True)
    (lab / "samples.csv").write_bytes(b"x" * 2000)      # landing files count too: nanxi is the biggest
    assert ingest.pending_bytes("nanxi", settings) == 5 * 22 + 2000       # 20-byte packets + CRLF

    reports, failures = ingest.ingest_zones(["jiangkou", "gaoyang", "nanxi"], settings=settings, workers=2)

    assert not failures and [r.zone for r in reports] == ["jiangkou", "gaoyang", "nanxi"]
    started = _STARTS.read_text(encoding="utf-8").split()
    assert set(started[:2]) == {"nanxi", "jiangkou"} and started[2] == "gaoyang"
