"""Simulated lab samples for issue #14: a well whose NH₃-N rises towards Class III, and soil points.

* :func:`rising_well` — monthly samples (the 10th, 10:00 local) of one groundwater well over the
  ``months`` before ``end``: NH₃-N climbing from ≈ 0.15 to ≈ 0.45 mg/L (GB/T 14848-2017 Class III 0.50),
  so the trend warns before the class is crossed; the other parameters stay plain.
* :func:`soil_samples` — one surface sample per soil point (HJ 1209-2021: yearly), taken on the day before
  ``end``; background values far below GB 36600-2018, except one **contaminated point** whose Cr(VI) is
  above the screening value (5.7 mg/kg) and Ni above the control value (2000 mg/kg).

Both return the lab-file frame of :func:`sensors.simulator.simulate_lab` (Chinese headers, text cells),
written with :func:`sensors.simulator.write_lab_csv`; they go through the ordinary lab path.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd

from sensors.timezone import LOCAL_TZ

LAB_FILE_COLUMNS = ["监测点位", "监测项目", "采样时间", "检测结果", "单位", "检出限", "样品编号"]
RISING_WELL = "NX-GW01"
CONTAMINATED_SOIL = "NX-002-TR01"
#: (name on the lab report, background range mg/kg, detection limit) — soil on second-class land
SOIL = {"soil_as": ("砷", (5, 15), 0.01), "soil_cd": ("镉", (0.1, 0.4), 0.01),
        "soil_cr6": ("六价铬", (0.2, 1.0), 0.5), "soil_cu": ("铜", (20, 60), 1.0),
        "soil_pb": ("铅", (20, 50), 0.1), "soil_hg": ("汞", (0.05, 0.2), 0.002), "soil_ni": ("镍", (20, 50), 3.0)}
CONTAMINATION = {"soil_cr6": 8.6, "soil_ni": 2350.0}     # > screening 5.7; > control 2000


def _local(t: datetime) -> pd.Timestamp:
    ts = pd.Timestamp(t)
    return ts.tz_localize(LOCAL_TZ) if ts.tzinfo is None else ts.tz_convert(LOCAL_TZ)


def rising_well(registry, end: datetime, *, months: int = 5, seed: int = 14, well: str = RISING_WELL) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    p = registry.point(well)
    last = _local(end).normalize().replace(day=10) + pd.Timedelta(hours=10)
    if last >= _local(end):
        last = (last - pd.DateOffset(months=1))
    rows = []
    nh3 = np.linspace(0.15, 0.45, months) + rng.normal(0, 0.01, months)
    for i in range(months):
        t = last - pd.DateOffset(months=months - 1 - i)
        for code in p.parameters:
            name, unit, dl, value = {"w01001": ("pH值", "无量纲", "", f"{rng.uniform(7.0, 7.6):.2f}"),
                                     "w21003": ("氨氮", "mg/L", "0.025", f"{nh3[i]:.3f}"),
                                     "w01019": ("高锰酸盐指数", "mg/L", "0.5", f"{rng.uniform(1.0, 2.0):.1f}"),
                                     "w01014": ("电导率", "µS/cm", "", f"{rng.uniform(400, 700):.0f}")}.get(
                code, (code, "mg/L", "", f"{rng.uniform(0.1, 0.3):.2f}"))
            rows.append([well, name, t.strftime("%Y-%m-%d %H:%M"), value, unit, dl, f"{well}-{t:%Y%m}-{code}"])
    return pd.DataFrame(rows, columns=LAB_FILE_COLUMNS, dtype="string")


def soil_samples(registry, end: datetime, *, seed: int = 14, contaminated: str = CONTAMINATED_SOIL) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    t = (_local(end) - pd.Timedelta(days=1)).normalize() + pd.Timedelta(hours=10)
    rows = []
    for p in registry.points_of(kind="soil"):
        for code in p.parameters:
            name, (lo, hi), dl = SOIL[code]
            v = CONTAMINATION.get(code) if p.id == contaminated and code in CONTAMINATION else rng.uniform(lo, hi)
            text = f"{dl:g}L" if v < dl else f"{v:.3g}"
            rows.append([p.id, name, t.strftime("%Y-%m-%d %H:%M"), text, "mg/kg", f"{dl:g}", f"{p.id}-{t:%Y%m%d}-{code}"])
    return pd.DataFrame(rows, columns=LAB_FILE_COLUMNS, dtype="string")
