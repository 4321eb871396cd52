"""Hazardous-waste ledger (危险废物管理台账) CSV / XLSX → :data:`sensors.schema.LEDGER_COLUMNS` frame.

Producers keep a ledger per storage point (Solid Waste Law 2020 Art. 78; HJ 1259-2022); transfers out run
an electronic manifest (危险废物转移联单, 2021 transfer rules). :func:`read_ledger_csv` validates the
entries that the compliance checks (storage days, temporary-point stock, manifest confirmation, receiver
licence) rely on. Compliance problems (a receiver without licence, an unconfirmed manifest) are **kept**:
they are facts to judge, not malformed input. Malformed entries are rejected with ``file:line: field: reason``.

File format (one header row; Chinese aliases, matched after NFKC normalisation, case/space-insensitive):

==================  ======================================  =========================================
column              aliases                                 content
==================  ======================================  =========================================
``store``           贮存点, 贮存设施, 贮存点编号            hw_store point id of the registry
``date``            日期, 入库/出库日期, 记录日期           local date (Asia/Shanghai), ``2024-03-05``
``waste_code``      废物代码, 危废代码, 废物类别            ``HW12`` or ``HW12 900-252-12`` (category HW01–HW50;
                                                            the 8-digit code's last two digits = category)
``quantity_in_t``   入库量(t), 入库量, 产生量(t)            t, ≥ 0, blank = 0
``quantity_out_t``  出库量(t), 出库量, 转移量(t)            t, ≥ 0, blank = 0
``manifest``        联单编号, 转移联单编号                  14 digits: year(4) province(2) city(2) serial(6);
                                                            required when ``quantity_out_t`` > 0
``receiver``        接收单位, 利用处置单位                  required when ``quantity_out_t`` > 0
``receiver_licence`` 经营许可证号, 许可证编号               may be blank (→ ``<NA>``, judged downstream)
``received``        接收日期, 到达日期 (optional)           local date the receiver received the waste; not
                                                            before ``date`` (confirmation counts from it)
``confirmed``       接收确认日期, 确认日期 (optional)       local date; not before ``date`` nor ``received``
==================  ======================================  =========================================

Manifest plausibility: the province part is a GB/T 2260 province code (50 = Chongqing), the city part is
not ``00``, and the year part lies within one year of the entry date.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from sensors.lab import TableError, parse_number, read_table
from sensors.quarantine import Rejected
from sensors.schema import LEDGER_COLUMNS, empty_ledger
from sensors.site import SiteRegistry
from sensors.timezone import LOCAL_TZ

LEDGER_FILE_COLUMNS: dict[str, tuple[str, ...]] = {
    "store": ("store", "贮存点", "贮存设施", "贮存点编号", "贮存场所"),
    "date": ("date", "日期", "入库/出库日期", "出入库日期", "记录日期"),
    "waste_code": ("waste_code", "废物代码", "危废代码", "废物类别", "危险废物代码"),
    "quantity_in_t": ("quantity_in_t", "入库量(t)", "入库量", "入库量(吨)", "产生量(t)", "入库量/t"),
    "quantity_out_t": ("quantity_out_t", "出库量(t)", "出库量", "出库量(吨)", "转移量(t)", "出库量/t"),
    "manifest": ("manifest", "联单编号", "转移联单编号", "联单号"),
    "receiver": ("receiver", "接收单位", "利用处置单位", "接受单位"),
    "receiver_licence": ("receiver_licence", "receiver_license", "经营许可证号", "许可证编号",
                         "危险废物经营许可证号"),
    "received": ("received", "接收日期", "到达日期", "收到日期"),
    "confirmed": ("confirmed", "接收确认日期", "确认日期"),
}
LEDGER_REQUIRED = ("store", "date", "waste_code", "quantity_in_t", "quantity_out_t", "manifest", "receiver",
                   "receiver_licence")

#: GB/T 2260 province-level codes (first two digits of an administrative division code).
PROVINCE_CODES = frozenset({"11", "12", "13", "14", "15", "21", "22", "23", "31", "32", "33", "34", "35",
                            "36", "37", "41", "42", "43", "44", "45", "46", "50", "51", "52", "53", "54",
                            "61", "62", "63", "64", "65", "71", "81", "82"})
CHONGQING = "50"
#: National Hazardous Waste List (2021): category HW01–HW50, optional 8-digit code ``nnn-nnn-cc``.
WASTE_CODE = re.compile(r"^HW(?P<cat>0[1-9]|[1-4]\d|50)(?:\s+(?P<code>\d{3}-\d{3}-(?P<tail>\d{2})))?$")
MANIFEST = re.compile(r"^(?P<year>\d{4})(?P<province>\d{2})(?P<city>\d{2})(?P<serial>\d{6})$")


def normalise_waste_code(text: pd.Series) -> pd.Series:
    """``hw12  900-252-12`` → ``HW12 900-252-12`` (upper case, single blank)."""
    return (text.fillna("").str.upper().str.replace("\u3000", " ", regex=False)
            .str.replace(r"\s+", " ", regex=True).str.strip()
            .str.replace(r"^HW\s+", "HW", regex=True))


def manifest_problem(manifest: pd.Series, entry_year: pd.Series) -> pd.Series:
    """Why each manifest number is implausible ('' when fine). Vectorised over the column.

    Checks (2021 transfer rules: year 4 + province 2 + city 2 + serial 6): exactly 14 digits, province
    a GB/T 2260 code, city not 00, serial not 000000, year within one year of the entry's year.
    """
    parts = manifest.fillna("").str.extract(MANIFEST.pattern)
    reason = pd.Series("", index=manifest.index, dtype=object)
    year = pd.to_numeric(parts["year"], errors="coerce")
    rules = [
        (parts["year"].isna(), "manifest: {m!r} is not 14 digits (year 4 + province 2 + city 2 + serial 6)"),
        (~parts["province"].isin(PROVINCE_CODES),
         "manifest: {m!r}: province part {p!r} is not a GB/T 2260 province code"),
        (parts["city"].eq("00"), "manifest: {m!r}: city part is 00"),
        (parts["serial"].eq("000000"), "manifest: {m!r}: serial 000000"),
        ((year - entry_year).abs() > 1, "manifest: {m!r}: year {y} does not match the entry date"),
    ]
    for mask, template in rules:
        hit = mask.fillna(False).to_numpy(bool) & (reason.to_numpy() == "")
        for i in np.flatnonzero(hit):
            reason.iat[i] = template.format(m=manifest.iat[i], p=parts["province"].iat[i],
                                            y=parts["year"].iat[i])
    return reason


def _local_dates(text: pd.Series) -> pd.Series:
    """Local calendar dates → local midnight as UTC. Unparseable → NaT."""
    t = (text.fillna("").str.strip()
         .str.replace(r"(\d)\s*年\s*(\d)", r"\1-\2", regex=True)
         .str.replace(r"(\d)\s*月\s*(\d)", r"\1-\2", regex=True)
         .str.replace(r"(\d)\s*日", r"\1", regex=True))
    naive = pd.to_datetime(t.where(t != "", None), errors="coerce", format="mixed").dt.normalize()
    return naive.dt.tz_localize(LOCAL_TZ).dt.tz_convert("UTC").astype("datetime64[ns, UTC]")


def read_ledger_csv(path: str | Path, registry: SiteRegistry, batch: str, *, name: str | None = None,
                    now: datetime | None = None, max_bytes: int | None = None
                    ) -> tuple[pd.DataFrame, list[Rejected]]:
    """Read one ledger file (CSV in UTF-8/BOM/GB18030, or XLSX). Returns (ledger frame, rejected rows);
    ``name`` is how rejections name the file (default: its path).

    Dates after the local date of ``now`` (default: the clock) are rejected, like readings from the
    future are quarantined by the quality gate: a ledger entry cannot record what has not happened."""
    path = Path(path)
    name = name or str(path)
    try:
        df, _fmt = read_table(path, LEDGER_FILE_COLUMNS, LEDGER_REQUIRED, max_bytes=max_bytes)
    except TableError as exc:
        return empty_ledger(), [Rejected(None, str(exc), source=name)]
    except OSError as exc:
        return empty_ledger(), [Rejected(None, f"cannot read file: {exc.strerror or exc}", source=name)]
    if df.empty:
        return empty_ledger(), []

    points = registry.points_frame().set_index("id")
    store_kind = df["store"].map(points["kind"]) if len(points) else pd.Series(pd.NA, index=df.index)
    date = _local_dates(df["date"])
    confirmed = _local_dates(df["confirmed"])
    received = _local_dates(df["received"])
    code = normalise_waste_code(df["waste_code"])
    code_parts = code.str.extract(WASTE_CODE.pattern)
    q_in = parse_number(df["quantity_in_t"].where(df["quantity_in_t"] != "", "0"))
    q_out = parse_number(df["quantity_out_t"].where(df["quantity_out_t"] != "", "0"))
    manifest = df["manifest"].fillna("").str.replace(r"\s+", "", regex=True)
    transfer = q_out > 0
    year = date.dt.tz_convert(LOCAL_TZ).dt.year
    bad_manifest = manifest_problem(manifest, year.astype("float64"))
    receiver = df["receiver"].fillna("").str.strip()
    licence = df["receiver_licence"].fillna("").str.strip()

    today = pd.Timestamp(now or datetime.now(UTC)).tz_convert(LOCAL_TZ).normalize()
    future = f"is in the future (after {today:%Y-%m-%d})"
    checks: list[tuple[pd.Series, str]] = [
        (store_kind.isna(), "store: unknown storage point {s!r}"),
        (store_kind.notna() & store_kind.ne("hw_store"),
         "store: {s!r} is a {k} point, not a hazardous-waste store"),
        (df["date"].fillna("") == "", "date: empty"),
        (date.isna() & (df["date"].fillna("") != ""), "date: cannot read {d!r} as a date"),
        (date.notna() & (date > today), "date: {d!r} " + future),
        (confirmed.notna() & (confirmed > today), "confirmed: {c!r} " + future),
        (received.notna() & (received > today), "received: {r!r} " + future),
        (code_parts["cat"].isna(),
         "waste_code: {w!r} is not HW01–HW50 (optionally with the 8-digit code nnn-nnn-cc)"),
        (code_parts["tail"].notna() & code_parts["tail"].ne(code_parts["cat"]),
         "waste_code: {w!r}: the 8-digit code's last two digits must equal the category"),
        (q_in.isna(), "quantity_in_t: not a number {qi!r}"),
        (q_out.isna(), "quantity_out_t: not a number {qo!r}"),
        ((q_in < 0), "quantity_in_t: negative {qi!r}"),
        ((q_out < 0), "quantity_out_t: negative {qo!r}"),
        ((q_in == 0) & (q_out == 0), "quantity_in_t/quantity_out_t: both zero or blank: no movement"),
        (transfer & (manifest == ""), "manifest: a transfer out ({qo} t) without a manifest number"),
        ((manifest != "") & (bad_manifest != ""), "{bm}"),
        (transfer & (receiver == ""), "receiver: a transfer out without a receiving unit"),
        ((df["confirmed"].fillna("") != "") & confirmed.isna(), "confirmed: cannot read {c!r} as a date"),
        (confirmed.notna() & date.notna() & (confirmed < date), "confirmed: {c!r} is before the entry date"),
        (confirmed.notna() & ~transfer, "confirmed: a confirmation date on an entry without a transfer out"),
        ((df["received"].fillna("") != "") & received.isna(), "received: cannot read {r!r} as a date"),
        (received.notna() & date.notna() & (received < date), "received: {r!r} is before the entry date"),
        (received.notna() & ~transfer, "received: a receipt date on an entry without a transfer out"),
        (received.notna() & confirmed.notna() & (confirmed < received), "confirmed: {c!r} is before the receipt"),
    ]
    reasons = pd.Series("", index=df.index, dtype=object)
    for mask, template in checks:
        hit = mask.fillna(False).to_numpy(bool) & (reasons.to_numpy() == "")
        for i in np.flatnonzero(hit):
            reasons.iat[i] = template.format(
                s=df["store"].iat[i], k=store_kind.iat[i], d=df["date"].iat[i], w=df["waste_code"].iat[i],
                qi=df["quantity_in_t"].iat[i], qo=df["quantity_out_t"].iat[i], c=df["confirmed"].iat[i],
                r=df["received"].iat[i],
                bm=bad_manifest.iat[i])

    good = (reasons == "").to_numpy()
    pts = points.reindex(df["store"][good])
    out = pd.DataFrame({
        "date": date[good].to_numpy(),
        "zone": pts["zone"].to_numpy(),
        "enterprise": pts["enterprise"].to_numpy(),
        "store": df["store"][good].to_numpy(),
        "waste_code": code[good].to_numpy(),
        "quantity_in_t": q_in[good].to_numpy(),
        "quantity_out_t": q_out[good].to_numpy(),
        "manifest": manifest[good].replace("", None).to_numpy(),
        "receiver": receiver[good].replace("", None).to_numpy(),
        "receiver_licence": licence[good].replace("", None).to_numpy(),
        "confirmed": confirmed[good].to_numpy(),
        "received": received[good].to_numpy(),
        "source": "ledger",
        "batch": batch,
    })
    rejected = [Rejected(int(df["line"].iat[i]), reasons.iat[i],
                         ",".join(str(df[c].iat[i]) for c in LEDGER_FILE_COLUMNS), source=name)
                for i in np.flatnonzero(~good)]
    # the same entry twice (same store, date, code, quantities, manifest) is a copy-paste duplicate
    ident = ["store", "date", "waste_code", "quantity_in_t", "quantity_out_t", "manifest"]
    dup = out.duplicated(ident, keep="first").to_numpy()
    if dup.any():
        lines = df["line"][good].to_numpy()
        first = pd.Series(lines).groupby([out[c].fillna("") if out[c].dtype == object else out[c]
                                          for c in ident], dropna=False).transform("first").to_numpy()
        for j in np.flatnonzero(dup):
            rejected.append(Rejected(int(lines[j]), f"duplicate of line {int(first[j])}", source=name))
        out = out[~dup]
    rejected.sort(key=lambda r: r.line or 0)
    out["date"] = pd.to_datetime(out["date"], utc=True)
    out["confirmed"] = pd.to_datetime(out["confirmed"], utc=True)
    out["received"] = pd.to_datetime(out["received"], utc=True)
    return out.reset_index(drop=True).astype(LEDGER_COLUMNS), rejected
