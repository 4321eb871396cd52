"""Simulated readings → HJ 212 packets (minute data CN 2051, hourly CN 2061 aggregated from minutes), with
the device protocol version mix and late sends.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from sensors.acoustics import energy_to_level, level_to_energy
from sensors.hj212 import build_packet
from sensors.parameters import load_parameter_table
from sensors.schema import conform
from sensors.simulator.seeding import NS_DAY, _key
from sensors.site import SiteRegistry
from sensors.timezone import LOCAL_TZ

# ------------------------------------------------------------------------------------------------------
# HJ 212 packets
# ------------------------------------------------------------------------------------------------------
#: System code ST by point kind (HJ 212-2017 Table 5). Boundary noise uses 23 (acoustic environment),
#: what most county noise loggers send; 36 (noise source) is accepted by the receiver too.
ST_BY_KIND = {"stack": "31", "fugitive": "31", "insite_vocs": "31", "noise": "23", "wastewater": "32",
              "plant_effluent": "32", "ambient_air": "22"}
#: statistic → HJ 212 field. Minute data (CN 2051) carries ``-Avg``; boundary noise minute data is sent as
#: ``Leq-Avg`` / ``LMx-Avg`` (the minute's equivalent level and its maximum), statistic ``avg``.
FIELD_BY_STATISTIC = {"avg": "Avg", "min": "Min", "max": "Max", "rtd": "Rtd", "cou": "Cou"}
CN_BY_PERIOD = {"1min": "2051", "1h": "2061", "1d": "2031", "rtd": "2011"}


#: Noise levels are averaged by energy (GB 12348-2008), maxima by max; everything else arithmetically
#: (``aggregation`` of the parameter table, :mod:`sensors.parameters`).
ENERGY_MEAN_PARAMETERS = frozenset(load_parameter_table().with_aggregation("energy"))
MAX_PARAMETERS = frozenset(load_parameter_table().with_aggregation("max"))


def hourly_from_minutes(readings: pd.DataFrame, registry: SiteRegistry, *, min_valid: float = 0.75) -> pd.DataFrame:
    """What a data logger reports as HJ 212 hourly data (CN 2061) from its minute values.

    Per point, parameter and clock hour: the mean of the flag-N values (energy mean for noise levels,
    maximum for ``LMx``), flagged ``N`` when at least ``min_valid`` of the values expected from the
    point's reporting interval were valid (HJ 75-2017's 45 of 60 minutes), otherwise the hour's most
    frequent other flag (its value then the mean of everything received). Hours without any value are
    not reported: silence stays silence. Returns canonical readings with period ``1h``.
    """
    if readings.empty:
        return readings.copy()
    df = readings[readings["statistic"] == "avg"]
    interval = {p.id: p.interval_s for p in registry.points_of(online=True)}
    hour = df["time"].dt.floor("h")
    valid = df["flag"].eq("N").to_numpy()
    value = df["value"].to_numpy(dtype="float64")
    energy = df["parameter"].isin(ENERGY_MEAN_PARAMETERS).to_numpy()
    work = pd.DataFrame({
        "point": df["point"].to_numpy(), "parameter": df["parameter"].to_numpy(), "hour": hour.to_numpy(),
        "n": 1, "nv": valid.astype("int64"),
        "lin_v": np.where(valid, np.where(energy, level_to_energy(value), value), 0.0),
        "lin_all": np.where(energy, level_to_energy(value), value),
        "max_v": np.where(valid, value, -np.inf), "max_all": value,
    })
    keys = ["point", "parameter", "hour"]
    agg = work.groupby(keys, sort=False).agg(n=("n", "sum"), nv=("nv", "sum"), lin_v=("lin_v", "sum"),
                                             lin_all=("lin_all", "sum"), max_v=("max_v", "max"),
                                             max_all=("max_all", "max")).reset_index()
    other = df.loc[~valid, ["point", "parameter"]].assign(hour=hour[~valid].to_numpy(),
                                                          flag=df.loc[~valid, "flag"].to_numpy())
    mode = (other.groupby([*keys, "flag"], sort=False).size().rename("k").reset_index()
            .sort_values("k", ascending=False).drop_duplicates(keys)[[*keys, "flag"]])
    agg = agg.merge(mode, on=keys, how="left")
    expected = 3600.0 / agg["point"].map(interval).astype("float64")
    ok = agg["nv"].to_numpy() >= np.ceil(min_valid * expected.to_numpy())
    is_energy = agg["parameter"].isin(ENERGY_MEAN_PARAMETERS).to_numpy()
    is_max = agg["parameter"].isin(MAX_PARAMETERS).to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        mean_v, mean_all = agg["lin_v"] / agg["nv"], agg["lin_all"] / agg["n"]
        lin = np.where(ok, mean_v, mean_all)
        val = np.where(is_energy, energy_to_level(lin), lin)
    val = np.where(is_max, np.where(ok, agg["max_v"], agg["max_all"]), val)
    first = df.drop_duplicates(["point"]).set_index("point")
    out = pd.DataFrame({
        "time": pd.to_datetime(agg["hour"], utc=True), "zone": agg["point"].map(first["zone"]),
        "enterprise": agg["point"].map(first["enterprise"]), "point": agg["point"],
        "kind": agg["point"].map(first["kind"]), "parameter": agg["parameter"], "statistic": "avg",
        "period": "1h", "value": np.round(val, 4),
        "unit": df.drop_duplicates(["point", "parameter"]).set_index(["point", "parameter"])["unit"]
                  .reindex(pd.MultiIndex.from_frame(agg[["point", "parameter"]])).to_numpy(),
        "flag": np.where(ok, "N", agg["flag"].fillna("N")), "qualifier": pd.NA,
        "source": df["source"].iat[0], "batch": df["batch"].iat[0],
    })
    return conform(out.sort_values(["time", "point", "parameter"], ignore_index=True))


def device_version(mn: str, *, old_share: float = 0.05, new_share: float = 0.10) -> str:
    """HJ 212 version a device speaks, fixed per MN: a few old (2005) and new (2025) loggers."""
    u = (_key("version:" + mn) % 10_000) / 10_000
    return "2005" if u < old_share else "2025" if u < old_share + new_share else "2017"


def to_packets(readings: pd.DataFrame, registry: SiteRegistry, *, seed: int, late_fraction: float = 0.01,
               duplicate_fraction: float = 0.005, ack_fraction: float = 1.0
               ) -> Iterator[tuple[str, bytes]]:
    """``(MN, packet bytes)``: one HJ 212 packet per point and timestamp carrying all its parameters.

    ``readings`` from :func:`simulate_readings` (period ``1min`` → CN 2051, other periods map to their
    command). Each parameter is written ``CODE-Avg=value,CODE-Flag=F``. Deterministic for a seed:
    ``late_fraction`` of the packets are held back and sent 5–200 packets later (out of order),
    ``duplicate_fraction`` are sent twice (identical bytes), ``ack_fraction`` ask for a 9014 answer (A=1).
    The version per device is :func:`device_version` (2005 packets write the old pollutant codes).
    QN is the DataTime plus a send delay of 1–30 s and a millisecond part. A segment over 1024 bytes is
    split (PNUM/PNO) by :func:`sensors.hj212.build_packet`; the parts are yielded in order.
    """
    if readings.empty:
        return
    df = readings.sort_values(["point", "time", "parameter", "statistic"], kind="stable")
    points = df["point"].to_numpy(dtype=object)
    times = pd.DatetimeIndex(df["time"]).as_unit("ns").asi8
    params = df["parameter"].to_numpy(dtype=object)
    stats = df["statistic"].to_numpy(dtype=object)
    periods = df["period"].to_numpy(dtype=object)
    values = df["value"].to_numpy()
    flags = df["flag"].to_numpy(dtype=object)
    change = np.flatnonzero((points[1:] != points[:-1]) | (times[1:] != times[:-1])) + 1
    starts = np.concatenate([[0], change])
    ends = np.concatenate([change, [len(df)]])
    n = len(starts)
    day = int(times[0] // NS_DAY)
    rng = np.random.default_rng([seed & 0xFFFFFFFFFFFFFFFF, _key("packets"), day, n])
    late = rng.random(n) < late_fraction
    delay = rng.integers(5, 201, n)
    dup = rng.random(n) < duplicate_fraction
    ack = rng.random(n) < ack_fraction
    send_ms = rng.integers(1_000, 30_000, n)
    held: list[tuple[int, int, str, list[bytes]]] = []   # (due position, order, mn, packets)

    for k in range(n):
        a, b = starts[k], ends[k]
        point = registry.point(points[a])
        cp: dict[str, dict[str, object]] = {}
        for j in range(a, b):
            cp.setdefault(params[j], {})[FIELD_BY_STATISTIC[stats[j]]] = float(values[j])
        for j in range(a, b):
            cp[params[j]]["Flag"] = flags[j]
        t = pd.Timestamp(int(times[a]), tz="UTC")
        sent_at = (t + pd.Timedelta(milliseconds=int(send_ms[k]))).tz_convert(LOCAL_TZ)
        qn = sent_at.strftime("%Y%m%d%H%M%S") + f"{sent_at.microsecond // 1000:03d}"
        pkts = build_packet(st=ST_BY_KIND.get(point.kind, "31"), cn=CN_BY_PERIOD[periods[a]], mn=point.mn,
                            pw=point.pw, data_time=t.to_pydatetime(), cp=cp, qn=qn,
                            version=device_version(point.mn), ack=bool(ack[k]))
        while held and held[0][0] <= k:
            _, _, mn, old = heapq.heappop(held)
            for p in old:
                yield mn, p
        if late[k]:
            heapq.heappush(held, (k + int(delay[k]), k, point.mn, pkts))
            continue
        for p in pkts:
            yield point.mn, p
        if dup[k]:
            for p in pkts:
                yield point.mn, p
    while held:
        _, _, mn, old = heapq.heappop(held)
        for p in old:
            yield mn, p


def write_packets(packets: Iterator[tuple[str, bytes]], path: str | Path) -> int:
    """Write one packet per line (each already ends with ``\\r\\n``); returns the count."""
    n = 0
    with open(path, "ab") as fh:
        for _mn, raw in packets:
            fh.write(raw)
            n += 1
    return n
