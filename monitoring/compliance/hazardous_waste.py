"""Hazardous-waste checks on the ledger (台账) as of a date.

Rules and limits are data (``limits/data/hazardous-waste.yaml``):

* ``storage_days`` (Solid Waste Law 2020 Art. 81, 365 d; applying it to producers' stores is common
  practice [unconfirmed]): per store and waste code, stock leaves first-in-first-out; the oldest quantity
  still in store at ``as_of`` must be ≤ 365 days old (local dates).
* ``temporary_stock`` (GB 18597-2023, 3 t): a registry point with ``temporary: true`` may not hold more
  than 3 t; judged on the end-of-day stock of every local day with a ledger entry.
* ``declaration`` (HJ 1259-2022, 固废法第七十八条): key units monthly by the 15th of the next month,
  simplified units quarterly by the 15th of the next quarter's first month, registration units yearly by
  31 March — and key and simplified units **also** yearly by 31 March (rule ``declaration_yearly``,
  [unconfirmed]). The schedules are data: every rule with ``check: declaration`` names the ``classes`` it
  binds and its ``frequency``. Judged only when a declarations frame (:data:`DECLARATION_COLUMNS`) is given:
  a declaration submitted after its deadline, or missing once the deadline has passed, exceeds.
* ``manifest`` (固废法第八十二条, transfer rules 2021): a transfer (``quantity_out_t`` > 0) needs a manifest,
  and the receiver must confirm within 5 working days **counted from its receipt of the waste** (ledger
  ``received``; when the ledger has no receipt date, from the transfer day, and the reason says so) — Chinese working days including
  adjusted workdays (:mod:`monitoring.calendar`: chinese_calendar, then the local holiday file). Unconfirmed manifests still inside the period
  are not judged yet.
* ``licence``: a transfer to a receiver without a hazardous-waste operating licence number exceeds.
"""

from __future__ import annotations

import datetime as dt
import logging
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from monitoring.calendar import add_working_days
from monitoring.compliance.frames import to_assessments
from monitoring.config import LOCAL_TZ

#: Declarations of hazardous-waste generation (申报): one row per enterprise and reporting period.
DECLARATION_COLUMNS: dict[str, str] = {
    "enterprise": "string",
    "period": "string",                     # "2024-03" (monthly), "2024Q1" (quarterly), "2024" (yearly)
    "submitted": "datetime64[ns, UTC]",
}


log = logging.getLogger(__name__)

def _local_date(ts: pd.Series) -> pd.Series:
    return pd.to_datetime(ts, utc=True).dt.tz_convert(LOCAL_TZ).dt.tz_localize(None).dt.normalize()


@lru_cache(maxsize=4096)
def manifest_deadline(transfer_day: dt.date, working_days: int, holidays_path: Path | None = None) -> dt.date:
    """Last day for the receiver's confirmation of a transfer manifest.

    Parameters
    ----------
    transfer_day : datetime.date
        Local day of the transfer.
    working_days : int
        The limit of the ``manifest_confirmation`` rule (working days).
    holidays_path : path or None
        The bureau's local holiday file (``Settings.holidays_path``, ``$ENVMON_HOLIDAYS``), for years the
        chinese_calendar package does not know yet; without one those years count weekends only (logged
        as a warning, :func:`monitoring.calendar.add_working_days`).

    Returns
    -------
    datetime.date
        The ``working_days``-th Chinese working day after the transfer day (adjusted workdays count,
        holidays don't).
    """
    deadline = add_working_days(transfer_day, working_days, holidays_path)
    for note in deadline.notes:
        log.warning("manifest deadline for a transfer on %s: %s", transfer_day, note)
    return deadline.due


def _rule(catalogue: Any, name: str) -> Any:
    return catalogue.rule(name)


def _base(rule: Any) -> dict[str, Any]:
    return {"standard": rule.standard, "clause": rule.clause or rule.text[:60], "limit_status": rule.status,
            "limit_source": f"{rule.source}: {rule.text}" if rule.text else rule.source}


def _stores(ledger: pd.DataFrame, registry: Any) -> pd.DataFrame:
    reg = pd.DataFrame([{"store": p.id, "reg_zone": p.zone, "reg_enterprise": p.enterprise,
                         "temporary": getattr(p, "temporary", False)} for p in registry if p.kind == "hw_store"])
    if reg.empty:
        reg = pd.DataFrame(columns=["store", "reg_zone", "reg_enterprise", "temporary"])
    return reg.astype({"store": "string"})


