"""The ingest pipeline of one cluster (zone): what ``dags/ingest_readings.py`` runs every 5 minutes.

Steps, in order (issue #2 §6), each rejecting into the quarantine with its reason, never dropping:

1. **collect** — claim the zone's ready HJ 212 spool segments (:class:`sensors.spool.Spool`) and its
   landing files (``$ENVMON_DATA_DIR/landing/<zone>/lab/*.csv|xlsx`` and ``…/ledger/*.csv``);
2. **decode** — parse packets (CRC, length, DataTime …), reassemble split packets, map MN → point and
   fields → canonical readings (:mod:`sensors.hj212`); read lab files and ledgers;
3. **normalise** — units to each parameter's canonical unit with pint (:mod:`monitoring.units`); done
   before validation so that plausible-range checks compare like with like;
4. **validate** — Great Expectations batch checks (:mod:`monitoring.quality`);
5. **write** — InfluxDB over the v1 API; what cannot be written now goes to the write spool and is
   replayed first on the next run (:class:`monitoring.influx.SpoolingWriter`);
6. **mark consumed** — only after 5 and after the quarantine is on disk are the segments and landing
   files committed (moved to ``consumed/``). Any exception releases them for the next run.

Re-running a batch is harmless: readings are idempotent in InfluxDB (same series key and timestamp).
"""

from __future__ import annotations

import contextlib
import gc
import json
import logging
import os
import shutil
import signal
import threading
import time
import uuid
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

import pandas as pd

from monitoring.config import Settings, load_settings
from monitoring.connections import airflow_connection
from monitoring.registry import Registry, load_registry
from sensors.quarantine import Quarantine, redact
from sensors.schema import conform, empty_readings

log = logging.getLogger(__name__)

#: Airflow asset alias the ingest run's summary emits through (only when something was stored).
READINGS_ALIAS = "envmon-readings"
LAB_SUFFIXES = {".csv", ".xlsx"}
#: readings taken through units → quality → write at a time (and lab file rows read at a time)
LAB_CHUNK_ROWS = 200_000


@dataclass
class IngestReport:
    """What one ingest run of one zone did. Counts are readings (one value each) unless named otherwise."""

    zone: str
    batch: str
    segments: int = 0
    packets: int = 0
    lab_files: int = 0
    ledger_files: int = 0
    ledger_rows: int = 0
    readings_decoded: int = 0
    readings_stored: int = 0
    lines_spooled: int = 0
    lines_replayed: int = 0
    nonstandard_fields: dict[str, int] = field(default_factory=dict)   # HJ 212 fields kept, not read
    reclaimed_segments: int = 0          # claimed by an earlier run that died, given back and read now
    reclaimed_files: int = 0
    quarantined: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    first_time: str | None = None
    last_time: str | None = None
    first_by_kind: dict[str, str] = field(default_factory=dict)   # earliest stored reading per point kind
    quarantine_file: str | None = None
    seconds: dict[str, float] = field(default_factory=dict)   # wall time per step (decode, units, …)
    #: CPU time of this process per step (all its threads: the write's HTTP thread too); unlike the wall
    #: times it does not grow when other processes share the cores (zone workers, influxd, other users)
    cpu_seconds: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def zone_ids(registry: Registry | None = None) -> list[str]:
    return list((registry or load_registry(load_settings().registry_path)).zones)


def readings_asset():
    """The Airflow asset "new readings stored" (imported lazily: the pipeline itself needs no Airflow).
    One event per ingest run; its extra is :func:`run_asset_extra`."""
    # deferred: this module is imported when Airflow parses the DAG files
    from airflow.sdk import Asset

    return Asset(name="envmon_readings", uri="envmon://readings")


def run_asset_extra(reports: list[dict[str, Any]]) -> dict[str, Any]:
    """What one ingest run stored, per zone: ``{"zones": {zone: {first_time, last_time, readings, kinds}}}``
    (``kinds``: earliest stored reading per point kind; zones that stored nothing are left out)."""
    zones = {r["zone"]: {"first_time": r.get("first_time"), "last_time": r.get("last_time"),
                         "readings": r.get("readings_stored", 0), "kinds": r.get("first_by_kind") or {}}
             for r in reports if r.get("readings_stored")}
    return {"zones": zones}


