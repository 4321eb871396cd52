"""Alert latency sketch: how long from an assessments batch to a delivered message.

Builds one hourly assessments batch for every (point, parameter) of the packaged registry, with a few
series exceeding, applies it to a fresh SQLite store, runs the deadman check over all points and
notifies a local HTTP sink. Prints the time of each step. Run by hand, not in CI::

    .venv/bin/python bench/bench_alert_latency.py --hours 24 --exceeding 10
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from monitoring.incidents import IncidentManager
from monitoring.notifications import Notifier
from monitoring.registry import load_registry
from sensors.schema import ASSESSMENT_COLUMNS
from tests.monitoring.sinks import HttpSink


def batch(registry, start: datetime, hours: int, exceeding: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    pairs = [(p, prm) for p in registry for prm in p.parameters]
    n = len(pairs)
    starts = pd.date_range(start, periods=hours, freq="1h", tz="UTC")
    idx = np.repeat(np.arange(n), hours)
    t = np.tile(starts.to_numpy(), n)
    hot = set(rng.choice(n, size=min(exceeding, n), replace=False).tolist())
    verdict = np.where(np.isin(idx, list(hot)), "exceeds", "compliant")
    value = np.where(verdict == "exceeds", 1.4, 0.6) * 100.0
    frame = pd.DataFrame({
        "window_start": pd.DatetimeIndex(t, tz="UTC"), "zone": [pairs[i][0].zone for i in idx],
        "enterprise": [pairs[i][0].enterprise for i in idx], "point": [pairs[i][0].id for i in idx],
        "kind": [pairs[i][0].kind for i in idx], "parameter": [pairs[i][1] for i in idx],
        "check": "concentration", "averaging": "1h", "value": value, "limit": 100.0, "limit_low": np.nan,
        "unit": "mg/m3", "ratio": value / 100.0, "verdict": verdict, "reason": "", "standard": "bench",
        "clause": "bench", "limit_status": "provisional", "limit_source": "bench", "valid_count": 60,
        "expected_count": 60})
    frame["window_end"] = frame["window_start"] + pd.Timedelta(hours=1)
    return frame[list(ASSESSMENT_COLUMNS)].astype(ASSESSMENT_COLUMNS)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--hours", type=int, default=6)
    ap.add_argument("--exceeding", type=int, default=5)
    args = ap.parse_args()
    os.environ.setdefault("ENVMON_NOTIFY_MIN_INTERVAL_S", "0")
    reg = load_registry()
    start = datetime(2025, 6, 1, tzinfo=UTC)
    now = start + timedelta(hours=args.hours)
    frame = batch(reg, start, args.hours, args.exceeding)
    with tempfile.TemporaryDirectory() as d, HttpSink() as sink:
        url = f"sqlite:///{d}/bench.sqlite"
        m = IncidentManager(url, min_duration=timedelta(hours=1), clear_after=3)
        n = Notifier([sink.url], db_url=url, digest_interval=timedelta(hours=6))
        t0 = time.perf_counter()
        changes = m.apply_assessments(frame, now=now)
        t1 = time.perf_counter()
        again = m.apply_assessments(frame, now=now)
        t2 = time.perf_counter()
        last = pd.DataFrame({"point": [p.id for p in reg], "last_valid_time": now - timedelta(seconds=30)})
        dead = m.check_deadman(last, reg, now=now, factor=3)
        t3 = time.perf_counter()
        report = n.notify(changes + dead, reg, now=now)
        t4 = time.perf_counter()
    print(f"{len(frame)} windows, {frame['point'].nunique()} points")
    print(f"apply (first)     {t1 - t0:7.3f} s  → {len(changes.opened)} opened")
    print(f"apply (re-apply)  {t2 - t1:7.3f} s  → {len(again)} changes")
    print(f"deadman           {t3 - t2:7.3f} s  → {len(dead)} changes")
    print(f"notify            {t4 - t3:7.3f} s  → {report.sent} sent, {report.failed} failed")


if __name__ == "__main__":
    main()
