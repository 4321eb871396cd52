"""Site registry: the five clusters of the county plan, their enterprises and monitoring points.

The registry is data (``monitoring/data/registry.yaml``, or ``$ENVMON_REGISTRY``). This module
validates it and offers look-ups. Every validation error names the file, the entry and the field::

    registry.yaml: points[12] (id=JK-003-DA001): height_m: Input should be greater than 0

Source of the cluster facts: 云阳县中小企业集聚区发展规划 (云阳府办发〔2021〕75号), §2.2 and chapter 6.
Enterprises other than the nine the plan names are plausible simulated entries, marked ``example: true``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import date, time
from functools import cached_property
from pathlib import Path
from typing import Annotated, Literal

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from monitoring.config import load_settings
from sensors.datafile import read_yaml

Category = Literal["key", "ordinary", "special"]
HwClass = Literal["key", "simplified", "registration"]


class RegistryError(ValueError):
    """The registry file is malformed; the message names file, entry and field."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Zone(_Model):
    """One SME cluster (中小企业集聚区)."""

    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    name_zh: str
    pinyin: str
    town: str
    area_mu: float = Field(gt=0, description="planned area in 亩 (1 亩 = 666.7 m²)")
    elevation_m: tuple[float, float]
    industries: list[str]
    sewage_plant: str | None = None
    vocs_special_area: bool = Field(False, description="designated by the province for the GB 37822-2019 "
                                    "special limits (特别排放限值, 6 / 20 mg/m³)")
    source: str = "云阳府办发〔2021〕75号"


class Enterprise(_Model):
    """An enterprise in the target directory (污染源日常环境监管动态信息库)."""

    code: str = Field(pattern=r"^[A-Z0-9-]+$")
    name: str
    zone: str
    industry: str
    category: Category = Field(description="supervision category for 双随机 draws")
    positive_list: bool = False
    commitment_exempt: bool = False
    hw_class: HwClass = Field("registration", description="HJ 1259-2022 hazardous-waste management class")
    example: bool = Field(True, description="simulated entry, not named in the county plan")


class _PointBase(_Model):
    id: str = Field(pattern=r"^[A-Za-z0-9_-]+$")
    zone: str
    enterprise: str | None = None
    name: str
    online: bool = True
    mn: str | None = Field(None, description="HJ 212 device id (MN), online points only")
    pw: str | None = Field(None, description="HJ 212 access password (PW), online points only")
    interval_s: int = Field(60, gt=0, description="expected reporting interval, s")
    parameters: list[str] = Field(min_length=1, description="HJ 212-2017 codes measured here")
    built: date | None = Field(None, description="when the source or plant was built (EIA approval date); "
                               "decides GB 18918-2002 TP and the GB 37822-2019 start (new vs existing)")
    example: bool = True

    @model_validator(mode="after")
    def _online_needs_mn(self) -> _PointBase:
        if self.online and not (self.mn and self.pw):
            raise ValueError("an online point needs both 'mn' and 'pw'")
        return self


class StackPoint(_PointBase):
    """有组织排放口: judged on concentration and height-based rate (GB 16297-1996 §4, §7)."""

    kind: Literal["stack"]
    height_m: float = Field(gt=0, description="stack height above ground, m")
    above_buildings: bool = Field(description="≥ 5 m above every building within 200 m (§7.1)")
    position_m: tuple[float, float] | None = Field(
        None, description="[x, y] m in the enterprise's site-plan frame: stacks of one enterprise closer than "
        "the sum of their heights are judged as one equivalent stack (GB 16297-1996 §7.2, 附录A)")


class FugitivePoint(_PointBase):
    kind: Literal["fugitive"]


class InsiteVocsPoint(_PointBase):
    kind: Literal["insite_vocs"]


class NoisePoint(_PointBase):
    """厂界噪声监测点 (GB 12348-2008)."""

    kind: Literal["noise"]
    zone_class: int = Field(2, ge=0, le=4, description="acoustic zone class outside the boundary")
    day_start: time = time(6, 0)
    night_start: time = time(22, 0)
    noise_type: Literal["frequent", "sporadic"] = "frequent"
    indoor: bool = Field(False, description="boundary < 1 m from a noise-sensitive building: measured "
                         "indoors, limit 表1 − 10 dB(A) (GB 12348-2008 4.1.5)")


