"""Simulator: determinism, contracts, realism, ground truth, HJ 212 packets over a real receiver, lab/ledger."""

from __future__ import annotations

import copy
import itertools
import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from monitoring.registry import Registry
from sensors.hj212 import Packet, decode_lines
from sensors.hj212.readings import packets_to_readings
from sensors.lab import read_lab_file
from sensors.ledger import read_ledger_csv
from sensors.schema import IDENTITY, READINGS_COLUMNS
from sensors.simulator import (
    load_profiles,
    readings_frame,
    send_packets,
    simulate_lab,
    simulate_ledger,
    simulate_ledger_truth,
    simulation_truth,
    to_packets,
    write_lab_csv,
    write_ledger_csv,
)
from sensors.timezone import LOCAL_TZ

ROOT = Path(__file__).resolve().parents[2]
T0 = datetime(2024, 1, 8, tzinfo=LOCAL_TZ)          # a Monday
COMPARE = ["time", "zone", "enterprise", "point", "kind", "parameter", "statistic", "period", "value", "unit",
           "flag"]


def _busy_profiles() -> dict:
    """More events than the defaults so a few days show every kind of event."""
    prof = copy.deepcopy(load_profiles())
    prof["events"]["exceedance"]["per_month"] = 8
    prof["events"]["outage"]["per_month"] = 3
    prof["events"]["fault"]["per_month"] = 6
    return prof


@pytest.fixture(scope="module")
def week(registry: Registry) -> tuple[pd.DataFrame, object, _Index]:
    """One week of the jiangkou zone with busy events, its ground truth and a look-up index."""
    prof = _busy_profiles()
    end = datetime(2024, 1, 15, tzinfo=LOCAL_TZ)
    df = readings_frame(registry, T0, end, seed=11, zone="jiangkou", profiles=prof)
    return df, simulation_truth(registry, T0, end, seed=11, zone="jiangkou", profiles=prof), _Index(df)


class _Index:
    """Row positions by (point, parameter) for fast window look-ups on big frames."""

    def __init__(self, df: pd.DataFrame):
        self.df = df
        self.t = pd.DatetimeIndex(df["time"]).asi8
        self.by = df.groupby(["point", "parameter"], sort=False).indices
        self.params = df.groupby("point")["parameter"].unique().to_dict()

    def pos(self, point: str, start, end, parameter: str | None = None) -> np.ndarray:
        params = [parameter] if parameter is not None and not pd.isna(parameter) else \
            list(self.params.get(point, []))
        out = []
        for p in params:
            rows = self.by.get((point, p), np.array([], dtype=int))
            t = self.t[rows]
            out.append(rows[(t >= pd.Timestamp(start).value) & (t < pd.Timestamp(end).value)])
        return np.sort(np.concatenate(out)) if out else np.array([], dtype=int)

    def rows(self, point: str, start, end, parameter: str | None = None) -> pd.DataFrame:
        return self.df.iloc[self.pos(point, start, end, parameter)]

    def without(self, windows: pd.DataFrame) -> pd.DataFrame:
        drop = [self.pos(w.point, w.start, w.end) for w in windows.itertuples()]
        keep = np.ones(len(self.df), bool)
        if drop:
            keep[np.concatenate(drop)] = False
        return self.df[keep]


def _sort(df: pd.DataFrame) -> pd.DataFrame:
    return df[COMPARE].sort_values(IDENTITY).reset_index(drop=True)


