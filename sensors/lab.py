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

import codecs
import csv
import re
import unicodedata
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

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

def header_keys(text: pd.Series) -> pd.Series:
    """:func:`normalise_header` of every cell of a column (computed once per distinct value)."""
    return per_unique(text, lambda u: u.map(normalise_header).astype("string"))


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


def _doubtful(best) -> TableError:
    looks = f"looks like {best.encoding}" if best is not None else "has no recognisable encoding"
    return TableError(f"encoding doubtful: not UTF-8, and the bytes {looks} rather than GB18030 "
                      "(Chinese Excel CSV); save the file as UTF-8 and drop it again")


def _guess_chinese(head: bytes):
    """charset-normalizer's best guess for the first MB of a file, and whether it is GB18030-like."""
    from charset_normalizer import from_bytes

    best = from_bytes(head[:1_000_000]).best()
    guess = best.encoding.lower().replace("-", "").replace("_", "") if best is not None else None
    return best, guess in _CHINESE_ENCODINGS


def decode_text(raw: bytes) -> tuple[str, str]:
    """Bytes of a text table → (text, encoding). UTF-8 (with or without BOM) is taken as is; anything
    else must look like GB18030 to charset-normalizer (Chinese Excel's "CSV"), otherwise the file is
    refused: a Latin-1 ``µg/l`` decodes as GB18030 ``礸/l`` without any error, so "it decodes" proves
    nothing. Raises :class:`TableError` naming the encoding it looks like."""
    try:
        return raw.decode("utf-8-sig"), "utf-8-sig"
    except UnicodeDecodeError:
        pass
    best, chinese = _guess_chinese(raw)
    if chinese:
        try:
            return raw.decode("gb18030"), "gb18030"
        except UnicodeDecodeError:
            pass
    raise _doubtful(best)


#: bytes read at a time when a file's encoding is checked (the whole file, in constant memory)
_BLOCK = 1 << 20


def _decodes_whole(path: Path, encoding: str) -> bool:
    """Does the whole file decode as ``encoding``? Read block by block with an incremental decoder."""
    decoder = codecs.getincrementaldecoder(encoding)()
    try:
        with open(path, "rb") as fh:
            while block := fh.read(_BLOCK):
                decoder.decode(block)
            decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def detect_encoding(path: Path) -> str:
    """The encoding of a text table file, by the rule of :func:`decode_text`, without holding the file
    in memory: the whole file must decode (checked block by block) before any row is read, so a bad
    byte in the last MB refuses the file rather than half of it."""
    if _decodes_whole(path, "utf-8-sig"):
        return "utf-8-sig"
    with open(path, "rb") as fh:
        head = fh.read(1_000_000)
    best, chinese = _guess_chinese(head)
    if chinese and _decodes_whole(path, "gb18030"):
        return "gb18030"
    raise _doubtful(best)


#: data rows per chunk when a table is read in pieces (:func:`iter_table`); a chunk of lab results
#: holds ~100 MB of Python strings at 100,000 rows, whatever the size of the file
CHUNK_ROWS = 100_000


def _csv_rows(path: Path) -> tuple[Iterator[tuple[int, list[str]]], str]:
    """(1-based first line of the row, cells) for every row of a CSV file, streamed; and the encoding.

    The line is that of the row's first physical line, so a quoted cell with a line break does not shift
    the lines of the rows after it."""
    with open(path, "rb") as fh:
        head = fh.read(4096)
    if b"\x00" in head:
        raise TableError("not a text table (binary content)")
    encoding = detect_encoding(path)
    fh = open(path, encoding=encoding, newline="")  # noqa: SIM115 - closed by the generator below
    text_head = fh.read(4096)
    if any(unicodedata.category(ch) == "Cc" and ch not in "\r\n\t" for ch in text_head):
        fh.close()
        raise TableError("not a text table (control characters)")
    fh.seek(0)

    def rows() -> Iterator[tuple[int, list[str]]]:
        with fh:
            reader = csv.reader(fh)
            ended = 0
            try:
                for cells in reader:
                    yield ended + 1, cells
                    ended = reader.line_num
            except csv.Error as exc:
                raise TableError(f"not a CSV table from line {ended + 1} on: {exc}") from None

    return rows(), encoding


def _xlsx_rows(path: Path) -> Iterator[tuple[int, list[str]]]:
    """(sheet row, cell texts) of the first sheet. The workbook is read whole by openpyxl (through
    pandas); its size is bounded by ``max_bytes`` — only CSV files are streamed."""
    try:
        grid = pd.read_excel(path, header=None, dtype=object, engine="openpyxl")
    except Exception as exc:  # noqa: BLE001 - openpyxl raises many types for a corrupt workbook
        raise TableError(f"not a readable XLSX workbook ({type(exc).__name__}: {exc})") from None
    grid = grid.map(_cell_text)
    for n, cells in enumerate(grid.itertuples(index=False, name=None), start=1):
        yield n, list(cells)


