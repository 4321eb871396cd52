"""The ground truth of a simulated period: the episodes, flagged windows and outages injected, for the
demo and tests to compare what the pipeline found with what was injected.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import pandas as pd

from sensors.simulator.events import _plan
from sensors.simulator.model import _build_point
from sensors.simulator.seeding import _utc_ns, load_profiles
from sensors.site import SiteRegistry
from sensors.timezone import LOCAL_TZ

# ------------------------------------------------------------------------------------------------------
# Ground truth
# ------------------------------------------------------------------------------------------------------
EPISODE_COLUMNS = {"zone": "string", "enterprise": "string", "point": "string", "kind": "string",
                   "parameter": "string", "start": "datetime64[ns, UTC]", "end": "datetime64[ns, UTC]",
                   "level": "float64", "limit": "float64", "factor": "float64", "unit": "string"}
WINDOW_COLUMNS = {"zone": "string", "point": "string", "parameter": "string", "flag": "string",
                  "start": "datetime64[ns, UTC]", "end": "datetime64[ns, UTC]"}
OUTAGE_COLUMNS = {"zone": "string", "point": "string",
                  "start": "datetime64[ns, UTC]", "end": "datetime64[ns, UTC]"}


@dataclass
class SimulationTruth:
    """What the simulator injected, for tests and the demo to check incidents against.

    ``episodes``: one row per (point, parameter) exceedance episode: ``start``/``end`` (UTC, end
    exclusive), ``level`` (expected value during the episode, in ``unit``), ``limit`` (the nominal limit it
    exceeds: 1-h limit for air, night limit (Leq) or night limit + 10 (LMx) for noise, daily-mean limit
    for water, 9 for pH), ``factor`` (level / the point's normal production level; NaN for dB and pH).
    ``windows``: flagged windows (``flag`` C/M/D; ``parameter`` <NA> = every parameter of the point).
    ``outages``: periods without any data from the point.
    """

    episodes: pd.DataFrame = field(default_factory=lambda: _frame({}, EPISODE_COLUMNS))
    windows: pd.DataFrame = field(default_factory=lambda: _frame({}, WINDOW_COLUMNS))
    outages: pd.DataFrame = field(default_factory=lambda: _frame({}, OUTAGE_COLUMNS))

    def write(self, directory: str | Path) -> list[Path]:
        """CSV files ``truth_episodes.csv``, ``truth_windows.csv``, ``truth_outages.csv`` (ISO UTC times)."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        paths = []
        for name in ("episodes", "windows", "outages"):
            p = directory / f"truth_{name}.csv"
            getattr(self, name).to_csv(p, index=False, date_format="%Y-%m-%dT%H:%M:%SZ")
            paths.append(p)
        return paths

    @classmethod
    def read(cls, directory: str | Path) -> SimulationTruth:
        directory = Path(directory)
        frames = {}
        for name, cols in (("episodes", EPISODE_COLUMNS), ("windows", WINDOW_COLUMNS),
                           ("outages", OUTAGE_COLUMNS)):
            df = pd.read_csv(directory / f"truth_{name}.csv", dtype=str, keep_default_na=False)
            frames[name] = _frame({c: df[c].replace("", None) for c in cols}, cols)
        return cls(**frames)


def _frame(data: dict, cols: dict[str, str]) -> pd.DataFrame:
    df = pd.DataFrame({c: data.get(c, []) for c in cols})
    for c, t in cols.items():
        if t.startswith("datetime"):
            df[c] = pd.to_datetime(df[c], utc=True)
    return df.astype(cols)


def _select(registry: SiteRegistry, zone: str | None) -> list:
    zone_id = registry.find_zone(zone).id if zone else None
    # safety sensors report every few seconds and have their own scenarios (sensors/sim_safety.py)
    return [p for p in registry.points_of(zone=zone_id, online=True) if p.kind != "safety"]


def _days(start_ns: int, end_ns: int) -> tuple[int, int]:
    first = pd.Timestamp(start_ns, tz="UTC").tz_convert(LOCAL_TZ).date().toordinal()
    last = pd.Timestamp(end_ns - 1, tz="UTC").tz_convert(LOCAL_TZ).date().toordinal()
    return first, last


def simulation_truth(registry: SiteRegistry, start: datetime, end: datetime, *, seed: int,
                     zone: str | None = None, profiles: dict | None = None) -> SimulationTruth:
    """The events :func:`simulate_readings` injects for the same arguments (those overlapping the period)."""
    prof = profiles or load_profiles()
    s, e = _utc_ns(start), _utc_ns(end)
    models = [_build_point(p, seed, prof) for p in _select(registry, zone)]
    first, last = _days(s, e)
    plans = _plan(models, seed, first, last, prof)
    ep, win, out = [], [], []
    for m in models:
        for d in range(first - 1, last + 1):
            for x in plans[m.id][d]:
                if not (x.start < e and s < x.end):
                    continue
                base = {"zone": m.point.zone, "point": m.id, "start": x.start, "end": x.end}
                if x.kind == "episode":
                    ep.append(base | {"enterprise": m.point.enterprise, "kind": m.point.kind,
                                      "parameter": x.param, "level": x.level, "limit": x.limit,
                                      "factor": x.factor, "unit": x.unit})
                elif x.kind == "outage":
                    out.append(base)
                elif x.kind == "rise":          # a source rising with an ambient episode: not an exceedance
                    continue
                else:
                    win.append(base | {"parameter": x.param, "flag": x.kind})

    def frame(rows: list[dict], cols: dict) -> pd.DataFrame:
        df = pd.DataFrame(rows, columns=list(cols))
        for c in ("start", "end"):
            df[c] = pd.to_datetime(df[c].astype("int64"), utc=True)
        return _frame({c: df[c] for c in cols}, cols).sort_values(["start", "point"], ignore_index=True)

    return SimulationTruth(frame(ep, EPISODE_COLUMNS), frame(win, WINDOW_COLUMNS), frame(out, OUTAGE_COLUMNS))
