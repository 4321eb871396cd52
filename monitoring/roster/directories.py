"""The two directories of 双随机 (一单两库): the target directory and the inspector directory.

* Inspector directory (执法检查人员名录库): a YAML data file (``monitoring/data/inspectors.yaml`` or
  ``$ENVMON_INSPECTORS``), validated here and mirrored into the SQL store by
  :func:`monitoring.roster.tables.sync_inspectors`. Conflicts of interest (回避) are part of it.
* Target directory (污染源日常环境监管动态信息库): built by :func:`build_target_directory` from the
  registry plus evidence — incidents (:mod:`monitoring.incidents.queries`) and data capture
  (:mod:`monitoring.compliance.capture`, the one definition), substantiated complaints
  (:mod:`monitoring.complaints`), enforcement cases and credit ratings
  (``monitoring/data/enforcement_history.yaml``) — and it derives *special supervision* from that
  evidence with the reason recorded.

Both directories are hashed with :func:`sha256_of` (SHA-256 over canonical JSON: keys sorted, UTF-8,
no whitespace, NaN → null) and copied into each draw record so a draw can be replayed.
"""

from __future__ import annotations

import hashlib
import json
import math
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from monitoring.compliance.capture import read_capture
from monitoring.config import LOCAL_TZ, Settings, load_settings
from monitoring.incidents.queries import incidents_opened_since
from monitoring.registry import Registry
from monitoring.roster.period import Period
from monitoring.roster.rules import Rules
from sensors.datafile import read_yaml

FieldName = Literal["大气", "水", "噪声", "固废"]

#: registry point kind → the enforcement field (执法领域) it calls for
KIND_FIELD: dict[str, str] = {
    "stack": "大气", "fugitive": "大气", "insite_vocs": "大气", "ambient_air": "大气",
    "wastewater": "水", "plant_effluent": "水", "groundwater": "水",
    "noise": "噪声", "hw_store": "固废",
}



class DirectoryError(ValueError):
    """A directory file is malformed; the message names the file, the entry and the field."""


# ---------------------------------------------------------------------------------------------------
# canonical JSON and hashes
# ---------------------------------------------------------------------------------------------------
def _plain(v: Any) -> Any:
    if isinstance(v, dict):
        return {str(k): _plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        f = float(v)
        return None if math.isnan(f) else f
    if isinstance(v, (np.bool_,)):
        return bool(v)
    if v is pd.NA or v is None:
        return None
    if isinstance(v, (datetime, date)):
        return v.isoformat()
    return v


def canonical_json(obj: Any) -> str:
    """Keys sorted, UTF-8 kept, no whitespace, NaN/NA → null: the text every hash is taken over."""
    return json.dumps(_plain(obj), sort_keys=True, ensure_ascii=False, separators=(",", ":"),
                      allow_nan=False)


def sha256_of(obj: Any) -> str:
    return hashlib.sha256(canonical_json(obj).encode("utf-8")).hexdigest()


# ---------------------------------------------------------------------------------------------------
# inspector directory
# ---------------------------------------------------------------------------------------------------
class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Inspector(_Model):
    """An enforcement officer (执法检查人员) with an enforcement certificate (执法证)."""

    id: str = Field(pattern=r"^[A-Za-z0-9-]+$")
    name: str = Field(min_length=1)
    certificate: str = Field(min_length=1, description="执法证号")
    unit: str = Field(min_length=1)
    fields: list[FieldName] = Field(min_length=1, description="执法领域")
    active: bool = True
    example: bool = True


class Conflict(_Model):
    """A conflict of interest (回避事由): the inspector may not be drawn for the enterprise."""

    inspector: str
    enterprise: str
    reason: str = Field(min_length=1)


class _InspectorFile(_Model):
    version: int = 1
    source: str | None = None
    inspectors: list[Inspector]
    conflicts: list[Conflict] = []

    @model_validator(mode="after")
    def _refs(self) -> _InspectorFile:
        ids = [i.id for i in self.inspectors]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"duplicate inspector id(s): {', '.join(dupes)}")
        certs = [i.certificate for i in self.inspectors]
        dupes = sorted({c for c in certs if certs.count(c) > 1})
        if dupes:
            raise ValueError(f"certificate number used twice: {', '.join(dupes)}")
        for n, c in enumerate(self.conflicts):
            if c.inspector not in ids:
                raise ValueError(f"conflicts[{n}]: unknown inspector {c.inspector!r}")
        return self


