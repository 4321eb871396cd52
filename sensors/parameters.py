"""The parameter table: name, unit, plausible range, molar mass and aggregation of every measured parameter.

One home for what a parameter *is* (``sensors/data/parameters.yaml``, keyed by HJ 212-2017 code): the
devices and the simulator need the units, the lab reader the names, ``monitoring.units`` the unit and
molar mass, ``monitoring.quality`` the plausible range, compliance the aggregation, messages and pages the
Chinese name. It lives in ``sensors/`` so that every layer can read it (``sensors/`` never imports
``monitoring/``).

>>> from sensors.parameters import parameter
>>> parameter("a21026").name_zh, parameter("a21026").unit
('二氧化硫', 'mg/m3')
>>> parameter("Leq").aggregation
'energy'

The table is validated on load; a malformed row raises :class:`ParameterTableError` naming the file and
the code. Pint-level checks of the unit spellings live in ``monitoring.units`` (which owns the unit
registry) and in ``tests/sensors/test_parameters.py``.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from sensors.datafile import read_yaml

PARAMETERS_FILE: Path = Path(__file__).resolve().parent / "data" / "parameters.yaml"

#: How values of one period combine into a longer one.
#: ``arithmetic`` mean; ``energy`` mean of dB levels, 10·lg(mean(10^(0.1·L))) (GB 12348-2008: Leq is
#: an energy average); ``vector`` mean of directions (wind direction, °); ``max``/``min`` (Lmax/Lmin).
Aggregation = Literal["arithmetic", "energy", "vector", "max", "min"]


class ParameterTableError(ValueError):
    """The parameter table is malformed; the message names the file and the parameter code."""


class Parameter(BaseModel):
    """One row of the parameter table.

    Attributes
    ----------
    code : str
        HJ 212-2017 pollutant code (``a21026``) or HJ 212 noise name (``Leq``).
    name_zh, name_en : str
        The name a person reads (Chinese) and an English gloss.
    unit : str
        Canonical unit every reading of the parameter is stored in (``mg/m3``, ``dB(A)``, ``pH``).
    min, max : float
        Physically plausible bounds in ``unit`` (not compliance limits); outside → quarantined.
    molar_mass : float or None
        g/mol, for gases reported as mixing ratios (ppm → mg/m³ at 273.15 K, 101.325 kPa).
    aggregation : {'arithmetic', 'energy', 'vector', 'max', 'min'}
        How values combine over a longer period.
    aliases : tuple of str
        Further spellings in lab files (matched case-insensitively, blanks removed).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    code: str
    name_zh: str
    name_en: str
    unit: str
    min: float
    max: float
    molar_mass: float | None = Field(None, gt=0)
    aggregation: Aggregation = "arithmetic"
    aliases: tuple[str, ...] = ()
    note: str | None = None

    @model_validator(mode="after")
    def _range(self) -> Parameter:
        if self.min > self.max:
            raise ValueError(f"min {self.min:g} > max {self.max:g}")
        return self

    @property
    def is_level(self) -> bool:
        """True for levels in dB that combine by energy (Leq, Ld, Ln, L10 …)."""
        return self.aggregation == "energy"


class NamedCheck(BaseModel):
    """An assessment ``parameter`` that is a named check (``hw_storage_days``), not a reading."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    code: str
    name_zh: str
    name_en: str


class ParameterTable(Mapping[str, Parameter]):
    """The validated table: a read-only mapping code → :class:`Parameter` with look-ups."""

    def __init__(self, parameters: Mapping[str, Parameter], checks: Mapping[str, NamedCheck],
                 source: str = "parameters.yaml"):
        self._rows = dict(parameters)
        self.checks = dict(checks)
        self.source = source

    def __getitem__(self, code: str) -> Parameter:
        try:
            return self._rows[code]
        except KeyError:
            raise KeyError(f"unknown parameter {code!r} (not in {self.source})") from None

    def __iter__(self):
        return iter(self._rows)

    def __len__(self) -> int:
        return len(self._rows)

    def name_zh(self, code: str) -> str:
        """The Chinese name of a parameter or named check; the code itself when the table lacks it."""
        row = self._rows.get(code) or self.checks.get(code)
        return row.name_zh if row is not None else code

    def names_zh(self) -> dict[str, str]:
        """Code → Chinese name, parameters and named checks (for templates that look names up)."""
        return {c: r.name_zh for c, r in {**self._rows, **self.checks}.items()}

    def units(self) -> dict[str, str]:
        """Code → canonical unit."""
        return {c: p.unit for c, p in self._rows.items()}

    def with_aggregation(self, aggregation: Aggregation) -> tuple[str, ...]:
        """Codes that aggregate by ``aggregation`` (``with_aggregation("energy")`` → the dB levels)."""
        return tuple(c for c, p in self._rows.items() if p.aggregation == aggregation)

    def by_name(self) -> dict[str, str]:
        """Lower-cased spelling → code: the code, both names and every alias (blanks removed)."""
        out: dict[str, str] = {}
        for c, p in self._rows.items():
            for spelling in (c, p.name_zh, p.name_en, *p.aliases):
                out.setdefault(_spelling_key(spelling), c)
        return out


def _spelling_key(text: str) -> str:
    return "".join(str(text).split()).lower()


def parse_parameter_table(raw: object, source: str = "parameters.yaml") -> ParameterTable:
    """Validate a parameter-table mapping (as read from YAML); :class:`ParameterTableError` names the row."""
    if not isinstance(raw, dict) or not isinstance(raw.get("parameters"), dict):
        raise ParameterTableError(f"{source}: top level must have a 'parameters' mapping")
    rows: dict[str, Parameter] = {}
    checks: dict[str, NamedCheck] = {}
    for section, model, into in (("parameters", Parameter, rows), ("named_checks", NamedCheck, checks)):
        for code, entry in (raw.get(section) or {}).items():
            if not isinstance(entry, dict):
                raise ParameterTableError(f"{source}: {section}.{code}: must be a mapping")
            try:
                into[str(code)] = model.model_validate({"code": str(code), **entry})
            except ValidationError as exc:
                why = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'row'}: {e['msg']}" for e in exc.errors())
                raise ParameterTableError(f"{source}: {section}.{code}: {why}") from None
    return ParameterTable(rows, checks, source)


@cache
def load_parameter_table(path: str | Path = PARAMETERS_FILE) -> ParameterTable:
    """Read and validate the parameter table (cached per path)."""
    path = Path(path)
    return parse_parameter_table(read_yaml(path, ParameterTableError, "parameter table"), path.name)


def parameter(code: str) -> Parameter:
    """The row of ``code`` in the packaged table; :class:`KeyError` naming the code when unknown."""
    return load_parameter_table()[code]


def parameter_name_zh(code: str) -> str:
    """The Chinese name of a parameter or named check for messages and pages (the code when unknown)."""
    return load_parameter_table().name_zh(code)