def iter_table(path: Path, columns: dict[str, tuple[str, ...]], required: tuple[str, ...],
               max_title_rows: int = 10, max_bytes: int | None = None,
               chunk_rows: int = CHUNK_ROWS) -> Iterator[pd.DataFrame]:
    """Read a CSV (UTF-8/BOM/GB18030) or XLSX file as frames of at most ``chunk_rows`` data rows of
    strings with canonical column names (bounded memory: a CSV is never held whole).

    Each frame has a ``line`` column: the 1-based line (CSV) or sheet row (XLSX) of every data row, so
    rejections can name it, in every chunk. Raises :class:`TableError` (never anything else for bad
    content) when the file is too large, not a table, or lacks a required column — before the first
    frame; a CSV that breaks off further down (a malformed quote) raises it when that line is reached,
    naming the line.
    """
    size = path.stat().st_size
    if max_bytes is not None and size > max_bytes:
        raise TableError(f"file too large: {size / 1e6:.1f} MB, the limit is {max_bytes / 1e6:g} MB "
                         "(ENVMON_MAX_LANDING_MB); split it into smaller files")
    with open(path, "rb") as fh:
        magic = fh.read(2)
    if magic == b"PK" or path.suffix.lower() in (".xlsx", ".xlsm"):
        rows: Iterator[tuple[int, list[str]]] = _xlsx_rows(path)
    else:
        rows, _encoding = _csv_rows(path)

    aliases = {normalise_header(a): canon for canon, names in columns.items() for a in names}
    head: list[tuple[int, list[str]]] = []
    keys: list[str | None] = []
    for line, cells in rows:
        head.append((line, cells))
        keys = [aliases.get(normalise_header(c)) for c in cells]
        found = {k for k in keys if k}
        if all(r in found for r in required):
            break
        if len(head) > max_title_rows:
            break
    else:
        if not head:
            raise TableError("empty file")
    if not all(r in {k for k in keys if k} for r in required):
        first = ", ".join(str(c) for c in head[0][1][:8])
        wanted = ", ".join(f"{r} ({next((a for a in columns[r] if not a.isascii()), r)})" for r in required)
        raise TableError(f"no header row with the columns {wanted}; first row is: {first}")
    # first position of each canonical column (a repeated header keeps its first occurrence)
    positions = {}
    for pos, key in enumerate(keys):
        if key and key not in positions:
            positions[key] = pos

    def frame(lines: list[int], cells: list[list[str]]) -> pd.DataFrame:
        out = pd.DataFrame({"line": np.asarray(lines, dtype="int64")})
        for key in columns:
            pos = positions.get(key)
            if pos is None:
                out[key] = ""
            else:
                column = pd.Series([c[pos] if pos < len(c) else "" for c in cells], dtype=object)
                out[key] = per_unique(column, lambda u: u.str.strip())
        texts = out[list(columns)]
        out = out[(texts != "").any(axis=1)].reset_index(drop=True)  # blank lines are not rows
        return out.astype({k: "string" for k in columns})

    lines: list[int] = []
    cells: list[list[str]] = []
    for line, row in rows:
        lines.append(line)
        cells.append(row)
        if len(lines) >= chunk_rows:
            yield frame(lines, cells)
            lines, cells = [], []
    if lines:
        yield frame(lines, cells)


def read_table(path: Path, columns: dict[str, tuple[str, ...]], required: tuple[str, ...],
               max_title_rows: int = 10, max_bytes: int | None = None) -> tuple[pd.DataFrame, str]:
    """The whole table at once (:func:`iter_table` concatenated), and the format read (``csv``/``xlsx``).
    For files that fit in memory (ledgers); lab files go through :func:`iter_lab_file`."""
    fmt = "xlsx" if path.suffix.lower() in (".xlsx", ".xlsm") else "csv"
    chunks = list(iter_table(path, columns, required, max_title_rows, max_bytes))
    if not chunks:
        empty = pd.DataFrame({"line": pd.Series(dtype="int64"),
                              **{k: pd.Series(dtype="string") for k in columns}})
        return empty, fmt
    return pd.concat(chunks, ignore_index=True), fmt


def per_unique(text: pd.Series, convert: Callable[[pd.Series], pd.Series | pd.DataFrame]) -> Any:
    """``convert`` (giving a Series or a DataFrame) applied to the distinct values of ``text`` only, spread back to every row (NA read as
    ``""``). Lab and ledger columns repeat (points, parameters, units, sample times of a batch), and the
    per-value work (regular expressions, NFKC, date parsing) is what costs: a 200 MB file has ~3 million
    rows but some 100,000 distinct times."""
    codes, uniques = pd.factorize(text.fillna("").astype(object))
    done = convert(pd.Series(uniques, dtype="string")).take(codes)
    done.index = text.index
    return done


