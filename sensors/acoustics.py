"""Sound levels: the one home of the energy (power) mean of levels in dB.

Levels are logarithmic, so a mean over a period is taken on the energy scale and brought back:

.. math:: L_{eq} = 10\\,\\lg\\Big(\\frac{1}{n}\\sum_i 10^{0.1\\,L_i}\\Big)

(GB 12348-2008: the equivalent continuous A-weighted sound level 等效连续A声级 of a period is an energy
average, and the hourly and day/night Leq of §5.5 are formed this way). 60 and 70 dB(A) average to
67.4 dB(A), never 65. Used by the simulator (hourly
levels from minute levels), by :mod:`monitoring.compliance` (hourly energy sums, day/night Leq) and
:mod:`monitoring.units`. Which parameters combine this way is the ``aggregation: energy`` column of the
parameter table (:mod:`sensors.parameters`).

Everything here is vectorised (numpy arrays, pandas Series/DataFrames); NaN levels are ignored.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

ArrayLike = Sequence[float] | np.ndarray | pd.Series


def level_to_energy(levels: ArrayLike) -> np.ndarray:
    """Relative sound energy :math:`10^{0.1 L}` of levels ``L`` in dB (dimensionless; NaN stays NaN).

    Parameters
    ----------
    levels : array_like
        Sound levels, dB (dB(A) for A-weighted levels).

    Returns
    -------
    numpy.ndarray
        Energies relative to the reference level (0 dB → 1). Sums of these are what can be added across
        periods (the ``energy`` column of the hourly aggregates).
    """
    return np.power(10.0, np.asarray(levels, dtype="float64") / 10.0)


def energy_to_level(energy: ArrayLike) -> np.ndarray:
    """The level :math:`10\\,\\lg E` in dB of relative energies ``E``; ``E ≤ 0`` or NaN gives NaN.

    Parameters
    ----------
    energy : array_like
        Mean relative energy (Σ :func:`level_to_energy` / n), dimensionless.

    Returns
    -------
    numpy.ndarray
        Levels, dB.
    """
    e = np.asarray(energy, dtype="float64")
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(e > 0, 10.0 * np.log10(np.where(e > 0, e, 1.0)), np.nan)


def energy_mean(levels: ArrayLike) -> float:
    """Energy mean of sound levels, :math:`10\\,\\lg(\\overline{10^{0.1 L}})` (GB 12348-2008: Leq).

    Parameters
    ----------
    levels : array_like
        Levels in dB(A); NaN values are ignored.

    Returns
    -------
    float
        The equivalent level in dB(A); NaN for an empty or all-NaN input. Computed with the largest level
        factored out, so it is exact and cannot overflow for any level.

    Examples
    --------
    >>> round(energy_mean([60.0, 70.0]), 1)
    67.4
    """
    arr = np.asarray(levels, dtype="float64")
    arr = arr[~np.isnan(arr)]
    if arr.size == 0:
        return float("nan")
    top = arr.max()
    return float(top + 10.0 * np.log10(np.mean(np.power(10.0, (arr - top) / 10.0))))


def energy_mean_grouped(df: pd.DataFrame, by: str | list[str], value: str = "value") -> pd.Series:
    """Energy mean of ``df[value]`` (dB(A)) per group of ``by``; one vectorised groupby, NaN ignored.

    Parameters
    ----------
    df : pandas.DataFrame
        Rows with the group keys and the level column.
    by : str or list of str
        Group key column(s).
    value : str
        Column of levels, dB(A).

    Returns
    -------
    pandas.Series
        Named ``value``, indexed by the group keys (sorted); a group of only NaN gives NaN.
    """
    keys = [by] if isinstance(by, str) else list(by)
    frame = df[keys].copy()
    frame["_energy"] = level_to_energy(df[value].to_numpy(dtype="float64"))
    mean = frame.groupby(keys, sort=True, dropna=False, observed=True)["_energy"].mean()
    return pd.Series(energy_to_level(mean.to_numpy()), index=mean.index, name=value)
