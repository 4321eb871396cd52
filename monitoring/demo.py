"""The main job, end to end on simulated data (``envmon demo`` / ``make demo``).

1. start a managed throwaway ``influxd`` (unless ``ENVMON_INFLUX_URL`` names a server);
2. start the HJ 212 TCP receiver (``envmon receiver``) as a separate process;
3. simulate the last ``days`` days for every online point of the five clusters and send the packets
   over TCP like the devices would (late and duplicated packets, old and new protocol versions);
   drop the simulated lab results and hazardous-waste ledgers into the landing folders;
4. stop the receiver (its spool segments become ready) and run the ``ingest_readings`` DAG with
   Airflow's ``dag.test()``;
5. print per cluster: points, readings stored, readings quarantined with reasons, data capture %.

Everything lands in one data directory (printed at the end) so that spool, quarantine and records can
be looked at afterwards.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import pandas as pd
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from monitoring.config import LOCAL_TZ, load_settings
from monitoring.registry import Registry, load_registry

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


def expected_values(registry: Registry, start: datetime, end: datetime, interval_s: int | None) -> pd.Series:
    """Values a zone's online points should deliver in [start, end): points × parameters × intervals."""
    seconds = (end - start).total_seconds()
    rows = [(p.zone, len(p.parameters) * int(seconds // (interval_s or p.interval_s)))
            for p in registry.points_of(online=True)]
    return pd.DataFrame(rows, columns=["zone", "n"]).groupby("zone")["n"].sum()


def run_demo(*, days: int = 7, seed: int = DEFAULT_SEED, interval_s: int | None = 300,
             data_dir: Path | None = None, console: Console | None = None) -> DemoResult:
    from monitoring.influxd import ManagedInfluxd
    from sensors import simulator

    console = console or Console()
    data_dir = Path(data_dir or tempfile.mkdtemp(prefix="envmon-demo-")).resolve()
    os.environ["ENVMON_DATA_DIR"] = str(data_dir)
    settings = load_settings().ensure_dirs()
    registry = load_registry(settings.registry_path)
    end = datetime.now(LOCAL_TZ).replace(minute=0, second=0, microsecond=0)
    start = end - timedelta(days=days)
    result = DemoResult(data_dir=data_dir, start=start, end=end)

    influxd = None
    if not settings.influx_url:
        influxd = ManagedInfluxd(data_dir / "influxd").start()
        os.environ["ENVMON_INFLUX_URL"] = influxd.url
        console.print(f"[bold]InfluxDB[/] managed throwaway influxd at {influxd.url}")
    else:
        console.print(f"[bold]InfluxDB[/] {settings.influx_url} (ENVMON_INFLUX_URL)")
    receiver = None
    try:
        receiver, port = _start_receiver(settings.spool_dir, settings.quarantine_dir)
        console.print(f"[bold]Receiver[/] HJ 212 on 127.0.0.1:{port}, spool {settings.spool_dir}")
        total = int(sum(int((end - start).total_seconds() // (interval_s or p.interval_s))
                        for p in registry.points_of(online=True)))
        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                      TimeElapsedColumn(), console=console) as progress:
            task = progress.add_task(f"devices → receiver ({days} days, {interval_s or 'registry'} s data)",
                                     total=total)

            def packets():
                for frame in simulator.simulate_readings(registry, start, end, seed=seed, interval_s=interval_s):
                    for item in simulator.to_packets(frame, registry, seed=seed):
                        progress.advance(task)
                        yield item

            sent = simulator.send_packets("127.0.0.1", port, packets(), connections=8)
        result.sent, result.acked = sent.sent, sent.acked
        console.print(f"[bold]Sent[/] {sent.sent:,} packets, {sent.acked:,} acknowledged "
                      f"after fsync, in {sent.elapsed_s:.1f} s")
        _drop_landing_files(simulator, registry, settings, start, end, seed)
    finally:
        if receiver is not None:
            receiver.send_signal(signal.SIGTERM)
            receiver.wait(timeout=60)

    try:
        console.print("[bold]Airflow[/] dag.test() of ingest_readings …")
        from monitoring.airflow_run import prepare_airflow_home, test_dag

        prepare_airflow_home(data_dir / "airflow")
        run = test_dag("ingest_readings")
        console.print(f"[bold]Airflow[/] ingest_readings run {run.state}")
        result.zones = zone_summary(registry, settings, start, end, interval_s)
        print_summary(console, registry, result)
    finally:
        if influxd is not None:
            influxd.stop()
    console.print(f"Data directory (spool, quarantine, records): {data_dir}")
    return result


def _drop_landing_files(simulator, registry: Registry, settings, start, end, seed: int) -> None:
    lab = simulator.simulate_lab(registry, start, end, seed=seed)
    for zone, part in lab.groupby(lab["监测点位"].map(lambda pid: registry.point(pid).zone)):
        target = settings.landing_dir / str(zone) / "lab"
        target.mkdir(parents=True, exist_ok=True)
        simulator.write_lab_csv(part, target / "lab_results.csv")
    ledger = simulator.simulate_ledger(registry, start, end, seed=seed)
    with tempfile.TemporaryDirectory() as tmp:
        for path in simulator.write_ledger_csv(ledger, tmp, registry):
            target = settings.landing_dir / path.parent.name / "ledger"
            target.mkdir(parents=True, exist_ok=True)
            path.replace(target / path.name)


def zone_summary(registry: Registry, settings, start: datetime, end: datetime,
                 interval_s: int | None) -> pd.DataFrame:
    """Per zone: points, readings stored, valid (flag N) readings, quarantined, capture %."""
    from monitoring.ingest import read_reports, store_from_settings

    store = store_from_settings(load_settings())
    t0, t1 = pd.Timestamp(start).tz_convert("UTC"), pd.Timestamp(end).tz_convert("UTC")
    window = f"time >= '{t0.isoformat()}' AND time < '{t1.isoformat()}'"
    stored = store.query(f"SELECT count(value) AS n FROM readings WHERE {window} AND source <> 'lab' GROUP BY zone")
    valid = store.query(f"SELECT count(value) AS n FROM readings WHERE {window} AND flag = 'N' "
                        "AND source <> 'lab' GROUP BY zone")
    expected = expected_values(registry, start, end, interval_s)
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
    for row in result.zones.itertuples():
        if row.reasons:
            z = registry.zone(row.zone)
            console.print(f"[bold]{z.name_zh}[/] quarantined: " +
                          "; ".join(f"{reason} × {n}" for reason, n in row.reasons.most_common(6)))
