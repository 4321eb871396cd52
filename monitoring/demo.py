"""The main job, end to end on simulated data (``envmon demo`` / ``make demo``).

1. start a managed throwaway ``influxd`` (unless ``ENVMON_INFLUX_URL`` names a server);
2. start the HJ 212 TCP receiver (``envmon receiver``) as a separate process;
3. simulate the last ``days`` days for every online point of the five clusters and send them over TCP
   the way data loggers do: hourly data (HJ 212 CN 2061) for the whole period and minute data (CN 2051,
   at each point's registry interval) for the last ``minute_hours`` hours — with late and duplicated
   packets and old and new protocol versions; drop the simulated lab results and hazardous-waste
   ledgers into the landing folders;
4. stop the receiver (its spool segments become ready) and run the ``ingest_readings`` DAG with
   Airflow's ``dag.test()``;
5. run ``evaluate_and_alert`` over the period, then the hazardous-waste checks;
6. print per cluster: points, readings stored, readings quarantined with reasons, data capture %; then
   the exceedances and the incidents, checked against the simulator's ground truth.

Sending a whole week of minute data would take the protocol path (build, receive, parse) ≈ 1.4 M
packets; the hourly stream carries the week at 1/60 of that, which keeps the demo to a few minutes on
2 cores. ``bench/`` measures the minute-data path.

Everything lands in one data directory (printed at the end) so that spool, quarantine and records can
be looked at afterwards.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import pandas as pd
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from monitoring import alerting
from monitoring.airflow_run import prepare_airflow_home, run_dag_test
from monitoring.config import LOCAL_TZ, load_settings
from monitoring.incidents import IncidentManager, fmt_local
from monitoring.influx.server import ManagedInfluxd
from monitoring.ingest import read_reports, store_from_settings
from monitoring.registry import Registry, load_registry
from monitoring.services import Layout, preferred_ports
from monitoring.supervise import up
from sensors import simulator
from sensors.hj212 import build_packet, frame_segment
from sensors.quarantine import read_records

DEFAULT_SEED = 20261122


@dataclass
class DemoResult:
    data_dir: Path
    start: datetime
    end: datetime
    sent: int = 0
    acked: int = 0
    zones: pd.DataFrame = field(default_factory=pd.DataFrame)
    reasons: dict[str, Counter] = field(default_factory=dict)


def _start_receiver(spool: Path, quarantine: Path) -> tuple[subprocess.Popen, int]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "monitoring.cli", "receiver", "--host", "127.0.0.1", "--port", "0",
         "--spool", str(spool), "--quarantine", str(quarantine), "--rotate-seconds", "5"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=os.environ.copy())
    line = proc.stdout.readline() if proc.stdout else ""
    if not line.startswith("listening on"):
        proc.kill()
        raise RuntimeError(f"the HJ 212 receiver did not start: {line!r}")
    return proc, int(line.rsplit(":", 1)[1])


def expected_hours(registry: Registry, start: datetime, end: datetime) -> pd.Series:
    """Hourly values a zone's online points should deliver in [start, end): points × parameters × hours."""
    hours = int((end - start).total_seconds() // 3600)
    rows = [(p.zone, len(p.parameters) * hours) for p in registry.points_of(online=True) if p.kind != "safety"]
    return pd.DataFrame(rows, columns=["zone", "n"]).groupby("zone")["n"].sum()


def device_stream(registry: Registry, start: datetime, end: datetime, *, seed: int, minute_hours: int):
    """(MN, packet) pairs: hourly data for [start, end), minute data for the last ``minute_hours`` hours."""
    minute_from = pd.Timestamp(end - timedelta(hours=minute_hours)).tz_convert("UTC")
    for frame in simulator.simulate_readings(registry, start, end, seed=seed):
        yield from simulator.to_packets(simulator.hourly_from_minutes(frame, registry), registry, seed=seed)
        recent = frame[frame["time"] >= minute_from]
        if len(recent):
            yield from simulator.to_packets(recent, registry, seed=seed)


def faulty_packets(registry: Registry, end: datetime) -> list[tuple[str, bytes]]:
    """A few devices misbehaving the way field devices do, so the demo shows the quarantine at work:
    MODBUS instead of Appendix-A CRC, a wrong access password, no DataTime, a non-numeric value."""
    points = registry.points_of(kind="stack", online=True)
    when = pd.Timestamp(end - timedelta(hours=1)).to_pydatetime()
    out = []
    for i, p in enumerate(points[:4]):
        cp = {p.parameters[0]: {"Avg": 12.5, "Flag": "N"}}
        kw = {"st": "31", "cn": "2051", "mn": p.mn, "pw": p.pw, "data_time": when, "cp": cp, "qn": f"2026010100000{i}000", "ack": True}
        if i == 0:
            raw = build_packet(**kw, crc_mode="modbus")[0]
        elif i == 1:
            raw = build_packet(**{**kw, "pw": "000000"})[0]
        else:   # edit the data segment, then frame it again with a correct length and CRC
            if i == 2:
                raw = build_packet(**{**kw, "cn": "1062", "data_time": None, "cp": {},
                                      "extra_cp": {"RtdInterval": "30"}})[0]
                raw = raw.replace(b"CN=1062", b"CN=2051").replace(b"RtdInterval=30",
                                                                  f"{p.parameters[0]}-Avg=1.0".encode())
            else:
                raw = build_packet(**kw)[0].replace(b"-Avg=12.5", b"-Avg=n/a")
            raw = frame_segment(raw[6:-6])          # "##LLLL" … "CCCC\r\n"
        out.append((p.mn, raw))
    return out


def expected_packets(registry: Registry, start: datetime, end: datetime, minute_hours: int) -> int:
    hours = (end - start).total_seconds() / 3600
    return int(sum(hours + minute_hours * 3600 / p.interval_s for p in registry.points_of(online=True)
                   if p.kind != "safety"))   # safety sensors: their own scenario (monitoring.safety.demo)


def run_demo(*, days: int = 7, seed: int = DEFAULT_SEED, minute_hours: int = 24,
             data_dir: Path | None = None, console: Console | None = None) -> DemoResult:
    console = console or Console(width=None if sys.stdout.isatty() else 150)
    data_dir = Path(data_dir or tempfile.mkdtemp(prefix="envmon-demo-")).resolve()
    os.environ["ENVMON_DATA_DIR"] = str(data_dir)
    settings = load_settings().ensure_dirs()
    registry = load_registry(settings.registry_path)
    end = datetime.now(LOCAL_TZ).replace(minute=0, second=0, microsecond=0)
    start = end - timedelta(days=days)
    result = DemoResult(data_dir=data_dir, start=start, end=end)

    influxd = None
    if not settings.influx_url:
        influxd = ManagedInfluxd(data_dir / "influxdb").start()   # the directory `envmon up` keeps using
        os.environ["ENVMON_INFLUX_URL"] = influxd.url
        settings = load_settings()
        console.print(f"[bold]InfluxDB[/] managed throwaway influxd at {influxd.url}")
    else:
        console.print(f"[bold]InfluxDB[/] {settings.influx_url} (ENVMON_INFLUX_URL)")
    receiver = None
    from monitoring.safety import demo as safety_demo  # issue #14: safety alarm latency, AQI, wells, soil

    sink = None
    if not load_settings().safety_notify_urls:
        sink = safety_demo.WebhookSink().start()
        os.environ["ENVMON_SAFETY_NOTIFY_URLS"] = sink.url
    stream, posts_before_batch = None, 0
    try:
        receiver, port = _start_receiver(settings.spool_dir, settings.quarantine_dir)
        console.print(f"[bold]Receiver[/] HJ 212 on 127.0.0.1:{port}, spool {settings.spool_dir}")
        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                      TimeElapsedColumn(), console=console) as progress:
            task = progress.add_task(f"devices → receiver ({days} d hourly + {minute_hours} h minute data)",
                                     total=expected_packets(registry, start, end, minute_hours))

            def packets():
                for item in device_stream(registry, start, end, seed=seed, minute_hours=minute_hours):
                    progress.advance(task)
                    yield item
                yield from faulty_packets(registry, end)

            sent = simulator.send_packets("127.0.0.1", port, packets(), connections=8)
        result.sent, result.acked = sent.sent, sent.acked
        console.print(f"[bold]Sent[/] {sent.sent:,} packets, {sent.acked:,} acknowledged "
                      f"after fsync, in {sent.elapsed_s:.1f} s")
        stream = safety_demo.send_safety_stream(port, registry, end)
        console.print(f"[bold]Safety sensors[/] {stream.sent:,} real-time packets (CN 2011, last 30 min, "
                      "with a distillery gas leak and a grit-well O2 dip) → receiver fast path")
        if sink is not None:
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline and len(sink.posts) < 5:
                time.sleep(0.1)
            posts_before_batch = len(sink.posts)
        _drop_landing_files(simulator, registry, settings, start, end, seed)
    finally:
        if receiver is not None:
            receiver.send_signal(signal.SIGTERM)
            receiver.wait(timeout=60)

    try:
        console.print("[bold]Airflow[/] dag.test() of ingest_readings …")

        prepare_airflow_home(data_dir / "airflow")
        run = run_dag_test("ingest_readings")
        console.print(f"[bold]Airflow[/] ingest_readings run {run.state}")
        result.zones = zone_summary(registry, settings, start, end)
        print_summary(console, registry, result)
        console.print("[bold]Airflow[/] dag.test() of evaluate_and_alert over the period …")
        run = run_dag_test("evaluate_and_alert", run_conf={"start": pd.Timestamp(start).isoformat(),
                                                       "end": pd.Timestamp(end).isoformat()})
        console.print(f"[bold]Airflow[/] evaluate_and_alert run {run.state}")

        alerting.check_hazardous_waste(as_of=end)
        print_incidents(console, registry, settings, simulator.simulation_truth(registry, start, end, seed=seed),
                        simulator.simulate_ledger_truth(registry, start, end, seed=seed), start, end)
        safety_demo.print_issue14(console, registry, settings, start, end, sink, stream, posts_before_batch)
        from monitoring.reports.demo_step import demo_reports

        demo_reports(settings, start, end, console)
    finally:
        if influxd is not None:
            influxd.stop()
        if sink is not None:
            sink.stop()
    console.print(f"Data directory (spool, quarantine, records): {data_dir}")
    return result