def test_contract_and_determinism(registry: Registry) -> None:
    end = datetime(2024, 1, 8, 6, tzinfo=LOCAL_TZ)
    a = readings_frame(registry, T0, end, seed=7, zone="jiangkou")
    b = readings_frame(registry, T0, end, seed=7, zone="jiangkou")
    c = readings_frame(registry, T0, end, seed=8, zone="jiangkou")
    assert list(a.columns) == list(READINGS_COLUMNS)
    assert {k: str(v) for k, v in a.dtypes.items()} == {
        k: str(pd.Series(dtype=t).dtype) for k, t in READINGS_COLUMNS.items()}
    assert a.equals(b)
    assert len(a) != len(c) or not np.allclose(a["value"].to_numpy(), c["value"].to_numpy())
    assert not a.duplicated(IDENTITY).any()
    assert set(a["source"]) == {"sim"} and set(a["statistic"]) == {"avg"} and set(a["period"]) == {"1min"}
    # safety sensors have their own scenarios (sensors/sim_safety.py), not the generic simulator
    online = {p.id for p in registry.points_of(zone="jiangkou", online=True) if p.kind != "safety"}
    assert set(a["point"]) <= online and len(set(a["point"])) >= len(online) - 2   # outages may hide one
    assert a["time"].min() >= pd.Timestamp(T0) and a["time"].max() < pd.Timestamp(end)
    # each point reports on its own interval (300 s outlets, 60 s others)
    steps = a.groupby(["point", "parameter"])["time"].apply(lambda t: t.diff().dropna().min())
    intervals = {p.id: p.interval_s for p in registry.points_of(zone="jiangkou", online=True)}
    for (point, _), step in steps.items():
        assert step >= pd.Timedelta(seconds=intervals[point])


def test_values_do_not_depend_on_how_the_period_is_cut(registry: Registry) -> None:
    mid, end = datetime(2024, 1, 9, 13, tzinfo=LOCAL_TZ), datetime(2024, 1, 10, tzinfo=LOCAL_TZ)
    whole = readings_frame(registry, T0, end, seed=3, zone="nanxi")
    parts = pd.concat([readings_frame(registry, T0, mid, seed=3, zone="nanxi"),
                       readings_frame(registry, mid, end, seed=3, zone="nanxi")])
    assert _sort(whole).equals(_sort(parts))
    # and a point's values do not depend on which other zones were simulated
    every = readings_frame(registry, T0, datetime(2024, 1, 8, 3, tzinfo=LOCAL_TZ), seed=3)
    one = readings_frame(registry, T0, datetime(2024, 1, 8, 3, tzinfo=LOCAL_TZ), seed=3, zone="南溪")
    assert _sort(every[every["zone"] == "nanxi"]).equals(_sort(one))


def test_diurnal_weekly_and_noise_patterns(week) -> None:
    _df, truth, index = week
    n = index.without(truth.episodes)          # compare plain levels: drop the injected episodes
    n = n[n["flag"] == "N"].copy()
    local = n["time"].dt.tz_convert(LOCAL_TZ)
    n["hour"], n["dow"] = local.dt.hour, local.dt.dayofweek
    leq = n[n["parameter"] == "Leq"]
    day = leq[(leq["hour"] >= 6) & (leq["hour"] < 22)]["value"]
    night = leq[(leq["hour"] < 6) | (leq["hour"] >= 22)]["value"]
    assert 50 <= day.mean() <= 60 and 40 <= night.mean() <= 50 and night.mean() < day.mean() - 5
    stack = n[(n["kind"] == "stack") & (n["parameter"] == "a34013")]
    working = stack[stack["dow"] < 5]
    prod = working[(working["hour"] >= 9) & (working["hour"] < 17)]["value"].median()
    off = working[(working["hour"] >= 0) & (working["hour"] < 5)]["value"].median()
    sunday = stack[(stack["dow"] == 6) & (stack["hour"] >= 9) & (stack["hour"] < 17)]["value"].median()
    assert off < 0.5 * prod and sunday < 0.5 * prod
    # clean data stays well under the 120 mg/m3 particulate limit (GB 16297-1996 Table 2)
    assert stack["value"].quantile(0.99) < 120


def _hourly_means(df: pd.DataFrame) -> pd.DataFrame:
    n = df[df["flag"] == "N"]
    return (n.groupby(["point", "parameter", n["time"].dt.floor("h")])["value"].mean()
            .rename("mean").reset_index())


