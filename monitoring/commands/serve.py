"""``envmon serve``: the console and the public site (uvicorn). The first stdout line holds the URL."""

from __future__ import annotations

import socket
import sys
from typing import Annotated

import typer


def command(
    host: Annotated[str, typer.Option("--host", help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="TCP port; 0 = a free one")] = 8000,
    log_level: Annotated[str, typer.Option("--log-level", help="uvicorn log level")] = "info",
    workers: Annotated[int, typer.Option("--workers", min=1, max=16,
                                         help="worker processes (one per CPU core: the pages are CPU-bound "
                                              "Python, one process uses one core)")] = 1,
) -> None:
    """Serve the bureau's console (/console) and the public site (/public)."""
    import uvicorn

    from monitoring.config import load_settings
    from monitoring.console import create_app

    settings = load_settings()
    create_app(settings)          # fail here, before listening, on a bad configuration or database
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        typer.echo(f"error: cannot listen on {host}:{port}: {exc.strerror}", err=True)
        raise typer.Exit(code=1) from None
    sock.listen(128)
    bound_port = sock.getsockname()[1]
    shown = f"[{host}]" if family == socket.AF_INET6 else host
    print(f"envmon console listening on http://{shown}:{bound_port}/", flush=True)
    config = uvicorn.Config("monitoring.console.app:serve_app", factory=True, workers=workers,
                            log_level=log_level, proxy_headers=False, server_header=False,
                            timeout_graceful_shutdown=5, timeout_worker_healthcheck=120)
    if workers > 1:
        from uvicorn.supervisors import Multiprocess
        Multiprocess(config, sockets=[sock]).run()
    else:
        uvicorn.Server(config).run(sockets=[sock])
    sys.exit(0)
