"""Ingest benchmarks (issues #2 §8, #13). Prints figures and ratios; the only assertions are that nothing
was lost (stored == produced − quarantined == what the server counts).

1. **ratio** — against one managed influxd, ``--runs`` runs (default 5), each the raw line-protocol write
   rate (lines/s of the same readings' lines, pre-serialised, into a fresh database; the mean of the raw
   writes just before and just after the run) and the end-to-end rate of HJ 212 packets → TCP receiver (fsync before
   each 9014 answer) → spool → ingest pipeline (decode, units, Great Expectations, InfluxDB write; zones
   in parallel processes as ``envmon ingest`` runs them), in readings/s from the first packet sent to the
   last line written (fresh database, spool and receiver). The result is the median of the runs' ratios
   (each printed): the speed of this shared 2-core VM drifts within seconds (two raw writes of the same
   lines 10 s apart: 114k and 180k lines/s), and single runs of one commit gave ratios from 0.40 to 0.62.
   Goal: ratio ≥ 0.5. Printed per stage: the receive phase (wall, CPU of the receiver
   and of the simulated devices, which share the machine), the receiver's stop (until its ``stopped:``
   line: every segment fsync'd and ``.ready``), the ingest phase (wall, CPU of the zone workers and of
   influxd) and the ingest steps summed over zones (decode, units, quality = Great Expectations,
   serialise and http, the parts of write).
2. **month** — a month (``--days``) of minute data for the whole registry through the DataFrame part of
   the pipeline (simulate → units → quality → InfluxDB), zones in parallel processes, each one local day
   at a time: wall time, each step's time in the workers (wall clock, waits included) and the peak
   memory of the whole process tree (:class:`bench.proctree.TreeMemory`: the pipeline's processes,
   influxd, and both together). Goal: < 5 min, < 2 GiB.

    .venv/bin/python bench/bench_pipeline.py ratio [--hours 6] [--runs 5] [--workers N]
    .venv/bin/python bench/bench_pipeline.py month [--days 30] [--workers N]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.bench_write import raw_write_rate
from bench.proctree import TreeMemory, cpu_seconds
from monitoring.config import LOCAL_TZ, load_settings
from monitoring.influx.server import ManagedInfluxd
from monitoring.registry import load_registry

START = datetime(2026, 3, 2, 0, 0, tzinfo=LOCAL_TZ)


def _peak_rss_mib() -> tuple[float, float]:
    """Peak RSS of this process and of the largest worker process, MiB."""
    return (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)


@contextlib.contextmanager
def _removed(path: str) -> Iterator[None]:
    """Remove the directory ``path`` afterwards, whatever happens."""
    try:
        yield
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _watch_for(stream, marker: str) -> threading.Event:
    """An event set when a line containing ``marker`` is read from ``stream`` (drained in a thread, so
    the child never blocks on a full pipe)."""
    seen = threading.Event()

    def drain() -> None:
        for line in stream:
            if marker in line:
                seen.set()

    threading.Thread(target=drain, name="receiver-stderr", daemon=True).start()
    return seen


def _load() -> str:
    return "load average {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())


def ratio(hours: int, workers: int | None, runs: int) -> None:
    """``runs`` end-to-end runs (fresh database, spool and receiver each), each between two raw writes,
    against one managed influxd; the ratio of each run to the mean of its two raw rates, and their median.
    A run and its raw writes are measured within seconds, so a slow spell of the (shared) machine longer
    than that weighs on both sides of its ratio; shorter ones are what the median is for."""
    import statistics

    import pandas as pd

    from monitoring.influx import readings_to_line_protocol
    from monitoring.ingest import warm_up
    from sensors import simulator

    registry = load_registry()
    print(f"machine: {os.cpu_count()} cores, {_load()}")
    tmp = tempfile.mkdtemp(prefix="bench-e2e-")
    server = ManagedInfluxd(Path(tmp) / "influxd")
    with _removed(tmp), server as url:
        end = START + timedelta(hours=hours)
        frames = list(simulator.simulate_readings(registry, START, end, seed=3))
        # the raw ceiling: the very lines the pipeline will write (as HJ 212 readings), serialised before
        # the clock starts
        same = readings_to_line_protocol(pd.concat(frames, ignore_index=True).assign(source="hj212")).lines
        packets = [item for f in frames for item in simulator.to_packets(f, registry, seed=3)]
        readings = sum(len(f) for f in frames)
        # Great Expectations' context is a one-off start-up cost (~3 s CPU), not throughput: built before
        # the clock, as a deployment keeps it warm (airflow_preload; envmon ingest builds it once)
        t = time.perf_counter()
        warm_up()
        print(f"(before the clock: Great Expectations context {time.perf_counter() - t:.1f} s, once per process)")
        ratios = []
        raw_after = raw_write_rate(url, len(same), lines=same)   # into a fresh database, dropped after
        for run in range(1, runs + 1):
            # raw write, end to end, raw write: the run's raw rate is the mean of the two around it (a
            # drift of the machine or of influxd during the run weighs on both sides alike)
            raw_before = raw_after
            e2e = _end_to_end(run, Path(tmp), url, registry, packets, readings, server.pid, workers)
            raw_after = raw_write_rate(url, len(same), lines=same)
            raw = (raw_before + raw_after) / 2
            print(f"raw line-protocol write of the same {len(same):,} lines: {raw:,.0f} lines/s (before "
                  f"{raw_before:,.0f}, after {raw_after:,.0f})")
            print(f"end-to-end HJ 212 → InfluxDB: {e2e:,.0f} readings/s")
            ratios.append(e2e / raw)
            print(f"ratio end-to-end / raw write, run {run}: {ratios[-1]:.2f}")
    print(f"ratio end-to-end / raw write: {statistics.median(ratios):.2f} (median of {runs} runs: "
          f"{', '.join(f'{r:.2f}' for r in ratios)}; goal ≥ 0.5)")
    own, child = _peak_rss_mib()
    print(f"peak RSS: bench {own:,.0f} MiB, largest worker {child:,.0f} MiB; {_load()}")


def _end_to_end(run: int, tmp: Path, url: str, registry, packets: list, readings: int, influxd_pid: int,
                workers: int | None) -> float:
    """One end-to-end run (its own data directory, database and receiver): readings/s stored, from the
    first packet sent to the last line written; prints each stage."""
    from monitoring.influx import InfluxStore
    from monitoring.ingest import ingest_zones
    from sensors import simulator

    database = f"bench_e2e_{run}"
    os.environ.update(ENVMON_DATA_DIR=str(tmp / f"data-{run}"), ENVMON_INFLUX_URL=url, ENVMON_INFLUX_DB=database)
    settings = load_settings().ensure_dirs()
    proc = subprocess.Popen([sys.executable, "-m", "monitoring.cli", "receiver", "--port", "0",
                             "--spool", str(settings.spool_dir), "--quarantine", str(settings.quarantine_dir)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    port = int(proc.stdout.readline().rsplit(":", 1)[1])
    stopped = _watch_for(proc.stderr, "stopped:")
    store = InfluxStore(url, database)
    store.ensure_database()
    own0, recv0 = os.times(), cpu_seconds(proc.pid)
    t0 = time.perf_counter()
    sent = simulator.send_packets("127.0.0.1", port, packets, connections=8)
    t_sent = time.perf_counter()
    own1, recv1, influx1 = os.times(), cpu_seconds(proc.pid), cpu_seconds(influxd_pid)
    proc.send_signal(signal.SIGTERM)
    # "stopped:" is printed once every open segment was fsync'd and renamed .ready (Receiver.close);
    # the interpreter's own exit after it (~0.5–1.5 s of CPU tearing down ~1,250 modules) is not a
    # pipeline step: a deployed receiver never stops
    assert stopped.wait(60), "the receiver did not stop"
    t_ready = time.perf_counter()
    reports, failures = ingest_zones(list(registry.zones), settings=settings, registry=registry, workers=workers)
    t_end = time.perf_counter()
    own2, influx2 = os.times(), cpu_seconds(influxd_pid)
    proc.wait(60)
    assert not failures, f"zones failed: {failures}"
    stored = sum(r.readings_stored for r in reports)
    quarantined = sum(r.quarantined for r in reports)
    on_server = store.count("readings")
    store.drop_database()            # the next run's influxd holds what the first one's did
    # nothing lost on the way: every reading produced is stored or quarantined (exact re-sends merge)
    assert stored == readings - quarantined == on_server, (stored, readings, quarantined, on_server)
    steps: dict[str, float] = {}
    cpu_steps: dict[str, float] = {}
    for r in reports:
        for k, v in r.seconds.items():
            steps[k] = steps.get(k, 0.0) + v
        for k, v in r.cpu_seconds.items():
            cpu_steps[k] = cpu_steps.get(k, 0.0) + v
    print(f"run {run}: packets: {len(packets):,} ({readings:,} readings, whole registry); acknowledged {sent.acked:,}; "
          f"{_load()}")
    sender_cpu = (own1.user + own1.system) - (own0.user + own0.system)
    workers_cpu = (own2.children_user + own2.children_system) - (own1.children_user + own1.children_system)
    print(f"  devices → receiver (fsync, 9014): {len(packets) / (t_sent - t0):,.0f} packets/s, "
          f"{t_sent - t0:.2f} s wall; CPU: receiver {recv1 - recv0:.2f} s, devices (sender) {sender_cpu:.2f} s")
    print(f"  receiver stop (last segments fsync'd, renamed .ready, \"stopped:\"): {t_ready - t_sent:.2f} s")
    print(f"  spool → ingest (decode, units, GE, write; zones in parallel): {stored / (t_end - t_ready):,.0f} "
          f"readings/s, {t_end - t_ready:.2f} s wall; CPU: zone workers {workers_cpu:.2f} s, "
          f"influxd {influx2 - influx1:.2f} s")
    print("  ingest steps, summed over zones (s): " + ", ".join(
        f"{k} {steps[k]:.2f}" for k in ("decode", "units", "quality", "serialise", "http", "write") if k in steps)
        + "  (serialise and http are parts of write, overlapped: lines serialised while a request is in flight)")
    print("  ingest steps, CPU of the zone workers summed over zones (s): " + ", ".join(
        f"{k} {cpu_steps[k]:.2f}" for k in ("decode", "units", "quality", "write") if k in cpu_steps)
        + "  (not inflated by processes sharing the cores, as the wall times above are)")
    print(f"  stored {stored:,} = produced {readings:,} − quarantined {quarantined:,}; server count {on_server:,}")
    return stored / (t_end - t0)


def _month_zone(zone: str, days: int, url: str, spool: str) -> dict:
    """One zone's month, one local day at a time (a worker process of :func:`month`)."""
    from monitoring.influx import InfluxStore, SpoolingWriter
    from monitoring.quality import validate_batch
    from monitoring.units import normalise
    from sensors import simulator

    registry = load_registry()
    store = InfluxStore(url, "bench_month")
    writer = SpoolingWriter(store, Path(spool) / zone)
    out = {"rows": 0, "stored": 0, "quarantined": 0, "spooled": 0,
           "simulate": 0.0, "units": 0.0, "quality": 0.0, "write": 0.0}
    it = simulator.simulate_readings(registry, START, START + timedelta(days=days), seed=5, zone=zone)
    while True:
        t = time.perf_counter()
        frame = next(it, None)
        out["simulate"] += time.perf_counter() - t
        if frame is None:
            return out
        out["rows"] += len(frame)
        t = time.perf_counter()
        converted, bad_units = normalise(frame)
        del frame                    # each step's input is let go as soon as the next has its output:
        out["units"] += time.perf_counter() - t   # one day's copies alive at a time, not two days'
        t = time.perf_counter()
        checked = validate_batch(converted, batch=f"bench-{zone}", now=datetime.now(LOCAL_TZ))
        del converted
        out["quality"] += time.perf_counter() - t
        t = time.perf_counter()
        result = writer.write_readings(checked.valid)
        out["write"] += time.perf_counter() - t
        out["stored"] += result.lines_written
        out["spooled"] += result.lines_spooled + result.lines_rejected
        out["quarantined"] += len(bad_units) + len(checked.quarantined)
        del checked, bad_units, result


