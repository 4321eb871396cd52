"""Benchmark: evaluate a month of the county's minute data (shaped like the packaged registry).

Synthesises one local day of canonical readings at a time (every online point × parameter, one value per
``interval_s``, ~1–2 % flagged M/C/D), reduces each day to hourly aggregates as it comes
(:func:`monitoring.compliance.aggregate.hourly_aggregates`), then evaluates the month
(:func:`monitoring.compliance.evaluate.evaluate_aggregates`). The full month (~26M rows) is never in
memory at once: the canonical frame's string columns are Python objects (no pyarrow), ~1 KB/row would
need > 20 GiB — so the evaluation is chunked per day, which is also how ``evaluate_chunks`` works.

Prints rows, wall times (synthesis excluded from the evaluation figure) and peak RSS.

    .venv/bin/python bench/bench_evaluate.py [--days 30]
"""

from __future__ import annotations

import argparse
import resource
import time
from pathlib import Path

import numpy as np
import pandas as pd

from limits.catalogue import load_catalogue
from monitoring.compliance.aggregate import combine_aggregates, hourly_aggregates
from monitoring.compliance.evaluate import evaluate_aggregates
from monitoring.registry import load_registry
from sensors.schema import READINGS_COLUMNS

LEVEL = {"a21026": 200.0, "a21002": 120.0, "a34013": 40.0, "a24088": 20.0, "a00000": 5.0, "a25002": 2.0,
         "a25003": 10.0, "a25005": 15.0, "Leq": 55.0, "LMx": 62.0, "w01018": 300.0, "w21003": 15.0,
         "w21011": 2.0, "w21001": 30.0, "w01001": 7.2, "w01010": 18.0}


def series_table(registry) -> pd.DataFrame:
    rows = [{"zone": p.zone, "enterprise": p.enterprise, "point": p.id, "kind": p.kind, "parameter": par,
             "interval_s": p.interval_s}
            for p in registry if p.online and p.kind != "hw_store" for par in p.parameters]
    return pd.DataFrame(rows)


def synth_day(series: pd.DataFrame, day: pd.Timestamp, rng: np.random.Generator) -> pd.DataFrame:
    """One local day of minute data for every series, vectorised."""
    per_day = (86400 // series["interval_s"]).to_numpy()
    idx = np.repeat(np.arange(len(series)), per_day)
    offset = np.concatenate([np.arange(n) for n in per_day]) * np.repeat(series["interval_s"].to_numpy(), per_day)
    n = len(idx)
    start = day.tz_localize("Asia/Shanghai").tz_convert("UTC")
    base = series["parameter"].map(LEVEL).fillna(10.0).to_numpy()[idx]
    value = base * rng.lognormal(0.0, 0.25, n)
    flag = np.where(rng.random(n) < 0.985, "N", rng.choice(np.array(["M", "C", "D", "B"]), n))

    def col(name: str) -> pd.Series:
        codes = pd.Categorical(series[name].astype(object))
        return pd.Series(np.asarray(codes.categories, dtype=object)[codes.codes[idx]], dtype="string") \
            if len(codes.categories) else pd.Series([pd.NA] * n, dtype="string")

    frame = pd.DataFrame({
        "time": pd.DatetimeIndex(start + pd.to_timedelta(offset, unit="s")).astype("datetime64[ns, UTC]"),
        "zone": col("zone"), "enterprise": col("enterprise"), "point": col("point"), "kind": col("kind"),
        "parameter": col("parameter"),
        "statistic": pd.Series(np.where(series["kind"].isin(["noise"]).to_numpy()[idx], "data", "avg"), dtype="string"),
        "period": pd.Series(["1min"] * n, dtype="string"),
        "value": value, "unit": pd.Series(["mg/m3"] * n, dtype="string"),
        "flag": pd.Series(flag, dtype="string"), "qualifier": pd.Series([pd.NA] * n, dtype="string"),
        "source": pd.Series(["sim"] * n, dtype="string"), "batch": pd.Series(["bench"] * n, dtype="string"),
    })
    return frame[list(READINGS_COLUMNS)]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--registry", default=str(Path(__file__).resolve().parents[1] / "monitoring/data/registry.yaml"))
    args = ap.parse_args()
    registry = load_registry(args.registry)
    catalogue = load_catalogue(None)
    series = series_table(registry)
    rng = np.random.default_rng(7)
    first = pd.Timestamp("2024-05-01")
    rows = 0
    synth_s = agg_s = 0.0
    aggs = []
    for d in range(args.days):
        t0 = time.perf_counter()
        chunk = synth_day(series, first + pd.Timedelta(days=d), rng)
        t1 = time.perf_counter()
        aggs.append(hourly_aggregates(chunk))
        t2 = time.perf_counter()
        rows += len(chunk)
        synth_s += t1 - t0
        agg_s += t2 - t1
        del chunk
    t3 = time.perf_counter()
    agg = combine_aggregates(aggs)
    ev = evaluate_aggregates(agg, registry, catalogue, start=first, end=first + pd.Timedelta(days=args.days))
    eval_s = time.perf_counter() - t3
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    verdicts = ev.assessments["verdict"].value_counts().to_dict()
    print(f"series: {len(series)} (online points × parameters), days: {args.days}")
    print(f"readings evaluated: {rows:,}")
    print(f"synthesis (not counted): {synth_s:.1f} s")
    print(f"hourly aggregation: {agg_s:.1f} s ({rows / max(agg_s, 1e-9) / 1e6:.2f} M rows/s)")
    print(f"evaluation of aggregates: {eval_s:.1f} s")
    print(f"evaluation wall time (aggregation + evaluation): {agg_s + eval_s:.1f} s")
    print(f"peak RSS: {peak_mib:,.0f} MiB")
    print(f"assessments: {len(ev.assessments):,} {verdicts}; capture rows: {len(ev.capture):,}")


if __name__ == "__main__":
    main()
