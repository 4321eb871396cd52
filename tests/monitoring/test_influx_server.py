"""The managed throwaway influxd: a real /usr/bin/influxd process, real sockets."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import requests

from monitoring.influx import InfluxStore
from monitoring.influx.server import InfluxdNotInstalled, InfluxdStartError, ManagedInfluxd, managed_influxd


def _listening_addresses(pid: int) -> set[tuple[str, int]]:
    """(IPv4/IPv6 address hex, port) of the TCP sockets process ``pid`` listens on (from /proc)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    found = set()
    for table in ("tcp", "tcp6"):
        path = Path(f"/proc/{pid}/net/{table}")
        if not path.exists():
            continue
        for row in path.read_text().splitlines()[1:]:
            cols = row.split()
            local, state, inode = cols[1], cols[3], cols[9]
            if state == "0A" and inode in inodes:  # 0A = LISTEN
                addr, port = local.split(":")
                found.add((addr, int(port, 16)))
    return found


def test_managed_influxd_serves_ping_and_cleans_up() -> None:
    server = ManagedInfluxd()
    with server as url:
        assert url.startswith("http://127.0.0.1:")
        ping = requests.get(f"{url}/ping", timeout=5)
        assert ping.status_code == 204
        assert ping.headers["X-Influxdb-Version"].startswith("1.")
        base = server.base_dir
        assert base is not None and (base / "influxd.conf").is_file()
        assert {p.name for p in base.iterdir()} >= {"meta", "data", "wal", "influxd.log"}
        # Only loopback listeners: the HTTP API and the RPC (backup) service, nothing else.
        listening = _listening_addresses(server.pid or 0)
        assert {port for _, port in listening} >= {server.http_port}
        assert len(listening) == 2, listening
        assert all(addr == "0100007F" for addr, _ in listening), listening
        assert server.startup_seconds is not None and server.startup_seconds < 10
    assert not server.running()
    assert not base.exists()
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{url}/ping", timeout=2)


def test_restart_keeps_url_and_data(tmp_path: Path) -> None:
    server = ManagedInfluxd(tmp_path / "influx")
    url = server.__enter__()
    try:
        store = InfluxStore(url, "persist")
        store.ensure_database()
        store.write_lines(["m,site=a v=1.5 1772323200"], precision="s")
        server.stop()
        assert not store.ping()
        server.start()
        assert server.url == url and store.ping()
        assert store.count("m") == 1
    finally:
        server.stop()
    assert (tmp_path / "influx" / "data").is_dir()  # a given base_dir is left in place


def test_missing_binary_says_what_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty directory: no influxd anywhere
    with pytest.raises(InfluxdNotInstalled, match="apt-get install influxdb"), managed_influxd():
        pass


def test_start_failure_reports_log_tail(tmp_path: Path) -> None:
    (tmp_path / "meta").mkdir()
    (tmp_path / "meta" / "meta.db").write_bytes(b"this is not a meta store\n")
    with pytest.raises(InfluxdStartError) as info, managed_influxd(tmp_path):
        pass
    message = str(info.value)
    assert "exited with status" in message
    assert "influxd.log" in message and "create server" in message  # influxd's own words from its log


def test_managed_influxd_runs_with_the_gc_target(monkeypatch: pytest.MonkeyPatch) -> None:
    """influxd's heap may grow to 1.5× what is live (GOGC=50) and softly to 500 MiB (GOMEMLIMIT), unless the
    environment says otherwise."""
    monkeypatch.delenv("GOGC", raising=False)
    monkeypatch.setenv("GOMEMLIMIT", "700MiB")
    server = ManagedInfluxd()
    with server:
        env = Path(f"/proc/{server.pid}/environ").read_bytes().split(b"\0")
    assert b"GOGC=50" in env and b"GOMEMLIMIT=700MiB" in env
    monkeypatch.delenv("GOMEMLIMIT")
    server = ManagedInfluxd()
    with server:
        env = Path(f"/proc/{server.pid}/environ").read_bytes().split(b"\0")
    assert b"GOMEMLIMIT=500MiB" in env
