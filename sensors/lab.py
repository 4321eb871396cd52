"""Laboratory results (CSV / XLSX) → canonical readings.

Lab reports for offline points (groundwater wells, grab samples at wastewater outlets) reach the bureau as
Excel sheets or CSV exports. :func:`read_lab_file` turns one file into a canonical readings batch
(:mod:`sensors.schema`) plus a list of :class:`Rejected` rows; a bad row never stops the good ones.

File format
-----------
One header row (it may be preceded by up to 10 title rows, as Chinese lab exports often are), then one
row per result. Column names are matched after NFKC normalisation (full-width brackets → ASCII), case and
spaces ignored; the Chinese aliases are those of :data:`LAB_COLUMNS`:

=================  ===================================  ==============================================
column             aliases                              content
=================  ===================================  ==============================================
``point``          监测点, 监测点位, 点位, 采样点        monitoring point id of the registry
``parameter``      项目, 监测项目, 检测项目, 分析项目    HJ 212-2017 code (``w01018``) or a name from
                                                        :data:`PARAMETER_NAMES` (化学需氧量, COD, 氨氮 …)
``sample_time``    采样时间, 采样日期                   local time (Asia/Shanghai) unless it carries an
                                                        offset (``+08:00``, ``Z``); ``2024年3月5日 10:30``
                                                        and a bare date (→ local midnight) accepted
``value``          结果, 检测结果, 监测结果, 测定值      a number; a non-detect as ``<0.5``, ``0.5L``
                                                        (Chinese lab notation), ``ND``, ``未检出``
``unit``           单位                                 ``mg/L``, ``µg/L``, ``°C`` … (``无量纲`` and a
                                                        blank unit are accepted for pH only)
``detection_limit``检出限 (optional)                    number; the value reported for ``ND``
=================  ===================================  ==============================================

Other columns (sample id, analyst, method) are ignored. Encodings: UTF-8, UTF-8 with BOM and GB18030
(what Chinese Excel saves as "CSV"), the latter only when charset-normalizer agrees that the bytes look
Chinese — a Latin-1 file is refused, never decoded into wrong characters. XLSX: the first sheet, read
with openpyxl through pandas. Numbers: a point is the decimal separator; a comma only separates
thousands (``1,234``); ``0,5`` is rejected with the reason, never read as 5. Files larger than the
configured limit (``ENVMON_MAX_LANDING_MB``) are refused whole.

Non-detects (HJ 168-2020 §5 reporting convention): the reading keeps ``qualifier = "<"`` and ``value`` =
the detection limit, so downstream code can treat it as "below this value" and never as a measured value.

Output readings: ``source="lab"``, ``statistic="sample"``, ``period="sample"``, ``flag="N"``,
``zone``/``enterprise``/``kind`` from the registry. Unit spellings are normalised (``mg/l`` → ``mg/L``,
``℃`` → ``°C``); converting between units is left to the units stage.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from pathlib import Path

import numpy as np
import pandas as pd

from sensors.parameters import load_parameter_table
from sensors.quarantine import Rejected
from sensors.schema import conform, empty_readings
from sensors.site import SiteRegistry
from sensors.timezone import LOCAL_TZ


class TableError(ValueError):
    """The file is not a readable table with the expected header."""


# ------------------------------------------------------------------------------------------------------
# Tables reused by sensors.ledger
# ------------------------------------------------------------------------------------------------------
def normalise_header(name: object) -> str:
    """Header cell → comparison key: NFKC (full-width → ASCII), lower case, no blanks."""
    text = unicodedata.normalize("NFKC", str(name)).strip().lower()
    return re.sub(r"\s+", "", text)


#: canonical column → accepted header spellings (compared with :func:`normalise_header`).
LAB_COLUMNS: dict[str, tuple[str, ...]] = {
    "point": ("point", "point_id", "监测点", "监测点位", "点位", "采样点", "采样点位", "点位编号"),
    "parameter": ("parameter", "项目", "监测项目", "检测项目", "分析项目", "指标"),
    "sample_time": ("sample_time", "time", "采样时间", "采样日期", "采样日期时间"),
    "value": ("value", "result", "结果", "检测结果", "监测结果", "测定值", "分析结果"),
    "unit": ("unit", "单位", "计量单位"),
    "detection_limit": ("detection_limit", "dl", "检出限", "方法检出限"),
}
LAB_REQUIRED = ("point", "parameter", "sample_time", "value", "unit")

#: Chinese / common names → HJ 212-2017 codes, from the parameter table (:mod:`sensors.parameters`:
#: code, ``name_zh``, ``name_en``, ``aliases``), keyed by :func:`normalise_header`. Lab results are water
#: samples (groundwater wells, wastewater outlets), so only ``w`` codes are offered.
PARAMETER_NAMES: dict[str, str] = {
    normalise_header(spelling): code for spelling, code in load_parameter_table().by_name().items()
    if code.startswith("w")
}
#: Groundwater names (GB/T 14848-2017 表1) → the documented names of the parameter table (issue #14).
PARAMETER_NAMES.update({
    "硝酸盐氮": "nitrate_n", "硝酸盐(以n计)": "nitrate_n", "亚硝酸盐氮": "nitrite_n", "亚硝酸盐(以n计)": "nitrite_n",
    "耗氧量": "w01019", "总硬度": "hardness", "溶解性总固体": "tds", "硫酸盐": "sulfate", "氯化物": "chloride",
    "铁": "fe", "锰": "mn", "砷": "as", "汞": "hg", "镉": "cd", "六价铬": "cr6", "铬(六价)": "cr6", "铅": "pb",
    "氟化物": "fluoride",
})
#: Soil results (mg/kg, GB 36600-2018 表1): the same element names mean the soil parameter when the unit
#: is a mass fraction — a lab reports 砷 for water (mg/L) and soil (mg/kg) alike.
SOIL_NAMES: dict[str, str] = {"砷": "soil_as", "镉": "soil_cd", "六价铬": "soil_cr6", "铬(六价)": "soil_cr6",
                              "铜": "soil_cu", "铅": "soil_pb", "汞": "soil_hg", "镍": "soil_ni"}
SOIL_UNITS = ("mg/kg", "毫克/千克")
#: A code written as such: HJ 212 ``w``/``a`` codes (5 digits) and the noise/other names used by the schema.
_CODE = re.compile(r"^[aw]\d{5}$")

#: unit spellings → canonical spelling. ``None`` means dimensionless (pH).
UNIT_SPELLINGS: dict[str, str | None] = {
    "mg/l": "mg/L", "毫克/升": "mg/L", "ug/l": "µg/L", "μg/l": "µg/L", "µg/l": "µg/L", "微克/升": "µg/L",
    "℃": "°C", "°c": "°C", "oc": "°C", "us/cm": "µS/cm", "μs/cm": "µS/cm", "µs/cm": "µS/cm",
    "ms/m": "mS/m", "mg/m3": "mg/m3", "mg/m³": "mg/m3", "mg/kg": "mg/kg", "毫克/千克": "mg/kg",
    "无量纲": None, "ph": None, "-": None, "/": None, "": None,
}
DIMENSIONLESS = {"w01001": "pH"}
_NON_DETECT_WORDS = {"nd", "n.d.", "未检出", "<dl", "bdl"}
_NUMBER = r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?"


# ------------------------------------------------------------------------------------------------------
# Reading a file into a frame of strings
# ------------------------------------------------------------------------------------------------------
def _cell_text(v: object) -> str:
    """An XLSX cell → text as a person would have typed it (dates ISO, 12.0 → 12)."""
    if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NaT:
        return ""
    if isinstance(v, pd.Timestamp):
        return v.isoformat(sep=" ")
    if hasattr(v, "isoformat"):
        return v.isoformat(sep=" ") if hasattr(v, "hour") else v.isoformat()
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v).strip()


#: encodings charset-normalizer may name for a file that is GB18030 (or one of its subsets)
_CHINESE_ENCODINGS = {"gb18030", "gbk", "gb2312", "hz", "cp936"}


def decode_text(raw: bytes) -> tuple[str, str]:
    """Bytes of a text table → (text, encoding). UTF-8 (with or without BOM) is taken as is; anything
    else must look like GB18030 to charset-normalizer (Chinese Excel's "CSV"), otherwise the file is
    refused: a Latin-1 ``µg/l`` decodes as GB18030 ``礸/l`` without any error, so "it decodes" proves
    nothing. Raises :class:`TableError` naming the encoding it looks like."""
    try:
        return raw.decode("utf-8-sig"), "utf-8-sig"
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    best = from_bytes(raw[:1_000_000]).best()
    guess = best.encoding.lower().replace("-", "").replace("_", "") if best is not None else None
    if guess in _CHINESE_ENCODINGS:
        try:
            return raw.decode("gb18030"), "gb18030"
        except UnicodeDecodeError:
            pass
    looks = f"looks like {best.encoding}" if best is not None else "has no recognisable encoding"
    raise TableError(f"encoding doubtful: not UTF-8, and the bytes {looks} rather than GB18030 "
                     "(Chinese Excel CSV); save the file as UTF-8 and drop it again")


def read_table(path: Path, columns: dict[str, tuple[str, ...]], required: tuple[str, ...],
               max_title_rows: int = 10, max_bytes: int | None = None) -> tuple[pd.DataFrame, str]:
    """Read a CSV (UTF-8/BOM/GB18030) or XLSX file into a frame of strings with canonical column names.

    The result has a ``line`` column: the 1-based line (CSV) or sheet row (XLSX) of every data row, so
    rejections can name it. Returns the frame and the encoding/format used. Raises :class:`TableError`
    (never anything else for bad content) when the file is not a table or lacks a required column.
    """
    size = path.stat().st_size
    if max_bytes is not None and size > max_bytes:
        raise TableError(f"file too large: {size / 1e6:.1f} MB, the limit is {max_bytes / 1e6:g} MB "
                         "(ENVMON_MAX_LANDING_MB); split it into smaller files")
    raw = path.read_bytes()
    if raw[:2] == b"PK" or path.suffix.lower() in (".xlsx", ".xlsm"):
        try:
            grid = pd.read_excel(path, header=None, dtype=object, engine="openpyxl")
        except Exception as exc:  # noqa: BLE001 - openpyxl raises many types for a corrupt workbook
            raise TableError(f"not a readable XLSX workbook ({type(exc).__name__}: {exc})") from None
        grid = grid.map(_cell_text)
        fmt = "xlsx"
    else:
        if b"\x00" in raw[:4096]:
            raise TableError("not a text table (binary content)")
        text, fmt = decode_text(raw)
        if any(unicodedata.category(ch) == "Cc" and ch not in "\r\n\t" for ch in text[:4096]):
            raise TableError("not a text table (control characters)")
        try:
            rows = list(csv.reader(io.StringIO(text, newline="")))
        except csv.Error as exc:
            raise TableError(f"not a CSV table: {exc}") from None
        width = max((len(r) for r in rows), default=0)
        grid = pd.DataFrame([r + [""] * (width - len(r)) for r in rows], dtype=object)
    if grid.empty:
        raise TableError("empty file")
    grid.index = np.arange(1, len(grid) + 1)  # 1-based line / sheet row (CSV without embedded newlines)

    aliases = {normalise_header(a): canon for canon, names in columns.items() for a in names}
    for header_row in grid.index[:max_title_rows + 1]:
        keys = [aliases.get(normalise_header(c)) for c in grid.loc[header_row]]
        found = {k for k in keys if k}
        if all(r in found for r in required):
            break
    else:
        first = ", ".join(str(c) for c in grid.iloc[0].tolist()[:8])
        wanted = ", ".join(f"{r} ({next((a for a in columns[r] if not a.isascii()), r)})" for r in required)
        raise TableError(f"no header row with the columns {wanted}; first row is: {first}")
    body = grid.loc[header_row + 1:]
    out = pd.DataFrame({"line": body.index.to_numpy()})
    for pos, key in enumerate(keys):
        if key and key not in out:
            out[key] = body.iloc[:, pos].astype(str).str.strip().to_numpy()
    for key in columns:
        if key not in out:
            out[key] = ""
    texts = out[list(columns)]
    out = out[(texts != "").any(axis=1)].reset_index(drop=True)  # blank lines are not rows
    return out.astype({k: "string" for k in columns}), fmt


def parse_local_times(text: pd.Series) -> pd.Series:
    """Text times → UTC. Without an offset a time is Asia/Shanghai local time; ``年月日`` forms accepted.

    Unparseable entries become ``NaT``.
    """
    t = (text.fillna("").str.strip()
         .str.replace(r"(\d)\s*年\s*(\d)", r"\1-\2", regex=True)
         .str.replace(r"(\d)\s*月\s*(\d)", r"\1-\2", regex=True)
         .str.replace(r"(\d)\s*日", r"\1 ", regex=True)
         .str.replace("T", " ", regex=False).str.strip())
    has_offset = t.str.contains(r"(?:Z|[+-]\d{2}:?\d{2})$", regex=True)
    out = pd.Series(pd.NaT, index=t.index, dtype="datetime64[ns, UTC]")
    if has_offset.any():
        out[has_offset] = pd.to_datetime(t[has_offset], errors="coerce", utc=True, format="mixed")
    local = ~has_offset & (t != "")
    if local.any():
        naive = pd.to_datetime(t[local], errors="coerce", format="mixed")
        out[local] = naive.dt.tz_localize(LOCAL_TZ).dt.tz_convert("UTC")
    return out


#: a comma read as a thousands separator only where it groups digits by three: ``1,234`` ``12,345.6``
_THOUSANDS = r"[+-]?\d{1,3}(?:,\d{3})+(?:\.\d+)?"
#: a decimal comma (``0,5`` ``12,75``): never guessed, rejected with its own reason
DECIMAL_COMMA = r"[+-]?\d+,\d+"


def parse_number(text: pd.Series) -> pd.Series:
    """Plain numbers → float; anything else NaN. A comma is a thousands separator only in groups of three
    digits (``1,234``); ``0,5`` is *not* read as 5 (nor guessed as 0.5) — it is NaN, and callers name the
    decimal comma in the reason (:data:`DECIMAL_COMMA`)."""
    t = text.fillna("").str.strip()
    clean = t.where(~t.str.fullmatch(_THOUSANDS), t.str.replace(",", "", regex=False))
    ok = clean.str.fullmatch(_NUMBER)
    return pd.to_numeric(clean.where(ok, None), errors="coerce").astype("float64")


# ------------------------------------------------------------------------------------------------------
# Lab results
# ------------------------------------------------------------------------------------------------------
def parameter_codes(names: pd.Series) -> pd.Series:
    """Parameter names or codes → HJ 212 codes (``<NA>`` where unknown)."""
    key = names.fillna("").map(normalise_header)
    code = key.map(PARAMETER_NAMES)
    is_code = key.str.fullmatch(_CODE.pattern)
    return code.where(code.notna(), key.where(is_code, None)).astype("string")


def _lab_values(df: pd.DataFrame, file: str) -> tuple[pd.DataFrame, list[tuple[pd.Series, str]]]:
    """Value / qualifier / detection limit columns, and (mask, reason) pairs of problems."""
    value_text = df["value"].fillna("").str.strip()
    vt = value_text.map(lambda s: unicodedata.normalize("NFKC", s)).astype("string")
    dl = parse_number(df["detection_limit"])
    plain = parse_number(vt)
    lt = vt.str.extract(rf"^<\s*({_NUMBER})$")[0]          # "<0.5"
    suffix_l = vt.str.extract(rf"^({_NUMBER})\s*L$")[0]     # "0.5L" (GB/HJ convention: below the DL)
    word = vt.str.lower().isin(_NON_DETECT_WORDS)
    below = pd.to_numeric(lt.fillna(suffix_l), errors="coerce").astype("float64")
    value = plain.copy()
    qualifier = pd.Series(pd.NA, index=df.index, dtype="string")
    is_below = below.notna()
    value[is_below] = below[is_below]
    qualifier[is_below] = "<"
    value[word] = dl[word]
    qualifier[word] = "<"
    problems = [
        (word & dl.isna(), "non-detect {v!r} without a detection limit (give '<DL' or the 检出限 column)"),
        (value_text == "", "value: empty"),
        (value.isna() & vt.str.fullmatch(DECIMAL_COMMA).fillna(False),
         ("value: decimal comma in {v!r}: write the number with a point (0.5); in lab files a comma is "
         "only a thousands separator (1,234)")),
        ((value_text != "") & value.isna() & ~word, "value: cannot read {v!r} as a number or non-detect"),
        ((value < 0) & ~df["_temperature"], "value: negative concentration {v!r}"),
        (df["detection_limit"].fillna("").ne("") & dl.isna(), "detection_limit: not a number {d!r}"),
    ]
    return pd.DataFrame({"value": value, "qualifier": qualifier}), problems


def read_lab_file(path: str | Path, registry: SiteRegistry, batch: str, *, name: str | None = None,
                  max_bytes: int | None = None) -> tuple[pd.DataFrame, list[Rejected]]:
    """Read one lab results file (CSV or XLSX). Returns (canonical readings, rejected rows).

    A file that is not a table yields no readings and one :class:`Rejected` for the whole file.
    ``name`` is how rejections and the readings' ``origin`` name the file (default: its path); a file
    larger than ``max_bytes`` is refused whole with the reason.
    """
    path = Path(path)
    name = name or str(path)
    try:
        df, _fmt = read_table(path, LAB_COLUMNS, LAB_REQUIRED, max_bytes=max_bytes)
    except TableError as exc:
        return empty_readings(), [Rejected(None, str(exc), source=name)]
    except OSError as exc:
        return empty_readings(), [Rejected(None, f"cannot read file: {exc.strerror or exc}", source=name)]
    if df.empty:
        return empty_readings(), []

    points = registry.points_frame().set_index("id")
    known = df["point"].isin(points.index)
    code = parameter_codes(df["parameter"])
    soil = df["unit"].fillna("").map(normalise_header).isin(SOIL_UNITS)
    code = code.where(~soil, df["parameter"].fillna("").map(normalise_header).map(SOIL_NAMES).astype("string"))
    time = parse_local_times(df["sample_time"])
    df["_temperature"] = code.eq("w01010").fillna(False)
    values, value_problems = _lab_values(df, name)
    unit_key = df["unit"].fillna("").map(normalise_header)
    blank_like = unit_key.isin([k for k, v in UNIT_SPELLINGS.items() if v is None])
    spelled = unit_key.isin(list(UNIT_SPELLINGS)) & ~blank_like
    unit = df["unit"].str.strip().where(~spelled, unit_key.map(UNIT_SPELLINGS)).astype("string")
    dimensionless = code.isin(list(DIMENSIONLESS))
    unit = unit.where(~dimensionless, code.map(DIMENSIONLESS))
    no_unit = blank_like & ~dimensionless          # 无量纲 / blank on a parameter that has a unit

    checks: list[tuple[pd.Series, str]] = [
        (~known, "point: unknown monitoring point {p!r}"),
        (code.isna(), "parameter: unknown parameter {q!r} (use an HJ 212 code or a name like 化学需氧量)"),
        (df["sample_time"].fillna("") == "", "sample_time: empty"),
        (time.isna() & (df["sample_time"].fillna("") != ""), "sample_time: cannot read {s!r} as a time"),
        (no_unit, "unit: missing"),
        *value_problems,
    ]
    reasons = pd.Series("", index=df.index, dtype=object)
    for mask, template in checks:
        mask = mask.fillna(False).astype(bool)
        for i in np.flatnonzero(mask.to_numpy() & (reasons.to_numpy() == "")):
            reasons.iat[i] = template.format(p=df["point"].iat[i], q=df["parameter"].iat[i],
                                             s=df["sample_time"].iat[i], v=df["value"].iat[i],
                                             d=df["detection_limit"].iat[i])

    good = reasons == ""
    kept = df[good]
    pts = points.reindex(kept["point"])
    out = pd.DataFrame({
        "time": time[good].to_numpy(),
        "zone": pts["zone"].to_numpy(),
        "enterprise": pts["enterprise"].to_numpy(),
        "point": kept["point"].to_numpy(),
        "kind": pts["kind"].to_numpy(),
        "parameter": code[good].to_numpy(),
        "statistic": "sample",
        "period": "sample",
        "value": values["value"][good].to_numpy(),
        "unit": unit[good].to_numpy(),
        "flag": "N",
        "qualifier": values["qualifier"][good].to_numpy(),
        "source": "lab",
        "batch": batch,
        "origin": [f"{name}:{int(n)}" for n in kept["line"].to_numpy()],
    })
    out["time"] = pd.to_datetime(out["time"], utc=True)
    # identity duplicates inside one file: keep the first, reject the others naming it
    ident = ["point", "parameter", "time"]
    dup = out.duplicated(ident, keep="first").to_numpy()
    lines = kept["line"].to_numpy()
    rejected = [Rejected(int(df["line"].iat[i]), reasons.iat[i], _raw(df, i), source=name)
                for i in np.flatnonzero(~good.to_numpy())]
    if dup.any():
        first_line = (pd.Series(lines).groupby([out[c] for c in ident]).transform("first")).to_numpy()
        kept_pos = np.flatnonzero(good.to_numpy())
        for j in np.flatnonzero(dup):
            rejected.append(Rejected(int(lines[j]), f"duplicate of line {int(first_line[j])} "
                                     "(same point, parameter and sample time)", _raw(df, kept_pos[j]), source=name))
        out = out[~dup]
    rejected.sort(key=lambda r: r.line or 0)
    return conform(out.reset_index(drop=True)), rejected


def _raw(df: pd.DataFrame, i: int) -> str:
    cols = [c for c in df.columns if c not in ("line", "_temperature")]
    return ",".join("" if pd.isna(df[c].iat[i]) else str(df[c].iat[i]) for c in cols)
