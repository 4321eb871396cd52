"""Ingest faults of issue 9 against a real influxd: data never gets stuck, every reject is traceable.

* item 1: an acknowledged packet with DataTime 2999-12-31 (spooled by an older receiver) is quarantined
  with its reason and the rest of the segment is stored; one failing zone never stops the others;
* item 5: ingest quarantine records hold no device PW;
* item 9: every quarantine record — decode, lab, units, quality — names the file and line (or spool
  segment and line) it came from, in one record format;
* item 10: a broken registry is one line naming file, entry and field, exit status 2.
"""

from __future__ import annotations

import json
import textwrap
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest
from typer.testing import CliRunner

from monitoring import ingest
from monitoring.cli import app
from monitoring.config import LOCAL_TZ
from sensors.hj212 import build_packet
from sensors.quarantine import read_records
from sensors.spool import SegmentWriter

pytestmark = [pytest.mark.influx]

ZONE = "jiangkou"


def _point(registry, zone=ZONE, kind="stack"):
    return next(p for p in registry.points_of(zone=zone, online=True) if p.kind == kind)


def _packet(point, t: datetime, value: float, qn: str) -> bytes:
    return build_packet(st="31", cn="2061", mn=point.mn, pw=point.pw, data_time=t,
                        cp={point.parameters[0]: {"Avg": value, "Flag": "N"}}, qn=qn)[0].rstrip(b"\r\n")


def test_packet_from_2999_is_quarantined_and_the_zone_goes_on(settings, registry, influx_store):
    p = _point(registry)
    t = datetime(2026, 11, 20, 10, 0, tzinfo=LOCAL_TZ)
    writer = SegmentWriter(settings.spool_dir)
    writer.append(ZONE, [_packet(p, t, 10.0, "Q1"), _packet(p, datetime(2999, 12, 31, 23, 59, 59), 11.0, "Q2"),
                         _packet(p, t + timedelta(hours=1), 12.0, "Q3")])
    writer.close()

    report = ingest.ingest_zone(ZONE, settings=settings, registry=registry, store=influx_store)
    assert report.readings_stored == 2 and report.quarantined == 1
    (rec,) = read_records(settings.quarantine_dir / ZONE)
    assert rec["stage"] == "decode" and rec["batch"] == report.batch
    assert rec["reason"].startswith("DataTime 2999-12-31 23:59:59 is after 2262-04-10")
    assert rec["origin"].startswith("spool segment ") and rec["origin"].endswith(":2")
    assert f"PW={p.pw};" not in rec["raw"] and "PW=******" in rec["raw"]          # item 5
    # the segment is consumed: the next run has nothing left to choke on
    again = ingest.ingest_zone(ZONE, settings=settings, registry=registry, store=influx_store)
    assert again.segments == 0 and again.quarantined == 0


def test_one_failing_zone_never_stops_the_others(settings, registry, influx_store, monkeypatch):
    t = datetime(2026, 11, 20, 10, 0, tzinfo=LOCAL_TZ)
    writer = SegmentWriter(settings.spool_dir)
    for zone in ("jiangkou", "nanxi"):
        writer.append(zone, [_packet(_point(registry, zone, kind), t, 10.0, f"Q-{zone}")
                             for kind in ("stack",) if any(q.kind == kind for q in registry.points_of(zone=zone, online=True))]
                      or [_packet(registry.points_of(zone=zone, online=True)[0], t, 10.0, f"Q-{zone}")])
    writer.close()
    real = ingest.ingest_zone

    def failing_first_zone(zone, **kw):
        if zone == "jiangkou":
            raise RuntimeError("InfluxDB at http://envmon:s3cret@db:8086 said 500")
        return real(zone, **kw)

    monkeypatch.setattr(ingest, "ingest_zone", failing_first_zone)
    reports, failures = ingest.ingest_zones(["jiangkou", "nanxi"], settings=settings, registry=registry,
                                            store=influx_store)
    assert [r.zone for r in reports] == ["nanxi"] and reports[0].readings_stored >= 1
    assert [f.zone for f in failures] == ["jiangkou"]
    assert "s3cret" not in failures[0].error and "envmon:******@db" in failures[0].error
    # jiangkou's input is still waiting for the next run
    assert list((settings.spool_dir / "jiangkou").glob("*.ready"))