def _unpause_dags() -> None:
    """dag.test() registered the DAGs paused (Airflow's default at creation); the live stack runs them."""
    from airflow.models import DagModel
    from airflow.utils.session import create_session

    with create_session() as session:
        session.query(DagModel).update({DagModel.is_paused: False})


def keep_stack_up(data_dir: Path, *, seed: int = DEFAULT_SEED) -> int:
    """After the back-fill: the whole stack on the same data directory with live simulated devices
    (``envmon up --simulate``), until Ctrl-C. Default ports when free, other free ones when not."""

    _unpause_dags()
    os.environ.pop("AIRFLOW__LOGGING__LOGGING_LEVEL", None)     # the stack's task logs at INFO
    layout = Layout(data_dir=data_dir, ports=preferred_ports(), simulate=True, seed=seed)
    print(f"\nThe stack stays up with live simulated devices; Ctrl-C stops it. Look at the Airflow UI "
          f"(ingest runs every 30 s), {layout.log_dir} (one log per process), {data_dir} (data).")
    return up(layout)


def _drop_landing_files(simulator, registry: Registry, settings, start, end, seed: int) -> None:
    lab = simulator.simulate_lab(registry, start, end, seed=seed)
    for zone, part in lab.groupby(lab["监测点位"].map(lambda pid: registry.point(pid).zone)):
        target = settings.landing_dir / str(zone) / "lab"
        target.mkdir(parents=True, exist_ok=True)
        simulator.write_lab_csv(part, target / "lab_results.csv")
    # issue #14: a well rising towards Class III over the last months, this year's soil samples
    from sensors.sim_samples import rising_well, soil_samples

    extra = pd.concat([rising_well(registry, end), soil_samples(registry, end)], ignore_index=True)
    for zone, part in extra.groupby(extra["监测点位"].map(lambda pid: registry.point(pid).zone)):
        target = settings.landing_dir / str(zone) / "lab"
        target.mkdir(parents=True, exist_ok=True)
        simulator.write_lab_csv(part, target / "lab_wells_soil.csv")
    ledger = simulator.simulate_ledger(registry, start, end, seed=seed)
    with tempfile.TemporaryDirectory() as tmp:
        for path in simulator.write_ledger_csv(ledger, tmp, registry):
            target = settings.landing_dir / path.parent.name / "ledger"
            target.mkdir(parents=True, exist_ok=True)
            path.replace(target / path.name)