def parse_local_times(text: pd.Series) -> pd.Series:
    """Text times → UTC. Without an offset a time is Asia/Shanghai local time; ``年月日`` forms accepted.

    Unparseable entries become ``NaT``.
    """
    return per_unique(text, _parse_local_times)


def _parse_local_times(text: pd.Series) -> pd.Series:
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
    return per_unique(text, _parse_number)


def _parse_number(text: pd.Series) -> pd.Series:
    t = text.fillna("").str.strip()
    clean = t.where(~t.str.fullmatch(_THOUSANDS), t.str.replace(",", "", regex=False))
    ok = clean.str.fullmatch(_NUMBER)
    return pd.to_numeric(clean.where(ok, None), errors="coerce").astype("float64")


# ------------------------------------------------------------------------------------------------------
# Lab results
# ------------------------------------------------------------------------------------------------------
def parameter_codes(names: pd.Series) -> pd.Series:
    """Parameter names or codes → HJ 212 codes (``<NA>`` where unknown)."""
    key = header_keys(names)
    code = key.map(PARAMETER_NAMES)
    is_code = key.str.fullmatch(_CODE.pattern)
    return code.where(code.notna(), key.where(is_code, None)).astype("string")


def _value_forms(text: pd.Series) -> pd.DataFrame:
    """Distinct value texts → NFKC text, plain number, below-DL number (``<0.5``, ``0.5L``), non-detect
    word, decimal comma."""
    vt = text.str.strip().map(lambda s: unicodedata.normalize("NFKC", s)).astype("string")
    lt = vt.str.extract(rf"^<\s*({_NUMBER})$")[0]          # "<0.5"
    suffix_l = vt.str.extract(rf"^({_NUMBER})\s*L$")[0]     # "0.5L" (GB/HJ convention: below the DL)
    return pd.DataFrame({
        "text": vt, "plain": _parse_number(vt),
        "below": pd.to_numeric(lt.fillna(suffix_l), errors="coerce").astype("float64"),
        "word": vt.str.lower().isin(_NON_DETECT_WORDS),
        "comma": vt.str.fullmatch(DECIMAL_COMMA).fillna(False).astype(bool),
    })


def _lab_values(df: pd.DataFrame, file: str) -> tuple[pd.DataFrame, list[tuple[pd.Series, str]]]:
    """Value / qualifier / detection limit columns, and (mask, reason) pairs of problems."""
    forms = per_unique(df["value"], _value_forms)
    value_text = per_unique(df["value"], lambda u: u.str.strip())
    dl = parse_number(df["detection_limit"])
    plain, below, word = forms["plain"], forms["below"], forms["word"]
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
        (value.isna() & forms["comma"],
         ("value: decimal comma in {v!r}: write the number with a point (0.5); in lab files a comma is "
         "only a thousands separator (1,234)")),
        ((value_text != "") & value.isna() & ~word, "value: cannot read {v!r} as a number or non-detect"),
        ((value < 0) & ~df["_temperature"], "value: negative concentration {v!r}"),
        (df["detection_limit"].fillna("").ne("") & dl.isna(), "detection_limit: not a number {d!r}"),
    ]
    return pd.DataFrame({"value": value, "qualifier": qualifier}), problems


def read_lab_file(path: str | Path, registry: SiteRegistry, batch: str, *, name: str | None = None,
                  max_bytes: int | None = None) -> tuple[pd.DataFrame, list[Rejected]]:
    """Read one lab results file (CSV or XLSX) whole. Returns (canonical readings, rejected rows).

    A file that is not a table yields no readings and one :class:`Rejected` for the whole file.
    ``name`` is how rejections and the readings' ``origin`` name the file (default: its path); a file
    larger than ``max_bytes`` is refused whole with the reason. For large files use
    :func:`iter_lab_file` (same results, chunk by chunk, in bounded memory).
    """
    frames: list[pd.DataFrame] = []
    rejected: list[Rejected] = []
    for df, bad in iter_lab_file(path, registry, batch, name=name, max_bytes=max_bytes):
        frames.append(df)
        rejected += bad
    rejected.sort(key=lambda r: r.line or 0)
    return (conform(pd.concat(frames, ignore_index=True)) if frames else empty_readings()), rejected