def new_batch_id(zone: str, now: datetime | None = None) -> str:
    now = now or datetime.now(UTC)
    return f"{zone}-{now:%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}"


def store_from_settings(settings: Settings, *, required: bool = True):
    """The InfluxDB store: ``ENVMON_INFLUX_URL``, or the Airflow Connection ``envmon_influx`` when run there.

    With ``required=False`` a deployment without any InfluxDB gives ``None`` instead of an error (the
    double-random draw then has no capture evidence).
    """
    # deferred: this module is imported when Airflow parses the DAG files
    from monitoring.influx import InfluxStore, InfluxUnavailable

    if settings.influx_url:
        store = InfluxStore.from_settings(settings)
    else:
        conn = airflow_connection("envmon_influx", required=False)
        if conn is None and not required:
            return None
        if conn is None:
            raise RuntimeError("no InfluxDB configured: set ENVMON_INFLUX_URL (or an Airflow Connection "
                               "'envmon_influx'); `envmon demo` and the tests start their own influxd")
        scheme = "https" if (conn.extra_dejson or {}).get("ssl") else "http"
        store = InfluxStore(f"{scheme}://{conn.host}:{conn.port or 8086}", conn.schema or settings.influx_db,
                            user=conn.login or None, password=conn.password or None,
                            token=(conn.extra_dejson or {}).get("token"))
    try:
        store.ensure_database()
    except InfluxUnavailable as exc:  # writes will go to the write spool and be replayed later
        log.warning("InfluxDB unreachable (%s); readings will be spooled for a later run", exc)
    return store


# --- landing files ------------------------------------------------------------------------------------
def _claim_landing(settings: Settings, zone: str, sub: str, batch: str, suffixes: set[str]) -> list[Path]:
    """Move the zone's landing files into a claim folder of this batch (atomic renames), after writing
    the claim's owner record (``.claimed-<batch>/.owner.json``, :mod:`sensors.claims`)."""
    from sensors.claims import write_owner

    src = settings.landing_dir / zone / sub
    if not src.is_dir():
        return []
    claim = src / f".claimed-{batch}"
    files = sorted(p for p in src.iterdir() if p.is_file() and p.suffix.lower() in suffixes)
    if files:
        claim.mkdir(exist_ok=True, mode=0o700)
        write_owner(claim / OWNER_FILE, batch)
    return [p.rename(claim / p.name) for p in files]


OWNER_FILE = ".owner.json"


def reclaim_landing(settings: Settings, zone: str, by_batch: str) -> dict[str, list[Path]]:
    """Give back the landing files of claims whose owner died (kill -9 of a run): ``{batch: files}``.
    Exactly once per dead claim (the owner record is taken atomically first)."""
    from sensors.claims import DEFAULT_LEASE, orphan_expired, owner_alive, read_owner, take_over

    out: dict[str, list[Path]] = {}
    for sub in ("lab", "ledger"):
        src = settings.landing_dir / zone / sub
        if not src.is_dir():
            continue
        for claim in sorted(d for d in src.iterdir() if d.is_dir() and d.name.startswith(".claimed-")):
            batch = claim.name.removeprefix(".claimed-")
            if batch == by_batch:
                continue
            owner = claim / OWNER_FILE
            taken = None
            if owner.exists():
                rec = read_owner(owner)
                if rec is not None and owner_alive(rec):
                    continue
                if take_over(owner, by_batch) is None:
                    continue
                taken = owner.with_name(f"{OWNER_FILE}.reclaimed-by-{by_batch}")
            elif not orphan_expired(claim, DEFAULT_LEASE):
                continue
            back = []
            for f in sorted(p for p in claim.iterdir() if p.is_file() and not p.name.startswith(OWNER_FILE)):
                dest = src / f.name
                if dest.exists():                       # a new file of the same name arrived meanwhile
                    dest = src / f"{f.stem}.reclaimed-{batch}{f.suffix}"
                f.rename(dest)
                back.append(dest)
            if taken is not None:
                taken.unlink(missing_ok=True)
            with contextlib.suppress(OSError):
                claim.rmdir()
            if back:
                out.setdefault(batch, []).extend(back)
    return out


