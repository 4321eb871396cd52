"""A throwaway local PostgreSQL cluster for the tests (the SQL store runs on PostgreSQL in deployment).

Like :mod:`monitoring.influx.server`: a private temporary directory holds the cluster (``initdb``), the server
(``postgres``) listens on a free loopback port only (``listen_addresses=127.0.0.1``, its Unix socket inside
the temporary directory), with ``trust`` authentication for the superuser ``envmon`` (nothing else can
reach it), ``fsync=off`` (throwaway data), and is stopped with ``SIGINT`` (fast shutdown) at the end.

``initdb`` and ``postgres`` refuse to run as root. CI runs as root, so as root the cluster directory is
given to an unprivileged account (``postgres``, made by Debian's package, else ``nobody``) and both are run
under ``runuser -u ACCOUNT --``.

The binaries come from Debian's ``postgresql`` package (``/usr/lib/postgresql/<major>/bin``, not on
``PATH``); ``scripts/ensure-system-deps.sh`` installs it.

Usage::

    with managed_postgres() as url:   # "postgresql+psycopg://envmon@127.0.0.1:PORT/postgres"
        ...
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from monitoring.services import free_port

__all__ = ["PostgresNotInstalled", "PostgresStartError", "find_pg_bin", "managed_postgres"]

INSTALL_HINT = ("PostgreSQL's server binaries (initdb, postgres) were not found in /usr/lib/postgresql/*/bin "
                "or on PATH; install Debian's 'postgresql' package (scripts/ensure-system-deps.sh does) or "
                "point ENVMON_TEST_DB_URL at a PostgreSQL server where the user may CREATE DATABASE")

SUPERUSER = "envmon"


class PostgresNotInstalled(RuntimeError):
    pass


class PostgresStartError(RuntimeError):
    pass


def find_pg_bin() -> Path:
    """The directory holding ``initdb`` and ``postgres`` (newest Debian major version first)."""
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                        key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0,
                        reverse=True)
    for c in candidates:
        return Path(c).parent
    exe = shutil.which("initdb")
    if exe:
        return Path(os.path.realpath(exe)).parent
    raise PostgresNotInstalled(INSTALL_HINT)


def _unprivileged_prefix(base: Path) -> list[str]:
    """``runuser -u ACCOUNT --`` when we are root (and hand ``base`` to that account), else nothing."""
    if os.geteuid() != 0:
        return []
    for account in ("postgres", "nobody"):
        try:
            pw = pwd.getpwnam(account)
        except KeyError:
            continue
        for root, dirs, files in os.walk(base):
            for name in (root, *(os.path.join(root, d) for d in dirs), *(os.path.join(root, f) for f in files)):
                os.chown(name, pw.pw_uid, pw.pw_gid)
        return ["runuser", "-u", account, "--"]
    raise PostgresStartError("running as root and no unprivileged account (postgres, nobody) to run "
                             "initdb/postgres as")


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


@contextlib.contextmanager
def managed_postgres(*, startup_timeout: float = 60) -> Iterator[str]:
    """Start a throwaway cluster; yield its SQLAlchemy URL (database ``postgres``); stop and delete it."""
    import psycopg  # deferred: optional driver, only needed for the PostgreSQL test cluster

    bindir = find_pg_bin()
    base = Path(tempfile.mkdtemp(prefix="envmon-pg-"))
    data, log = base / "data", base / "postgres.log"
    proc: subprocess.Popen | None = None
    try:
        prefix = _unprivileged_prefix(base)
        init = subprocess.run([*prefix, str(bindir / "initdb"), "-D", str(data), "-U", SUPERUSER, "-A", "trust",
                               "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"],
                              capture_output=True, text=True, check=False)
        if init.returncode != 0:
            raise PostgresStartError(f"initdb failed ({init.returncode}): {init.stderr.strip()[-2000:]}")
        port = free_port()
        with open(log, "ab") as logf:
            proc = subprocess.Popen(
                [*prefix, str(bindir / "postgres"), "-D", str(data), "-p", str(port), "-h", "127.0.0.1",
                 "-k", str(base), "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
                 "-c", "max_connections=200", "-c", "shared_buffers=32MB"],
                stdout=logf, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + startup_timeout
        while True:
            if proc.poll() is not None:
                raise PostgresStartError(f"postgres exited with {proc.returncode} during start-up:\n{_tail(log)}")
            try:
                with psycopg.connect(host="127.0.0.1", port=port, user=SUPERUSER, dbname="postgres",
                                     connect_timeout=2):
                    break
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise PostgresStartError(f"postgres not accepting connections after {startup_timeout:.0f} s:"
                                             f"\n{_tail(log)}") from None
                time.sleep(0.1)
        yield f"postgresql+psycopg://{SUPERUSER}@127.0.0.1:{port}/postgres"
    finally:
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGINT)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        shutil.rmtree(base, ignore_errors=True)
