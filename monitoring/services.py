"""The processes of a one-server envmon deployment: one table feeding ``envmon up`` and ``docker-compose.yml``.

=====================  ============================================  ========  =====================
service                command                                       port      health
=====================  ============================================  ========  =====================
``influxdb``           ``influxd -config …`` (only when              8086      ``GET /ping`` → 204
                       ``ENVMON_INFLUX_URL`` is unset)
``airflow-apiserver``  ``airflow api-server``                        8080      ``/api/v2/version``
``airflow-scheduler``  ``airflow scheduler`` (LocalExecutor)         8974      ``/health``
``airflow-dag-proc…``  ``airflow dag-processor``                     —         process up
``airflow-triggerer``  ``airflow triggerer``                         —         process up
``receiver``           ``envmon receiver``                           9212      TCP accept
``console``            ``envmon serve`` (staff console, public site)  8000      ``/healthz``
``simulator``          ``envmon simulate live`` (``--simulate``)     —         process up
=====================  ============================================  ========  =====================

``airflow-init`` (``airflow db migrate``) runs once before the others, as in Airflow's official
compose file. Every process gets the same environment (:func:`stack_environment`): the ``ENVMON_*``
variables of :mod:`monitoring.config` and the ``AIRFLOW__*`` settings below, so a task run by the
scheduler sees the same InfluxDB, SQL store and data directory as the receiver and the console.

The compose file names the same services with the same commands (container host ``0.0.0.0``, the
default ports, data under ``/var/lib/envmon``); ``tests/test_services.py`` compares the two.

Airflow settings and why:

* ``EXECUTOR=LocalExecutor`` with ``PARALLELISM`` = 2 × CPUs (at least 4, at most 16): enough for the
  five ingest zone tasks at once, not 32 idle workers on 2 cores (Airflow's default).
* ``DAGS_ARE_PAUSED_AT_CREATION=False``, ``LOAD_EXAMPLES=False``: the envmon DAGs run as soon as the
  dag-processor has parsed them. (Unpausing never draws a 双随机 roster for a passed date:
  :mod:`monitoring.roster.schedule`.)
* ``[api_auth] jwt_secret`` and ``[api] secret_key``: one random value per data directory, kept in
  ``secrets/`` (mode 0600) and passed in the environment, never written to a config file or log. All
  Airflow processes must share them, or tasks fail to authenticate to the execution API.
* ``EXECUTION_API_SERVER_URL`` points the task runner at the local api-server.
* Log-server ports (worker 8793, triggerer 8794) and the scheduler health port are configurable so
  that two stacks (tests) can run side by side.
"""

from __future__ import annotations

import os
import random
import secrets
import shutil
import socket
import sys
from dataclasses import dataclass, field
from pathlib import Path

from monitoring.config import load_settings

DAGS_FOLDER = Path(__file__).resolve().parents[1] / "dags"

#: Default ports of the one-server layout (also the compose file's).
DEFAULT_PORTS: dict[str, int] = {
    "influxdb": 8086, "airflow-apiserver": 8080, "scheduler-health": 8974, "worker-logs": 8793,
    "trigger-logs": 8794, "receiver": 9212, "console": 8000,
}


@dataclass(frozen=True)
class Service:
    """One supervised process. ``command`` items may hold ``{host}``, ``{port}``, ``{data_dir}``,
    ``{influx_conf}``, ``{receiver_port}``, ``{seed}`` placeholders filled by :meth:`argv`."""

    name: str
    command: tuple[str, ...]
    port_key: str | None = None            #: key in the ports map, when it listens
    health: str | None = None               #: HTTP path answering 2xx when healthy
    local_only: bool = False                 #: not a compose service (compose uses an image instead)
    profile: str | None = None               #: compose profile / ``envmon up`` flag that enables it
    priority: int = 100                      #: start order (lower first)
    stop_seconds: int = 30                   #: SIGTERM → SIGKILL grace

    def argv(self, values: dict[str, object]) -> list[str]:
        """The command with the placeholders filled; a placeholder that is empty drops out."""
        return [arg for arg in (part.format(**values) for part in self.command) if arg]


SERVICES: tuple[Service, ...] = (
    Service("influxdb", ("influxd", "-config", "{influx_conf}"), port_key="influxdb", health="/ping",
            local_only=True, priority=10),
    Service("airflow-apiserver", ("airflow", "api-server", "--host", "{host}", "--port", "{port}"),
            port_key="airflow-apiserver", health="/api/v2/version", priority=20),
    Service("airflow-scheduler", ("airflow", "scheduler"), port_key="scheduler-health", health="/health",
            priority=30),
    Service("airflow-dag-processor", ("airflow", "dag-processor"), priority=30),
    Service("airflow-triggerer", ("airflow", "triggerer"), priority=30),
    Service("receiver", ("envmon", "receiver", "--host", "{host}", "--port", "{port}",
                         "--rotate-seconds", "{rotate_seconds}"), port_key="receiver", priority=15),
    Service("console", ("envmon", "serve", "--host", "{host}", "--port", "{port}"), port_key="console",
            health="/healthz", priority=40, stop_seconds=10),
    Service("simulator", ("envmon", "simulate", "live", "--host", "{receiver_host}", "--port",
                          "{receiver_port}", "--seed", "{seed}", "{simulate_flags}"), profile="simulate", priority=90,
            stop_seconds=10),
)