class WaterPoint(_PointBase):
    """Wastewater outlet or sewage-plant effluent: which standard and grade applies."""

    kind: Literal["wastewater", "plant_effluent"]
    receiving: Literal["town_sewer", "surface_water"] = "town_sewer"
    standard: str = Field(description="limit standard id, e.g. GB 8978-1996, GB 18918-2002")
    grade: str = Field(description="grade/class of that standard, e.g. 3, 1A")


class GroundwaterPoint(_PointBase):
    kind: Literal["groundwater"]


class AmbientAirPoint(_PointBase):
    kind: Literal["ambient_air"]


class SoilPoint(_PointBase):
    """土壤监测点 of a key unit (HJ 1209-2021: surface soil sampled yearly), judged against GB 36600-2018."""

    kind: Literal["soil"]
    land_class: Literal[1, 2] = Field(2, description="GB 36600-2018 land class (第二类用地: industrial)")


SafetySensor = Literal["combustible_gas", "toxic_gas", "oxygen", "ammonia", "dust_collector"]


class SafetyPoint(_PointBase):
    """安全监测传感器: real-time HJ 212 data (CN 2011) judged against alarm thresholds on arrival.

    ``sensor`` selects the threshold family (monitoring.safety.thresholds); ``location`` names the room,
    pit or machine the sensor watches (it is what the person on duty reads first).
    """

    kind: Literal["safety"]
    sensor: SafetySensor
    location: str


class HwStorePoint(_PointBase):
    """危险废物贮存点 (GB 18597-2023)."""

    kind: Literal["hw_store"]
    capacity_t: float = Field(gt=0, description="storage capacity, t")
    temporary: bool = Field(False, description="temporary storage point (≤ 3 t at any time)")


Point = Annotated[
    StackPoint | FugitivePoint | InsiteVocsPoint | NoisePoint | WaterPoint | GroundwaterPoint
    | AmbientAirPoint | HwStorePoint | SoilPoint | SafetyPoint,
    Field(discriminator="kind"),
]


class _RegistryFile(_Model):
    version: int = 1
    zones: list[Zone]
    enterprises: list[Enterprise]
    points: list[Point]


def _describe(raw: dict, loc: tuple) -> str:
    """'points[12] (id=X): field' from a pydantic error location."""
    if len(loc) >= 2 and isinstance(loc[1], int):
        section, idx = loc[0], loc[1]
        entry = raw.get(section, [])[idx] if isinstance(raw.get(section), list) else {}
        key = next((entry.get(k) for k in ("id", "code") if isinstance(entry, dict) and entry.get(k)), None)
        rest = [str(x) for x in loc[2:] if x not in ("stack", "noise", "fugitive", "insite_vocs",
                                                      "wastewater", "plant_effluent", "groundwater",
                                                      "ambient_air", "hw_store", "soil", "safety")]
        head = f"{section}[{idx}]" + (f" (id={key})" if key else "")
        return head + (f": {'.'.join(rest)}" if rest else "")
    return ".".join(str(x) for x in loc) or "(top level)"


