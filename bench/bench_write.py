"""Write throughput into InfluxDB over the v1 HTTP API.

Measures, into a managed throwaway influxd (or ``--url``):

* **raw**: pre-serialised line protocol written by :meth:`InfluxStore.write_lines` (batching, gzip,
  HTTP) — the ceiling for this server and transport;
* **frame**: canonical readings DataFrames through :meth:`InfluxStore.write_readings` (conform,
  influxdb-client's DataframeSerializer, then the same write path), plus the serialise-only rate;

and prints lines/s and the frame/raw ratio. Run::

    .venv/bin/python bench/bench_write.py [--rows 1000000] [--url http://127.0.0.1:8086]

:func:`raw_write_rate` and :func:`frame_write_rate` are importable (the end-to-end HJ 212 → InfluxDB
benchmark reuses them).
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from monitoring.influx import InfluxStore, readings_to_line_protocol
from monitoring.influx.server import ManagedInfluxd
from sensors import schema

T0 = pd.Timestamp("2026-03-01T00:00:00Z")
PARAMETERS = np.array(["a21026", "a21002", "a34013", "a24088", "a01012"])  # SO2 NOx PM VOCs temp.
ZONES = np.array(["jiangkou", "nanxi", "fengming", "gaoyang", "ping_an"])


def synthetic_readings(n_rows: int, n_points: int = 200, seed: int = 1) -> pd.DataFrame:
    """``n_rows`` canonical 1-minute readings: ``n_points`` stacks × 5 parameters, consecutive minutes."""
    rng = np.random.default_rng(seed)
    series = n_points * len(PARAMETERS)
    i = np.arange(n_rows)
    point_no = (i % series) // len(PARAMETERS)
    minute = i // series
    enterprise = np.char.add("E", (point_no // 4).astype(str))
    df = pd.DataFrame({
        "time": T0 + pd.to_timedelta(minute, unit="min"),
        "zone": ZONES[point_no % len(ZONES)],
        "enterprise": enterprise,
        "point": np.char.add(np.char.add(enterprise, "-DA"), (point_no % 4).astype(str)),
        "kind": "stack",
        "parameter": PARAMETERS[i % len(PARAMETERS)],
        "statistic": "avg",
        "period": "1min",
        "value": np.round(rng.gamma(2.0, 10.0, n_rows), 3),
        "unit": "mg/m3",
        "flag": np.where(rng.random(n_rows) < 0.02, "M", "N"),
        "qualifier": pd.NA,
        "source": "sim",
        "batch": "bench",
    })
    return schema.conform(df)


@contextlib.contextmanager
def _fresh_store(url: str, batch_lines: int) -> Iterator[InfluxStore]:
    store = InfluxStore(url, f"bench_{uuid.uuid4().hex[:10]}", batch_lines=batch_lines, timeout=120)
    store.ensure_database()
    try:
        yield store
    finally:
        store.drop_database()
        store.close()


@dataclass
class Rate:
    lines: int
    seconds: float

    @property
    def per_second(self) -> float:
        return self.lines / self.seconds if self.seconds else float("inf")


def raw_write_rate(url: str, n_lines: int, *, batch_lines: int = 5000,
                   lines: list[str] | None = None, precision: str = "s") -> float:
    """Lines/s writing ``n_lines`` pre-serialised readings lines (serialised before the clock starts)."""
    if lines is None:
        lines = readings_to_line_protocol(synthetic_readings(n_lines)).lines
    with _fresh_store(url, batch_lines) as store:
        started = time.perf_counter()
        written = store.write_lines(lines[:n_lines], precision)
        elapsed = time.perf_counter() - started
        assert store.count("readings") == written, "server holds fewer points than written"
    return Rate(written, elapsed).per_second


def frame_write_rate(url: str, frame: pd.DataFrame, *, batch_lines: int = 5000) -> float:
    """Rows/s for :meth:`InfluxStore.write_readings` (serialise + write) of a canonical readings frame."""
    with _fresh_store(url, batch_lines) as store:
        started = time.perf_counter()
        written = store.write_readings(frame)
        elapsed = time.perf_counter() - started
        assert store.count("readings") == written == len(frame)
    return Rate(written, elapsed).per_second


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows/lines per measurement")
    parser.add_argument("--batch-lines", type=int, default=5000)
    parser.add_argument("--url", help="existing InfluxDB (default: a managed throwaway influxd)")
    args = parser.parse_args(argv)

    with contextlib.ExitStack() as stack:
        if args.url:
            url = args.url
        else:
            server = ManagedInfluxd()
            url = stack.enter_context(server)
            print(f"managed influxd {url}: start-up {server.startup_seconds:.2f} s")

        t = time.perf_counter()
        frame = synthetic_readings(args.rows)
        print(f"built {len(frame):,} canonical readings in {time.perf_counter() - t:.1f} s")

        t = time.perf_counter()
        lines = readings_to_line_protocol(frame).lines
        serialise = Rate(len(lines), time.perf_counter() - t)
        size = sum(map(len, lines)) / len(lines)
        print(f"serialise only (DataframeSerializer): {serialise.per_second:,.0f} lines/s "
              f"({serialise.seconds:.1f} s, {size:.0f} B/line)")

        raw = raw_write_rate(url, len(lines), batch_lines=args.batch_lines, lines=lines)
        print(f"raw line protocol write:              {raw:,.0f} lines/s")

        full = frame_write_rate(url, frame, batch_lines=args.batch_lines)
        print(f"DataFrame serialise + write:          {full:,.0f} rows/s")
        print(f"ratio (serialise+write / raw):        {full / raw:.2f}")


if __name__ == "__main__":
    main()