def test_every_quarantine_record_names_file_and_line(settings, registry, influx_store):
    """Units and quality rejects used to say ``"origin": "batch"``."""
    gw = next(p for p in registry.points.values() if p.zone == ZONE and p.kind == "groundwater")
    lab = settings.landing_dir / ZONE / "lab"
    lab.mkdir(parents=True)
    (lab / "lab.csv").write_text(textwrap.dedent(f"""\
        point,parameter,sample_time,value,unit,detection_limit
        {gw.id},w01001,2026-03-05 10:30,15.5,,
        {gw.id},w21003,2026-03-05 10:30,0.3,dB(A),
        {gw.id},w21003,2026-03-06 10:30,0.3,mg/L,
        NOPE-01,w21003,2026-03-06 10:30,0.3,mg/L,
        """), encoding="utf-8")
    p = _point(registry)
    writer = SegmentWriter(settings.spool_dir)
    writer.append(ZONE, [b"##garbage", _packet(p, datetime(2026, 11, 20, 10, tzinfo=LOCAL_TZ), 1e9, "QX")])
    writer.close()

    report = ingest.ingest_zone(ZONE, settings=settings, registry=registry, store=influx_store,
                                now=datetime(2026, 11, 21, tzinfo=UTC))
    recs = {r["stage"] + " " + r["origin"]: r for r in read_records(settings.quarantine_dir / ZONE)}
    lab_file = f"landing/{ZONE}/lab/lab.csv"
    assert sorted(recs) == sorted([f"quality {lab_file}:2", f"units {lab_file}:3", f"lab {lab_file}:5",
                                   recs_key(recs, "decode"), recs_key(recs, "quality spool")])
    assert recs[f"units {lab_file}:3"]["reason"] == "impossible conversion dB(A) → mg/L for w21003"
    assert "outside plausible range" in recs[f"quality {lab_file}:2"]["reason"]
    assert all(r["batch"] == report.batch and r["time"] for r in recs.values())
    spool_quality = next(r for k, r in recs.items() if k.startswith("quality spool segment "))
    assert spool_quality["origin"].endswith(":2") and spool_quality["row"]["point"] == p.id
    assert report.readings_stored == 1


def test_a_large_lab_file_is_ingested_in_parts_with_every_line_named(settings, registry, influx_store):
    """Item 12: a lab file goes through units → quality → write chunk by chunk (here 400 rows a part);
    rejections of every stage in the later parts still name their file line; everything else is stored
    once, and the quality summaries name each part."""
    gw = next(p for p in registry.points.values() if p.zone == ZONE and p.kind == "groundwater")
    lab = settings.landing_dir / ZONE / "lab"
    lab.mkdir(parents=True)
    start = pd.Timestamp("2026-03-01 00:00")
    rows = [f"{gw.id},w21003,{start + pd.Timedelta(minutes=k):%Y-%m-%d %H:%M},0.3,mg/L," for k in range(1000)]
    rows[850] = rows[850].replace("0.3,mg/L", "0.3,dB(A)")        # line 852: units stage, part 2
    rows[930] = rows[930].replace(",0.3,", ",1e9,")               # line 932: quality stage, part 2
    rows[601] = rows[601].replace(",0.3,", ",abc,")                # line 603: lab reader, part 2
    (lab / "big.csv").write_text("point,parameter,sample_time,value,unit,detection_limit\n"
                                 + "\n".join(rows) + "\n", encoding="utf-8")

    report = ingest.ingest_zone(ZONE, settings=settings, registry=registry, store=influx_store,
                                now=datetime(2026, 11, 21, tzinfo=UTC), lab_chunk_rows=400)
    recs = sorted((r["stage"], r["origin"]) for r in read_records(settings.quarantine_dir / ZONE))
    lab_file = f"landing/{ZONE}/lab/big.csv"
    assert recs == [("lab", f"{lab_file}:603"), ("quality", f"{lab_file}:932"), ("units", f"{lab_file}:852")]
    assert report.readings_stored == 997 and report.quarantined == 3
    # parts: rows 1-400, then 399 + 200 (the second chunk lost line 603 to the lab reader)
    summaries = sorted(p.name for p in settings.quality_dir.glob(f"{report.batch}*.json"))
    assert summaries == [f"{report.batch}-part2.json", f"{report.batch}.json"]
    rows_in = [json.loads((settings.quality_dir / n).read_text())["rows_in"] for n in reversed(summaries)]
    assert rows_in == [400, 598]      # part 2's 599 readings less the one the units stage quarantined
    stored = influx_store.query('SELECT count("value") FROM "readings" WHERE "point" = $p', params={"p": gw.id})
    assert int(stored.iloc[0, -1]) == 997


def recs_key(recs: dict, prefix: str) -> str:
    (key,) = [k for k in recs if k.startswith(prefix)]
    return key


def test_ingest_with_a_broken_registry_is_one_line_and_exit_2(tmp_path, monkeypatch, settings):
    import yaml

    from monitoring.config import PACKAGE_DATA
    data = yaml.safe_load((PACKAGE_DATA / "registry.yaml").read_text(encoding="utf-8"))
    data["zones"][0]["bogus_field"] = 1
    bad = tmp_path / "registry.yaml"
    bad.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    monkeypatch.setenv("ENVMON_REGISTRY", str(bad))
    result = CliRunner().invoke(app, ["ingest"])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.output
    assert "registry.yaml: zones[0] (id=jiangkou): bogus_field" in lines[0]


def test_ingest_cli_reports_a_failed_zone_and_stores_the_others(settings, registry, influx_store, monkeypatch):
    monkeypatch.setenv("ENVMON_INFLUX_URL", influx_store.url)
    monkeypatch.setenv("ENVMON_INFLUX_DB", influx_store.database)
    real = ingest.ingest_zone
    monkeypatch.setattr(ingest, "ingest_zone",
                        lambda zone, **kw: (_ for _ in ()).throw(OSError("disk full")) if zone == "nanxi"
                        else real(zone, **kw))
    result = CliRunner().invoke(app, ["ingest"])
    assert result.exit_code == 1
    out = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert sorted(r["zone"] for r in out) == sorted(z for z in registry.zones if z != "nanxi")
    assert "zone nanxi failed" in result.output and "disk full" in result.output
    assert pd.notna(out[0]["batch"])