class Registry:
    """Validated zones, enterprises and points with look-ups. Build with :func:`load_registry`."""

    def __init__(self, zones: list[Zone], enterprises: list[Enterprise], points: list, source: str = "?"):
        self.source = source
        self.zones: dict[str, Zone] = {z.id: z for z in zones}
        self.enterprises: dict[str, Enterprise] = {e.code: e for e in enterprises}
        self.points: dict[str, _PointBase] = {p.id: p for p in points}

    # look-ups ---------------------------------------------------------------------------------------
    def zone(self, zone_id: str) -> Zone:
        try:
            return self.zones[zone_id]
        except KeyError:
            raise KeyError(f"unknown zone {zone_id!r}; known: {', '.join(self.zones)}") from None

    def find_zone(self, text: str) -> Zone:
        """A zone by id, Chinese name or pinyin (case-insensitive): ``jiangkou``, ``江口``, ``Jiangkou``."""
        t = text.strip().lower()
        for z in self.zones.values():
            if t in (z.id, z.name_zh, z.pinyin.lower(), z.town):
                return z
        raise KeyError(f"unknown zone {text!r}; known: {', '.join(self.zones)}")

    def point(self, point_id: str) -> _PointBase:
        try:
            return self.points[point_id]
        except KeyError:
            raise KeyError(f"unknown monitoring point {point_id!r}") from None

    @cached_property
    def by_mn(self) -> dict[str, _PointBase]:
        """Online points by their HJ 212 MN."""
        return {p.mn: p for p in self.points.values() if p.mn}

    def points_of(self, zone: str | None = None, kind: str | Iterable[str] | None = None,
                  enterprise: str | None = None, online: bool | None = None) -> list:
        kinds = {kind} if isinstance(kind, str) else set(kind) if kind else None
        return [p for p in self.points.values()
                if (zone is None or p.zone == zone) and (kinds is None or p.kind in kinds)
                and (enterprise is None or p.enterprise == enterprise)
                and (online is None or p.online == online)]

    def enterprises_of(self, zone: str | None = None) -> list[Enterprise]:
        return [e for e in self.enterprises.values() if zone is None or e.zone == zone]

    def points_frame(self) -> pd.DataFrame:
        """One row per point with the columns common to all kinds plus kind-specific ones."""
        rows = [p.model_dump() for p in self.points.values()]
        for r in rows:
            r["parameters"] = ",".join(r["parameters"])
        return pd.DataFrame(rows)

    def __iter__(self) -> Iterator:
        return iter(self.points.values())


def parse_registry(raw: dict, source: str = "<registry>") -> Registry:
    """Validate a registry mapping (as read from YAML); raise :class:`RegistryError` on any problem."""
    if not isinstance(raw, dict):
        raise RegistryError(f"{source}: top level must be a mapping with zones, enterprises, points")
    try:
        parsed = _RegistryFile.model_validate(raw)
    except ValidationError as exc:
        lines = [f"{source}: {_describe(raw, tuple(e['loc']))}: {e['msg']}" for e in exc.errors()]
        raise RegistryError("\n".join(lines)) from None
    problems: list[str] = []

    def dupes(section: str, keys: list[str | None]) -> None:
        seen: set[str] = set()
        for i, k in enumerate(keys):
            if k is not None and k in seen:
                problems.append(f"{source}: {section}[{i}] (id={k}): duplicate")
            seen.add(k) if k is not None else None

    dupes("zones", [z.id for z in parsed.zones])
    dupes("enterprises", [e.code for e in parsed.enterprises])
    dupes("points", [p.id for p in parsed.points])
    mns = [p.mn for p in parsed.points]
    seen_mn: set[str] = set()
    for i, m in enumerate(mns):
        if m and m in seen_mn:
            problems.append(f"{source}: points[{i}] (id={parsed.points[i].id}): mn: {m} used twice")
        if m:
            seen_mn.add(m)
    zone_ids = {z.id for z in parsed.zones}
    codes = {e.code: e for e in parsed.enterprises}
    for i, e in enumerate(parsed.enterprises):
        if e.zone not in zone_ids:
            problems.append(f"{source}: enterprises[{i}] (id={e.code}): zone: unknown zone {e.zone!r}")
    for i, p in enumerate(parsed.points):
        if p.zone not in zone_ids:
            problems.append(f"{source}: points[{i}] (id={p.id}): zone: unknown zone {p.zone!r}")
        if p.enterprise is not None:
            ent = codes.get(p.enterprise)
            if ent is None:
                problems.append(f"{source}: points[{i}] (id={p.id}): enterprise: unknown {p.enterprise!r}")
            elif ent.zone != p.zone:
                problems.append(f"{source}: points[{i}] (id={p.id}): zone: {p.zone!r} but enterprise "
                                f"{ent.code} is in {ent.zone!r}")
    if problems:
        raise RegistryError("\n".join(problems))
    return Registry(parsed.zones, parsed.enterprises, parsed.points, source=source)


def load_registry(path: str | Path | None = None) -> Registry:
    """Load and validate the registry YAML (default: settings' ``registry_path``)."""
    if path is None:
        path = load_settings().registry_path
    path = Path(path)
    raw = read_yaml(path, RegistryError, "registry file")
    return parse_registry(raw, source=path.name)
