"""Units: canonical units, vectorised conversion (ppm → mg/m³ at 0 °C, 101.325 kPa), dB energy means."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from monitoring import units
from monitoring.units import canonical_unit, normalise
from sensors.schema import conform


def batch(rows: list[tuple[str, float, str | None]]) -> pd.DataFrame:
    """A canonical readings batch from (parameter, value, unit) triples."""
    n = len(rows)
    return conform(pd.DataFrame({
        "time": pd.date_range("2025-06-01", periods=n, freq="1min", tz="UTC"),
        "zone": "jiangkou", "enterprise": "JK-011", "point": "JK-011-DA001", "kind": "stack",
        "parameter": [r[0] for r in rows], "statistic": "avg", "period": "1min",
        "value": [r[1] for r in rows], "unit": [r[2] for r in rows], "flag": "N", "qualifier": pd.NA,
        "source": "sim", "batch": "t",
    }))


def test_canonical_units_follow_hj212() -> None:
    assert canonical_unit("a21026") == "mg/m3"
    assert canonical_unit("a00000") == "m3/s"
    assert canonical_unit("w00000") == "L/s"
    assert canonical_unit("w01018") == "mg/L"
    assert canonical_unit("w01001") == "pH"
    assert canonical_unit("Leq") == "dB(A)"
    assert canonical_unit("a19001") == "%"
    with pytest.raises(KeyError, match="a99999"):
        canonical_unit("a99999")


def test_molar_volume_is_22_414() -> None:
    assert units.MOLAR_VOLUME.to("L/mol").magnitude == pytest.approx(22.414, abs=5e-4)


@pytest.mark.parametrize(("parameter", "ppm", "mg_m3"), [
    ("a21026", 1.0, 2.858),     # SO2 64.066 / 22.414
    ("a21004", 1.0, 2.053),     # NO2 46.0055 / 22.414
    ("a21002", 10.0, 20.53),    # NOx reported as NO2
    ("a21005", 1.0, 1.250),     # CO 28.010 / 22.414
    ("a25003", 1.0, 4.111),     # toluene 92.14 / 22.414
    ("a24088", 1.0, 0.5359),    # NMHC as carbon 12.011 / 22.414
])
def test_ppm_to_mg_per_m3_at_standard_state(parameter: str, ppm: float, mg_m3: float) -> None:
    out, rejected = normalise(batch([(parameter, ppm, "ppm")]))
    assert rejected.empty
    assert out["value"].iloc[0] == pytest.approx(mg_m3, rel=1e-3)
    assert out["unit"].iloc[0] == "mg/m3"


def test_other_mixing_ratio_spellings() -> None:
    out, _ = normalise(batch([("a21026", 1000.0, "ppb"), ("a21026", 1.0, "µmol/mol"), ("a21026", 350.0, "µg/m3"),
                              ("a21026", 35.0, "mg/Nm3")]))
    assert out["value"].tolist() == pytest.approx([2.858, 2.858, 0.35, 35.0], rel=1e-3)


def test_water_and_flow_conversions() -> None:
    out, rejected = normalise(batch([
        ("w01018", 5000.0, "µg/L"), ("w21003", 2.0, "g/L"), ("w00000", 36.0, "m3/h"),
        ("w00000", 1.0, "m³/s"), ("a00000", 7200.0, "m3/h"), ("a01012", 300.0, "K"), ("w01014", 850, "us/cm"),
    ]))
    assert rejected.empty
    assert out["value"].tolist() == pytest.approx([5.0, 2000.0, 10.0, 1000.0, 2.0, 26.85, 850.0])
    assert out["unit"].tolist() == ["mg/L", "mg/L", "L/s", "L/s", "m3/s", "°C", "µS/cm"]


def test_db_values_pass_unchanged() -> None:
    out, rejected = normalise(batch([("Leq", 63.2, "dB(A)"), ("LMx", 71.0, "dB"), ("w01001", 7.2, "无量纲")]))
    assert rejected.empty
    assert out["value"].tolist() == [63.2, 71.0, 7.2]
    assert out["unit"].tolist() == ["dB(A)", "dB(A)", "pH"]


def test_rejections_carry_reasons_and_keep_original_values() -> None:
    df = batch([
        ("a21026", 1.0, "mg/m3/zz"),     # unknown unit
        ("Leq", 60.0, "mg/m3"),           # impossible conversion
        ("a34013", 5.0, "ppm"),           # particulate has no molar mass
        ("a21026", 3.0, None),            # missing unit
        ("w01018", 40.0, "mg/L"),         # fine
        ("x99999", 1.5, "furlong"),       # unknown parameter: passes unchanged (HJ 212: keep unknown codes)
    ])
    out, rejected = normalise(df)
    assert len(out) + len(rejected) == len(df)
    assert out["parameter"].tolist() == ["w01018", "x99999"] and out["unit"].tolist() == ["mg/L", "furlong"]
    reasons = rejected["reason"].tolist()
    assert "unknown unit 'mg/m3/zz'" in reasons[0]
    assert "impossible conversion mg/m3 → dB(A)" in reasons[1]
    assert "no molar mass" in reasons[2]
    assert "missing unit" in reasons[3]
    assert rejected["value"].tolist() == [1.0, 60.0, 5.0, 3.0]


def test_vectorised_one_conversion_per_group_on_a_million_rows() -> None:
    n = 1_000_000
    rng = np.random.default_rng(7)
    pairs = np.array([("a21026", "ppm"), ("a21026", "mg/m3"), ("w00000", "m3/h"), ("Leq", "dB(A)"),
                      ("a01012", "K"), ("a34013", "ppm")])
    pick = pairs[rng.integers(0, len(pairs), n)]
    df = pd.DataFrame({"parameter": pd.array(pick[:, 0], dtype="string"),
                       "unit": pd.array(pick[:, 1], dtype="string"), "value": rng.random(n) * 100})
    units.conversion.cache_clear()
    out, rejected = normalise(df)
    assert units.conversion.cache_info().misses == len(pairs)   # one pint conversion per (parameter, unit)
    assert len(out) + len(rejected) == n
    assert (rejected["parameter"] == "a34013").all()
    so2 = (df["parameter"] == "a21026") & (df["unit"] == "ppm")
    np.testing.assert_allclose(out.loc[so2[so2].index, "value"], df.loc[so2, "value"] * 64.066 / 22.414, rtol=1e-4)
