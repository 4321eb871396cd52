"""``envmon demo``: the main job on simulated data (see :mod:`monitoring.demo`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def command(
    days: Annotated[int, typer.Option(min=1, max=31, help="how many recent days to simulate")] = 7,
    seed: Annotated[int, typer.Option(help="simulation seed (same seed → same data)")] = 20261122,
    minute_hours: Annotated[int, typer.Option(min=0, max=168, help="hours (at the end) sent as minute data; "
                                                               "the whole period goes as hourly data")] = 24,
    data_dir: Annotated[Path | None, typer.Option(help="where spool, quarantine, records go "
                                                       "(default: a new temp dir)")] = None,
    once: Annotated[bool, typer.Option("--once", help="back-fill, summarise and exit (CI, benchmarks); "
                                                      "without it the live stack stays up until Ctrl-C")] = False,
) -> None:
    """Back-fill a simulated week through Airflow into InfluxDB and summarise; then keep the whole stack
    running (`envmon up --simulate` on the same data) with live simulated devices until Ctrl-C."""
    # deferred: each sub-command loads only what it runs, so `envmon --help` and the protocol tools start fast
    from monitoring.demo import keep_stack_up, run_demo

    result = run_demo(days=days, seed=seed, minute_hours=minute_hours, data_dir=data_dir)
    if not once:
        raise typer.Exit(keep_stack_up(result.data_dir, seed=seed))