class _SeenSamples:
    """Identities (point, parameter, sample time) of the rows kept from earlier chunks of one file, and
    their lines: 8 + 8 bytes a row (a 64-bit hash of the identity), so a duplicate in chunk 30 of a file
    still names the line of the first sample in chunk 1."""

    def __init__(self) -> None:
        self._keys: list[np.ndarray] = []      # per chunk, sorted
        self._lines: list[np.ndarray] = []

    @staticmethod
    def hashes(frame: pd.DataFrame) -> np.ndarray:
        return pd.util.hash_pandas_object(frame[["point", "parameter", "time"]], index=False).to_numpy()

    def first_lines(self, keys: np.ndarray) -> np.ndarray:
        """Line of an earlier row with the same identity, 0 where none."""
        found = np.zeros(len(keys), dtype="int64")
        for seen, lines in zip(self._keys, self._lines, strict=True):
            pos = np.minimum(np.searchsorted(seen, keys), len(seen) - 1)
            hit = (seen[pos] == keys) & (found == 0)
            found[hit] = lines[pos[hit]]
        return found

    def add(self, keys: np.ndarray, lines: np.ndarray) -> None:
        if len(keys):
            order = np.argsort(keys, kind="stable")
            self._keys.append(keys[order])
            self._lines.append(np.asarray(lines, dtype="int64")[order])


def iter_lab_file(path: str | Path, registry: SiteRegistry, batch: str, *, name: str | None = None,
                  max_bytes: int | None = None,
                  chunk_rows: int = CHUNK_ROWS) -> Iterator[tuple[pd.DataFrame, list[Rejected]]]:
    """Read one lab results file chunk by chunk: (canonical readings, rejected rows) for each chunk of at
    most ``chunk_rows`` data rows, in file order. Memory stays bounded by the chunk, not the file.

    Rejections name the file and the line, in later chunks as in the first; a duplicate sample names
    the line of the first one, in whichever chunk it was. A file that is not a table (too large,
    undecodable, no header) yields one chunk: no readings and one :class:`Rejected` for the whole file;
    a CSV that breaks off at line N (a malformed quote) yields what came before and a rejection of
    line N onwards.
    """
    path = Path(path)
    name = name or str(path)
    points = registry.points_frame().set_index("id")
    seen = _SeenSamples()
    try:
        for df in iter_table(path, LAB_COLUMNS, LAB_REQUIRED, max_bytes=max_bytes, chunk_rows=chunk_rows):
            if not df.empty:
                yield _lab_chunk(df, points, batch, name, seen)
    except TableError as exc:
        yield empty_readings(), [Rejected(_line_of(exc), str(exc), source=name)]
    except OSError as exc:
        yield empty_readings(), [Rejected(None, f"cannot read file: {exc.strerror or exc}", source=name)]


def _line_of(exc: TableError) -> int | None:
    m = re.search(r"from line (\d+) on", str(exc))
    return int(m.group(1)) if m else None


def _lab_chunk(df: pd.DataFrame, points: pd.DataFrame, batch: str, name: str,
               seen: _SeenSamples) -> tuple[pd.DataFrame, list[Rejected]]:
    """Check and convert one chunk of lab rows (strings, with ``line``) into readings and rejections."""
    known = df["point"].isin(points.index)
    code = parameter_codes(df["parameter"])
    soil = header_keys(df["unit"]).isin(SOIL_UNITS)
    code = code.where(~soil, header_keys(df["parameter"]).map(SOIL_NAMES).astype("string"))
    time = parse_local_times(df["sample_time"])
    df["_temperature"] = code.eq("w01010").fillna(False)
    values, value_problems = _lab_values(df, name)
    unit_key = header_keys(df["unit"])
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
    # identity duplicates inside one file (this chunk or an earlier one): keep the first, reject the
    # others naming it
    ident = ["point", "parameter", "time"]
    lines = kept["line"].to_numpy()
    keys = _SeenSamples.hashes(out)
    earlier = seen.first_lines(keys)
    dup = out.duplicated(ident, keep="first").to_numpy() | (earlier > 0)
    rejected = [Rejected(int(df["line"].iat[i]), reasons.iat[i], _raw(df, i), source=name)
                for i in np.flatnonzero(~good.to_numpy())]
    if dup.any():
        first_line = (pd.Series(lines).groupby([out[c] for c in ident]).transform("first")).to_numpy()
        first_line = np.where(earlier > 0, earlier, first_line)
        kept_pos = np.flatnonzero(good.to_numpy())
        for j in np.flatnonzero(dup):
            rejected.append(Rejected(int(lines[j]), f"duplicate of line {int(first_line[j])} "
                                     "(same point, parameter and sample time)", _raw(df, kept_pos[j]), source=name))
        out = out[~dup]
    seen.add(keys[~dup], lines[~dup])
    rejected.sort(key=lambda r: r.line or 0)
    return conform(out.reset_index(drop=True)), rejected


def _raw(df: pd.DataFrame, i: int) -> str:
    cols = [c for c in df.columns if c not in ("line", "_temperature")]
    return ",".join("" if pd.isna(df[c].iat[i]) else str(df[c].iat[i]) for c in cols)