def _release_landing(settings: Settings, zone: str, batch: str) -> None:
    """Give back everything in this batch's landing claim folders (also a claim cut short)."""
    for sub in ("lab", "ledger"):
        claim = settings.landing_dir / zone / sub / f".claimed-{batch}"
        if not claim.is_dir():
            continue
        files = [p for p in claim.iterdir() if p.is_file() and not p.name.startswith(OWNER_FILE)]
        _finish_landing(settings, zone, batch, files, commit=False)
        (claim / OWNER_FILE).unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            claim.rmdir()


def _finish_landing(settings: Settings, zone: str, batch: str, files: list[Path], *, commit: bool) -> None:
    for path in files:
        if commit:
            dest = settings.landing_dir / zone / "consumed" / batch
            dest.mkdir(parents=True, exist_ok=True)
            shutil.move(path, dest / path.name)
        else:
            shutil.move(path, path.parent.parent / path.name)
    for path in {p.parent for p in files}:
        (path / OWNER_FILE).unlink(missing_ok=True)
        if path.is_dir() and not any(path.iterdir()):
            path.rmdir()


# --- the pipeline ----------------------------------------------------------------------------------
def decode_spool(spool, paths: list[Path], registry: Registry, batch: str, quarantine: Quarantine,
                 report: IngestReport) -> pd.DataFrame:
    """Spool segments → canonical readings; every bad packet or value goes to the quarantine.

    All lines of the claimed segments are decoded at once (:func:`sensors.hj212.bulk.decode_packets`:
    vectorised framing, CRC and CP splitting; the per-packet parser for anything unusual, with the same
    reasons). Torn last lines (a receiver killed mid-write; never acknowledged) are quarantined by the
    spool itself.
    """
    # deferred: this module is imported when Airflow parses the DAG files
    from sensors.hj212.bulk import decode_packets

    origins: list[str] = []
    lines: list[bytes] = []
    names: dict[Path, str] = {}
    for path, lineno, raw in spool.read_segments(paths):
        name = names.get(path)
        if name is None:
            name = names[path] = f"spool segment {path.name.split('.claimed-')[0]}:"
        origins.append(f"{name}{lineno}")
        lines.append(raw)
    report.packets += len(lines)
    decoded = decode_packets(lines, registry, batch, origins)
    for name, count in decoded.nonstandard.items():
        report.nonstandard_fields[name] = report.nonstandard_fields.get(name, 0) + count
    for k, reason, raw in decoded.errors:
        quarantine.add(stage="decode", origin=origins[k], reason=reason, raw=raw)
    for incomplete in decoded.incomplete:
        quarantine.add(stage="decode", origin=f"MN={incomplete.mn} QN={incomplete.qn}",
                       reason=incomplete.reason, raw=b"\n".join(incomplete.parts))
    for rej in decoded.rejected:
        at = (origins[int(decoded.packet_line[rej.index])] if 0 <= rej.index < len(decoded.packet_line)
              else f"packet {rej.index}")
        quarantine.add(stage="readings", origin=at, reason=rej.reason, raw=rej.raw)
    return decoded.readings