class InspectorDirectory:
    """Inspectors by id plus conflicts of interest. Build with :func:`load_inspectors`."""

    def __init__(self, inspectors: list[Inspector], conflicts: list[Conflict], source: str = "?"):
        self.source = source
        self.inspectors: dict[str, Inspector] = {i.id: i for i in sorted(inspectors, key=lambda i: i.id)}
        self.conflicts: list[Conflict] = sorted(conflicts, key=lambda c: (c.inspector, c.enterprise, c.reason))

    def active(self) -> list[Inspector]:
        return [i for i in self.inspectors.values() if i.active]

    def conflicts_of(self, enterprise: str) -> dict[str, str]:
        """inspector id → reason, for one enterprise."""
        out: dict[str, str] = {}
        for c in self.conflicts:
            if c.enterprise == enterprise:
                out[c.inspector] = f"{out[c.inspector]}; {c.reason}" if c.inspector in out else c.reason
        return out

    def snapshot(self) -> dict:
        """The canonical form hashed into a draw record (sorted inspectors and conflicts)."""
        return {"inspectors": [i.model_dump() for i in self.inspectors.values()],
                "conflicts": [c.model_dump() for c in self.conflicts]}

    @classmethod
    def from_snapshot(cls, snap: dict, source: str = "record") -> InspectorDirectory:
        return cls([Inspector.model_validate(i) for i in snap["inspectors"]],
                   [Conflict.model_validate(c) for c in snap["conflicts"]], source=source)

    def sha256(self) -> str:
        return sha256_of(self.snapshot())


def parse_inspectors(raw: object, source: str = "<inspectors>",
                     enterprises: set[str] | None = None) -> InspectorDirectory:
    """Validate an inspector mapping; with ``enterprises`` given, conflicts must name known codes."""
    if not isinstance(raw, dict):
        raise DirectoryError(f"{source}: top level must be a mapping with inspectors, conflicts")
    try:
        parsed = _InspectorFile.model_validate(raw)
    except ValidationError as exc:
        lines = []
        for e in exc.errors():
            loc = tuple(e["loc"])
            head = ".".join(str(x) for x in loc)
            if len(loc) >= 2 and loc[0] == "inspectors" and isinstance(loc[1], int):
                entry = raw.get("inspectors", [])[loc[1]]
                if isinstance(entry, dict) and entry.get("id"):
                    head = f"inspectors[{loc[1]}] (id={entry['id']})" + "".join(f".{x}" for x in loc[2:])
            lines.append(f"{source}: {head or '(top level)'}: {e['msg']}")
        raise DirectoryError("\n".join(lines)) from None
    if enterprises is not None:
        bad = [f"{source}: conflicts[{n}]: unknown enterprise {c.enterprise!r}"
               for n, c in enumerate(parsed.conflicts) if c.enterprise not in enterprises]
        if bad:
            raise DirectoryError("\n".join(bad))
    return InspectorDirectory(parsed.inspectors, parsed.conflicts, source=source)


def load_inspectors(path: str | Path, enterprises: set[str] | None = None) -> InspectorDirectory:
    path = Path(path)
    raw = read_yaml(path, DirectoryError, "inspector directory file")
    return parse_inspectors(raw, source=path.name, enterprises=enterprises)


# ---------------------------------------------------------------------------------------------------
# enforcement history (cases, credit ratings) — a data file until the bureau's case system is wired
# ---------------------------------------------------------------------------------------------------
class EnforcementCase(_Model):
    enterprise: str
    decided_on: date
    case_no: str
    summary: str


class CreditRating(_Model):
    enterprise: str
    rating: str = Field(description="环保诚信 / 良好 / 警示 / 不良 (重庆市企业环境信用评价)")
    rated_on: date


class _EnforcementFile(_Model):
    version: int = 1
    simulated: bool
    source: str | None = None
    cases: list[EnforcementCase] = []
    credit_ratings: list[CreditRating] = []


class EnforcementHistory:
    def __init__(self, cases: pd.DataFrame, credit: pd.DataFrame, source: str = "?"):
        self.cases, self.credit, self.source = cases, credit, source

    @classmethod
    def empty(cls) -> EnforcementHistory:
        return cls(pd.DataFrame({"enterprise": pd.Series(dtype="string"),
                                 "decided_on": pd.Series(dtype="object")}),
                   pd.DataFrame({"enterprise": pd.Series(dtype="string"), "rating": pd.Series(dtype="string"),
                                 "rated_on": pd.Series(dtype="object")}), source="(none)")


def load_enforcement_history(path: str | Path | None = None) -> EnforcementHistory:
    """Enforcement cases and credit ratings (default ``Settings.enforcement_history_path``:
    ``$ENVMON_ENFORCEMENT_HISTORY`` or the packaged, clearly simulated example)."""
    path = Path(path or load_settings().enforcement_history_path)
    raw = read_yaml(path, DirectoryError, "enforcement history file")
    try:
        parsed = _EnforcementFile.model_validate(raw)
    except ValidationError as exc:
        raise DirectoryError("\n".join(f"{path.name}: {'.'.join(map(str, e['loc']))}: {e['msg']}"
                                       for e in exc.errors())) from None
    empty = EnforcementHistory.empty()
    cases = pd.DataFrame([c.model_dump() for c in parsed.cases]) if parsed.cases else empty.cases
    credit = pd.DataFrame([c.model_dump() for c in parsed.credit_ratings]) if parsed.credit_ratings \
        else empty.credit
    return EnforcementHistory(cases, credit, source=path.name)