def month(days: int, workers: int | None) -> None:
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    import monitoring.influx  # noqa: F401 - imported before the fork, inherited warm by the workers
    from monitoring.ingest import warm_up

    warm_up()

    registry = load_registry()
    zones = list(registry.zones)
    workers = max(1, min(workers or os.cpu_count() or 1, len(zones)))
    print(f"machine: {os.cpu_count()} cores, {workers} worker processes, {_load()}")
    t0 = time.perf_counter()
    tmp_root = tempfile.mkdtemp(prefix="bench-month-")
    server = ManagedInfluxd(Path(tmp_root) / "influxd")
    with _removed(tmp_root), server as url, TreeMemory(exclude={server.pid}) as mem:
        from monitoring.influx import InfluxStore

        store = InfluxStore(url, "bench_month", timeout=300)
        store.ensure_database()
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork")) as pool:
            results = list(pool.map(_month_zone, zones, [days] * len(zones), [url] * len(zones),
                                    [str(Path(tmp_root) / "write-spool")] * len(zones)))
        wall = time.perf_counter() - t0
        # the check counts a day at a time: one count over the month made influxd itself peak at ~1.5 GiB
        # (713 MiB after 8 days, against ≤ 350 MiB while the readings were written)
        on_server = sum(store.count("readings", START + timedelta(days=d), START + timedelta(days=d + 1))
                        for d in range(-1, days + 1))
    total = {k: sum(r[k] for r in results) for k in results[0]}
    rows, stored = total["rows"], total["stored"]
    # nothing lost: every simulated reading is stored or quarantined, and the server holds what was stored
    assert total["spooled"] == 0, f"{total['spooled']} lines were not written"
    assert stored == rows - total["quarantined"] == on_server, (stored, rows, total["quarantined"], on_server)
    own, child = _peak_rss_mib()
    print(f"{days} days of minute data, whole registry, zones in parallel: {rows:,} readings, stored {stored:,}, "
          f"quarantined {total['quarantined']:,}; server count {on_server:,}")
    print(f"wall time {wall:.0f} s ({wall / 60:.1f} min; goal < 5 min), {rows / wall:,.0f} readings/s")
    print(f"peak memory, sampled every {mem.interval} s (sums over processes; RSS counts pages shared "
          f"after a fork once per process, PSS splits them):")
    print(f"  pipeline (bench + {mem.peak_processes - 1} zone workers): RSS {mem.peak_rss:,.0f} MiB, "
          f"PSS {mem.peak_pss:,.0f} MiB (goal RSS < 2048: {'met' if mem.peak_rss < 2048 else 'NOT met'})")
    print(f"  influxd (the database server the bench starts): RSS {mem.peak_excluded_rss:,.0f} MiB, of which "
          f"anonymous at most {mem.peak_excluded_anon:,.0f} MiB (the rest: its mmap'd TSM files, page cache)")
    print(f"  whole process tree, influxd included: RSS {mem.peak_total_rss:,.0f} MiB; with influxd's anonymous "
          f"memory only {mem.peak_total_anon:,.0f} MiB ({'<' if mem.peak_total_anon < 2048 else '≥'} 2048); "
          f"largest single process {max(own, child):,.0f} MiB (ru_maxrss; influxd is a child too)")
    print(f"time {wall:.0f} s (goal < 300: {'met' if wall < 300 else 'NOT met'})")
    print("  time per step in the zone workers (wall clock, waits on influxd included), summed over zones: " + ", ".join(
        f"{k} {total[k]:.0f} s ({rows / total[k]:,.0f}/s)" for k in ("simulate", "units", "quality", "write")
        if total[k]))
    print(f"  {_load()}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="which", required=True)
    r = sub.add_parser("ratio")
    r.add_argument("--hours", type=int, default=6)
    r.add_argument("--runs", type=int, default=5, help="end-to-end runs, each between two raw writes; the result is the median ratio")
    m = sub.add_parser("month")
    m.add_argument("--days", type=int, default=30)
    r.add_argument("--workers", type=int, help="zone processes (default: as envmon ingest, one per core plus one)")
    m.add_argument("--workers", type=int, help="zone processes (default: one per core)")
    args = ap.parse_args()
    ratio(args.hours, args.workers, args.runs) if args.which == "ratio" else month(args.days, args.workers)


if __name__ == "__main__":
    main()