def test_air_episodes_exceed_and_nothing_else_does(week) -> None:
    df, truth, _ = week
    air = truth.episodes[truth.episodes["kind"].isin(["stack", "fugitive", "insite_vocs"])]
    assert len(air) >= 2
    hourly = _hourly_means(df[df["kind"].isin(["stack", "fugitive", "insite_vocs"])])
    limits = {(e.point, e.parameter): e.limit for e in air.itertuples()}
    for e in air.itertuples():
        h = hourly[(hourly["point"] == e.point) & (hourly["parameter"] == e.parameter)
                   & (hourly["time"] >= e.start) & (hourly["time"] < e.end)]
        assert len(h) == (e.end - e.start) / pd.Timedelta(hours=1)
        assert (h["mean"] > e.limit).all(), e
    # every hourly mean (flag N) above its nominal limit lies inside an episode
    prof = load_profiles()
    for kind in ("stack", "fugitive", "insite_vocs"):
        for code, spec in prof["kinds"][kind].items():
            if "limit" not in spec:
                continue
            pts = df.loc[(df["kind"] == kind) & (df["parameter"] == code), "point"].unique()
            hot = hourly[hourly["point"].isin(pts) & (hourly["parameter"] == code)
                         & (hourly["mean"] > spec["limit"])]
            for r in hot.itertuples():
                assert any(e.point == r.point and e.parameter == code and e.start <= r.time < e.end
                           for e in air.itertuples()), (r, limits)


def test_stack_emission_rates_stay_under_the_rate_limit_outside_episodes(registry: Registry) -> None:
    """GB 16297-1996 §4/§7: a stack must meet the height-based emission rate too. The simulator keeps every
    hourly rate (hourly mean concentration × hourly mean flow × 3600/10⁶ kg/h) under cap (0.8) × the rate
    limit at the stack's height, except during an injected episode of that pollutant — so a rate incident
    in the demo is always one the truth explains (it used to bound concentrations only)."""
    from limits.catalogue import load_catalogue

    prof = _busy_profiles()
    prof["kinds"]["stack"]["a21002"]["base"] = [150, 190]      # NOx near its 240 mg/m³ concentration cap …
    prof["kinds"]["stack"]["a00000"]["base"] = [10, 12]        # … in a large flow: rates well above 4.4 kg/h
    end = datetime(2024, 1, 11, tzinfo=LOCAL_TZ)
    df = readings_frame(registry, T0, end, seed=11, zone="jiangkou", profiles=prof)
    truth = simulation_truth(registry, T0, end, seed=11, zone="jiangkou", profiles=prof)
    cat = load_catalogue(None)
    stacks = {p.id: p for p in registry.points_of(kind="stack")}
    hourly = _hourly_means(df[df["kind"] == "stack"])
    flow = hourly[hourly["parameter"] == "a00000"].rename(columns={"mean": "flow"}).drop(columns="parameter")
    conc = hourly[hourly["parameter"] != "a00000"].merge(flow, on=["point", "time"])
    episodes = truth.episodes[truth.episodes["kind"] == "stack"]
    checked = 0
    for (point, code), rows in conc.groupby(["point", "parameter"]):
        try:
            q = cat.stack_rate(code, stacks[point].height_m, stacks[point].above_buildings).rate_kg_h
        except KeyError:
            continue                                              # no rate limit for this parameter
        ep = episodes[(episodes["point"] == point) & (episodes["parameter"] == code)]
        inside = np.zeros(len(rows), bool)
        for e in ep.itertuples():
            inside |= ((rows["time"] >= e.start) & (rows["time"] < e.end)).to_numpy()
        rate = rows["mean"] * rows["flow"] * 3600 / 1e6
        assert (rate[~inside] <= load_profiles()["cap"] * q + 1e-9).all(), (point, code, rate[~inside].max(), q)
        checked += 1
    assert checked >= 20


