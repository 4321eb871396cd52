"""A throwaway local ``influxd`` (InfluxDB 1.x) for tests, the benchmark and the demo.

Production points ``ENVMON_INFLUX_URL`` at a real server; when it is unset, tests and the demo start one
of these: a private temporary directory (``meta/``, ``data/``, ``wal/``), a generated config file,
free loopback ports for the HTTP API and for the RPC ``bind-address`` (the ``:8088`` backup/restore
service), everything else off (usage reporting, the ``_internal`` monitor database, UDP, Graphite,
collectd, OpenTSDB, continuous queries, retention enforcement, shard pre-creation, pprof, HTTP access
log). Output goes to ``influxd.log`` in the temporary directory; when the server dies during start-up
the error carries the tail of that log.

The settings were checked against Debian's ``influxd`` 1.6.7 (``influxd config`` prints its defaults).
Start-up to the first ``204`` from ``/ping`` takes about 0.2–0.5 s on the development machine.

Usage::

    with managed_influxd() as url:          # "http://127.0.0.1:PORT"
        store = InfluxStore(url, "envmon")

or, when the life time is not a ``with`` block (the demo)::

    server = ManagedInfluxd().start()
    ...
    server.stop()
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import requests

from monitoring.services import free_port

__all__ = ["InfluxdNotInstalled", "InfluxdStartError", "ManagedInfluxd", "managed_influxd"]

#: Go's garbage-collector target for the influxd envmon runs (``envmon up``, the tests, the benches, the
#: demo; an operator's own ``GOGC`` wins): the heap may grow to 1.5× what is live instead of Go's default
#: 2×. Measured with ``bench_pipeline.py month`` (8 days, load ~8–12): influxd's peak RSS 626 → 406 MiB;
#: the one-server stack has to fit a month's back-fill in 2 GiB with the pipeline (issue #13).
INFLUXD_GOGC = "50"
#: Go's soft memory limit for the same influxd (Go ≥ 1.19; Debian's influxd 1.6.7 is built with go1.19.8; an
#: operator's own ``GOMEMLIMIT`` wins): near it the collector runs more often instead of letting the heap grow.
#: The series are bounded by the registry, so the live heap stays far below it; what it caps is the write
#: cache during a back-fill. ``bench_pipeline.py month`` (30 days, idle): influxd's anonymous memory 774 → 494
#: MiB, the whole process tree with influxd 2,088 → 1,888 MiB, 152 s → 164 s.
INFLUXD_GOMEMLIMIT = "500MiB"

INSTALL_HINT = (
    "the InfluxDB 1.x server binary 'influxd' is not on PATH; install it with "
    "'apt-get install influxdb' (as root, Debian/Ubuntu) or point ENVMON_INFLUX_URL at a running "
    "InfluxDB (1.x, 2.4+ or 3 Core: envmon only uses the v1 HTTP API)"
)

_CONFIG_TEMPLATE = """\
# Written by monitoring.influx.server for a throwaway server; removed when it stops.
reporting-enabled = false
bind-address = "127.0.0.1:{rpc_port}"

[meta]
  dir = "{base}/meta"
  retention-autocreate = true
  logging-enabled = false

[data]
  dir = "{base}/data"
  wal-dir = "{base}/wal"
  index-version = "inmem"
  query-log-enabled = false
  wal-fsync-delay = "0s"

[coordinator]
  write-timeout = "10s"

[retention]
  enabled = false

[shard-precreation]
  enabled = false

[monitor]
  store-enabled = false

[subscriber]
  enabled = false

[http]
  enabled = true
  bind-address = "{host}:{http_port}"
  auth-enabled = false
  log-enabled = false
  suppress-write-log = true
  write-tracing = false
  pprof-enabled = false
  https-enabled = false
  max-row-limit = 0
  max-body-size = 0
  unix-socket-enabled = false

[logging]
  level = "warn"
  suppress-logo = true

[ifql]
  enabled = false

[continuous_queries]
  enabled = false
  log-enabled = false
