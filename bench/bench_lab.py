"""Large lab files (issue #9 item 12): wall time and peak RSS of reading a big lab CSV in chunks.

A lab CSV of ``--mb`` megabytes (default 200, ~3 million result rows of one zone's wells and outlets, one
malformed row in 1000: decimal comma, unknown point) is generated in a temporary directory and deleted
afterwards. Each figure is measured in a fresh child process, so its peak RSS is its own:

* **read** — ``envmon import lab``'s path: :func:`sensors.lab.iter_lab_file` over the whole file
  (decode, parse, check every row), counting readings and rejections;
* **ingest** (``--ingest``) — the whole ingest run of the zone (:func:`monitoring.ingest.ingest_zone`:
  lab file → units → Great Expectations → InfluxDB) against a throwaway influxd.

Prints rows/s, MB/s and peak RSS per figure, with the load average. Goal (issue #9): the 200 MB file
read in bounded memory (peak RSS independent of the file size; ~4.2 GB and 162 s before chunking).

    .venv/bin/python bench/bench_lab.py [--mb 200] [--chunk-rows 100000] [--ingest]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

#: parameter name written in the file, unit, typical low / high (mg/L; pH dimensionless)
PARAMETERS = [("化学需氧量", "mg/L", 20.0, 300.0), ("氨氮", "mg/L", 0.1, 30.0), ("总磷", "mg/L", 0.05, 4.0),
              ("pH值", "无量纲", 6.5, 8.5)]
ZONE = "jiangkou"


def generate(path: Path, mb: float, *, seed: int = 1) -> int:
    """Write a lab CSV of about ``mb`` MB (UTF-8 with BOM, CRLF, a title row before the header) for the
    wells and outlets of :data:`ZONE`. Every (point, parameter) pair is sampled once a minute from
    2020-01-01 local time, so no two rows share an identity. Row ``k`` with ``k % 1000 == 999`` is bad
    (decimal comma, or an unknown point). Returns the number of data rows."""
    import numpy as np
    import pandas as pd

    from monitoring.registry import load_registry

    registry = load_registry()
    points = [p.id for p in registry.points_of(kind="groundwater") + registry.points_of(kind="wastewater")
              if p.id.startswith("JK-")]
    pairs = [(p, *q) for p in points for q in PARAMETERS]
    rng = np.random.default_rng(seed)
    start = pd.Timestamp("2020-01-01 00:00")
    target = int(mb * 1e6)
    rows = 0
    with open(path, "w", encoding="utf-8-sig", newline="") as fh:
        fh.write("江口集聚区 地下水及废水监督监测结果\r\n")
        fh.write("监测点位,监测项目,采样时间,检测结果,单位,检出限,样品编号\r\n")
        block = 50_000
        while fh.tell() < target:
            k = np.arange(rows, rows + block)
            pair = k % len(pairs)
            minute = k // len(pairs)
            point = np.array([pairs[i][0] for i in pair], dtype=object)
            name = np.array([pairs[i][1] for i in pair], dtype=object)
            unit = np.array([pairs[i][2] for i in pair], dtype=object)
            lo = np.array([pairs[i][3] for i in pair])
            hi = np.array([pairs[i][4] for i in pair])
            value = pd.Series(rng.uniform(lo, hi)).map("{:.2f}".format).to_numpy(dtype=object)
            times = (start + pd.to_timedelta(minute, unit="min")).strftime("%Y-%m-%d %H:%M").to_numpy(dtype=object)
            bad = k % 1000 == 999
            value[bad & (k % 2000 == 999)] = "0,5"
            point[bad & (k % 2000 == 1999)] = "JK-NOPE"
            frame = pd.DataFrame({"p": point, "n": name, "t": times, "v": value, "u": unit, "dl": "",
                                  "id": pd.Series(k).map("S{:08d}".format)})
            frame.to_csv(fh, header=False, index=False, lineterminator="\r\n")
            rows += block
    return rows


def _child_read(path: str, chunk_rows: int) -> dict:
    from monitoring.registry import load_registry
    from sensors.lab import iter_lab_file

    registry = load_registry()
    t0 = time.perf_counter()
    readings = rejected = 0
    last_line = 0
    for frame, bad in iter_lab_file(path, registry, "bench", chunk_rows=chunk_rows):
        readings += len(frame)
        rejected += len(bad)
        last_line = max([last_line, *(r.line or 0 for r in bad)])
    return {"seconds": time.perf_counter() - t0, "readings": readings, "rejected": rejected,
            "last_rejected_line": last_line}


def _child_ingest(path: str, chunk_rows: int) -> dict:
    import shutil

    from monitoring.config import load_settings
    from monitoring.influx.server import ManagedInfluxd
    from monitoring.ingest import ingest_zone

    with tempfile.TemporaryDirectory() as tmp, ManagedInfluxd(Path(tmp) / "influxd") as url:
        settings = load_settings(data_dir=Path(tmp) / "data", influx_url=url, influx_db="bench",
                                 max_landing_mb=10_000).ensure_dirs()
        landing = settings.data_dir / "landing" / ZONE / "lab"
        landing.mkdir(parents=True)
        shutil.copy(path, landing / "big.csv")
        t0 = time.perf_counter()
        report = ingest_zone(ZONE, settings=settings, lab_chunk_rows=chunk_rows)
        return {"seconds": time.perf_counter() - t0, "readings": report.readings_stored,
                "rejected": report.quarantined, "steps": report.seconds}


def _measure(mode: str, path: Path, chunk_rows: int) -> dict:
    """Run one figure in a fresh interpreter; its result plus its own peak RSS (MiB)."""
    code = (f"import json, resource, sys; sys.path.insert(0, {str(Path(__file__).resolve().parents[1])!r}); "
            f"from bench.bench_lab import _child_{mode}; r = _child_{mode}({str(path)!r}, {chunk_rows}); "
            "r['rss_mib'] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024; print(json.dumps(r))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=float, default=200.0)
    ap.add_argument("--chunk-rows", type=int, default=100_000)
    ap.add_argument("--ingest", action="store_true", help="also the whole ingest run into a throwaway influxd")
    args = ap.parse_args()
    print("machine: {} cores, load average {:.2f} {:.2f} {:.2f}".format(os.cpu_count(), *os.getloadavg()))
    with tempfile.TemporaryDirectory(prefix="envmon-bench-lab-") as tmp:
        path = Path(tmp) / "lab_big.csv"
        t0 = time.perf_counter()
        rows = generate(path, args.mb)
        size = path.stat().st_size / 1e6
        print(f"generated {path.name}: {size:.0f} MB, {rows:,} rows in {time.perf_counter() - t0:.0f} s")
        modes = ["read"] + (["ingest"] if args.ingest else [])
        for mode in modes:
            r = _measure(mode, path, args.chunk_rows)
            print(f"{mode:6s}: {r['seconds']:6.1f} s  {rows / r['seconds']:9,.0f} rows/s  "
                  f"{size / r['seconds']:5.1f} MB/s  peak RSS {r['rss_mib']:6.0f} MiB  "
                  f"readings {r['readings']:,}  rejected {r['rejected']:,}"
                  + (f"  steps {r['steps']}" if "steps" in r else ""))
    print("load average after: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))


if __name__ == "__main__":
    main()