def test_noise_and_water_episodes(week) -> None:
    _df, truth, index = week
    noise = truth.episodes[(truth.episodes["kind"] == "noise") & (truth.episodes["parameter"] == "Leq")]
    water = truth.episodes[truth.episodes["kind"].isin(["wastewater", "plant_effluent"])]
    assert len(noise) and len(water)
    for e in noise.itertuples():
        local_start = e.start.tz_convert(LOCAL_TZ)
        assert local_start.hour >= 22 or local_start.hour < 6          # night only (GB 12348 22–06)
        rows = index.rows(e.point, e.start, e.end, "Leq")
        v = rows.loc[rows["flag"] == "N", "value"]
        energy = 10 * np.log10(np.mean(10 ** (v / 10)))
        assert energy > e.limit + 5
    for e in water.itertuples():
        rows = index.rows(e.point, e.start, e.end, e.parameter)
        v = rows.loc[rows["flag"] == "N", "value"]
        assert (e.end - e.start) == pd.Timedelta(days=1)                # a whole local day: daily mean
        assert v.mean() > e.limit if e.parameter != "w01001" else v.mean() > 9
    # pH never leaves 6–9 outside episodes and flagged windows
    clean = index.without(water[water["parameter"] == "w01001"])
    ph = clean[(clean["parameter"] == "w01001") & (clean["flag"] == "N")]
    assert ph["value"].between(6.0, 9.0).all()


def test_flagged_windows_and_outages(week) -> None:
    df, truth, index = week
    w = truth.windows
    assert {"C", "M", "D"} <= set(w["flag"])
    for flag in ("C", "M", "D"):
        x = w[w["flag"] == flag].iloc[0]
        rows = index.rows(x.point, x.start, x.end, x.parameter)
        assert len(rows) and set(rows["flag"]) == {flag}
    # calibration writes span values above the limit: harmless only because they are flagged C
    cal = df[(df["flag"] == "C") & (df["kind"] == "stack") & (df["parameter"] == "a34013")]
    assert (cal["value"] > 120).all()
    assert len(truth.outages) >= 1
    for o in truth.outages.itertuples():
        assert index.rows(o.point, o.start, o.end).empty
        assert len(index.rows(o.point, o.start - pd.Timedelta(days=1), o.start)) or \
            len(index.rows(o.point, o.end, o.end + pd.Timedelta(days=1)))
    # no episode overlaps an outage
    for e in truth.episodes.itertuples():
        o = truth.outages[truth.outages["point"] == e.point]
        assert not ((o["start"] < e.end) & (o["end"] > e.start)).any()


def test_truth_round_trips_through_csv(week, tmp_path: Path) -> None:
    _, truth, _ = week
    truth.write(tmp_path)
    back = type(truth).read(tmp_path)
    pd.testing.assert_frame_equal(back.episodes, truth.episodes, check_exact=False)
    pd.testing.assert_frame_equal(back.outages, truth.outages)


def test_winter_water_is_cold(registry: Registry) -> None:
    jan = readings_frame(registry, datetime(2024, 1, 20, tzinfo=LOCAL_TZ), datetime(2024, 1, 21, tzinfo=LOCAL_TZ),
                         seed=1, zone="jiangkou")
    jul = readings_frame(registry, datetime(2024, 7, 20, tzinfo=LOCAL_TZ), datetime(2024, 7, 21, tzinfo=LOCAL_TZ),
                         seed=1, zone="jiangkou")
    t_jan = jan[(jan["parameter"] == "w01010") & (jan["flag"] == "N")]["value"].mean()
    t_jul = jul[(jul["parameter"] == "w01010") & (jul["flag"] == "N")]["value"].mean()
    assert t_jan <= 12 < t_jul                 # GB 18918-2002: the ≤ 12 °C NH3-N limit applies in winter
    nh3 = lambda d: d[(d["kind"] == "plant_effluent") & (d["parameter"] == "w21003")]["value"].mean()
    assert nh3(jan) > 2 * nh3(jul)


