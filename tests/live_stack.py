"""Harness for tests and benchmarks under the real Airflow scheduler: ``envmon up`` as a subprocess.

:class:`LiveStack` starts ``envmon up --free-ports [--simulate]`` on a private data directory with a
clean environment (no ``AIRFLOW_*``/``ENVMON_*`` of the calling test session), waits until every service
answers, lists the processes of the stack, and stops it with SIGTERM like a person pressing Ctrl-C.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _clean_env(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "ENVMON_"))}
    env["PYTHONPATH"] = str(REPO) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.update(extra)
    return env


def process_tree(root: int) -> list[tuple[int, str]]:
    """(pid, command line) of ``root`` and all its descendants (from /proc)."""
    children: dict[int, list[int]] = {}
    cmdline: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry.name))
        cmdline[int(entry.name)] = cmd
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        if pid in cmdline:
            out.append((pid, cmdline[pid][:160]))
        todo.extend(children.get(pid, []))
    return sorted(out)


@dataclass
class LiveStack:
    data_dir: Path
    simulate: bool = True
    healthy: bool = False
    env: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen | None = None
    info: dict = field(default_factory=dict)

    def start(self, timeout: float = 300) -> LiveStack:
        from monitoring.services import Layout
        from monitoring.supervise import wait_healthy

        args = [sys.executable, "-m", "monitoring.cli", "up", "--free-ports", "--data-dir", str(self.data_dir)]
        if self.simulate:
            args.append("--simulate")
        if self.healthy:
            args.append("--healthy")
        self.log = open(  # noqa: SIM115 - open for the life of the stack
            self.data_dir.parent / f"{self.data_dir.name}-up.out", "wb")
        self.proc = subprocess.Popen(args, env=_clean_env(self.env), stdout=self.log, stderr=subprocess.STDOUT,
                                     start_new_session=True, cwd=REPO)
        stack = self.data_dir / "run" / "stack.json"
        deadline = time.monotonic() + timeout
        while not stack.exists() or stack.stat().st_mtime < time.time() - 3600:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"envmon up did not start: {self.output()[-3000:]}")
            time.sleep(0.5)
        time.sleep(0.5)
        self.info = json.loads(stack.read_text(encoding="utf-8"))
        self.layout = Layout(data_dir=self.data_dir, ports=self.info["ports"], simulate=self.simulate,
                             simulate_healthy=self.healthy)
        wait_healthy(self.layout, None, timeout=max(10.0, deadline - time.monotonic()))
        return self

    def output(self) -> str:
        path = self.data_dir.parent / f"{self.data_dir.name}-up.out"
        return path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""

    def processes(self) -> list[tuple[int, str]]:
        assert self.proc is not None
        return process_tree(self.proc.pid)

    @property
    def influx_url(self) -> str:
        return self.info["influx_url"]

    def settings(self):
        from monitoring.config import load_settings

        return load_settings(data_dir=self.data_dir, influx_url=self.influx_url, db_url=None)

    def silence(self, points: list[str]) -> None:
        """Points (ids or MNs) the live simulator stops sending for (re-read every tick)."""
        path = self.data_dir / "run" / "silent-points"
        path.write_text("".join(p + "\n" for p in points), encoding="utf-8")

    def supervisorctl(self, *args: str) -> str:
        ctl = Path(sys.executable).with_name("supervisorctl")
        done = subprocess.run([str(ctl), "-c", str(self.data_dir / "run" / "supervisord.conf"), *args],
                              check=False, capture_output=True, text=True, env=_clean_env(self.env))
        return done.stdout + done.stderr

    def stop(self, timeout: float = 120) -> int:
        """SIGTERM to ``envmon up`` (as Ctrl-C would); returns its exit status."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            code = self.proc.wait()
        self.log.close()
        return code


def alive(pids: list[int]) -> list[int]:
    out = []
    for pid in pids:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            continue
        # a zombie is gone for our purposes
        try:
            if (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
                continue
        except OSError:
            continue
        out.append(pid)
    return out
