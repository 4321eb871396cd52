"""``envmon up``: run the one-server stack of :mod:`monitoring.services` under supervisord, in the foreground.

Supervision is Supervisor's (``supervisord -n``), not ours: each service is a ``[program:…]`` with
``autorestart`` (a process that dies is started again; a process that dies within ``startsecs`` is
retried with a growing back-off of 1, 2, 3 … s, up to ``startretries`` times, then marked FATAL), its
output in ``logs/<service>.log``, and ``stopasgroup``/``killasgroup`` so that a stop reaches the
process's children too (the LocalExecutor's workers, the api-server's uvicorn workers). supervisord
logs every start, exit and restart to ``logs/supervisord.log`` and to the terminal.

What :func:`up` does:

1. creates the data directory layout and, for a managed InfluxDB, its config under ``influxdb/``;
2. runs ``airflow db migrate`` once (compose's ``airflow-init``);
3. writes ``run/supervisord.conf`` (mode 0600; no secrets in it: they are in the environment that
   supervisord passes on to every program);
4. prints ``envmon up: <data dir>`` and one line per service with its address;
5. runs supervisord until SIGINT/SIGTERM, then lets it stop every program (SIGTERM, SIGKILL after the
   service's grace) and returns 0.
"""

from __future__ import annotations

import json
import os
import secrets
import shlex
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import requests

from monitoring.airflow_preload import LOCAL_SETTINGS
from monitoring.config import load_settings
from monitoring.influx.server import INFLUXD_GOGC, INFLUXD_GOMEMLIMIT, write_config
from monitoring.services import INIT_COMMAND, Layout, Service

SUPERVISORD = Path(sys.executable).with_name("supervisord")


def write_influx_config(layout: Layout) -> Path:
    """influxd config for the managed server: data under ``influxdb/``, HTTP on the layout's port."""
    layout.influx_dir.mkdir(parents=True, exist_ok=True)
    return write_config(layout.influx_dir, http_port=layout.ports["influxdb"], host=layout.host)


def supervisord_conf(layout: Layout) -> str:
    """The supervisord configuration of ``layout`` (programs in start order)."""
    from monitoring.services import _secret

    run, logs = layout.run_dir, layout.log_dir
    # the control socket (supervisorctl) is 0700 and password-protected; the conf file is 0600
    ctl_password = _secret(layout.data_dir / "secrets" / "supervisor-password")
    lines = [
        "; written by envmon up; regenerated at every start",
        "[supervisord]",
        "nodaemon = true",
        f"logfile = {logs / 'supervisord.log'}",
        "logfile_maxbytes = 10MB",
        "loglevel = info",
        f"pidfile = {run / 'supervisord.pid'}",
        f"childlogdir = {logs}",
        "@@USER@@",
        "[unix_http_server]",
        f"file = {run / 'supervisor.sock'}",
        "chmod = 0700",
        "username = envmon",
        f"password = {ctl_password}",
        "",
        "[rpcinterface:supervisor]",
        "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface",
        "",
        "[supervisorctl]",
        f"serverurl = unix://{run / 'supervisor.sock'}",
        "username = envmon",
        f"password = {ctl_password}",
    ]
    lines[lines.index("@@USER@@")] = "user = root\n" if os.geteuid() == 0 else ""
    for service in layout.services():
        argv = " ".join(_quote(a) for a in layout.argv(service))
        lines += [
            "",
            f"[program:{service.name}]",
            f"command = {argv}",
            f"directory = {layout.data_dir}",
            f"priority = {service.priority}",
            "autostart = true",
            "autorestart = true",
            "startsecs = 5",
            "startretries = 10",
            "stopsignal = TERM",
            f"stopwaitsecs = {service.stop_seconds}",
            "stopasgroup = true",
            "killasgroup = true",
            "redirect_stderr = true",
            f"stdout_logfile = {logs / (service.name + '.log')}",
            "stdout_logfile_maxbytes = 20MB",
            "stdout_logfile_backups = 3",
        ]
        if service.name == "influxdb":   # Go's GC target and soft memory limit (monitoring.influx.server)
            lines.append(f'environment = GOGC="{os.environ.get("GOGC", INFLUXD_GOGC)}",'
                         f'GOMEMLIMIT="{os.environ.get("GOMEMLIMIT", INFLUXD_GOMEMLIMIT)}"')
    return "\n".join(lines) + "\n"


def _quote(arg: str) -> str:
    """supervisord splits ``command`` like a shell (shlex); '%' starts its own expansions."""
    return shlex.quote(arg).replace("%", "%%")


def service_lines(layout: Layout) -> list[str]:
    """What ``envmon up`` prints: the data directory, then one line per service with its address."""
    out = [f"envmon up: {layout.data_dir}"]
    for s in layout.services():
        if s.name == "airflow-apiserver":
            where = (f"{layout.url('airflow-apiserver')}  (Airflow UI; user admin, password in "
                     f"{layout.airflow_home / 'passwords.json'})")
        elif s.name == "receiver":
            where = f"tcp://{layout.host}:{layout.ports['receiver']}  (HJ 212 devices)"
        elif s.name == "simulator":
            where = f"live simulated devices → tcp://{layout.host}:{layout.ports['receiver']} (seed {layout.seed})"
        elif s.port_key:
            where = layout.url(s.port_key) + (s.health or "")
        else:
            where = "(no port)"
        out.append(f"  {s.name:<22} {where}")
    if layout.influx_url:
        out.append(f"  {'influxdb':<22} {layout.influx_url}  (ENVMON_INFLUX_URL, not managed)")
    out.append(f"  {'logs':<22} {layout.log_dir}")
    return out