def test_packets_round_trip_and_are_deterministic(registry: Registry) -> None:
    end = datetime(2024, 1, 8, 0, 20, tzinfo=LOCAL_TZ)
    df = readings_frame(registry, T0, end, seed=5)
    pk = list(to_packets(df, registry, seed=5, late_fraction=0.05, duplicate_fraction=0.05))
    assert pk == list(to_packets(df, registry, seed=5, late_fraction=0.05, duplicate_fraction=0.05))
    assert pk != list(to_packets(df, registry, seed=6, late_fraction=0.05, duplicate_fraction=0.05))
    raws = [p for _, p in pk]
    assert len(raws) > len(set(raws))                                  # duplicates sent
    decoded = [x for _, x in decode_lines(raws)]
    packets = [x for x in decoded if isinstance(x, Packet)]
    assert len(packets) == len(decoded)                                 # nothing rejected
    assert {p.version for p in packets} == {"2005", "2017", "2025"}
    assert {p.cn for p in packets} == {"2051"}
    order = [p.data_time for p in packets]
    assert any(b < a for a, b in itertools.pairwise(order))                 # some arrive late
    mn_st = {(p.mn, p.st) for p in packets}
    kinds = {registry.by_mn[mn].kind: st for mn, st in mn_st}
    assert kinds["stack"] == "31" and kinds["wastewater"] == "32" and kinds["ambient_air"] == "22"
    assert kinds["noise"] == "23"
    noise = next(p for p in packets if registry.by_mn[p.mn].kind == "noise")
    assert "Leq" in noise.cp and {"Avg", "Flag"} <= set(noise.cp["Leq"])
    back, rejected = packets_to_readings(packets, registry, "b")
    assert rejected == []
    assert _sort(back).equals(_sort(df))