def storage_days(ledger: pd.DataFrame, catalogue: Any, as_of: pd.Timestamp) -> pd.DataFrame:
    rule = _rule(catalogue, "storage_days")
    led = ledger[ledger["date"] <= as_of].copy()
    if led.empty:
        return pd.DataFrame()
    led["day"] = _local_date(led["date"])
    led = led.sort_values(["store", "waste_code", "day"], kind="stable")
    qin = led["quantity_in_t"].fillna(0.0)
    led["cum_in"] = qin.groupby([led["store"], led["waste_code"]]).cumsum()
    total_out = led["quantity_out_t"].fillna(0.0).groupby([led["store"], led["waste_code"]]).transform("sum")
    remaining = (qin > 0) & (led["cum_in"] > total_out + 1e-9)
    oldest = led[remaining].groupby(["store", "waste_code"], observed=True)["day"].min()
    keys = led.groupby(["store", "waste_code"], observed=True).agg(zone=("zone", "first"),
                                                                   enterprise=("enterprise", "first"))
    out = keys.join(oldest.rename("oldest")).reset_index()
    as_of_day = _local_date(pd.Series([as_of])).iloc[0]
    out["value"] = ((as_of_day - out["oldest"]).dt.days).fillna(0).astype(float)
    out["limit"] = float(rule.value)
    out["verdict"] = np.where(out["value"] > out["limit"], "exceeds", "compliant")
    out["reason"] = np.where(out["oldest"].notna(),
                             "oldest stock received " + out["oldest"].dt.strftime("%Y-%m-%d").fillna(""),
                             "nothing left in store")
    out["window_start"] = out["oldest"].fillna(as_of_day).dt.tz_localize(LOCAL_TZ)
    out["window_end"] = as_of
    return out.assign(point=out["store"], parameter=out["waste_code"], check="storage_days", unit="d",
                      averaging="event", **_base(rule))


def temporary_stock(ledger: pd.DataFrame, registry: Any, catalogue: Any, as_of: pd.Timestamp,
                    since: pd.Timestamp) -> pd.DataFrame:
    rule = _rule(catalogue, "temporary_stock")
    stores = _stores(ledger, registry)
    temp_ids = stores.loc[stores["temporary"].astype(bool), "store"]
    led = ledger[ledger["store"].isin(temp_ids) & (ledger["date"] <= as_of)].copy()
    if led.empty:
        return pd.DataFrame()
    led["day"] = _local_date(led["date"])
    led["delta"] = led["quantity_in_t"].fillna(0.0) - led["quantity_out_t"].fillna(0.0)
    per_day = led.groupby(["store", "day"], observed=True).agg(
        delta=("delta", "sum"), zone=("zone", "first"), enterprise=("enterprise", "first")).reset_index()
    per_day["value"] = per_day.groupby("store", observed=True)["delta"].cumsum()
    since_day = _local_date(pd.Series([since])).iloc[0]
    per_day = per_day[per_day["day"] >= since_day]
    per_day["limit"] = float(rule.value)
    per_day["verdict"] = np.where(per_day["value"] > per_day["limit"], "exceeds", "compliant")
    per_day["reason"] = "end-of-day stock at a temporary storage point"
    per_day["window_start"] = per_day["day"].dt.tz_localize(LOCAL_TZ)
    per_day["window_end"] = per_day["window_start"] + pd.Timedelta(days=1)
    return per_day.assign(point=per_day["store"], parameter="all", check="temporary_stock", unit="t",
                          averaging="1d", **_base(rule))


def _periods(freq: str, since: dt.date, as_of: dt.date) -> list[tuple[str, dt.date, dt.date, dt.date]]:
    """(label, first day, last day, deadline) of reporting periods whose deadline is in (since, as_of]."""
    out = []
    for year in range(since.year - 1, as_of.year + 1):
        if freq == "monthly":
            spans = [(f"{year}-{m:02d}", dt.date(year, m, 1)) for m in range(1, 13)]
            nxt = [dt.date(year + (m == 12), m % 12 + 1, 15) for m in range(1, 13)]
        elif freq == "quarterly":
            spans = [(f"{year}Q{q}", dt.date(year, 3 * q - 2, 1)) for q in range(1, 5)]
            nxt = [dt.date(year + (q == 4), (3 * q) % 12 + 1, 15) for q in range(1, 5)]
        else:
            spans = [(str(year), dt.date(year, 1, 1))]
            nxt = [dt.date(year + 1, 3, 31)]
        for (label, first), deadline in zip(spans, nxt):
            if since < deadline <= as_of:
                out.append((label, first, deadline, deadline))
    return out