#: ``airflow-init`` in compose, run once by ``envmon up`` before the supervised processes.
INIT_COMMAND: tuple[str, ...] = ("airflow", "db", "migrate")

#: Receiver spool rotation (s): a packet is ready for ingest at most this long after its 9014 answer.
ROTATE_SECONDS = 5


def parallelism(cpus: int | None = None) -> int:
    """LocalExecutor slots: 2 per CPU, between 4 and 16 (see the module docstring)."""
    return max(4, min(16, 2 * (cpus or os.cpu_count() or 2)))


#: Where ``free_port`` looks: below Linux's ephemeral range (32768–60999), so that an outgoing connection
#: of any process cannot take a chosen port in the seconds before its service binds it (a port the
#: kernel hands out for ``bind(0)`` is in that range and was seen taken that way under load).
FREE_PORT_RANGE = (20000, 32767)


def free_port(taken: set[int] | frozenset[int] = frozenset()) -> int:
    """A loopback port nobody listens on now, from :data:`FREE_PORT_RANGE` (not in ``taken``)."""
    rng = random.Random()
    for _ in range(200):
        port = rng.randint(*FREE_PORT_RANGE)
        if port not in taken and _port_free(port):
            return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def resolve_ports(requested: dict[str, int] | None = None) -> dict[str, int]:
    """The defaults overridden by ``requested``; a 0 becomes a free loopback port (each a different one)."""
    ports = {**DEFAULT_PORTS, **(requested or {})}
    chosen: dict[str, int] = {}
    for k, v in ports.items():
        chosen[k] = v or free_port(set(chosen.values()))
    return chosen


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def preferred_ports() -> dict[str, int]:
    """The default ports where they are free, free ones where they are taken (``make demo``)."""
    return resolve_ports({k: (v if _port_free(v) else 0) for k, v in DEFAULT_PORTS.items()})


def _secret(path: Path) -> str:
    """A random token kept in ``path`` (0600), created on first use."""
    if path.exists():
        return path.read_text(encoding="ascii").strip()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    value = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(value + "\n")
    return value


@dataclass
class Layout:
    """Where the processes of one ``envmon up`` live and listen."""

    data_dir: Path
    ports: dict[str, int] = field(default_factory=resolve_ports)
    host: str = "127.0.0.1"
    influx_url: str | None = None           #: external InfluxDB (``ENVMON_INFLUX_URL``) or None = managed
    airflow_db_url: str | None = None       #: ``AIRFLOW__DATABASE__SQL_ALCHEMY_CONN`` or None = SQLite here
    simulate: bool = False
    simulate_healthy: bool = False          #: simulator without outages/faults/episodes (tests)
    seed: int = 20261122

    @property
    def airflow_home(self) -> Path:
        return self.data_dir / "airflow"

    @property
    def run_dir(self) -> Path:
        return self.data_dir / "run"

    @property
    def log_dir(self) -> Path:
        return self.data_dir / "logs"

    @property
    def influx_dir(self) -> Path:
        return self.data_dir / "influxdb"

    def url(self, port_key: str) -> str:
        return f"http://{self.host}:{self.ports[port_key]}"

    def services(self) -> list[Service]:
        chosen = [s for s in SERVICES
                  if (s.name != "influxdb" or self.influx_url is None)
                  and (s.profile is None or (s.profile == "simulate" and self.simulate))]
        return sorted(chosen, key=lambda s: s.priority)

    def values(self, service: Service) -> dict[str, object]:
        return {"host": self.host, "port": self.ports.get(service.port_key or "", 0),
                "data_dir": self.data_dir, "influx_conf": self.influx_dir / "influxd.conf",
                "receiver_host": self.host, "receiver_port": self.ports["receiver"], "seed": self.seed,
                "rotate_seconds": ROTATE_SECONDS,
                "simulate_flags": "--healthy" if self.simulate_healthy else ""}

    def argv(self, service: Service) -> list[str]:
        """The full command line, the programs resolved next to this Python (the venv)."""
        argv = service.argv(self.values(service))
        local = Path(sys.executable).with_name(argv[0])
        argv[0] = str(local) if local.exists() else (shutil.which(argv[0]) or argv[0])
        return argv

    def environment(self) -> dict[str, str]:
        """The one environment of every process (secrets included: pass it, never write it)."""
        secret_dir = self.data_dir / "secrets"
        env = stack_environment(
            data_dir=str(self.data_dir),
            influx_url=self.influx_url or self.url("influxdb"),
            airflow_home=str(self.airflow_home),
            airflow_db_url=self.airflow_db_url or f"sqlite:///{self.airflow_home / 'airflow.db'}",
            api_url=self.url("airflow-apiserver"),
            dags_folder=str(DAGS_FOLDER),
            jwt_secret=_secret(secret_dir / "airflow-jwt-secret"),
            api_secret_key=_secret(secret_dir / "airflow-api-secret-key"),
            ports=self.ports,
            public_url=load_settings().public_url or self.url("console"),
        )
        env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"] = str(self.airflow_home / "passwords.json")
        return env