def ingest_zone(zone: str, *, settings: Settings | None = None, registry: Registry | None = None,
                store=None, now: datetime | None = None, lab_chunk_rows: int = LAB_CHUNK_ROWS) -> IngestReport:
    """Run the whole pipeline for one zone once. Safe to run again: claimed input is released on error.

    Readings go through units → quality → write in parts of about ``lab_chunk_rows`` (the spool's
    readings, then lab files chunk by chunk), so memory is bounded by the part, not by the input."""
    # deferred: this module is imported when Airflow parses the DAG files
    from monitoring.influx import HW_LEDGER_MEASUREMENT, LEDGER_FIELDS, LEDGER_TAGS, SpoolingWriter
    from sensors.lab import iter_lab_file
    from sensors.ledger import read_ledger_csv
    from sensors.spool import Spool

    settings = (settings or load_settings()).ensure_dirs()
    registry = registry or load_registry(settings.registry_path)
    registry.zone(zone)  # unknown zone → KeyError naming the known ones
    now = now or datetime.now(UTC)
    batch = new_batch_id(zone, now)
    report = IngestReport(zone=zone, batch=batch)
    quarantine = Quarantine(settings.quarantine_dir / zone, batch, batch=batch)
    store = store or store_from_settings(settings)
    writer = SpoolingWriter(store, settings.write_spool_dir)

    spool = Spool(settings.spool_dir, settings.quarantine_dir)
    for dead, paths in spool.reclaim(zone, batch).items():
        report.reclaimed_segments += len(paths)
        log.warning("zone %s: reclaimed %d spool segment(s) of batch %s, whose run died before finishing",
                    zone, len(paths), dead)
    for dead, paths in reclaim_landing(settings, zone, batch).items():
        report.reclaimed_files += len(paths)
        log.warning("zone %s: reclaimed %d landing file(s) of batch %s, whose run died before finishing: %s",
                    zone, len(paths), dead, ", ".join(p.name for p in paths))
    with _sigterm_raises(), _releasing(spool, settings, zone, batch, quarantine):
        # claiming is inside: a SIGTERM between two renames still gives everything back
        segments = spool.claim(zone, batch)
        lab_files = _claim_landing(settings, zone, "lab", batch, LAB_SUFFIXES)
        ledger_files = _claim_landing(settings, zone, "ledger", batch, {".csv"})
        report.segments, report.lab_files, report.ledger_files = len(segments), len(lab_files), len(ledger_files)
        _, report.lines_replayed, _ = writer.replay()  # earlier failed writes first, in order

        parts = _Parts(zone, batch, now, settings, quarantine, writer, report, lab_chunk_rows)
        if segments:
            parts.add(decode_spool(spool, segments, registry, batch, quarantine, report))
        for path in lab_files:     # chunk by chunk: a 200 MB lab file never sits in memory whole
            for df, rejected in iter_lab_file(path, registry, batch, name=f"landing/{zone}/lab/{path.name}",
                                              max_bytes=int(settings.max_landing_mb * 1e6),
                                              chunk_rows=lab_chunk_rows):
                for rej in rejected:
                    quarantine.add_rejected(rej, stage="lab")
                parts.add(df)
        ledgers = []
        for path in ledger_files:
            df, rejected = read_ledger_csv(path, registry, batch, name=f"landing/{zone}/ledger/{path.name}",
                                           now=now, max_bytes=int(settings.max_landing_mb * 1e6))
            ledgers.append(df)
            for rej in rejected:
                quarantine.add_rejected(rej, stage="ledger")
        parts.finish()
        clock = _now()
        if ledgers:
            ledger = pd.concat(ledgers, ignore_index=True)
            report.ledger_rows = len(ledger)
            writer.write_frame(ledger, HW_LEDGER_MEASUREMENT, LEDGER_TAGS, LEDGER_FIELDS, "date")
        clock = _lap(report, "write", clock)
        quarantine.flush()                             # on disk before the input is marked consumed
        report.quarantine_file = str(quarantine.path) if quarantine.count else None
        report.quarantined = sum(quarantine.reasons.values())
        report.reasons = dict(quarantine.reasons)
    spool.commit(batch)
    _finish_landing(settings, zone, batch, lab_files + ledger_files, commit=True)
    write_report(report, settings)
    return report


@contextlib.contextmanager
def _releasing(spool, settings: Settings, zone: str, batch: str, quarantine: Quarantine):
    """Any exception (SIGTERM included, :func:`_sigterm_raises`) gives the claimed input back."""
    try:
        yield
    except BaseException:
        spool.release(batch)
        _release_landing(settings, zone, batch)
        quarantine.flush()
        raise


