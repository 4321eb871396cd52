"""Benchmark: a month of the county's minute data already in InfluxDB → the five cluster reports plus the
county report (HTML + PDF + CSV + JSON). Goal (issue #11): < 60 s, peak RSS < 2 GiB on the 2-core machine.

Setup (not timed): a managed ``influxd`` in ``--data-dir`` (kept between runs: a second run skips the
load), the seeded simulator's minute data for every online point of the registry for ``--days`` local days
(``sensors.simulator.simulate_readings``, one day per write), the hazardous-waste ledgers, and — with
``--incidents`` — the month evaluated into incidents (``monitoring.alerting.evaluate_and_alert``).

Timed: :func:`monitoring.reports.build_monthly` for the month. Prints readings in the store, wall time,
where it goes (gather = InfluxDB aggregate queries + raw noise read + evaluation + SQL; per-scope CPU time
of figures/charts, CSV/JSON, HTML, PDF), peak RSS of the parent and of the largest forked worker, and
the number of pages and bytes of each PDF.

    .venv/bin/python bench/bench_report.py [--month 2026-03] [--days 31] [--data-dir /tmp/envmon-bench-report]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import resource
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pandas as pd

from monitoring.config import LOCAL_TZ, load_settings
from monitoring.influx.server import ManagedInfluxd
from monitoring.registry import load_registry
from monitoring.reports.period import ReportMonth

SEED = 20260301


def _cpu() -> float:
    """User + system CPU seconds of this process and its finished children."""
    a, b = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return a.ru_utime + a.ru_stime + b.ru_utime + b.ru_stime


def _proc_cpu(pid: int | None) -> float:
    """CPU seconds of another process (influxd) from /proc; 0 when unknown."""
    if not pid:
        return 0.0
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _mib(kib: int) -> float:
    return kib / 1024


def ledger_frame(registry, start, end, directory: Path) -> pd.DataFrame:
    """The simulated ledgers as the importer reads them (file format → ``LEDGER_COLUMNS``)."""
    from sensors import simulator
    from sensors.ledger import read_ledger_csv

    files = simulator.write_ledger_csv(simulator.simulate_ledger(registry, start, end, seed=SEED), directory,
                                       registry)
    frames = [read_ledger_csv(f, registry, "bench")[0] for f in files]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def load(store, registry, month: ReportMonth, days: int, settings) -> int:
    """Write the simulated month (minute data + ledgers) unless the store already holds it."""
    from monitoring.influx import HW_LEDGER_MEASUREMENT, LEDGER_FIELDS, LEDGER_TAGS
    from sensors import simulator

    start = month.start.tz_convert(LOCAL_TZ).to_pydatetime()
    end = (month.start + pd.Timedelta(days=days)).tz_convert(LOCAL_TZ).to_pydatetime()
    t0 = time.perf_counter()
    n = store.count("readings", month.start, month.end)
    if n:
        print(f"store already holds {n:,} readings of {month.label}: readings load skipped")
    else:
        for day in simulator.simulate_readings(registry, start, end, seed=SEED):
            n += store.write_readings(day)
            print(f"\r  loaded {n:,} readings ({time.perf_counter() - t0:.0f} s)", end="", flush=True)
        print()
    if not store.count(HW_LEDGER_MEASUREMENT):
        ledger = ledger_frame(registry, start - pd.Timedelta(days=200), end, settings.data_dir / "ledger-files")
        if not ledger.empty:
            store.write_frame(ledger, HW_LEDGER_MEASUREMENT, LEDGER_TAGS, LEDGER_FIELDS, "date")
        print(f"load: {len(ledger):,} ledger rows")
    print(f"load: {time.perf_counter() - t0:.0f} s")
    return n


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--month", default="2026-03")
    ap.add_argument("--days", type=int, default=None, help="days of data to load (default: the whole month)")
    ap.add_argument("--data-dir", default="/tmp/envmon-bench-report")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--incidents", action="store_true", help="evaluate the month into incidents first")
    ap.add_argument("--influx-url", default=None, help="use this running influxd instead of starting one")
    ap.add_argument("--influxd-pid", type=int, default=None, help="its pid, to report its CPU time")
    args = ap.parse_args()
    base = Path(args.data_dir)
    base.mkdir(parents=True, exist_ok=True)
    month = ReportMonth.parse(args.month)
    days = args.days or len(month.days)
    registry = load_registry()
    managed = None if args.influx_url else ManagedInfluxd(base / "influxd")
    with contextlib.nullcontext(args.influx_url) if args.influx_url else managed as influx_url:
        influxd_pid = args.influxd_pid or (managed.pid if managed else None)
        os.environ.update(ENVMON_DATA_DIR=str(base / "data"), ENVMON_INFLUX_URL=influx_url)
        settings = load_settings().ensure_dirs()
        from monitoring.influx import InfluxStore

        store = InfluxStore.from_settings(settings)
        store.ensure_database()
        n = load(store, registry, month, days, settings)
        if args.incidents:
            from monitoring.alerting import evaluate_and_alert

            t = time.perf_counter()
            rep = evaluate_and_alert(start=month.start, end=month.end, now=month.end.to_pydatetime(),
                                     settings=settings, registry=registry)
            print(f"incidents: evaluated in {time.perf_counter() - t:.0f} s, opened {rep.opened}")
        out = base / "reports"
        import shutil

        shutil.rmtree(out, ignore_errors=True)
        from monitoring.reports import build_monthly

        rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        load0 = os.getloadavg()
        cpu0, icpu0 = _cpu(), _proc_cpu(influxd_pid)
        t0 = time.perf_counter()
        result = build_monthly(settings, month, out=out, store=store, registry=registry,
                               now=datetime.now(UTC), workers=args.workers)
        wall = time.perf_counter() - t0
        cpu, icpu = _cpu() - cpu0, _proc_cpu(influxd_pid) - icpu0
        load1 = os.getloadavg()
        self_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        child_rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    print(f"\nmonth {month.label}: {n:,} minute readings of {sum(1 for p in registry if p.online)} online points "
          f"in InfluxDB")
    print(f"reports: {len(result.results)} scopes, wall time {wall:.1f} s (goal < 60 s); load average "
          f"{load0[0]:.1f} before, {load1[0]:.1f} after (other processes share the 2 cores)")
    print(f"CPU time: envmon {cpu:.1f} s (parent + workers), influxd {icpu:.1f} s — "
          f"{(cpu + icpu) / 2:.1f} s of wall time on 2 idle cores")
    for k, v in result.timings.items():
        print(f"  {k:<42} {v:7.1f} s")
    print(f"peak RSS: parent {_mib(self_rss):,.0f} MiB (before build {_mib(rss0):,.0f} MiB), largest worker "
          f"{_mib(child_rss):,.0f} MiB (goal < 2048 MiB)")
    for r in result.results:
        pdf = r.directory / "report.pdf"
        pages = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=False).stdout
        npages = next((ln.split()[-1] for ln in pages.splitlines() if ln.startswith("Pages:")), "?")
        t = ", ".join(f"{k} {v:.1f}s" for k, v in r.timings.items())
        print(f"  {r.scope.key:<10} {npages:>4} pages {pdf.stat().st_size / 1e6:6.2f} MB  ({t})")


if __name__ == "__main__":
    main()
