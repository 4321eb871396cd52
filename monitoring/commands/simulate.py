"""``envmon simulate packets|send|lab|ledger``: simulated county data (seeded, deterministic).

Times are what people type: local dates/times in Asia/Shanghai (``2024-03-01`` or ``2024-03-01T08:00``),
``--to`` exclusive.
"""

from __future__ import annotations

import logging
import signal
import sys
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

from monitoring.config import LOCAL_TZ, load_settings
from monitoring.registry import Registry, load_registry

app = typer.Typer(help="Simulate online readings (as HJ 212 packets), lab results and HW ledgers.",
                  no_args_is_help=True)

_FROM = typer.Option(..., "--from", help="start, local time (Asia/Shanghai), e.g. 2024-03-01")
_TO = typer.Option(..., "--to", help="end (exclusive), local time")


def _when(text: str) -> datetime:
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not a date/time like 2024-03-01 or 2024-03-01T08:00") from None
    return dt.replace(tzinfo=LOCAL_TZ) if dt.tzinfo is None else dt


def _registry(path: Path | None) -> Registry:
    return load_registry(path or load_settings().registry_path)


def _packets(reg: Registry, start: str, end: str, zone: str | None, seed: int, interval: int | None,
             truth: Path | None):
    # deferred: each sub-command loads only what it runs, so `envmon --help` and the protocol tools start fast
    from sensors.simulator import simulate_readings, simulation_truth, to_packets

    s, e = _when(start), _when(end)
    if e <= s:
        raise typer.BadParameter("--to must be after --from")
    if truth:
        paths = simulation_truth(reg, s, e, seed=seed, zone=zone).write(truth)
        typer.echo(f"ground truth: {', '.join(map(str, paths))}", err=True)
    for frame in simulate_readings(reg, s, e, seed=seed, interval_s=interval, zone=zone):
        yield from to_packets(frame, reg, seed=seed)


@app.command("packets")
def packets(start: str = _FROM, end: str = _TO,
            out: Path = typer.Option(..., help="output file, one HJ 212 packet per line"),
            zone: str | None = typer.Option(None, help="zone id / 中文名 / pinyin (default: all)"),
            seed: int = typer.Option(1, help="random seed"),
            interval: int | None = typer.Option(None, help="reporting interval s (default: per point)"),
            truth: Path | None = typer.Option(None, help="directory for the ground-truth CSVs"),
            registry: Path | None = typer.Option(None, help="registry YAML")) -> None:
    """Write simulated minute data (CN 2051) as HJ 212 packets to a file."""
    # deferred: each sub-command loads only what it runs, so `envmon --help` and the protocol tools start fast
    from sensors.simulator import write_packets

    reg = _registry(registry)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(b"")
    n = write_packets(_packets(reg, start, end, zone, seed, interval, truth), out)
    typer.echo(f"{n} packets → {out}")


@app.command("send")
def send(start: str = _FROM, end: str = _TO,
         host: str = typer.Option("127.0.0.1", help="receiver host"),
         port: int = typer.Option(..., help="receiver port"),
         connections: int = typer.Option(8, help="TCP connections (device groups)"),
         zone: str | None = typer.Option(None, help="zone id / 中文名 / pinyin (default: all)"),
         seed: int = typer.Option(1, help="random seed"),
         interval: int | None = typer.Option(None, help="reporting interval s (default: per point)"),
         truth: Path | None = typer.Option(None, help="directory for the ground-truth CSVs"),
         registry: Path | None = typer.Option(None, help="registry YAML")) -> None:
    """Simulate and send the packets to an HJ 212 receiver; report 9014 answers. Exit 1 if any missing."""
    # deferred: each sub-command loads only what it runs, so `envmon --help` and the protocol tools start fast
    from sensors.simulator import send_packets

    reg = _registry(registry)
    report = send_packets(host, port, _packets(reg, start, end, zone, seed, interval, truth),
                          connections=connections)
    typer.echo(str(report))
    for err in report.errors:
        typer.echo(err, err=True)
    if report.errors or report.acked < report.ack_requested:
        raise typer.Exit(1)