@contextlib.contextmanager
def _sigterm_raises():
    """While a run holds claims, SIGTERM raises ``SystemExit(143)`` in it, so the claims go back at once.

    The handler found is called first: Airflow's task runner answers SIGTERM only by calling the task's
    ``on_kill`` and lets the task run on until its supervisor sends SIGKILL (Airflow 3.3), so without
    this a terminated ingest task kept its claims until the next run's reclaim. ``envmon ingest``'s own
    handler raises ``SystemExit`` itself. Only in the main thread (where Python runs handlers); a
    SIGTERM that is ignored (``SIG_IGN``) stays ignored."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGTERM)
    if previous == signal.SIG_IGN:
        yield
        return

    def on_term(signum, frame) -> None:
        if callable(previous):
            previous(signum, frame)
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, on_term)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


class _Parts:
    """Readings of one ingest run, collected until about ``rows`` are waiting, then taken through the
    steps 3–5 (collect check, units, quality, write) as one part. A run with less input than that (every
    run but one with a big lab file) has exactly one part; the quality summary of part k > 1 is named
    ``<batch>-part<k>``."""

    def __init__(self, zone: str, batch: str, now: datetime, settings: Settings, quarantine: Quarantine,
                 writer, report: IngestReport, rows: int) -> None:
        self.zone, self.batch, self.now, self.settings = zone, batch, now, settings
        self.quarantine, self.writer, self.report, self.rows = quarantine, writer, report, rows
        self.waiting: list[pd.DataFrame] = []
        self.parts = 0
        self.clock = _now()

    def add(self, frame: pd.DataFrame) -> None:
        self.waiting.append(frame)
        if sum(len(f) for f in self.waiting) >= self.rows:
            self._run()

    def finish(self) -> None:
        if self.waiting or self.parts == 0:
            self._run()

    def _run(self) -> None:
        # deferred: this module is imported when Airflow parses the DAG files
        from monitoring.quality import validate_batch, write_summary
        from monitoring.units import normalise

        zone, report, quarantine = self.zone, self.report, self.quarantine
        readings = conform(pd.concat(self.waiting, ignore_index=True)) if self.waiting else empty_readings()
        self.waiting = []
        self.parts += 1
        batch = self.batch if self.parts == 1 else f"{self.batch}-part{self.parts}"
        elsewhere = readings["zone"] != zone         # e.g. a lab file dropped in the wrong zone's folder
        quarantine.add_rows(readings[elsewhere].assign(
            reason="point " + readings.loc[elsewhere, "point"] + " belongs to zone " + readings.loc[elsewhere, "zone"]
                   + f", not {zone} whose landing folder the file came from"), stage="collect")
        readings = readings[~elsewhere]
        report.readings_decoded += len(readings)
        clock = _lap(report, "decode", self.clock)

        converted, bad_units = normalise(readings)
        quarantine.add_rows(bad_units, stage="units")
        clock = _lap(report, "units", clock)
        checked = validate_batch(converted, now=self.now, batch=batch)
        quarantine.add_rows(checked.quarantined.drop(columns=["expectation"], errors="ignore"),
                            stage="quality")
        write_summary(checked.summary, self.settings.quality_dir)
        clock = _lap(report, "quality", clock)

        result = self.writer.write_readings(checked.valid)
        for step, seconds in result.seconds.items():   # parts of "write": serialise, HTTP round trips
            report.seconds[step] = round(report.seconds.get(step, 0.0) + seconds, 3)
        report.readings_stored += result.lines_written
        report.lines_spooled += result.lines_spooled
        if len(checked.valid):
            first, last = checked.valid["time"].min().isoformat(), checked.valid["time"].max().isoformat()
            report.first_time = min(report.first_time or first, first)
            report.last_time = max(report.last_time or last, last)
            for k, t in checked.valid.groupby("kind", observed=True)["time"].min().items():
                report.first_by_kind[str(k)] = min(report.first_by_kind.get(str(k), t.isoformat()), t.isoformat())
        quarantine.flush()                             # a part's records leave memory with the part
        self.clock = _lap(report, "write", clock)


def _now() -> tuple[float, float]:
    """Wall and process CPU clocks (s), read together."""
    return time.perf_counter(), time.process_time()


def _lap(report: IngestReport, step: str, since: tuple[float, float]) -> tuple[float, float]:
    """Add the wall and CPU time since ``since`` (:func:`_now`) to ``step``; returns the clocks now."""
    now = _now()
    report.seconds[step] = round(report.seconds.get(step, 0.0) + now[0] - since[0], 3)
    report.cpu_seconds[step] = round(report.cpu_seconds.get(step, 0.0) + now[1] - since[1], 3)
    return now


def write_report(report: IngestReport, settings: Settings) -> Path:
    """Keep each run's report as JSON under ``records/ingest/<zone>/`` (operators, the demo)."""
    path = settings.records_dir / "ingest" / report.zone / f"{report.batch}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report.as_dict(), ensure_ascii=False, indent=1), encoding="utf-8")
    return path


