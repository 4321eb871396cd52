"""The ingest DAG end to end: spool + landing files → dag.test() → what landed in InfluxDB."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pandas as pd
import pytest

from monitoring import ingest
from monitoring.influx import InfluxStore
from sensors import simulator
from sensors.hj212 import build_packet
from tests.dags.conftest import simulate_into_spool

pytestmark = [pytest.mark.influx, pytest.mark.airflow]

ZONE = "jiangkou"


def _modbus_packet(registry) -> bytes:
    point = registry.points_of(zone=ZONE, online=True)[0]
    pkt = build_packet(st="31", cn="2051", mn=point.mn, pw=point.pw, data_time=pd.Timestamp("2026-11-16T09:00+08:00"),
                       cp={point.parameters[0]: {"Avg": 1.0, "Flag": "N"}}, crc_mode="modbus")[0]
    return pkt.rstrip(b"\r\n")


def test_ingest_dag_stores_every_reading_and_quarantines_bad_packets(pipeline_env, registry, influx_store,
                                                                      week_start):
    from dags.ingest_readings import DAG

    end = week_start + timedelta(hours=3)
    sent = simulate_into_spool(registry, pipeline_env.spool_dir, ZONE, week_start, end,
                               extra=[_modbus_packet(registry), b"##garbage-not-a-packet"])
    lab = simulator.simulate_lab(registry, week_start - timedelta(days=40), end, seed=7)
    lab = lab[lab["监测点位"].map(lambda p: registry.point(p).zone) == ZONE].copy()
    nh3 = lab.index[lab["监测项目"] == "氨氮"][0]
    lab.loc[nh3, "检测结果"] = "<0.025"          # a non-detect: qualifier "<", value = detection limit
    (pipeline_env.landing_dir / ZONE / "lab").mkdir(parents=True)
    simulator.write_lab_csv(lab, pipeline_env.landing_dir / ZONE / "lab" / "lab.csv")

    run = DAG.test()
    assert run.state == "success"

    # every simulated reading landed once (duplicated and late packets included), values intact
    stored = influx_store.read_readings(week_start, end, zone=ZONE)
    stored = stored[stored["source"] != "lab"]
    key = ["point", "parameter", "time"]
    assert len(stored) == len(sent.drop_duplicates(key))
    merged = sent.merge(stored, on=key, suffixes=("_sent", "_stored"))
    assert len(merged) == len(stored)
    assert (merged["value_sent"] - merged["value_stored"]).abs().max() < 1e-6
    assert (merged["flag_sent"] == merged["flag_stored"]).all()

    # the MODBUS-CRC packet and the garbage line are in the quarantine with their reasons
    report = ingest.read_reports(pipeline_env, ZONE)[-1]
    records = [json.loads(line) for line in
               Path(report["quarantine_file"]).read_text(encoding="utf-8").splitlines()]
    reasons = " | ".join(r["reason"] for r in records)
    assert "CRC" in reasons
    assert any("garbage" in r.get("raw", "") for r in records)

    # lab results stored with their qualifier; spool segments consumed
    everything = influx_store.read_readings(week_start - timedelta(days=40), end, zone=ZONE)
    lab_rows = everything[everything["source"] == "lab"]
    non_detect = lab_rows[lab_rows["qualifier"] == "<"]
    assert len(non_detect) == 1 and non_detect["value"].iat[0] == pytest.approx(0.025)
    assert report["readings_stored"] == len(stored) + len(lab_rows)
    assert not list((pipeline_env.spool_dir / ZONE).glob("*.ready"))
    assert list((pipeline_env.spool_dir / "consumed").rglob(f"*{report['batch']}"))

    # a second run finds nothing new and changes nothing
    assert DAG.test().state == "success"
    latest = {r["zone"]: r for r in ingest.read_reports(pipeline_env)}
    assert latest[ZONE]["batch"] != report["batch"] and latest[ZONE]["readings_stored"] == 0
    assert len(influx_store.read_readings(week_start - timedelta(days=40), end, zone=ZONE)) == len(everything)


def test_influx_down_spools_and_next_run_replays(settings, influx_store, registry, monkeypatch, week_start):
    """InfluxDB unreachable: nothing is lost, the lines wait in the write spool and land on the next run."""
    end = week_start + timedelta(hours=2)
    sent = simulate_into_spool(registry, settings.spool_dir, ZONE, week_start, end)
    down = InfluxStore("http://127.0.0.1:9", influx_store.database, retries=0, timeout=2)

    first = ingest.ingest_zone(ZONE, settings=settings, registry=registry, store=down)
    assert first.readings_stored == 0
    assert first.lines_spooled == len(sent.drop_duplicates(["point", "parameter", "time"]))
    assert list(settings.write_spool_dir.glob("*.lp.gz"))

    second = ingest.ingest_zone(ZONE, settings=settings, registry=registry, store=influx_store)
    assert second.lines_replayed == first.lines_spooled
    assert not list(settings.write_spool_dir.glob("*.lp.gz"))
    assert len(influx_store.read_readings(week_start, end, zone=ZONE)) == first.lines_spooled


def test_lab_rows_of_another_zone_are_quarantined_not_dropped(settings, influx_store, registry, week_start):
    """A lab file dropped in 江口's folder that names a 南溪 well: its row is quarantined with the reason."""
    other = registry.points_of(zone="nanxi", kind="groundwater")[0]
    mine = registry.points_of(zone=ZONE, kind="groundwater")[0]
    folder = settings.landing_dir / ZONE / "lab"
    folder.mkdir(parents=True)
    (folder / "lab.csv").write_text(
        "监测点位,监测项目,采样时间,检测结果,单位\n"
        f"{mine.id},氨氮,2026-11-16 09:00,0.12,mg/L\n"
        f"{other.id},氨氮,2026-11-16 09:00,0.30,mg/L\n", encoding="utf-8")

    report = ingest.ingest_zone(ZONE, settings=settings, registry=registry, store=influx_store)

    assert report.readings_stored == 1 and report.quarantined == 1
    (record,) = [json.loads(line) for line in Path(report.quarantine_file).read_text(encoding="utf-8").splitlines()]
    assert record["stage"] == "collect" and other.id in record["reason"] and "nanxi" in record["reason"]
    assert record["row"]["value"] == 0.30
    # the batch's quality summary is in records/quality/, not records/quality/quality/ (issue 7 item 9)
    summaries = sorted(p.relative_to(settings.records_dir) for p in settings.records_dir.rglob("*.json")
                       if "quality" in p.parts)
    assert len(summaries) == 1 and summaries[0].parent == Path("quality"), summaries
    assert json.loads((settings.records_dir / summaries[0]).read_text(encoding="utf-8"))["batch"] == report.batch