@app.command("lab")
def lab(start: str = _FROM, end: str = _TO,
        out: Path = typer.Option(..., help="output directory (a sub-folder per zone)"),
        seed: int = typer.Option(1, help="random seed"),
        encoding: str = typer.Option("utf-8-sig", help="utf-8-sig or gb18030"),
        registry: Path | None = typer.Option(None, help="registry YAML")) -> None:
    """Write simulated lab results (groundwater wells, wastewater grab samples) as CSV per zone."""
    # deferred: each sub-command loads only what it runs, so `envmon --help` and the protocol tools start fast
    from sensors.simulator import simulate_lab, write_lab_csv

    reg = _registry(registry)
    s, e = _when(start), _when(end)
    frame = simulate_lab(reg, s, e, seed=seed)
    zone_of = {p.id: p.zone for p in reg}
    for zone, part in frame.groupby(frame["监测点位"].map(zone_of), sort=True):
        path = write_lab_csv(part, out / str(zone) / f"lab_{s:%Y%m%d}_{e:%Y%m%d}.csv", encoding=encoding)
        typer.echo(f"{len(part)} results → {path}")


@app.command("ledger")
def ledger(start: str = _FROM, end: str = _TO,
           out: Path = typer.Option(..., help="output directory (a sub-folder per zone)"),
           seed: int = typer.Option(1, help="random seed"),
           truth: Path | None = typer.Option(None, help="CSV file for the injected problems"),
           registry: Path | None = typer.Option(None, help="registry YAML")) -> None:
    """Write simulated hazardous-waste ledgers (one CSV per zone) and optionally the injected problems."""
    # deferred: each sub-command loads only what it runs, so `envmon --help` and the protocol tools start fast
    from sensors.simulator import simulate_ledger, simulate_ledger_truth, write_ledger_csv

    reg = _registry(registry)
    s, e = _when(start), _when(end)
    for path in write_ledger_csv(simulate_ledger(reg, s, e, seed=seed), out, reg):
        typer.echo(f"ledger → {path}")
    if truth:
        truth.parent.mkdir(parents=True, exist_ok=True)
        simulate_ledger_truth(reg, s, e, seed=seed).to_csv(truth, index=False, encoding="utf-8-sig")
        typer.echo(f"injected problems → {truth}")


@app.command("live")
def live(port: Annotated[int, typer.Option(help="receiver port")],
         host: Annotated[str, typer.Option(help="receiver host")] = "127.0.0.1",
         seed: Annotated[int, typer.Option(help="random seed (same as the demo's back-fill)")] = 20261122,
         tick: Annotated[float, typer.Option(help="send every TICK s what was measured since the last")] = 60.0,
         healthy: Annotated[bool, typer.Option(help="no outages, faults or exceedance episodes")] = False,
         silence_file: Annotated[Path | None, typer.Option(
             help="file of point ids / MNs that send nothing (re-read every tick; default "
                  "$ENVMON_DATA_DIR/run/silent-points)")] = None,
         registry: Annotated[Path | None, typer.Option(help="registry YAML")] = None) -> None:
    """Keep the simulated devices sending live packets for the current time until SIGTERM / Ctrl-C."""
    # deferred: each sub-command loads only what it runs, so `envmon --help` and the protocol tools start fast
    from sensors.live import healthy_profiles, run_live

    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    reg = _registry(registry)
    stop = {"now": False}

    def on_signal(_sig, _frame) -> None:
        stop["now"] = True

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, on_signal)
    silence = silence_file or load_settings().data_dir / "run" / "silent-points"
    run_live(reg, host, port, seed=seed, tick_s=tick, profiles=healthy_profiles() if healthy else None,
             silence_file=silence, should_stop=lambda: stop["now"])