def zone_summary(registry: Registry, settings, start: datetime, end: datetime) -> pd.DataFrame:
    """Per zone: points, readings stored, quarantined, and data capture % = valid (flag N) hourly values
    over the hourly values expected from the online points."""
    store = store_from_settings(load_settings())
    t0, t1 = pd.Timestamp(start).tz_convert("UTC"), pd.Timestamp(end).tz_convert("UTC")
    window = f"time >= '{t0.isoformat()}' AND time < '{t1.isoformat()}'"
    stored = store.query(f"SELECT count(value) AS n FROM readings WHERE {window} AND source <> 'lab' GROUP BY zone")
    valid = store.query(f"SELECT count(value) AS n FROM readings WHERE {window} AND flag = 'N' "
                        "AND period = '1h' GROUP BY zone")
    expected = expected_hours(registry, start, end)
    rows = []
    for zone in registry.zones:
        reports = read_reports(settings, zone)
        n_stored = int(stored.loc[stored["zone"] == zone, "n"].sum()) if len(stored) else 0
        n_valid = int(valid.loc[valid["zone"] == zone, "n"].sum()) if len(valid) else 0
        rows.append({
            "zone": zone,
            "points": len(registry.points_of(zone=zone)),
            "online": len(registry.points_of(zone=zone, online=True)),
            "stored": n_stored,
            "quarantined": sum(r["quarantined"] for r in reports),
            "capture_pct": 100.0 * n_valid / expected.get(zone, 0) if expected.get(zone, 0) else float("nan"),
            "reasons": sum((Counter(r["reasons"]) for r in reports), Counter()),
        })
    return pd.DataFrame(rows)


