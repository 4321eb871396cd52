"""Ingest benchmarks (issue #2 §8). Prints figures and ratios; no pass/fail.

1. **ratio** — in one run against one managed influxd: the raw line-protocol write rate (lines/s of
   pre-serialised readings) against the end-to-end rate of HJ 212 packets → TCP receiver (fsync before
   each 9014 answer) → spool → ingest pipeline (decode, units, Great Expectations, InfluxDB write),
   in readings/s from the first packet sent to the last line written. Goal: ratio ≥ 0.5.
2. **month** — a month (``--days``) of minute data for the whole registry through the DataFrame part of
   the pipeline (simulate → units → quality → InfluxDB), one local day at a time: wall time and peak RSS.
   Goal: < 5 min, < 2 GiB.

    .venv/bin/python bench/bench_pipeline.py ratio [--hours 6]
    .venv/bin/python bench/bench_pipeline.py month [--days 30]
"""

from __future__ import annotations

import argparse
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.bench_write import raw_write_rate
from monitoring.config import LOCAL_TZ, load_settings
from monitoring.influx.server import ManagedInfluxd
from monitoring.registry import load_registry

START = datetime(2026, 3, 2, 0, 0, tzinfo=LOCAL_TZ)


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def ratio(hours: int) -> None:
    from monitoring.influx import InfluxStore
    from monitoring.ingest import ingest_zone
    from sensors import simulator

    registry = load_registry()
    with tempfile.TemporaryDirectory() as tmp, ManagedInfluxd(Path(tmp) / "influxd") as url:
        raw = raw_write_rate(url, 500_000)
        os.environ.update(ENVMON_DATA_DIR=str(Path(tmp) / "data"), ENVMON_INFLUX_URL=url,
                          ENVMON_INFLUX_DB="bench_e2e")
        settings = load_settings().ensure_dirs()
        end = START + timedelta(hours=hours)
        frames = list(simulator.simulate_readings(registry, START, end, seed=3))
        packets = [item for f in frames for item in simulator.to_packets(f, registry, seed=3)]
        readings = sum(len(f) for f in frames)
        proc = subprocess.Popen([sys.executable, "-m", "monitoring.cli", "receiver", "--port", "0",
                                 "--spool", str(settings.spool_dir), "--quarantine", str(settings.quarantine_dir)],
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        port = int(proc.stdout.readline().rsplit(":", 1)[1])
        t0 = time.perf_counter()
        sent = simulator.send_packets("127.0.0.1", port, packets, connections=8)
        t_sent = time.perf_counter()
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
        store = InfluxStore(url, "bench_e2e")
        store.ensure_database()
        stored = sum(ingest_zone(z, settings=settings, registry=registry, store=store).readings_stored
                     for z in registry.zones)
        t_end = time.perf_counter()
    e2e = stored / (t_end - t0)
    print(f"packets: {len(packets):,} ({readings:,} readings, {hours} h of minute data, whole registry); "
          f"acknowledged {sent.acked:,}")
    print(f"  devices → receiver (fsync, 9014): {len(packets) / (t_sent - t0):,.0f} packets/s, "
          f"{t_sent - t0:.1f} s")
    print(f"  spool → ingest (decode, units, GE, write): {stored / (t_end - t_sent):,.0f} readings/s, "
          f"{t_end - t_sent:.1f} s")
    print(f"raw line-protocol write: {raw:,.0f} lines/s")
    print(f"end-to-end HJ 212 → InfluxDB: {e2e:,.0f} readings/s (stored {stored:,})")
    print(f"ratio end-to-end / raw write: {e2e / raw:.2f}  (goal ≥ 0.5)")


def month(days: int) -> None:
    from monitoring.influx import InfluxStore, SpoolingWriter
    from monitoring.quality import validate_batch
    from monitoring.units import normalise
    from sensors import simulator

    registry = load_registry()
    t0 = time.perf_counter()
    rows = stored = 0
    timings = {"simulate": 0.0, "units": 0.0, "quality": 0.0, "write": 0.0}
    with tempfile.TemporaryDirectory() as tmp, ManagedInfluxd(Path(tmp) / "influxd") as url:
        store = InfluxStore(url, "bench_month")
        store.ensure_database()
        writer = SpoolingWriter(store, Path(tmp) / "write-spool")
        it = simulator.simulate_readings(registry, START, START + timedelta(days=days), seed=5)
        while True:
            t = time.perf_counter()
            frame = next(it, None)
            timings["simulate"] += time.perf_counter() - t
            if frame is None:
                break
            rows += len(frame)
            t = time.perf_counter()
            converted, _ = normalise(frame)
            timings["units"] += time.perf_counter() - t
            t = time.perf_counter()
            checked = validate_batch(converted, batch="bench", now=datetime.now(LOCAL_TZ))
            timings["quality"] += time.perf_counter() - t
            t = time.perf_counter()
            stored += writer.write_readings(checked.valid).lines_written
            timings["write"] += time.perf_counter() - t
    wall = time.perf_counter() - t0
    print(f"{days} days of minute data, whole registry: {rows:,} readings, stored {stored:,}")
    print(f"wall time {wall:.0f} s ({wall / 60:.1f} min; goal < 5 min), peak RSS {_peak_rss_mib():,.0f} MiB "
          "(goal < 2048)")
    print("  " + ", ".join(f"{k} {v:.0f} s ({rows / v:,.0f}/s)" for k, v in timings.items() if v))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="which", required=True)
    sub.add_parser("ratio").add_argument("--hours", type=int, default=6)
    sub.add_parser("month").add_argument("--days", type=int, default=30)
    args = ap.parse_args()
    ratio(args.hours) if args.which == "ratio" else month(args.days)


if __name__ == "__main__":
    main()
