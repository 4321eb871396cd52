"""Fixtures for running the real DAGs with ``dag.test()`` against the throwaway influxd."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest

from monitoring.config import LOCAL_TZ, Settings
from monitoring.registry import Registry
from sensors import simulator
from sensors.spool import SegmentWriter


@pytest.fixture
def pipeline_env(settings: Settings, influx_store, airflow_db, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings whose InfluxDB is the test's fresh database; Airflow's metadata DB is migrated."""
    monkeypatch.setenv("ENVMON_INFLUX_URL", influx_store.url)
    monkeypatch.setenv("ENVMON_INFLUX_DB", influx_store.database)
    from monitoring.config import load_settings

    return load_settings().ensure_dirs()


def simulate_into_spool(registry: Registry, spool_dir: Path, zone: str, start: datetime, end: datetime,
                        *, seed: int = 7, extra: list[bytes] = ()) -> pd.DataFrame:
    """Simulated packets of one zone written to the spool as the receiver would; returns the readings."""
    frames = list(simulator.simulate_readings(registry, start, end, seed=seed, zone=zone, interval_s=300))
    readings = pd.concat(frames, ignore_index=True)
    raws = [raw.rstrip(b"\r\n") for _, raw in simulator.to_packets(readings, registry, seed=seed)]
    writer = SegmentWriter(spool_dir)
    writer.append(zone, [*raws, *extra])
    writer.close()
    return readings


@pytest.fixture
def week_start() -> datetime:
    return datetime(2026, 11, 16, 8, 0, tzinfo=LOCAL_TZ)