def print_summary(console: Console, registry: Registry, result: DemoResult) -> None:
    table = Table(title=f"envmon demo: {result.start:%Y-%m-%d %H:%M} – {result.end:%Y-%m-%d %H:%M} (UTC+8)")
    for col in ("cluster", "points (online)", "readings stored", "quarantined", "data capture %"):
        table.add_column(col, justify="right" if col != "cluster" else "left")
    for row in result.zones.itertuples():
        z = registry.zone(row.zone)
        table.add_row(f"{z.name_zh} {z.pinyin}", f"{row.points} ({row.online})", f"{row.stored:,}",
                      f"{row.quarantined:,}", f"{row.capture_pct:.1f}")
    console.print(table)

    received = Counter(r["reason"].split(":")[0] for r in read_records(result.data_dir / "quarantine")
                       if r.get("stage") == "receiver")
    if received:
        console.print("[bold]Receiver[/] refused (no 9014 answer, kept in quarantine): " +
                      "; ".join(f"{reason} × {n}" for reason, n in received.most_common()))
    for row in result.zones.itertuples():
        if row.reasons:
            z = registry.zone(row.zone)
            console.print(f"[bold]{z.name_zh}[/] quarantined: " +
                          "; ".join(f"{reason} × {n}" for reason, n in row.reasons.most_common(6)))


#: Point kinds whose windows are local days: an episode of theirs is judged once its day is over.
DAY_WINDOW_KINDS = ("wastewater", "plant_effluent", "ambient_air")
#: Parameters judged on every valid sample rather than on a daily mean: pH, a range (GB 8978-1996 6–9;
#: :mod:`monitoring.compliance.water`), so an episode of theirs shows as soon as it begins, even on a day
#: that is still running.
SAMPLE_JUDGED = ("w01001",)