"""


def write_config(base_dir: Path, *, http_port: int, rpc_port: int | None = None,
                 host: str = "127.0.0.1") -> Path:
    """Write ``influxd.conf`` for a server keeping meta/data/wal under ``base_dir``; return its path.
    ``rpc_port``: the backup/restore RPC port on 127.0.0.1 (a free one when ``None``)."""
    for sub in ("meta", "data", "wal"):
        (base_dir / sub).mkdir(parents=True, exist_ok=True)
    rpc = rpc_port or free_port({http_port})
    config = base_dir / "influxd.conf"
    config.write_text(_CONFIG_TEMPLATE.format(base=base_dir.as_posix(), http_port=http_port, rpc_port=rpc,
                                              host=host), encoding="utf-8")
    return config


class InfluxdNotInstalled(RuntimeError):
    """``influxd`` is not on PATH."""


class InfluxdStartError(RuntimeError):
    """``influxd`` exited or did not answer ``/ping`` in time; the message ends with its log tail."""


def _tail(path: Path, lines: int = 30) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:]) or "(log is empty)"


class ManagedInfluxd:
    """One throwaway ``influxd`` process. :meth:`start` returns ``self``; :attr:`url` is the base URL.

    ``base_dir``: directory for meta/data/wal/config/log; a fresh temporary directory when ``None``.
    A temporary directory is removed by :meth:`stop`; a given ``base_dir`` is left in place, so
    ``stop()`` then ``start()`` restarts the same server with its data. ``port``: HTTP port (a free one
    when ``None``); after the first start the port is kept, so a restart answers on the same URL (the
    demo and the tests use that to simulate an outage).
    """

    def __init__(self, base_dir: Path | None = None, *, startup_timeout: float = 30,
                 stop_timeout: float = 10, binary: str = "influxd", port: int | None = None) -> None:
        self._given_dir = Path(base_dir) if base_dir is not None else None
        self.startup_timeout = startup_timeout
        self.stop_timeout = stop_timeout
        self.binary = binary
        self.base_dir: Path | None = None
        self.url: str | None = None
        self.http_port: int | None = port
        self.startup_seconds: float | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._owns_dir = False

    # -------------------------------------------------------------------------------------------
    @property
    def log_path(self) -> Path:
        assert self.base_dir is not None, "not started"
        return self.base_dir / "influxd.log"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> ManagedInfluxd:
        """Start the server and wait until ``GET /ping`` answers 204. Idempotent while running."""
        if self.running():
            return self
        exe = shutil.which(self.binary)
        if exe is None:
            raise InfluxdNotInstalled(INSTALL_HINT)
        if self._given_dir is not None:
            self.base_dir = self._given_dir
            self.base_dir.mkdir(parents=True, exist_ok=True)
            self._owns_dir = False
        else:
            self.base_dir = Path(tempfile.mkdtemp(prefix="envmon-influxd-"))
            self._owns_dir = True
        try:
            # The free-port probe races with other processes; a bind failure is retried on new ports.
            last_error: InfluxdStartError | None = None
            for _attempt in range(1 if self.http_port else 3):
                try:
                    self._launch(exe)
                    return self
                except InfluxdStartError as exc:
                    last_error = exc
                    if "address already in use" not in str(exc):
                        raise
            assert last_error is not None
            raise last_error
        except BaseException:
            self.stop()
            raise

    def _launch(self, exe: str) -> None:
        assert self.base_dir is not None
        http_port = self.http_port or free_port()
        rpc_port = free_port({http_port})
        config = write_config(self.base_dir, http_port=http_port, rpc_port=rpc_port)
        url = f"http://127.0.0.1:{http_port}"
        started = time.monotonic()
        with open(self.log_path, "ab") as log:
            self._proc = subprocess.Popen(
                [exe, "-config", str(config)], stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.STDOUT, start_new_session=True,
                env={"GOGC": INFLUXD_GOGC, "GOMEMLIMIT": INFLUXD_GOMEMLIMIT, **os.environ,
                     "INFLUXDB_REPORTING_DISABLED": "true"},
            )
        deadline = started + self.startup_timeout
        with requests.Session() as http:
            while True:
                code = self._proc.poll()
                if code is not None:
                    self._proc = None
                    raise InfluxdStartError(
                        f"influxd exited with status {code} during start-up "
                        f"(config {config}); last lines of {self.log_path}:\n{_tail(self.log_path)}")
                try:
                    if http.get(f"{url}/ping", timeout=1).status_code == 204:
                        break
                except requests.ConnectionError:
                    pass
                if time.monotonic() > deadline:
                    self._terminate()
                    raise InfluxdStartError(
                        f"influxd did not answer {url}/ping within {self.startup_timeout:g} s; "
                        f"last lines of {self.log_path}:\n{_tail(self.log_path)}")
                time.sleep(0.05)
        self.startup_seconds = time.monotonic() - started
        self.url, self.http_port = url, http_port

    def _terminate(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=self.stop_timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=self.stop_timeout)

    def stop(self) -> None:
        """SIGTERM (SIGKILL after ``stop_timeout`` s), then remove the temporary directory."""
        self._terminate()
        self.url = None
        if self._owns_dir and self.base_dir is not None:
            shutil.rmtree(self.base_dir, ignore_errors=True)
            self._owns_dir = False

    def __enter__(self) -> str:
        self.start()
        assert self.url is not None
        return self.url

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextlib.contextmanager
def managed_influxd(base_dir: Path | None = None, *, startup_timeout: float = 30) -> Iterator[str]:
    """Run a throwaway ``influxd`` for the ``with`` block; yields its base URL ``http://127.0.0.1:PORT``.

    Raises :class:`InfluxdNotInstalled` (with the install hint) when ``influxd`` is not on PATH and
    :class:`InfluxdStartError` (with the tail of its log) when it dies or does not answer in time.
    """
    server = ManagedInfluxd(base_dir, startup_timeout=startup_timeout)
    with server as url:
        yield url
