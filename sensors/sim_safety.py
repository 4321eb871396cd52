"""Simulated safety sensors (issue #14): quiet baselines and injected alarm scenarios as HJ 212 CN 2011.

Every safety sensor of the registry reports real-time data every ``interval_s`` (10 s) with a plausible
baseline (combustible gas 0–3 %LEL, H₂S < 1 mg/m³, CO 1–3 mg/m³, O₂ 20.9 % vol, NH₃ 1–3 mg/m³, dust
collector 700–900 Pa / 30–40 °C / no sparks). :data:`SCENARIOS` inject, relative to the end of the
period: an ethanol vapour leak at 今朝醉酒厂's 酿酒车间 (first level, then second level, then back),
and an oxygen dip in 江口镇污水处理厂's grit well (second level). :func:`scenario_truth` lists them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import pandas as pd

from sensors.hj212 import build_packet

BASELINE = {"x01001": (0.0, 3.0), "x01002": (0.0, 0.8), "a21005": (1.0, 3.0), "a19001": (20.8, 21.0),
            "x01003": (1.0, 3.0), "x02001": (700.0, 900.0), "a01012": (30.0, 40.0), "x02002": (0.0, 0.0)}


@dataclass(frozen=True)
class Scenario:
    point: str
    parameter: str
    #: (minutes before the end, value) knots, linear in between; outside them the baseline
    knots: tuple[tuple[float, float], ...]
    what: str


SCENARIOS = (
    Scenario("NX-001-AQ01", "x01001", ((22, 2.0), (18, 30.0), (15, 38.0), (13, 56.0), (11, 52.0), (8, 20.0),
                                      (6, 3.0)), "酿酒车间乙醇蒸气泄漏：一级 → 二级 → 恢复"),
    Scenario("JK-WWTP-AQ02", "a19001", ((14, 20.9), (12, 18.6), (10, 18.4), (8, 20.9)),
             "格栅井缺氧（有限空间作业）：二级"),
)


def _value(s: Scenario, minutes_before_end: np.ndarray) -> np.ndarray:
    xs = np.array([k[0] for k in s.knots])[::-1]
    ys = np.array([k[1] for k in s.knots])[::-1]
    inside = (minutes_before_end <= xs.max()) & (minutes_before_end >= xs.min())
    return np.where(inside, np.interp(minutes_before_end, xs, ys), np.nan)


def safety_packets(registry, start: datetime, end: datetime, *, seed: int = 14, interval_s: int | None = None,
                   scenarios: tuple[Scenario, ...] = SCENARIOS) -> Iterator[tuple[str, bytes]]:
    """(MN, packet) for every safety sensor and every interval in [start, end), time order, A=1."""
    rng = np.random.default_rng(seed)
    sensors = registry.points_of(kind="safety")
    n = 0
    t = start
    while t < end:
        before = (end - t).total_seconds() / 60.0
        for p in sensors:
            cp = {}
            for code in p.parameters:
                lo, hi = BASELINE.get(code, (0.0, 1.0))
                v = float(rng.uniform(lo, hi))
                for s in scenarios:
                    if s.point == p.id and s.parameter == code:
                        x = _value(s, np.array([before]))[0]
                        if not np.isnan(x):
                            v = float(x)
                cp[code] = {"Rtd": round(v, 2), "Flag": "N"}
            n += 1
            yield p.mn, build_packet(st="99", cn="2011", mn=p.mn, pw=p.pw, data_time=t, cp=cp, ack=True,
                                     qn=f"{t:%Y%m%d%H%M%S}{n % 1000:03d}")[0]
        t += timedelta(seconds=interval_s or min(p.interval_s for p in sensors))


def scenario_truth(scenarios: tuple[Scenario, ...] = SCENARIOS) -> pd.DataFrame:
    return pd.DataFrame([{"point": s.point, "parameter": s.parameter, "peak": max(v for _, v in s.knots)
                          if s.parameter != "a19001" else min(v for _, v in s.knots), "what": s.what}
                         for s in scenarios])