def read_reports(settings: Settings, zone: str | None = None) -> list[dict[str, Any]]:
    """The kept ingest reports (all zones, or one), oldest first."""
    root = settings.records_dir / "ingest"
    pattern = f"{zone}/*.json" if zone else "*/*.json"
    paths = sorted(root.glob(pattern), key=lambda p: (p.stat().st_mtime_ns, p.name))  # oldest first
    return [json.loads(p.read_text(encoding="utf-8")) for p in paths]


def summarise(reports: list[dict[str, Any] | None]) -> dict[str, Any]:
    """Totals over the zones of one run (for the Airflow log and the demo)."""
    total: Counter = Counter()
    reports = [r for r in reports if r]        # a failed zone's task returned nothing
    for r in reports:
        for key in ("segments", "packets", "readings_decoded", "readings_stored", "quarantined",
                    "lines_spooled", "ledger_rows"):
            total[key] += r.get(key, 0)
    return {"zones": len(reports), **total}


# --- several zones at once ---------------------------------------------------------------------------
@dataclass
class ZoneFailure:
    """A zone whose ingest run failed: its input was released for the next run; the others went on."""

    zone: str
    error: str


def _one_zone(zone: str, settings: Settings, registry: Registry, store) -> IngestReport | ZoneFailure:
    try:
        return ingest_zone(zone, settings=settings, registry=registry, store=store)
    except Exception as exc:  # noqa: BLE001 - reported per zone, the next zone still runs
        reason = redact(f"{type(exc).__name__}: {exc}")
        log.error("ingest of zone %s failed, its input is kept for the next run: %s", zone, reason)
        return ZoneFailure(zone, reason)


_FORK_STATE: dict[str, Any] = {}


def _one_zone_in_worker(zone: str) -> IngestReport | ZoneFailure:
    state = _FORK_STATE
    store = state["store"]
    if store is not None and state.get("pid") != os.getpid():
        store.session.close()   # pooled connections inherited from the parent: this process opens its own
        state["pid"] = os.getpid()
    return _one_zone(zone, state["settings"], state["registry"], store)


#: What :func:`ingest_zone` imports when it runs (deferred, so that parsing the DAG files stays cheap).
PIPELINE_MODULES = ("monitoring.influx", "monitoring.quality", "monitoring.units", "sensors.hj212.bulk",
                    "sensors.lab", "sensors.ledger", "sensors.spool")


def warm_up() -> None:
    """Import the pipeline's modules and build Great Expectations' context and suite and the parameter
    table (~3 s of CPU), then settle the heap (:func:`_settle_heap`): done once before forking zone
    workers, which then start warm (each imported ``sensors.hj212.bulk``, ``sensors.lab``… itself, ~0.2 s,
    inside its "decode" step)."""
    import importlib

    for name in PIPELINE_MODULES:
        importlib.import_module(name)
    importlib.import_module("monitoring.quality").warm_up()
    importlib.import_module("monitoring.units").parameter_table()
    _settle_heap()


