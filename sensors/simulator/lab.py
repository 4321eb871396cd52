"""Simulated lab results in the file format :mod:`sensors.lab` reads (groundwater wells monthly,
wastewater outlets).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd

from sensors.simulator.seeding import _key, _local, _rng, day_level
from sensors.site import SiteRegistry
from sensors.timezone import LOCAL_TZ

# ------------------------------------------------------------------------------------------------------
# Lab results (file format of sensors.lab)
# ------------------------------------------------------------------------------------------------------
#: Lab parameters: Chinese name written in the file, unit, detection limit (HJ method DLs), typical range.
LAB_PARAMETERS: dict[str, tuple[str, str, float, float, float]] = {
    "w01001": ("pH值", "无量纲", np.nan, 6.8, 7.8),
    "w21003": ("氨氮", "mg/L", 0.025, 0.0, 0.3),          # HJ 535-2009
    "w01019": ("高锰酸盐指数", "mg/L", 0.5, 0.2, 2.5),     # GB/T 11892
    "w01014": ("电导率", "µS/cm", np.nan, 300, 900),
    "w01018": ("化学需氧量", "mg/L", 4.0, 120, 320),       # HJ 828-2017
    "w21011": ("总磷", "mg/L", 0.01, 1.0, 4.0),
}
LAB_FILE_COLUMNS = ["监测点位", "监测项目", "采样时间", "检测结果", "单位", "检出限", "样品编号"]


def simulate_lab(registry: SiteRegistry, start: datetime, end: datetime, *, seed: int) -> pd.DataFrame:
    """Lab results in the lab file format (columns :data:`LAB_FILE_COLUMNS`, all text).

    Groundwater wells (offline ``groundwater`` points): one sample per month on the 10th (or the next
    working day), 09:00–11:00 local, every parameter of the well. Wastewater outlets: a grab sample
    (COD, NH3-N) each month at a third of the online outlets (supervisory comparison sampling).
    Results below the detection limit are written three ways, as labs do: ``<DL``, ``ND`` with the
    检出限 column, and ``DLL`` (e.g. ``0.025L``).
    """
    s, e = pd.Timestamp(_local(start)), pd.Timestamp(_local(end))
    months = pd.date_range(s.tz_convert(LOCAL_TZ).normalize().replace(day=1), e.tz_convert(LOCAL_TZ),
                           freq="MS")
    rows: list[list[str]] = []
    wells = registry.points_of(kind="groundwater")
    outlets = sorted(registry.points_of(kind="wastewater"), key=lambda p: p.id)
    sampled = [p for p in outlets if _key("lab:" + p.id) % 3 == 0]
    for month in months:
        day = month + pd.Timedelta(days=9)
        while day_level(day.date(), 0.0, 0.0) < 1.0:
            day += pd.Timedelta(days=1)
        for p in wells + sampled:
            rng = _rng(seed, p.id, day.date().toordinal(), 7)
            t = day + pd.Timedelta(minutes=int(rng.integers(9 * 60, 11 * 60)))
            if not (s <= t < e):
                continue
            codes = p.parameters if p.kind == "groundwater" else ["w01018", "w21003"]
            for i, code in enumerate(codes):
                name, unit, dl, lo, hi = LAB_PARAMETERS.get(code, (code, "mg/L", np.nan, 0.1, 1.0))
                if p.kind == "wastewater" and code == "w21003":
                    lo, hi = 10.0, 30.0
                value = float(rng.uniform(lo, hi))
                style = int(rng.integers(3))
                if not np.isnan(dl) and value < dl:
                    text, dl_text = [(f"<{dl:g}", f"{dl:g}"), ("ND", f"{dl:g}"), (f"{dl:g}L", "")][style]
                else:
                    digits = 2 if code == "w01001" or value < 10 else 0 if value >= 100 else 1
                    text, dl_text = f"{value:.{digits}f}", "" if np.isnan(dl) else f"{dl:g}"
                rows.append([p.id, name, t.strftime("%Y-%m-%d %H:%M"), text, unit, dl_text,
                             f"{p.id}-{t:%Y%m%d}-{i + 1:02d}"])
    return pd.DataFrame(rows, columns=LAB_FILE_COLUMNS, dtype="string")


def write_lab_csv(frame: pd.DataFrame, path: str | Path, *, encoding: str = "utf-8-sig") -> Path:
    """Write a lab frame as a CSV like a lab's Excel export (UTF-8 with BOM by default; ``gb18030`` too)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False, encoding=encoding, lineterminator="\r\n")
    return path