# ---------------------------------------------------------------------------------------------------
# target directory
# ---------------------------------------------------------------------------------------------------
TARGET_COLUMNS = [
    "code", "name", "zone", "industry", "registry_category", "category", "special_reasons",
    "positive_list", "commitment_exempt", "fields", "credit_rating", "enforcement_cases_last_year",
    "substantiated_complaints", "exceedance_incidents", "data_missing_incidents", "capture_pct",
]


def empty_incidents() -> pd.DataFrame:
    return pd.DataFrame({"enterprise": pd.Series(dtype="string"),
                         "opened_at": pd.Series(dtype="datetime64[ns, UTC]"),
                         "kind": pd.Series(dtype="string"), "severity": pd.Series(dtype="int64")})


def empty_capture() -> pd.DataFrame:
    return pd.DataFrame({"enterprise": pd.Series(dtype="string"), "capture_pct": pd.Series(dtype="float64")})


def empty_complaints() -> pd.DataFrame:
    return pd.DataFrame({"enterprise": pd.Series(dtype="string"), "received_on": pd.Series(dtype="object"),
                         "substantiated": pd.Series(dtype="bool")})


def _count_by(df: pd.DataFrame, codes: pd.Index) -> pd.Series:
    if df.empty:
        return pd.Series(0, index=codes, dtype="int64")
    return df.groupby("enterprise").size().reindex(codes, fill_value=0).astype("int64")