def judged_episodes(episodes: pd.DataFrame, start: datetime, end: datetime) -> pd.DataFrame:
    """The injected episodes the period can show as incidents: begun inside it, their judging window closed
    before ``end`` (a water or ambient day that is still running has no daily mean yet; a pH day is judged
    sample by sample)."""
    s, e = pd.Timestamp(start).tz_convert("UTC"), pd.Timestamp(end).tz_convert("UTC")
    day_end = (episodes["end"] - pd.Timedelta(seconds=1)).dt.tz_convert(LOCAL_TZ).dt.floor("D") + pd.Timedelta(days=1)
    closes = episodes["end"].where(~episodes["kind"].isin(DAY_WINDOW_KINDS), day_end.dt.tz_convert("UTC"))
    closes = closes.where(~episodes["parameter"].isin(SAMPLE_JUDGED), episodes["start"])
    return episodes[(episodes["start"] >= s) & (closes <= e)]


def print_incidents(console: Console, registry: Registry, settings, truth, ledger_truth: pd.DataFrame,
                    start: datetime, end: datetime) -> None:
    """Exceedances and incidents of the period, and how they compare with what the simulator injected."""
    store = store_from_settings(settings)
    exceed = store.query("SELECT count(value) AS n FROM assessments WHERE verdict = 'exceeds' AND "
                         "time >= $s AND time < $e GROUP BY kind, \"check\"",
                         params={"s": pd.Timestamp(start).tz_convert("UTC").isoformat(),
                                 "e": pd.Timestamp(end).tz_convert("UTC").isoformat()})
    if len(exceed):
        console.print("[bold]Exceedances[/] (evaluated windows over the limit): " + ", ".join(
            f"{r.kind}/{r.check} {int(r.n)}" for r in exceed.itertuples()))
    incidents = IncidentManager(settings.sql_url).list()
    table = Table(title=f"Incidents ({len(incidents)})")
    for col in ("#", "cluster", "point", "parameter", "check", "since (UTC+8)", "peak / limit", "severity", "status"):
        table.add_column(col)
    for inc in incidents[:25]:
        zone = registry.zones.get(inc.zone or "")
        peak = f"{inc.peak_value:.4g} / {inc.limit:g} {inc.unit or ''}" if inc.peak_value is not None and inc.limit else ""
        peak += " *" if inc.limit_status == "provisional" else ""
        table.add_row(str(inc.id), zone.name_zh if zone else "", inc.point, inc.parameter, inc.check,
                      fmt_local(inc.started_at), peak, inc.severity_zh, inc.status_zh)
    console.print(table)
    if any(inc.limit_status == "provisional" for inc in incidents):
        console.print("* limit provisional (暂定值): DB 50/418-2016 表1 其他区域 not yet read from the official "
                      "text; the GB 16297-1996 表2 二级 value is applied until it is (limits/README.md)")
    injected = judged_episodes(truth.episodes, start, end)
    episodes = set(zip(injected["point"], injected["parameter"], strict=True))
    exceed = [i for i in incidents if i.kind in ("exceedance", "ambient") and i.check != "control"]
    hw_stores = {p.id for p in registry.points_of(kind="hw_store")}
    series = [i for i in exceed if i.point not in hw_stores]
    ledger = [i for i in exceed if i.point in hw_stores]
    matched = episodes & {(i.point, i.parameter) for i in series}
    unexplained = [i for i in series if (i.point, i.parameter) not in episodes]
    console.print(f"Simulator truth: {len(episodes)} injected exceedance episodes → {len(matched)} with an incident; "
                  f"{len(ledger_truth)} injected hazardous-waste ledger problems → {len(ledger)} incidents; "
                  f"{len(truth.windows)} calibration/maintenance/fault windows (flagged values far over the "
                  f"limits) and {len(truth.outages)} outages; incidents not explained by an injected episode: "
                  f"{len(unexplained)}")
    missed = sorted(episodes - {(i.point, i.parameter) for i in series})
    for point, parameter in missed:
        e = injected[(injected["point"] == point) & (injected["parameter"] == parameter)].iloc[0]
        console.print(f"  injected, no incident: {point} {parameter} {fmt_local(e['start'])}–{fmt_local(e['end'])} "
                      f"level {e['level']:.4g} vs {e['limit']:g} {e['unit']}")
    for inc in unexplained:
        console.print(f"  not injected as an episode: {inc.point} {inc.parameter} {inc.check} "
                      f"(peak {inc.peak_value:.4g} vs {inc.limit:g} {inc.unit or ''})")
