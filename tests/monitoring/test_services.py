"""One table of services (monitoring.services) feeds ``envmon up`` and must match docker-compose.yml."""

from __future__ import annotations

import configparser
import os
import shlex
from pathlib import Path

import yaml

from monitoring import services
from monitoring.services import COMPOSE_ENVIRONMENT, SERVICES, Layout, compose_command, resolve_ports
from monitoring.supervise import service_lines, supervisord_conf

REPO = Path(__file__).resolve().parents[2]


def _compose() -> dict:
    return yaml.safe_load((REPO / "docker-compose.yml").read_text(encoding="utf-8"))


def test_compose_runs_the_same_commands_as_envmon_up():
    compose = _compose()["services"]
    for service in SERVICES:
        if service.local_only:
            assert service.name not in compose or "image" in compose[service.name]
            continue
        assert service.name in compose, f"{service.name} missing from docker-compose.yml"
        assert compose[service.name]["command"] == compose_command(service), service.name
        assert compose[service.name].get("profiles", [None])[0] == service.profile, service.name
    # Airflow's official layout: init once, then the four Airflow processes, init runs db migrate
    assert compose["airflow-init"]["command"] == list(services.INIT_COMMAND)
    for name in ("airflow-apiserver", "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer"):
        assert compose[name]["depends_on"]["airflow-init"]["condition"] == "service_completed_successfully"
        assert "healthcheck" in compose[name]


def test_compose_environment_is_the_one_environment():
    compose = _compose()
    assert {k: str(v) for k, v in compose["x-envmon-env"].items()} == COMPOSE_ENVIRONMENT
    for name, svc in compose["services"].items():
        if svc.get("image") == "envmon:latest":
            assert svc["environment"] == compose["x-envmon-env"], name


def test_compose_keeps_airflow_and_envmon_in_separate_databases():
    env = _compose()["x-envmon-env"]
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].endswith("@postgres/airflow")
    assert env["ENVMON_DB_URL"].endswith("@postgres/envmon")
    init = (REPO / "deploy" / "postgres" / "init-databases.sh").read_text(encoding="utf-8")
    assert "CREATE DATABASE airflow OWNER airflow" in init and "CREATE DATABASE envmon OWNER envmon" in init
    example = (REPO / ".env.example").read_text(encoding="utf-8")
    for var in ("POSTGRES_PASSWORD", "AIRFLOW_DB_PASSWORD", "ENVMON_DB_PASSWORD", "AIRFLOW_JWT_SECRET",
                "AIRFLOW_API_SECRET_KEY", "ENVMON_PUBLIC_URL", "ENVMON_NOTIFY_URLS"):
        assert f"{var}=" in example, var


def test_local_environment_has_the_same_variables_as_compose(tmp_path):
    layout = Layout(data_dir=tmp_path, ports=resolve_ports({k: 0 for k in services.DEFAULT_PORTS}))
    env = layout.environment()
    compose_only = {"ENVMON_DB_URL", "ENVMON_NOTIFY_URLS", "AIRFLOW__CELERY__BROKER_URL",
                    "AIRFLOW__CELERY__RESULT_BACKEND"}
    assert set(COMPOSE_ENVIRONMENT) - compose_only <= set(env)
    assert env["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor"
    assert 4 <= int(env["AIRFLOW__CORE__PARALLELISM"]) <= 16
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == f"{layout.url('airflow-apiserver')}/execution/"
    # the shared secrets are stable per data dir and private to the service user
    assert layout.environment()["AIRFLOW__API_AUTH__JWT_SECRET"] == env["AIRFLOW__API_AUTH__JWT_SECRET"]
    assert (tmp_path / "secrets" / "airflow-jwt-secret").stat().st_mode & 0o077 == 0


def test_supervisord_conf_supervises_every_service_and_keeps_secrets_out(tmp_path):
    layout = Layout(data_dir=tmp_path, ports=resolve_ports({k: 0 for k in services.DEFAULT_PORTS}),
                    simulate=True)
    env = layout.environment()
    text = supervisord_conf(layout)
    conf = configparser.RawConfigParser()
    conf.read_string(text)
    programs = {s.split(":", 1)[1]: conf[s] for s in conf.sections() if s.startswith("program:")}
    assert set(programs) == {s.name for s in SERVICES}
    for prog in programs.values():
        assert prog["autorestart"] == "true" and prog["stopasgroup"] == "true" and prog["killasgroup"] == "true"
        assert int(prog["startretries"]) > 0
    if "GOGC" not in os.environ and "GOMEMLIMIT" not in os.environ:   # influxd's Go GC target and soft limit
        assert programs["influxdb"]["environment"] == 'GOGC="50",GOMEMLIMIT="500MiB"'
    receiver = shlex.split(programs["receiver"]["command"])
    assert str(layout.ports["receiver"]) in receiver
    for secret in (env["AIRFLOW__API_AUTH__JWT_SECRET"], env["AIRFLOW__API__SECRET_KEY"]):
        assert secret not in text
    assert conf["unix_http_server"]["chmod"] == "0700" and conf["unix_http_server"]["password"]
    lines = service_lines(layout)
    assert lines[0] == f"envmon up: {tmp_path}"
    assert any(f":{layout.ports['airflow-apiserver']}" in line for line in lines)


def test_external_influx_is_not_managed(tmp_path):
    layout = Layout(data_dir=tmp_path, influx_url="http://influx.example:8086")
    assert "influxdb" not in {s.name for s in layout.services()}
    assert layout.environment()["ENVMON_INFLUX_URL"] == "http://influx.example:8086"
