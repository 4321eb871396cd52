"""``envmon up``: the whole one-server stack in the foreground (see :mod:`monitoring.supervise`)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer


def command(
    data_dir: Annotated[Path | None, typer.Option(help="data directory (default: $ENVMON_DATA_DIR)")] = None,
    simulate: Annotated[bool, typer.Option(help="live simulated devices send to the receiver")] = False,
    seed: Annotated[int, typer.Option(help="simulation seed for --simulate")] = 20261122,
    healthy: Annotated[bool, typer.Option(help="with --simulate: no outages, faults or exceedance "
                                               "episodes (a clean feed, for tests)")] = False,
    airflow_port: Annotated[int, typer.Option(help="Airflow api-server (UI) port; 0 = a free one")] = 8080,
    receiver_port: Annotated[int, typer.Option(help="HJ 212 receiver port; 0 = a free one")] = 9212,
    influx_port: Annotated[int, typer.Option(help="managed influxd port; 0 = a free one")] = 8086,
    console_port: Annotated[int, typer.Option(help="console and public site port; 0 = a free one")] = 8000,
    free_ports: Annotated[bool, typer.Option(help="every port a free one (tests, a second stack)")] = False,
) -> None:
    """Start and supervise every process of a one-server deployment until Ctrl-C / SIGTERM."""
    # deferred: each sub-command loads only what it runs, so `envmon --help` and the protocol tools start fast
    from monitoring.config import load_settings
    from monitoring.services import DEFAULT_PORTS, Layout, resolve_ports
    from monitoring.supervise import up

    settings = load_settings(**({"data_dir": data_dir.resolve()} if data_dir else {}))
    requested = ({k: 0 for k in DEFAULT_PORTS} if free_ports else
                 {"airflow-apiserver": airflow_port, "receiver": receiver_port, "influxdb": influx_port,
                  "console": console_port})
    layout = Layout(data_dir=settings.data_dir, ports=resolve_ports(requested),
                    influx_url=settings.influx_url,
                    airflow_db_url=os.environ.get("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN") or None,
                    simulate=simulate, simulate_healthy=healthy, seed=seed)
    raise typer.Exit(up(layout, echo=typer.echo))
