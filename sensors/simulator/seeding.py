"""Profiles (``sensors/data/sim_profiles.yaml``), the production calendar, time constants and the seeded
random streams keyed by ``(seed, point id, day)``.
"""

from __future__ import annotations

import hashlib
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path

import chinese_calendar
import numpy as np
import pandas as pd
import yaml

from sensors.hj212.codes import UNITS
from sensors.parameters import load_parameter_table
from sensors.timezone import LOCAL_TZ

PROFILES_PATH = Path(__file__).resolve().parents[1] / "data" / "sim_profiles.yaml"
NS_MIN = 60_000_000_000
NS_HOUR = 60 * NS_MIN
NS_DAY = 24 * NS_HOUR
UTC_OFFSET_NS = 8 * NS_HOUR            # Asia/Shanghai has had no DST since 1991

# random-stream ids (the 4th word of every seed sequence)
_S_POINT, _S_PLAN, _S_KNOTS, _S_VALUES = 1, 2, 3, 4
_S_AMBIENT = 5                  # a cluster's ambient air episode (one draw per zone and day)
FLAGS = np.array(["N", "C", "M", "D"], dtype=object)
_F_N, _F_C, _F_M, _F_D = 0, 1, 2, 3


# ------------------------------------------------------------------------------------------------------
# Profiles, calendar, seeding
# ------------------------------------------------------------------------------------------------------
@lru_cache(maxsize=4)
def load_profiles(path: str | Path = PROFILES_PATH) -> dict:
    """The simulator's parameter tables (``sim_profiles.yaml``)."""
    return yaml.safe_load(Path(path).read_text(encoding="utf-8"))


@lru_cache(maxsize=1)
def canonical_units() -> dict[str, str]:
    """Parameter code → unit of simulated readings: the unit the HJ 212 decoder gives the code
    (:func:`sensors.hj212.unit_for`), so simulated readings equal decoded packets; codes the decoder does
    not know fall back to the parameter table (:mod:`sensors.parameters`)."""
    return load_parameter_table().units() | dict(UNITS)


def _key(text: str) -> int:
    """A stable 64-bit integer for a string (Python's hash() is salted per process)."""
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little")


def _rng(seed: int, point: str, day: int, stream: int) -> np.random.Generator:
    return np.random.default_rng([seed & 0xFFFFFFFFFFFFFFFF, _key(point), day, stream])


@lru_cache(maxsize=4096)
def day_level(d: date, saturday_level: float, holiday_level: float) -> float:
    """Production level of a local day: 1 on working days (incl. 调休 Saturdays), reduced otherwise.

    Uses chinese_calendar; for a year it does not know, Monday–Friday are working days.
    """
    try:
        if chinese_calendar.is_workday(d):
            return 1.0
        _holiday, name = chinese_calendar.get_holiday_detail(d)
        plain_saturday = d.weekday() == 5 and name is None
    except NotImplementedError:
        if d.weekday() < 5:
            return 1.0
        plain_saturday = d.weekday() == 5
    return saturday_level if plain_saturday else holiday_level


def _local(dt: datetime) -> datetime:
    """Aware → same instant; naive → Asia/Shanghai local time (what people type)."""
    return dt.replace(tzinfo=LOCAL_TZ) if dt.tzinfo is None else dt


def _utc_ns(dt: datetime) -> int:
    return pd.Timestamp(_local(dt)).tz_convert("UTC").value


def _day_start_ns(ordinal: int) -> int:
    """UTC ns of local midnight of the local date with this proleptic ordinal."""
    return (ordinal - date(1970, 1, 1).toordinal()) * NS_DAY - UTC_OFFSET_NS
