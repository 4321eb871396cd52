"""``envmon receiver``: the HJ 212 TCP receiver writing the durable spool."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from pathlib import Path
from typing import Annotated

import typer

from monitoring.config import load_settings


def command(
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port; 0 = pick a free one")] = 0,
    spool: Annotated[Path | None, typer.Option(help="spool directory (default: $ENVMON_DATA_DIR/spool)")] = None,
    quarantine: Annotated[Path | None, typer.Option(help="quarantine directory (default: "
                                                         "$ENVMON_DATA_DIR/quarantine)")] = None,
    registry: Annotated[Path | None, typer.Option(help="site registry YAML (default: $ENVMON_REGISTRY "
                                                       "or the packaged one)")] = None,
    idle_timeout: Annotated[float, typer.Option(help="close a connection silent for this many s")] = 600.0,
    rotate_seconds: Annotated[float, typer.Option(help="turn open spool segments into ready ones every "
                                                       "S seconds")] = 60.0,
) -> None:
    """Receive HJ 212 packets from devices; spool valid ones (fsync before the 9014 answer)."""
    # deferred: each sub-command loads only what it runs, so `envmon --help` and the protocol tools start fast
    from monitoring.registry import RegistryError, load_registry
    from sensors.receiver import Receiver, serve

    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = load_settings()
    try:
        reg = load_registry(registry or settings.registry_path)
    except RegistryError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None
    from monitoring.safety.fastpath import fast_path_from_settings

    fast = fast_path_from_settings(reg, settings)   # safety alarms as packets become durable (issue #14)
    receiver = Receiver(reg, spool or settings.spool_dir, quarantine or settings.quarantine_dir,
                        idle_timeout=idle_timeout, rotate_seconds=rotate_seconds,
                        on_durable=fast.on_durable if fast else None)

    def listening(h: str, p: int) -> None:
        print(f"listening on {h}:{p}", flush=True)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await serve(receiver, host, port, stop, on_listening=listening)

    try:
        asyncio.run(main())
    except OSError as exc:
        typer.echo(f"receiver: {exc}", err=True)
        raise typer.Exit(1) from None
    finally:
        if fast is not None:
            fast.stop()
    s = receiver.stats
    typer.echo(f"stopped: {s.packets} packets spooled, {s.answers} answered, "
               f"{sum(s.quarantined.values())} quarantined", err=True)


if __name__ == "__main__":  # ``python -m monitoring.commands.receiver`` (without the other commands)
    typer.run(command)