def build_target_directory(registry: Registry, rules: Rules, *, period: Period, as_of: datetime,
                           incidents: pd.DataFrame | None = None, capture: pd.DataFrame | None = None,
                           complaints: pd.DataFrame | None = None,
                           enforcement: EnforcementHistory | None = None,
                           zone: str | None = None) -> pd.DataFrame:
    """One row per enterprise (sorted by code) with its evidence and its effective category.

    Evidence windows (``as_of`` aware, UTC): incidents with ``opened_at`` in
    ``[as_of − lookback_days, as_of)``; complaints received in the same window (dates compared in
    local days); enforcement cases decided in the calendar year before ``period``; the latest credit
    rating on or before ``as_of``. ``capture`` is the capture percentage over the look-back window
    (missing → NaN, which is *no evidence*, not low capture).

    An enterprise is special supervision (``category = special``) when the registry says so or when any
    rule of ``rules.special_supervision`` is met; ``special_reasons`` lists every reason, ``;``-joined.
    """
    if as_of.tzinfo is None:
        raise ValueError("as_of must be timezone-aware")
    ss = rules.special_supervision
    ents = registry.enterprises_of(zone)
    base = pd.DataFrame([{"code": e.code, "name": e.name, "zone": e.zone, "industry": e.industry,
                          "registry_category": e.category, "positive_list": e.positive_list,
                          "commitment_exempt": e.commitment_exempt} for e in ents],
                        columns=["code", "name", "zone", "industry", "registry_category",
                                 "positive_list", "commitment_exempt"])
    base = base.sort_values("code", kind="stable").set_index("code", drop=False)
    codes = base.index

    # fields needed, from the kinds of the enterprise's points
    pts = registry.points_frame()
    if not pts.empty:
        pts = pts.dropna(subset=["enterprise"])
        pts = pts.assign(field=pts["kind"].map(KIND_FIELD)).dropna(subset=["field"])
        fields = pts.groupby("enterprise")["field"].agg(lambda s: ",".join(sorted(set(s))))
    else:
        fields = pd.Series(dtype="string")
    base["fields"] = fields.reindex(codes).fillna("").astype(str)

    as_of_utc = as_of.astimezone(UTC)
    since = as_of_utc - timedelta(days=ss.lookback_days)

    inc = incidents if incidents is not None and not incidents.empty else empty_incidents()
    if not inc.empty:
        opened = pd.to_datetime(inc["opened_at"], utc=True)
        inc = inc[(opened >= since) & (opened < as_of_utc)]
    base["exceedance_incidents"] = _count_by(inc[inc["kind"] == "exceedance"], codes)
    base["data_missing_incidents"] = _count_by(inc[inc["kind"] == "data_missing"], codes)

    cap = capture if capture is not None and not capture.empty else empty_capture()
    base["capture_pct"] = (cap.groupby("enterprise")["capture_pct"].mean().reindex(codes).astype("float64")
                           if not cap.empty else np.nan)

    comp = complaints if complaints is not None and not complaints.empty else empty_complaints()
    if not comp.empty:
        received = pd.to_datetime(comp["received_on"]).dt.date
        lo, hi = since.astimezone(LOCAL_TZ).date(), as_of_utc.astimezone(LOCAL_TZ).date()
        comp = comp[(received >= lo) & (received <= hi) & comp["substantiated"].astype(bool)]
    base["substantiated_complaints"] = _count_by(comp, codes)

    enf = enforcement or EnforcementHistory.empty()
    cases = enf.cases
    if not cases.empty:
        cases = cases[pd.to_datetime(cases["decided_on"]).dt.year == period.year - 1]
    base["enforcement_cases_last_year"] = _count_by(cases, codes)
    credit = enf.credit
    if not credit.empty:
        credit = credit[pd.to_datetime(credit["rated_on"]).dt.date <= as_of_utc.astimezone(LOCAL_TZ).date()]
        latest = credit.sort_values(["enterprise", "rated_on"]).groupby("enterprise")["rating"].last()
        base["credit_rating"] = latest.reindex(codes).astype("object").where(lambda s: s.notna(), None)
    else:
        base["credit_rating"] = None

    # special supervision from evidence (vectorised masks, reasons joined per row)
    reasons = pd.DataFrame(index=codes)
    reasons["registry"] = np.where(base["registry_category"] == "special", "名录库登记为特殊监管对象", "")
    if ss.enforcement_case_last_year:
        reasons["case"] = np.where(base["enforcement_cases_last_year"] > 0,
                                   base["enforcement_cases_last_year"].map(
                                       lambda n: f"{period.year - 1}年有{n}起行政处罚案件"), "")
    reasons["complaints"] = np.where(base["substantiated_complaints"] >= ss.substantiated_complaints,
                                     base["substantiated_complaints"].map(
                                         lambda n: f"近{ss.lookback_days}天查实投诉{n}次(≥{ss.substantiated_complaints})"),
                                     "")
    reasons["exceedance"] = np.where(base["exceedance_incidents"] >= ss.exceedance_incidents,
                                     base["exceedance_incidents"].map(
                                         lambda n: f"近{ss.lookback_days}天超标事件{n}起(≥{ss.exceedance_incidents})"),
                                     "")
    low = base["capture_pct"].notna() & (base["capture_pct"] < ss.low_capture_pct)
    reasons["capture"] = np.where(low, base["capture_pct"].map(
        lambda p: "" if math.isnan(p) else f"数据采集率{p:.1f}%(<{ss.low_capture_pct:g}%)"), "")
    reasons["credit"] = np.where(base["credit_rating"].isin(ss.credit_ratings),
                                 base["credit_rating"].map(lambda r: f"环境信用评价为{r}"), "")
    joined = reasons.apply(lambda r: "; ".join(x for x in r if x), axis=1) if len(reasons) else \
        pd.Series(dtype=str)
    base["special_reasons"] = joined.reindex(codes).fillna("").astype(str)
    base["category"] = np.where(base["special_reasons"] != "", "special", base["registry_category"])
    return base[TARGET_COLUMNS].reset_index(drop=True)


def target_snapshot(target: pd.DataFrame) -> list[dict]:
    """The target directory as canonical rows (sorted by code) for hashing and for the draw record."""
    rows = target.sort_values("code", kind="stable")[TARGET_COLUMNS].to_dict(orient="records")
    return [_plain(r) for r in rows]


def target_from_snapshot(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=TARGET_COLUMNS)


# ---------------------------------------------------------------------------------------------------
# evidence from other stores
# ---------------------------------------------------------------------------------------------------
def load_evidence(settings: Settings, since: datetime, until: datetime | None = None, *,
                  store: Any | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(incidents_df, capture_df) of the enterprises over [since, until).

    Parameters
    ----------
    settings : Settings
        Where the SQL store is (``sql_url``).
    since, until : datetime
        Aware; the look-back window (``until`` default: now).
    store : InfluxStore or None
        Where the stored data capture is (measurement ``capture``); ``None`` when no InfluxDB is
        configured — the draw then has no capture evidence (NaN, which is *no evidence*, not low capture).

    Returns
    -------
    tuple of pandas.DataFrame
        ``incidents_df`` from :func:`monitoring.incidents.queries.incidents_opened_since`;
        ``capture_df`` (enterprise, capture_pct) from the one definition of data capture,
        :func:`monitoring.compliance.capture.read_capture` (Σ valid / Σ expected of the local days).
        A database or InfluxDB error is raised: a draw never runs on evidence it failed to read.
    """
    incidents = incidents_opened_since(settings.sql_url, since)
    capture = empty_capture()
    if store is not None:
        got = read_capture(store, since, until or datetime.now(UTC))
        capture = got[["enterprise", "capture_pct"]].astype({"enterprise": "string", "capture_pct": "float64"})
    return incidents, capture