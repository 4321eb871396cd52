"""``envmon evaluate --from DATE --to DATE [--zone Z]``: judge stored readings, print exceedances and capture.

Dates are local (Asia/Shanghai) calendar days, both inclusive: ``--from 2024-05-01 --to 2024-05-31``
evaluates 2024-05-01 00:00 to 2024-06-01 00:00 local. Readings are judged (air, noise, water) and so is the
stored hazardous-waste ledger as of the end of the last day (storage days, temporary stock, manifests and
licences of transfers in the period; :func:`monitoring.compliance.evaluate_ledger`, the checks the daily
DAG runs). Assessments (every window) and capture are written to InfluxDB (measurements ``assessments``
and ``capture``) unless ``--no-write``.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Annotated

import pandas as pd
import typer
from rich.console import Console
from rich.table import Table

from limits.catalogue import load_catalogue
from limits.loader import LimitsError
from monitoring.compliance import evaluate_ledger, evaluate_period
from monitoring.compliance.frames import provisional_notes
from monitoring.config import LOCAL_TZ, load_settings
from monitoring.influx import InfluxError, InfluxNotConfigured, InfluxStore
from monitoring.notifications import LIMIT_STATUS_ZH
from monitoring.registry import RegistryError, load_registry


def _local(t: pd.Series) -> pd.Series:
    return t.dt.tz_convert(LOCAL_TZ).dt.strftime("%Y-%m-%d %H:%M")


#: How far back the stored ledger is read: a stock older than the 365-day limit must still be seen.
LEDGER_HISTORY = pd.Timedelta(days=800)


def _hazardous_waste(store: InfluxStore, registry, catalogue, start: pd.Timestamp, end: pd.Timestamp,
                     zone: str | None, write: bool, holidays_path=None) -> pd.DataFrame:
    """Ledger checks as of the end of the period (transfers and temporary-stock days within it)."""
    # deferred: each sub-command loads only what it runs, so `envmon --help` and the protocol tools start fast
    from monitoring.alerting import stored_ledger
    from monitoring.influx import ASSESSMENT_FIELDS, ASSESSMENT_TAGS, ASSESSMENTS_MEASUREMENT

    ledger = stored_ledger(store, start - LEDGER_HISTORY, end)
    if zone is not None:
        ledger = ledger[ledger["zone"] == zone]
    a = evaluate_ledger(ledger, registry, catalogue, as_of=end - pd.Timedelta(seconds=1), since=start,
                        holidays_path=holidays_path)
    if write and not a.empty:
        store.write_frame(a, ASSESSMENTS_MEASUREMENT, ASSESSMENT_TAGS, ASSESSMENT_FIELDS, "window_start")
    return a


def command(date_from: Annotated[dt.datetime, typer.Option("--from", formats=["%Y-%m-%d"],
                                                           help="first local day (YYYY-MM-DD)")],
            date_to: Annotated[dt.datetime, typer.Option("--to", formats=["%Y-%m-%d"],
                                                         help="last local day, inclusive")],
            zone: Annotated[str | None, typer.Option(help="cluster id, Chinese name or pinyin")] = None,
            write: Annotated[bool, typer.Option("--write/--no-write", help="store assessments and capture")] = True,
            as_json: Annotated[bool, typer.Option("--json", help="exceedances and capture as JSON")] = False) -> None:
    """Evaluate compliance over local days and print exceedances and data capture."""
    if date_to < date_from:
        raise typer.BadParameter("--to is before --from")
    settings = load_settings()
    try:
        registry = load_registry(settings.registry_path)
        catalogue = load_catalogue(settings.limits_override)
        zone_id = registry.find_zone(zone).id if zone else None
        store = InfluxStore.from_settings(settings, retries=2, backoff_factor=0.2)
    except (RegistryError, LimitsError, InfluxNotConfigured) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    except KeyError as exc:
        typer.echo(f"error: {exc.args[0]}", err=True)
        raise typer.Exit(2) from None
    start = pd.Timestamp(date_from.date(), tz=LOCAL_TZ)
    end = pd.Timestamp(date_to.date(), tz=LOCAL_TZ) + pd.Timedelta(days=1)
    try:
        with store:
            ev = evaluate_period(store, registry, catalogue, start, end, zone=zone_id, write=write)
            hw = _hazardous_waste(store, registry, catalogue, start, end, zone_id, write, settings.holidays_path)
    except InfluxError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    if not hw.empty:
        ev.assessments = pd.concat([ev.assessments, hw], ignore_index=True)
    ex = ev.exceedances
    daily = ev.capture[ev.capture["window"] == "1d"]
    cap = (daily.groupby(["zone", "point", "parameter"], observed=True)
           .agg(expected=("expected", "sum"), valid=("valid", "sum")).reset_index())
    cap["capture_pct"] = (100 * cap["valid"] / cap["expected"]).round(1)
    if as_json:
        out = {"from": str(start), "to": str(end), "zone": zone_id,
               "provisional": [{"standard": st, "reason": why} for st, why in provisional_notes(ev.assessments)],
               "verdicts": ev.assessments["verdict"].value_counts().to_dict(),
               "exceedances": json.loads(ex.assign(window_start=_local(ex["window_start"]),
                                                   window_end=_local(ex["window_end"])).to_json(
                   orient="records", force_ascii=False)),
               "capture": json.loads(cap.to_json(orient="records", force_ascii=False))}
        typer.echo(json.dumps(out, ensure_ascii=False, indent=2))
        return
    console = Console(width=200)
    counts = ev.assessments["verdict"].value_counts().to_dict()
    console.print(f"{start:%Y-%m-%d} – {end - pd.Timedelta(days=1):%Y-%m-%d} (Asia/Shanghai)"
                  f"{' zone ' + zone_id if zone_id else ''}: {len(ev.assessments)} windows {counts}")
    table = Table(title=f"Exceedances ({len(ex)})")
    for c in ("window (local)", "point", "parameter", "check", "value", "limit", "ratio", "standard", "clause",
              "status"):
        table.add_column(c, overflow="fold")
    for r in ex.itertuples(index=False):
        status = f"{r.limit_status} *" if r.limit_status == "provisional" else r.limit_status
        table.add_row(r.window_start.tz_convert(LOCAL_TZ).strftime("%Y-%m-%d %H:%M"), r.point, r.parameter, r.check,
                      f"{r.value:.4g} {r.unit}", f"{r.limit:.4g}", f"{r.ratio:.2f}", r.standard, r.clause, status)
    console.print(table)
    for standard, reason in provisional_notes(ev.assessments):
        console.print(f"* {LIMIT_STATUS_ZH['provisional']} (provisional) — {standard}: {reason}", soft_wrap=True)
    ctab = Table(title="Data capture (valid / expected)")
    for c in ("zone", "point", "parameter", "valid", "expected", "capture %"):
        ctab.add_column(c)
    for r in cap.itertuples(index=False):
        ctab.add_row(r.zone, r.point, r.parameter, str(int(r.valid)), f"{r.expected:.0f}", f"{r.capture_pct:.1f}")
    console.print(ctab)