def _ui_password(path: Path) -> None:
    """The Airflow UI user's password, generated here (mode 0600) so that Airflow's SimpleAuthManager
    finds it and does not print a freshly generated one into the api-server log."""
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump({"admin": secrets.token_urlsafe(12)}, fh)


def prepare(layout: Layout) -> dict[str, str]:
    """Directories, influxd config, the shared environment, ``airflow db migrate``. Returns the env."""
    for d in (layout.data_dir, layout.run_dir, layout.log_dir, layout.airflow_home):
        d.mkdir(parents=True, exist_ok=True)
    os.chmod(layout.data_dir, 0o700)
    load_settings(data_dir=layout.data_dir).ensure_dirs()
    if layout.influx_url is None:
        write_influx_config(layout)
    _ui_password(layout.airflow_home / "passwords.json")

    (layout.airflow_home / "config").mkdir(exist_ok=True)
    (layout.airflow_home / "config" / "airflow_local_settings.py").write_text(LOCAL_SETTINGS, encoding="utf-8")
    env = {**os.environ, **layout.environment()}
    done = subprocess.run([str(Path(sys.executable).with_name(INIT_COMMAND[0])), *INIT_COMMAND[1:]],
                          check=False, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"airflow db migrate failed:\n{done.stderr[-3000:]}")
    (layout.run_dir / "stack.json").write_text(json.dumps(
        {"data_dir": str(layout.data_dir), "ports": layout.ports, "host": layout.host,
         "started_at": datetime.now(UTC).isoformat(),       # the deadman's start-up grace begins here
         "influx_url": env["ENVMON_INFLUX_URL"], "services": [s.name for s in layout.services()]},
        indent=1), encoding="utf-8")
    conf = layout.run_dir / "supervisord.conf"
    conf.write_text(supervisord_conf(layout), encoding="utf-8")
    os.chmod(conf, 0o600)
    return env


def start(layout: Layout, env: dict[str, str], *, quiet: bool = False) -> subprocess.Popen:
    """Start supervisord (foreground mode, its own session so a test can stop it cleanly)."""
    out = subprocess.DEVNULL if quiet else None
    return subprocess.Popen([str(SUPERVISORD), "-c", str(layout.run_dir / "supervisord.conf")], env=env,
                            stdout=out, stderr=out, start_new_session=True)


def stop(proc: subprocess.Popen, timeout: float = 90) -> int:
    """SIGTERM to supervisord: it stops every program, then exits. Returns its exit status."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        return proc.wait()


def healthy(layout: Layout, service: Service) -> bool:
    """Is ``service`` answering? (HTTP health path, or a TCP accept on its port, or always for none)."""
    if service.port_key is None:
        return True
    port = layout.ports[service.port_key]
    if service.health:
        try:
            r = requests.get(f"http://{layout.host}:{port}{service.health}", timeout=2)
            return r.status_code < 300
        except requests.RequestException:
            return False
    try:
        with socket.create_connection((layout.host, port), timeout=2):
            return True
    except OSError:
        return False


def wait_healthy(layout: Layout, proc: subprocess.Popen | None = None, timeout: float = 240,
                 progress: Callable[[str], None] | None = None) -> None:
    """Block until every service answers; raise if supervisord exits or ``timeout`` s pass."""
    pending = list(layout.services())
    deadline = time.monotonic() + timeout
    while pending:
        pending = [s for s in pending if not healthy(layout, s)]
        if not pending:
            return
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"supervisord exited ({proc.returncode}); see {layout.log_dir}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"not healthy after {timeout:.0f} s: {', '.join(s.name for s in pending)}; "
                               f"see {layout.log_dir}")
        time.sleep(1)
    if progress:
        progress("all services healthy")


def up(layout: Layout, *, echo: Callable[[str], None] = print,
       ready: Callable[[Layout], None] | None = None) -> int:
    """Run the stack in the foreground until SIGINT/SIGTERM; everything started is stopped; returns 0."""
    env = prepare(layout)
    for line in service_lines(layout):
        echo(line)
    from monitoring.console.users import first_admin_hint

    hint = first_admin_hint(load_settings(data_dir=layout.data_dir).sql_url, layout.data_dir)
    if hint:
        echo(f"envmon up: {hint}")
    proc = start(layout, env)
    stopping = {"sig": None}

    def on_signal(signum, _frame) -> None:
        stopping["sig"] = signum
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        if ready is not None:
            try:
                wait_healthy(layout, proc)
                ready(layout)
            except (TimeoutError, RuntimeError) as exc:
                echo(f"envmon up: {exc}")
        code = proc.wait()
        while code is None:      # pragma: no cover - wait() returns the status
            code = proc.wait()
    finally:
        if proc.poll() is None:
            stop(proc)
        for s, h in previous.items():
            signal.signal(s, h)
    echo(f"envmon up: stopped ({'signal ' + signal.Signals(stopping['sig']).name if stopping['sig'] else 'exit ' + str(code)})")
    return 0 if stopping["sig"] else code
