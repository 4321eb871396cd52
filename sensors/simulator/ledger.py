"""Simulated hazardous-waste ledgers (危险废物管理台账) in the file format :mod:`sensors.ledger` reads, with
injected problems (unlicensed receiver, unconfirmed manifest, temporary stock over 3 t, storage over 365 d).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd

from sensors.simulator.seeding import _key, _local
from sensors.site import SiteRegistry
from sensors.timezone import LOCAL_TZ

# ------------------------------------------------------------------------------------------------------
# Hazardous-waste ledger (file format of sensors.ledger)
# ------------------------------------------------------------------------------------------------------
#: Category → full code written in the ledger (国家危险废物名录 2021).
WASTE_CODES = {"HW01": "HW01 841-001-01", "HW06": "HW06 900-402-06", "HW08": "HW08 900-249-08",
               "HW12": "HW12 900-252-12", "HW17": "HW17 336-064-17", "HW34": "HW34 900-300-34",
               "HW49": "HW49 900-041-49"}
#: Receiving units (simulated names) and their operating licence numbers; the last has none.
RECEIVERS = [("重庆示例危险废物处置有限公司", "渝危废经〔2021〕第003号"),
             ("重庆示例环保科技有限公司", "渝危废经〔2022〕第015号"),
             ("万州示例资源再生有限公司", "渝危废经〔2020〕第027号")]
UNLICENSED_RECEIVER = "云阳县示例废油回收站"
LEDGER_FILE_COLUMNS = ["贮存点", "日期", "废物代码", "入库量(t)", "出库量(t)", "联单编号", "接收单位",
                       "经营许可证号", "接收确认日期"]
#: weekly generation by the enterprise's HJ 1259-2022 class, t per waste category
_WEEKLY_T = {"key": (1.5, 3.0), "simplified": (0.2, 1.2), "registration": (0.02, 0.15)}
PROBLEMS = ("unlicensed_receiver", "unconfirmed_manifest", "temporary_over_3t", "stored_over_365d")


def _ledger(registry: SiteRegistry, start: datetime, end: datetime, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    s = pd.Timestamp(_local(start)).tz_convert(LOCAL_TZ).normalize()
    e = pd.Timestamp(_local(end)).tz_convert(LOCAL_TZ)
    stores = sorted(registry.points_of(kind="hw_store"), key=lambda p: p.id)
    if not stores:
        return pd.DataFrame(columns=LEDGER_FILE_COLUMNS), pd.DataFrame(columns=["problem"])
    rng = np.random.default_rng([seed & 0xFFFFFFFFFFFFFFFF, _key("ledger"), s.toordinal(), e.toordinal()])
    temporaries = [p for p in stores if getattr(p, "temporary", False)]
    smallest = sorted(stores, key=lambda p: _WEEKLY_T[registry.enterprises[p.enterprise].hw_class
                                                       if p.enterprise in registry.enterprises
                                                       else "registration"][1])
    over3 = temporaries[int(rng.integers(len(temporaries)))] if temporaries else None
    old = next((p for p in smallest if p is not over3), stores[0])
    old_cat = old.parameters[0]
    mondays = pd.date_range(s, e, freq="W-MON")
    rows: list[dict] = []
    transfers: list[int] = []
    problems: list[dict] = []
    serial = int(rng.integers(1, 5000))
    for p in stores:
        cls = registry.enterprises[p.enterprise].hw_class if p.enterprise in registry.enterprises else \
            "registration"
        lo, hi = _WEEKLY_T[cls]
        cap = float(getattr(p, "capacity_t", 5.0))
        temporary = bool(getattr(p, "temporary", False))
        limit_stock = (1.5 if temporary else 0.6 * cap) / max(1, len(p.parameters))
        if temporary:                                       # a temporary point never nears 3 t …
            lo, hi = min(lo, 0.2), min(hi, 0.5)
        if p is over3:
            lo, hi = 0.9, 1.3                               # … except the injected busy one
        flagged_over3 = False
        for cat in p.parameters:
            code = WASTE_CODES.get(cat, f"{cat}")
            stock = round(float(rng.uniform(0.1, 0.5)) * limit_stock, 3)
            opened = s - pd.Timedelta(days=int(rng.integers(20, 120)))
            keep_old = p is old and cat == old_cat
            if keep_old:                                    # a batch kept more than a year
                opened = e.normalize() - pd.Timedelta(days=400)
                problems.append({"problem": "stored_over_365d", "store": p.id, "waste_code": code,
                                 "date": opened, "manifest": None,
                                 "detail": f"{stock} t received {opened:%Y-%m-%d}, never transferred"})
            rows.append({"store": p.id, "date": opened, "code": code, "in": stock, "out": 0.0})
            for day in mondays:
                if day < s:
                    continue
                dday = day + pd.Timedelta(days=int(rng.integers(0, 3)))
                if dday >= e:
                    continue
                q = round(float(rng.uniform(lo, hi)) / max(1, len(p.parameters)), 3)
                rows.append({"store": p.id, "date": dday, "code": code, "in": q, "out": 0.0})
                stock = round(stock + q, 3)
                over = p is over3 and stock <= 3.2
                if p is over3 and stock > 3.0 and not flagged_over3:
                    flagged_over3 = True
                    problems.append({"problem": "temporary_over_3t", "store": p.id, "waste_code": code,
                                     "date": dday, "manifest": None,
                                     "detail": f"temporary point holds {stock:.3f} t (> 3 t, GB 18597-2023)"})
                if stock >= limit_stock and not keep_old and not over:
                    tday = dday + pd.Timedelta(days=int(rng.integers(1, 4)))
                    if tday >= e:
                        continue
                    serial += 1
                    rows.append({"store": p.id, "date": tday, "code": code, "in": 0.0, "out": stock,
                                 "manifest": f"{tday.year}5002{serial:06d}",
                                 "receiver_i": int(rng.integers(len(RECEIVERS))),
                                 "confirm_days": int(rng.integers(1, 6))})
                    transfers.append(len(rows) - 1)
                    stock = 0.0
    for r in rows:
        if "manifest" in r:
            name, lic = RECEIVERS[r["receiver_i"]]
            r["receiver"], r["licence"] = name, lic
            r["confirmed"] = r["date"] + pd.Timedelta(days=r["confirm_days"])
            if r["confirmed"] >= e:
                r["confirmed"] = None
    if transfers:
        picks = rng.permutation(transfers)
        unl = rows[picks[0]]
        unl["receiver"], unl["licence"] = UNLICENSED_RECEIVER, None
        problems.append({"problem": "unlicensed_receiver", "store": unl["store"], "waste_code": unl["code"],
                         "date": unl["date"], "manifest": unl["manifest"],
                         "detail": f"transfer of {unl['out']} t to {UNLICENSED_RECEIVER} (no licence)"})
        uc = rows[picks[1] if len(picks) > 1 else picks[0]]
        uc["confirmed"] = None
        problems.append({"problem": "unconfirmed_manifest", "store": uc["store"], "waste_code": uc["code"],
                         "date": uc["date"], "manifest": uc["manifest"],
                         "detail": "manifest never confirmed by the receiver"})
    ledger = pd.DataFrame({
        "贮存点": [r["store"] for r in rows],
        "日期": [r["date"].strftime("%Y-%m-%d") for r in rows],
        "废物代码": [r["code"] for r in rows],
        "入库量(t)": [f"{r['in']:.3f}" if r["in"] else "" for r in rows],
        "出库量(t)": [f"{r['out']:.3f}" if r["out"] else "" for r in rows],
        "联单编号": [r.get("manifest") or "" for r in rows],
        "接收单位": [r.get("receiver") or "" for r in rows],
        "经营许可证号": [r.get("licence") or "" for r in rows],
        "接收确认日期": [r["confirmed"].strftime("%Y-%m-%d") if r.get("confirmed") is not None else ""
                       for r in rows],
    }, dtype="string").sort_values(["贮存点", "日期", "废物代码"], kind="stable", ignore_index=True)
    truth = pd.DataFrame(problems, columns=["problem", "store", "waste_code", "date", "manifest", "detail"])
    pts = {p.id: p for p in stores}
    truth.insert(1, "zone", [pts[x].zone for x in truth["store"]])
    truth.insert(2, "enterprise", [pts[x].enterprise for x in truth["store"]])
    truth["date"] = [d.strftime("%Y-%m-%d") if d is not None else "" for d in truth["date"]]
    return ledger, truth.astype("string")


def simulate_ledger(registry: SiteRegistry, start: datetime, end: datetime, *, seed: int) -> pd.DataFrame:
    """Ledger rows for every ``hw_store`` in the ledger file format (columns :data:`LEDGER_FILE_COLUMNS`).

    Per store and waste category: an opening stock entry before ``start``; weekly inputs (sized by the
    enterprise's HJ 1259-2022 class); a transfer out with a 14-digit manifest (year + 50 (Chongqing) +
    02 (Yunyang's city part) + serial) when the stock reaches 60 % of the capacity share (2 t for a
    temporary point), confirmed 1–5 days later. Injected problems: :func:`simulate_ledger_truth`.
    """
    return _ledger(registry, start, end, seed)[0]


def simulate_ledger_truth(registry: SiteRegistry, start: datetime, end: datetime, *, seed: int) -> pd.DataFrame:
    """The problems injected into :func:`simulate_ledger` for the same arguments: one row each with
    ``problem`` (one of :data:`PROBLEMS`), ``zone``, ``enterprise``, ``store``, ``waste_code``, ``date``,
    ``manifest``, ``detail``."""
    return _ledger(registry, start, end, seed)[1]


def write_ledger_csv(frame: pd.DataFrame, directory: str | Path, registry: SiteRegistry, *,
                     encoding: str = "utf-8-sig") -> list[Path]:
    """One ledger CSV per zone: ``DIR/<zone>/hw_ledger.csv`` (the landing layout)."""
    zone_of = {p.id: p.zone for p in registry.points_of(kind="hw_store")}
    paths = []
    for zone, part in frame.groupby(frame["贮存点"].map(zone_of), sort=True):
        path = Path(directory) / str(zone) / "hw_ledger.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        part.to_csv(path, index=False, encoding=encoding, lineterminator="\r\n")
        paths.append(path)
    return paths