def _schedules(catalogue: Any, hw_class: str, since: dt.date, as_of: dt.date
               ) -> list[tuple[Any, str, str, dt.date, dt.date]]:
    """(rule, frequency, period label, first day, deadline) of every declaration due in (since, as_of] for
    an enterprise of ``hw_class``, from the rules with ``check: declaration``."""
    out = []
    for rule in catalogue.rules.values():
        if rule.extra.get("check") != "declaration" or hw_class not in rule.extra.get("classes", ()):
            continue
        freq = str(rule.extra["frequency"])
        out += [(rule, freq, label, first, deadline) for label, first, _, deadline in _periods(freq, since, as_of)]
    return out


def declarations_check(registry: Any, catalogue: Any, declarations: pd.DataFrame, enterprises: list[str],
                       as_of: pd.Timestamp, since: pd.Timestamp) -> pd.DataFrame:
    as_of_day = as_of.tz_convert(LOCAL_TZ).date()
    since_day = since.tz_convert(LOCAL_TZ).date()
    decl = declarations.copy()
    decl["sub_day"] = _local_date(decl["submitted"]).dt.date
    first = decl.sort_values("submitted").drop_duplicates(["enterprise", "period"])
    sub = {(e, p): d for e, p, d in zip(first["enterprise"], first["period"], first["sub_day"])}
    rows = []
    for code in enterprises:  # enterprises × periods: a few hundred rows at most
        ent = registry.enterprises.get(code)
        if ent is None:
            continue
        for rule, freq, label, first_day, deadline in _schedules(catalogue, ent.hw_class, since_day, as_of_day):
            got = sub.get((code, label))
            if got is None:
                verdict, value, reason = "exceeds", (as_of_day - deadline).days, f"{freq} declaration {label} missing, due {deadline}"
            elif got > deadline:
                verdict, value, reason = "exceeds", (got - deadline).days, f"{freq} declaration {label} submitted {got}, due {deadline}"
            else:
                verdict, value, reason = "compliant", 0, f"{freq} declaration {label} submitted {got}"
            rows.append({"zone": ent.zone, "enterprise": code, "point": code, "parameter": label,
                         "check": "declaration", "averaging": "event", "value": float(value), "limit": 0.0,
                         "unit": "days late", "verdict": verdict, "reason": reason,
                         "window_start": pd.Timestamp(first_day, tz=LOCAL_TZ),
                         "window_end": pd.Timestamp(deadline, tz=LOCAL_TZ) + pd.Timedelta(days=1), **_base(rule)})
    return pd.DataFrame(rows)


