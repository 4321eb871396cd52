"""Units: canonical unit per parameter, vectorised conversion of readings batches, dB energy means.

* :data:`ureg` — the project's pint registry: pint's defaults plus ``monitoring/data/units.txt``
  (dB(A) and pH as dimensions of their own, ppb, Nm³).
* :func:`canonical_unit` — the unit each parameter is stored in (the parameter table
  ``sensors/data/parameters.yaml``, :mod:`sensors.parameters`, keyed by HJ 212-2017 code).
* :func:`normalise` — converts a canonical readings batch (:mod:`sensors.schema`) to canonical units
  with **one pint conversion per (parameter, unit) group**, applied to the numpy ``value`` column
  (``value × scale + offset``; the offset is only non-zero for temperatures). Gas mixing ratios
  (ppm, ppb, µmol/mol) become mass concentrations at the standard state of GB 16297-1996 / HJ 75
  (273.15 K, 101.325 kPa): ``mg/m³ = ppm × M / Vm`` with ``Vm = R·T/p = 22.414 L/mol``.
* Sound levels are converted like any unit here, but averaged only by :mod:`sensors.acoustics` (the one
  energy mean, ``10·lg(mean(10^(0.1·L)))``; dB are never averaged arithmetically).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import pint

from monitoring.config import PACKAGE_DATA
from sensors.parameters import PARAMETERS_FILE, ParameterTable, load_parameter_table

UNITS_FILE: Path = PACKAGE_DATA / "units.txt"

#: Standard state for gas concentrations (GB 16297-1996 §3.1 标准状态; HJ 75-2017).
STANDARD_TEMPERATURE_K = 273.15
STANDARD_PRESSURE_KPA = 101.325

#: Spellings seen in instruments, lab files and HJ 212 code lists that pint cannot parse, mapped to
#: pint expressions (the names come from units.txt). Matching is exact after stripping blanks.
UNIT_ALIASES: dict[str, str] = {
    "dB(A)": "dBA", "dB": "dBA", "dBA": "dBA", "dB（A）": "dBA", "分贝": "dBA",
    "℃": "degC", "°C": "degC", "摄氏度": "degC",
    "pH": "pH", "无量纲": "pH", "无": "pH",
    "mg/Nm3": "mg/normal_cubic_meter", "mg/Nm³": "mg/normal_cubic_meter",
    "mg/m³(标)": "mg/normal_cubic_meter", "mg/m3(标)": "mg/normal_cubic_meter",
    "us/cm": "µS/cm", "uS/cm": "µS/cm", "μS/cm": "µS/cm",
    "%": "percent", "％": "percent", "%vol": "percent", "% vol": "percent",
    "°": "degree", "度": "degree",
    "%LEL": "pct_LEL", "％LEL": "pct_LEL",
}

_EXPONENT = re.compile(r"(?<=[A-Za-zµμ])([23])(?![0-9])")


def _preprocess(text: str) -> str:
    """``m3`` → ``m**3`` (ASCII exponents as written in HJ 212 code lists); ``μ`` (Greek mu) → ``µ``."""
    return _EXPONENT.sub(r"**\1", text.replace("μ", "µ").replace("³", "3").replace("²", "2"))


def _build_registry() -> pint.UnitRegistry:
    reg = pint.UnitRegistry(preprocessors=[_preprocess])
    reg.load_definitions(str(UNITS_FILE))
    return reg


#: The project's pint registry (pint defaults + ``monitoring/data/units.txt``).
ureg: pint.UnitRegistry = _build_registry()

#: Molar volume of an ideal gas at the standard state, L/mol (= 22.414).
MOLAR_VOLUME = (ureg.molar_gas_constant * ureg.Quantity(STANDARD_TEMPERATURE_K, "K")
                / ureg.Quantity(STANDARD_PRESSURE_KPA, "kPa")).to("L/mol")


@cache
def parameter_table() -> ParameterTable:
    """The parameter table (:mod:`sensors.parameters`), with every canonical unit checked against
    :data:`ureg` once; :class:`ValueError` names the code whose unit pint cannot parse."""
    table = load_parameter_table()
    for code, info in table.items():
        try:
            parse_unit(info.unit)
        except (pint.errors.PintError, AttributeError, TypeError, ValueError, SyntaxError) as exc:
            raise ValueError(f"{table.source}: parameters.{code}: unit {info.unit!r}: {exc!r}") from None
    return table


def canonical_unit(parameter: str) -> str:
    """The canonical unit string of an HJ 212 parameter code (``a21026`` → ``mg/m3``, ``Leq`` → ``dB(A)``).

    Raises :class:`KeyError` for a parameter the table does not know.
    """
    try:
        return parameter_table()[parameter].unit
    except KeyError:
        raise KeyError(f"no canonical unit for parameter {parameter!r} (not in {PARAMETERS_FILE.name})") from None


@cache
def parse_unit(text: str) -> pint.Unit:
    """A unit string as written by an instrument or lab (``mg/m3``, ``dB(A)``, ``℃``, ``m³/h``) → pint unit."""
    key = text.strip()
    return ureg.parse_units(UNIT_ALIASES.get(key, key))


@dataclass(frozen=True)
class _Conversion:
    scale: float = 1.0
    offset: float = 0.0
    unit: str | None = None      # resulting unit string, None = keep the input's
    reason: str | None = None    # set when the group is rejected


@cache
def conversion(parameter: str, unit: str | None) -> _Conversion:
    """How to bring ``parameter`` values given in ``unit`` to the canonical unit: ``y = x·scale + offset``.

    Parameters the table does not know pass unchanged (HJ 212: keep unknown codes). Rejected groups
    carry a ``reason``: missing unit, unknown unit, impossible conversion, ppm without molar mass.
    """
    info = parameter_table().get(parameter)
    if info is None:
        return _Conversion(unit=None)
    if unit is None or not str(unit).strip():
        return _Conversion(reason=f"missing unit for {parameter} (expected {info.unit})")
    try:
        src = parse_unit(str(unit))
    except (pint.errors.PintError, AttributeError, TypeError, ValueError, SyntaxError):
        return _Conversion(reason=f"unknown unit {unit!r} for {parameter}")
    dst = parse_unit(info.unit)
    if src == dst:
        return _Conversion(unit=info.unit)
    try:
        if src.dimensionless and (ureg.Quantity(1, dst).dimensionality
                                  == ureg.Quantity(1, "mg/m**3").dimensionality):
            if info.molar_mass is None:
                return _Conversion(reason=f"cannot convert {unit} to {info.unit} for {parameter}: "
                                          "no molar mass for a mixing ratio")
            per_unit = (ureg.Quantity(1.0, src).to("mol/mol") * ureg.Quantity(info.molar_mass, "g/mol")
                        / MOLAR_VOLUME).to(dst)
            return _Conversion(scale=float(per_unit.magnitude), unit=info.unit)
        # Two points fix the affine map (offset units such as degC/K/degF); one pint call per group.
        y0, y1 = ureg.Quantity(np.array([0.0, 1.0]), src).to(dst).magnitude
    except pint.errors.DimensionalityError:
        return _Conversion(reason=f"impossible conversion {unit} → {info.unit} for {parameter}")
    return _Conversion(scale=float(y1 - y0), offset=float(y0), unit=info.unit)


def normalise(df: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Convert ``value``/``unit`` of a readings batch to each parameter's canonical unit.

    Vectorised: the batch is factorised on (parameter, unit); :func:`conversion` runs once per distinct
    pair and the resulting scale/offset arrays are applied to the numpy ``value`` column.

    Returns ``(converted, rejected)``: ``converted`` has the input's columns with canonical values and
    units; ``rejected`` has the rejected input rows unchanged plus a ``reason`` column. Rows of unknown
    parameters pass unchanged. dB(A) values are never rescaled (their dimension converts to nothing else).
    """
    if df.empty:
        rejected = df.copy()
        rejected["reason"] = pd.Series(dtype="string")
        return df.copy(), rejected
    p_codes, p_uniques = pd.factorize(df["parameter"], use_na_sentinel=False)
    u_codes, u_uniques = pd.factorize(df["unit"], use_na_sentinel=False)
    pair_codes, inverse = np.unique(p_codes.astype(np.int64) * (len(u_uniques) + 1) + u_codes,
                                    return_inverse=True)
    n = len(pair_codes)
    scale = np.ones(n)
    offset = np.zeros(n)
    units = np.empty(n, dtype=object)
    reasons = np.empty(n, dtype=object)
    for i, code in enumerate(pair_codes):
        param = p_uniques[code // (len(u_uniques) + 1)]
        unit = u_uniques[code % (len(u_uniques) + 1)]
        unit = None if unit is None or pd.isna(unit) else str(unit)
        conv = (_Conversion(reason="missing parameter") if param is None or pd.isna(param)
                else conversion(str(param), unit))
        scale[i], offset[i], units[i], reasons[i] = conv.scale, conv.offset, conv.unit, conv.reason
    row_reason = reasons[inverse]
    bad = pd.notna(row_reason)
    good = ~bad

    converted = df.loc[good].copy()
    idx = inverse[good]
    converted["value"] = df["value"].to_numpy(dtype="float64")[good] * scale[idx] + offset[idx]
    new_unit = units[idx]
    keep = pd.isna(new_unit)
    if keep.any():
        new_unit[keep] = converted["unit"].to_numpy(dtype=object)[keep]
    converted["unit"] = pd.array(new_unit, dtype=df["unit"].dtype if "unit" in df else "string")

    rejected = df.loc[bad].copy()
    rejected["reason"] = pd.array(row_reason[bad], dtype="string")
    return converted, rejected