@cache
def _settle_heap() -> None:
    """One full garbage collection now, then every object alive moved to the collector's permanent
    generation (:func:`gc.freeze`, as the ``gc`` documentation advises before ``fork()``).

    The warm-up leaves ~10⁶ long-lived objects (GE, pydantic, pandas); the first full collection after it
    walks them all. Without this it ran inside each zone worker's first decode: a 50-packet decode took
    0.22 s of CPU the first time and 0.01 s after, and a zone's first decode 0.36 s against 0.18 s (the
    ratio bench's 2 workers paid it twice, ~0.4 s of CPU). Frozen objects are not scanned again, in this
    process or in forked workers (whose pages they then also stop dirtying), until :func:`ingest_zones`
    has its workers back and unfreezes them."""
    gc.collect()
    gc.freeze()


def pending_bytes(zone: str, settings: Settings) -> int:
    """Bytes waiting for the zone's next run: its unclaimed spool segments and landing files."""
    from sensors.spool import Spool

    total = Spool(settings.spool_dir).pending_bytes(zone)
    for sub in ("lab", "ledger"):
        for path in (settings.landing_dir / zone / sub).glob("*"):
            with contextlib.suppress(FileNotFoundError):     # claimed by a run meanwhile
                if path.is_file():
                    total += path.stat().st_size
    return total


def default_workers() -> int:
    """Zone processes when none are asked for: one per CPU core, plus one.

    A zone worker waits on InfluxDB for about two thirds of its write step (ratio bench: write 1.43 s
    wall, 0.47 s CPU, summed over zones), and a run's five zones split 3 + 2 over two workers: with one
    more worker than cores a waiting worker's core goes to another zone, and the last zone does not
    run alone. Measured with ``ingest_zones`` on the ratio bench's spool (2 cores, fresh database, biggest
    zones first): 1.79–1.88 s with 2 workers, 1.58–1.69 s with 3 on a quiet machine; 6 alternating pairs
    on a busy one, median 2.11 s with 2 and 2.03 s with 3 (3 faster in 5 pairs), for 0.1–0.3 s more
    CPU (one more fork and first zone)."""
    return (os.cpu_count() or 1) + 1


def ingest_zones(zones: list[str], *, settings: Settings | None = None, registry: Registry | None = None,
                 store=None, workers: int | None = None) -> tuple[list[IngestReport], list[ZoneFailure]]:
    """Run :func:`ingest_zone` for each zone, ``workers`` zones at a time in their own processes
    (default :func:`default_workers`), as the Airflow DAG maps one task per zone; one failing zone never
    stops the others. Zones start biggest input first (:func:`pending_bytes`), so that no big zone is
    left to run alone at the end; reports come back in ``zones`` order.

    A failure is logged with its reason (secrets redacted) and returned; its claimed input went back
    to the spool / landing folder, so the next run tries it again. Worker processes are forked after
    the heavy imports and Great Expectations' context were made (:func:`monitoring.quality.warm_up`),
    so each starts warm; each opens its own InfluxDB connections (never one shared across a fork).
    """
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    settings = settings or load_settings()
    registry = registry or load_registry(settings.registry_path)
    workers = max(1, min(workers or default_workers(), len(zones)))
    if workers == 1:
        outcomes = [_one_zone(z, settings, registry, store) for z in zones]
    else:
        warm_up()  # once here, inherited by the forked workers
        _FORK_STATE.update(settings=settings.ensure_dirs(), registry=registry, store=store)
        gc.freeze()  # what this process made since, too: no worker's collector walks the parent's objects
        try:
            # (an unknown zone is never looked up on disk: it fails in its worker, naming the known ones)
            size = {z: pending_bytes(z, settings) if z in registry.zones else 0 for z in zones}
            order = sorted(range(len(zones)), key=lambda i: -size[zones[i]])     # stable: ties keep order
            with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork")) as pool:
                started = {i: pool.submit(_one_zone_in_worker, zones[i]) for i in order}
                outcomes = [started[i].result() for i in range(len(zones))]
        finally:
            gc.unfreeze()  # the workers are gone: this process collects its own objects again (a caller
            #                that runs again, e.g. a test session, must not keep every object frozen)
    return ([o for o in outcomes if isinstance(o, IngestReport)],
            [o for o in outcomes if isinstance(o, ZoneFailure)])
