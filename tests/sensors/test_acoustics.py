"""The one energy mean of sound levels (GB 12348-2008: Leq is an energy average, never an arithmetic one)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sensors.acoustics import energy_mean, energy_mean_grouped, energy_to_level, level_to_energy


def test_energy_mean_is_not_the_arithmetic_mean() -> None:
    assert energy_mean([60, 70]) == pytest.approx(67.4, abs=0.05)
    assert energy_mean([55, 55, 55]) == pytest.approx(55.0)
    assert energy_mean([50, np.nan, 50]) == pytest.approx(50.0)
    assert np.isnan(energy_mean([]))
    assert energy_mean([400.0, 400.0]) == pytest.approx(400.0)  # no overflow


def test_energy_mean_grouped() -> None:
    df = pd.DataFrame({"point": ["A", "A", "B", "B", "B"], "period": ["day"] * 5,
                       "value": [60.0, 70.0, 50.0, 50.0, np.nan]})
    out = energy_mean_grouped(df, ["point", "period"])
    assert out.loc[("A", "day")] == pytest.approx(67.404, abs=0.001)
    assert out.loc[("B", "day")] == pytest.approx(50.0)
    big = pd.DataFrame({"g": np.arange(200_000) % 100, "value": np.full(200_000, 62.0)})
    np.testing.assert_allclose(energy_mean_grouped(big, "g").to_numpy(), 62.0)


def test_energy_round_trip_and_sums() -> None:
    levels = np.array([40.0, 55.5, 90.0])
    np.testing.assert_allclose(energy_to_level(level_to_energy(levels)), levels)
    # two equal sources add 10·lg 2 = 3.01 dB
    assert energy_to_level(level_to_energy([60.0]).sum() * 2)[()] == pytest.approx(63.01, abs=0.01)
    assert np.isnan(energy_to_level([0.0, -1.0, np.nan])).all()