@pytest.mark.slow
def test_send_packets_to_the_real_receiver(registry: Registry, tmp_path: Path) -> None:
    if not (ROOT / "sensors" / "receiver.py").exists():
        pytest.skip("receiver not built yet")
    env = dict(os.environ, ENVMON_DATA_DIR=str(tmp_path))
    proc = subprocess.Popen([sys.executable, "-m", "monitoring.cli", "receiver", "--port", "0",
                             "--spool", str(tmp_path / "spool"), "--quarantine", str(tmp_path / "q")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)
    try:
        line = proc.stdout.readline()
        assert line.startswith("listening on"), proc.stderr.read() if proc.poll() is not None else line
        host, port = line.split()[-1].rsplit(":", 1)
        df = readings_frame(registry, T0, datetime(2024, 1, 8, 0, 10, tzinfo=LOCAL_TZ), seed=2,
                            zone="jiangkou")
        pk = list(to_packets(df, registry, seed=2, ack_fraction=0.7))
        report = send_packets(host, int(port), pk, connections=2, answer_timeout=20)
        assert report.errors == []
        assert report.sent == len(pk) and report.connections == 2
        assert 0.6 * len(pk) < report.ack_requested < 0.8 * len(pk)
        assert report.acked == report.ack_requested
    finally:
        proc.terminate()
        try:
            proc.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()


def test_simulated_lab_files_import_cleanly(registry: Registry, tmp_path: Path) -> None:
    start, end = datetime(2024, 1, 1, tzinfo=LOCAL_TZ), datetime(2024, 7, 1, tzinfo=LOCAL_TZ)
    lab = simulate_lab(registry, start, end, seed=4)
    assert lab.equals(simulate_lab(registry, start, end, seed=4))
    wells = {p.id for p in registry.points_of(kind="groundwater")}
    assert wells <= set(lab["监测点位"])
    assert lab["检测结果"].str.match(r"^(<[\d.]+|ND|[\d.]+L)$").sum() >= 3      # non-detects written
    readings, rejected = read_lab_file(write_lab_csv(lab, tmp_path / "lab.csv", encoding="gb18030"),
                                       registry, "lab")
    assert rejected == [] and len(readings) == len(lab)
    nd = readings[readings["qualifier"] == "<"]
    assert len(nd) >= 3 and set(nd["value"]) <= {0.025, 0.5}
    per_well = readings[readings["kind"] == "groundwater"].groupby("point")["time"].nunique()
    assert (per_well == 6).all()                                                  # monthly


def test_simulated_ledger_imports_and_carries_the_injected_problems(registry: Registry, tmp_path: Path) -> None:
    start, end = datetime(2024, 1, 1, tzinfo=LOCAL_TZ), datetime(2024, 4, 1, tzinfo=LOCAL_TZ)
    truth = simulate_ledger_truth(registry, start, end, seed=9)
    assert set(truth["problem"]) == {"unlicensed_receiver", "unconfirmed_manifest", "temporary_over_3t",
                                     "stored_over_365d"}
    frames = []
    for path in write_ledger_csv(simulate_ledger(registry, start, end, seed=9), tmp_path, registry):
        df, rejected = read_ledger_csv(path, registry, "l")
        assert rejected == [], rejected[:3]
        frames.append(df)
    ledger = pd.concat(frames, ignore_index=True)
    assert set(ledger["store"]) == {p.id for p in registry.points_of(kind="hw_store")}
    transfers = ledger[ledger["quantity_out_t"] > 0]
    assert transfers["manifest"].str.fullmatch(r"2024" r"50" r"02\d{6}").all()
    assert transfers["manifest"].is_unique
    by = truth.set_index("problem")
    unl = transfers[transfers["manifest"] == by.loc["unlicensed_receiver", "manifest"]]
    assert unl["receiver_licence"].isna().all()
    assert transfers["receiver_licence"].isna().sum() == 1
    unc = transfers[transfers["manifest"] == by.loc["unconfirmed_manifest", "manifest"]]
    assert unc["confirmed"].isna().all()
    # the temporary point really held more than 3 t (GB 18597-2023)
    store = by.loc["temporary_over_3t", "store"]
    assert registry.point(store).temporary
    s = ledger[ledger["store"] == store].sort_values("date")
    stock = (s["quantity_in_t"] - s["quantity_out_t"]).groupby(s["waste_code"]).cumsum()
    assert stock.max() > 3.0
    # a batch older than a year is still in store at the end
    old = ledger[(ledger["store"] == by.loc["stored_over_365d", "store"])
                 & (ledger["waste_code"] == by.loc["stored_over_365d", "waste_code"])]
    assert old["quantity_out_t"].sum() == 0
    assert (pd.Timestamp(end) - old["date"].min()).days > 365
    others = ledger[ledger["store"] != store]
    temp = others[others["store"].map(lambda x: registry.point(x).temporary)]
    held = (temp["quantity_in_t"] - temp["quantity_out_t"]).groupby(temp["store"]).cumsum()
    assert held.max() < 3.0


@pytest.mark.slow
def test_simulate_cli_writes_packets_and_truth(tmp_path: Path) -> None:
    out = tmp_path / "packets.txt"
    r = subprocess.run([sys.executable, "-m", "monitoring.cli", "simulate", "packets", "--from",
                        "2024-01-08", "--to", "2024-01-08T00:05", "--zone", "江口", "--seed", "3",
                        "--out", str(out), "--truth", str(tmp_path / "truth")],
                       capture_output=True, text=True, check=False, cwd=ROOT, env=dict(os.environ, ENVMON_DATA_DIR=str(tmp_path)))
    assert r.returncode == 0, r.stderr
    lines = out.read_bytes().splitlines()
    assert lines and all(x.startswith(b"##") for x in lines)
    assert (tmp_path / "truth" / "truth_episodes.csv").exists()
    assert f"{len(lines)} packets" in r.stdout


def test_hourly_from_minutes_is_what_a_data_logger_reports():
    """Hourly data (CN 2061): mean of the flag-N minutes, energy mean for Leq, N only with ≥ 45 valid
    minutes, silence stays silence."""
    import numpy as np

    from monitoring.registry import parse_registry
    from sensors.schema import conform
    from sensors.simulator import hourly_from_minutes

    reg = parse_registry({
        "zones": [{"id": "z", "name_zh": "测", "pinyin": "Ce", "town": "测镇", "area_mu": 1,
                   "elevation_m": [1, 2], "industries": []}],
        "enterprises": [{"code": "E-1", "name": "企业", "zone": "z", "industry": "x", "category": "ordinary"}],
        "points": [{"id": "S1", "zone": "z", "enterprise": "E-1", "kind": "stack", "name": "s", "mn": "M1",
                    "pw": "1", "parameters": ["a34013"], "height_m": 15, "above_buildings": True},
                   {"id": "N1", "zone": "z", "enterprise": "E-1", "kind": "noise", "name": "n", "mn": "M2",
                    "pw": "1", "parameters": ["Leq"]}]})
    t = pd.date_range("2026-03-02T00:00Z", periods=180, freq="min")          # three hours
    dust = np.r_[np.full(60, 10.0), np.full(60, 20.0), np.full(60, 30.0)]
    flag = np.array(["N"] * 180, dtype=object)
    flag[60:80] = "C"                 # hour 2: 40 valid minutes < 45 → flagged C
    flag[120:130] = "M"               # hour 3: 10 M + 5 silent minutes → exactly 45 valid → N
    dust[120:130] = 999.0             # maintenance nonsense must not enter the N mean
    leq = np.r_[np.full(30, 50.0), np.full(30, 60.0)]                         # one hour of noise
    frame = conform(pd.DataFrame({
        "time": list(t) + list(t[:60]), "zone": "z", "enterprise": "E-1",
        "point": ["S1"] * 180 + ["N1"] * 60, "kind": ["stack"] * 180 + ["noise"] * 60,
        "parameter": ["a34013"] * 180 + ["Leq"] * 60, "statistic": "avg", "period": "1min",
        "value": np.r_[dust, leq], "unit": ["mg/m3"] * 180 + ["dB(A)"] * 60,
        "flag": list(flag) + ["N"] * 60, "source": "sim", "batch": "b"}))
    silent = frame["time"].between(t[175], t[179]) & (frame["point"] == "S1")
    hourly = hourly_from_minutes(frame[~silent], reg)
    assert len(hourly_from_minutes(frame[(frame["point"] == "S1") & (frame["time"] < t[60])], reg)) == 1
    dust_h = hourly[hourly["point"] == "S1"].reset_index(drop=True)
    assert list(dust_h["flag"]) == ["N", "C", "N"]
    assert dust_h["value"].iloc[0] == pytest.approx(10.0) and dust_h["value"].iloc[2] == pytest.approx(30.0)
    assert (dust_h["period"] == "1h").all()
    noise_h = hourly[hourly["point"] == "N1"]
    assert noise_h["value"].iat[0] == pytest.approx(57.4, abs=0.05)           # energy mean, not 55


def test_devices_read_9014_answers_without_a_full_parse_but_with_their_crc() -> None:
    """The simulated devices match the receiver's 9014 answers by (MN, QN) from a checked regex (length
    and Appendix-A CRC); anything else — a bad CRC included — goes to the full parser, which refuses it."""
    from sensors.hj212 import PacketError, frame_segment, parse_packet
    from sensors.receiver import data_answer
    from sensors.simulator.devices import _answer_keys

    pkt = parse_packet(frame_segment(b"QN=20260302000000123;ST=22;CN=2011;PW=123456;MN=JK-011-DA001;Flag=5;"
                                     b"CP=&&DataTime=20260302000000;a21026-Rtd=1.0,a21026-Flag=N&&"))
    answer = data_answer(pkt).removesuffix(b"\r\n")
    bad_crc = answer[:-4] + (b"0000" if not answer.endswith(b"0000") else b"0001")
    with pytest.raises(PacketError, match="bad CRC"):
        parse_packet(bad_crc)
    bad_length = answer[:2] + b"9999" + answer[6:]
    # one read's answers are checked together: each keeps its own verdict
    assert _answer_keys([answer, bad_crc, bad_length, answer]) == [
        ("JK-011-DA001", b"20260302000000123"), None, None, ("JK-011-DA001", b"20260302000000123")]
    assert _answer_keys([]) == []


def test_ambient_episode_the_station_exceeds_while_the_clusters_sources_rise(registry: Registry) -> None:
    """Issue #14: a cluster's ambient air episode — the station's PM2.5 over GB 3095-2012 class 2 (24-h mean
    75 µg/m³ = 0.075 mg/m³) for some hours, the particulate of the same cluster's stacks and fugitive points
    rising in the same hours but staying under cap × their own limit (the truth records the station's
    episode only: the sources do not exceed)."""
    prof = copy.deepcopy(load_profiles())
    prof["events"]["ambient_episode"]["per_month"] = 30            # every day
    quiet = copy.deepcopy(prof)
    quiet["events"]["ambient_episode"]["per_month"] = 0
    end = datetime(2024, 1, 10, tzinfo=LOCAL_TZ)
    truth = simulation_truth(registry, T0, end, seed=11, zone="jiangkou", profiles=prof)
    amb = truth.episodes[truth.episodes["kind"] == "ambient_air"]
    assert len(amb) == 2 and set(amb["parameter"]) == {"a34004"} and (amb["limit"] == 0.075).all()
    assert set(truth.episodes["kind"]) <= {"ambient_air", "stack", "fugitive", "insite_vocs", "noise",
                                           "wastewater", "plant_effluent"}
    df = readings_frame(registry, T0, end, seed=11, zone="jiangkou", profiles=prof)
    base = readings_frame(registry, T0, end, seed=11, zone="jiangkou", profiles=quiet)
    e = amb.iloc[0]
    during = (df["time"] >= e.start) & (df["time"] < e.end)
    station = df[during & (df["point"] == e.point) & (df["parameter"] == "a34004") & (df["flag"] == "N")]
    assert station["value"].mean() > 2 * 0.075, "hours far above the 24-h limit"
    day = df[(df["point"] == e.point) & (df["parameter"] == "a34004") & (df["flag"] == "N")
             & (df["time"] >= pd.Timestamp(e.start).floor("D") - pd.Timedelta(hours=8))
             & (df["time"] < pd.Timestamp(e.start).floor("D") + pd.Timedelta(hours=16))]
    assert day["value"].mean() > 0.075, "the local day's mean exceeds class 2"
    keys = ["point", "parameter", "time"]
    src = df[during & df["kind"].isin(["stack", "fugitive"]) & (df["parameter"] == "a34013")
             & (df["flag"] == "N")].merge(base[keys + ["value"]], on=keys, suffixes=("", "_quiet"))
    assert len(src) and src["point"].nunique() >= 3
    assert (src["value"] >= src["value_quiet"] - 1e-12).all()
    assert (src.groupby("point")["value"].mean() > 1.5 * src.groupby("point")["value_quiet"].mean()).mean() > 0.5
    limits = {"stack": prof["kinds"]["stack"]["a34013"]["limit"], "fugitive": prof["kinds"]["fugitive"]["a34013"]["limit"]}
    # (an exceedance episode of the stack itself is the truth's; the rise never lifts a value over the cap)
    over = src[(src["value"] > src["kind"].map(limits) * prof["cap"] + 1e-9) & (src["value"] > src["value_quiet"])]
    assert over.empty, over[["point", "time", "value", "value_quiet"]]