def stack_environment(*, data_dir: str, influx_url: str, airflow_home: str, airflow_db_url: str,
                      api_url: str, dags_folder: str, jwt_secret: str, api_secret_key: str,
                      ports: dict[str, int], public_url: str, executor: str = "LocalExecutor",
                      parallelism_slots: str | None = None) -> dict[str, str]:
    """The variables every envmon process gets. Compose builds its ``x-envmon-env`` from the same call
    (with ``${…}`` placeholders), which is how ``tests/test_services.py`` keeps the two in step."""
    return {
        "ENVMON_DATA_DIR": data_dir,
        "ENVMON_INFLUX_URL": influx_url,
        "ENVMON_PUBLIC_URL": public_url,
        "AIRFLOW_HOME": airflow_home,
        "AIRFLOW__CORE__DAGS_FOLDER": dags_folder,
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AIRFLOW__CORE__EXECUTOR": executor,
        "AIRFLOW__CORE__PARALLELISM": parallelism_slots or str(parallelism()),
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{api_url}/execution/",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": airflow_db_url,
        "AIRFLOW__API_AUTH__JWT_SECRET": jwt_secret,
        "AIRFLOW__API__SECRET_KEY": api_secret_key,
        "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "True",
        "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_PORT": str(ports["scheduler-health"]),
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(ports["worker-logs"]),
        "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(ports["trigger-logs"]),
    }


#: The values ``docker-compose.yml`` uses (its ``x-envmon-env`` block must equal this).
COMPOSE_ENVIRONMENT: dict[str, str] = stack_environment(
    data_dir="/var/lib/envmon",
    influx_url="http://influxdb:8086",
    airflow_home="/opt/airflow",
    airflow_db_url="postgresql+psycopg2://airflow:${AIRFLOW_DB_PASSWORD:?set AIRFLOW_DB_PASSWORD in .env}"
                   "@postgres/airflow",
    api_url="http://airflow-apiserver:8080",
    dags_folder="/opt/envmon/dags",
    jwt_secret="${AIRFLOW_JWT_SECRET:?set AIRFLOW_JWT_SECRET in .env}",
    api_secret_key="${AIRFLOW_API_SECRET_KEY:?set AIRFLOW_API_SECRET_KEY in .env}",
    ports=DEFAULT_PORTS,
    public_url="${ENVMON_PUBLIC_URL:-http://localhost:8000}",
    executor="${AIRFLOW_EXECUTOR:-LocalExecutor}",
    parallelism_slots="${AIRFLOW_PARALLELISM:-4}",
) | {
    "ENVMON_DB_URL": "postgresql+psycopg://envmon:${ENVMON_DB_PASSWORD:?set ENVMON_DB_PASSWORD in .env}"
                     "@postgres/envmon",
    "ENVMON_NOTIFY_URLS": "${ENVMON_NOTIFY_URLS:-}",
    # used only with AIRFLOW_EXECUTOR=CeleryExecutor and the compose profile "celery" (README, growth)
    "AIRFLOW__CELERY__BROKER_URL": "redis://redis:6379/0",
    "AIRFLOW__CELERY__RESULT_BACKEND": "db+postgresql://airflow:${AIRFLOW_DB_PASSWORD}@postgres/airflow",
}


def compose_command(service: Service) -> list[str]:
    """The command of ``service`` in a container: listens on all interfaces at the default port."""
    return service.argv({"host": "0.0.0.0", "port": DEFAULT_PORTS.get(service.port_key or "", 0),
                         "data_dir": "/var/lib/envmon", "influx_conf": "/etc/influxdb/influxdb.conf",
                         "receiver_host": "receiver", "receiver_port": DEFAULT_PORTS["receiver"],
                         "seed": "${SIMULATOR_SEED:-20261122}", "rotate_seconds": ROTATE_SECONDS,
                         "simulate_flags": ""})