def transfers_check(ledger: pd.DataFrame, catalogue: Any, as_of: pd.Timestamp, since: pd.Timestamp,
                    holidays_path: Path | None = None) -> pd.DataFrame:
    rule = _rule(catalogue, "manifest_confirmation")
    tr = ledger[(ledger["quantity_out_t"].fillna(0) > 0) & (ledger["date"] <= as_of)
                & (ledger["date"] >= since)].copy()
    if tr.empty:
        return pd.DataFrame()
    tr["day"] = _local_date(tr["date"])
    rec = _local_date(tr["received"]) if "received" in tr else pd.Series(pd.NaT, index=tr.index)
    tr["from_day"] = rec.fillna(tr["day"])
    days = int(rule.value)
    deadlines = {d: manifest_deadline(d.date(), days, holidays_path) for d in tr["from_day"].unique()}
    tr["deadline"] = pd.to_datetime(tr["from_day"].map(deadlines))
    counted = np.where(rec.notna(), "received " + tr["from_day"].dt.strftime("%Y-%m-%d").fillna(""),
                       "no receipt date: counted from the transfer day")
    tr["conf_day"] = _local_date(tr["confirmed"])
    as_of_day = _local_date(pd.Series([as_of])).iloc[0]
    no_manifest = tr["manifest"].isna() | (tr["manifest"].astype("string").str.strip() == "")
    late = tr["conf_day"] > tr["deadline"]
    overdue = tr["conf_day"].isna() & (as_of_day > tr["deadline"])
    judged = no_manifest | tr["conf_day"].notna() | overdue
    m = tr[judged].copy()
    m["verdict"] = np.where(no_manifest[judged] | late[judged] | overdue[judged], "exceeds", "compliant")
    ref = m["conf_day"].fillna(as_of_day)
    m["value"] = (ref - m["from_day"]).dt.days.astype(float)
    m["limit"] = float(days)
    dl = m["deadline"].dt.strftime("%Y-%m-%d")
    m["reason"] = np.select(
        [no_manifest[judged], late[judged], overdue[judged]],
        ["transfer without a manifest", "confirmed " + m["conf_day"].dt.strftime("%Y-%m-%d").fillna("")
         + " after the deadline " + dl, "not confirmed by the receiver; deadline " + dl + " passed"],
        "confirmed " + m["conf_day"].dt.strftime("%Y-%m-%d").fillna("") + " (deadline " + dl + ")")
    m["reason"] = m["reason"] + "; " + pd.Series(counted, index=tr.index)[judged]
    m = m.assign(point=m["store"], parameter=m["manifest"].fillna("(none)"), check="manifest",
                 averaging="event", unit="calendar days from receipt to confirmation", **_base(rule))
    m["window_start"] = m["day"].dt.tz_localize(LOCAL_TZ)
    m["window_end"] = m["deadline"].dt.tz_localize(LOCAL_TZ) + pd.Timedelta(days=1)
    lic = tr.copy()
    missing = lic["receiver_licence"].isna() | (lic["receiver_licence"].astype("string").str.strip() == "")
    lic["verdict"] = np.where(missing, "exceeds", "compliant")
    lic["reason"] = np.where(missing, "receiver " + lic["receiver"].fillna("?").astype(str) + " has no licence on record",
                             "receiver licence " + lic["receiver_licence"].fillna("").astype(str))
    lic = lic.assign(point=lic["store"], parameter=lic["manifest"].fillna("(none)"), check="licence",
                     averaging="event", **_base(_rule(catalogue, "receiver_licence")))
    lic["window_start"] = lic["day"].dt.tz_localize(LOCAL_TZ)
    lic["window_end"] = lic["window_start"] + pd.Timedelta(days=1)
    return pd.concat([m, lic], ignore_index=True)


def evaluate_ledger(ledger: pd.DataFrame, registry: Any, catalogue: Any, *, as_of: Any,
                    declarations: pd.DataFrame | None = None, since: Any = None,
                    holidays_path: Path | None = None) -> pd.DataFrame:
    """Assessments of the hazardous-waste ledger (``LEDGER_COLUMNS``) as of ``as_of``.

    ``since`` (default ``as_of`` − 365 d) bounds the transfers, temporary-stock days and declaration
    deadlines judged. Rows: ``storage_days`` per store and waste code, ``temporary_stock`` per temporary
    store and entry day, ``manifest`` and ``licence`` per transfer, ``declaration`` per enterprise and
    reporting period (only with ``declarations``).
    """
    as_of = pd.Timestamp(as_of)
    as_of = as_of.tz_localize(LOCAL_TZ) if as_of.tzinfo is None else as_of
    since = pd.Timestamp(since) if since is not None else as_of - pd.Timedelta(days=365)
    since = since.tz_localize(LOCAL_TZ) if since.tzinfo is None else since
    parts = []
    if not ledger.empty:
        parts += [storage_days(ledger, catalogue, as_of), temporary_stock(ledger, registry, catalogue, as_of, since),
                  transfers_check(ledger, catalogue, as_of, since, holidays_path)]
    if declarations is not None:
        decl = declarations.astype({k: v for k, v in DECLARATION_COLUMNS.items() if k != "submitted"})
        ents = sorted({p.enterprise for p in registry if p.kind == "hw_store" and p.enterprise}
                      | set(ledger["enterprise"].dropna().astype(str)))
        parts.append(declarations_check(registry, catalogue, decl, ents, as_of, since))
    parts = [p for p in parts if not p.empty]
    if not parts:
        return to_assessments(pd.DataFrame())
    out = pd.concat(parts, ignore_index=True)
    kinds = {p.id: p.kind for p in registry}
    out["kind"] = out["point"].map(kinds).fillna("hw_store")
    out.loc[out["check"] == "declaration", "kind"] = "enterprise"
    out["ratio"] = np.where(out["limit"] > 0, out["value"] / out["limit"].where(out["limit"] > 0), np.nan)
    return to_assessments(out)
