"""Fixtures for the safety alarm tests: the packaged registry and catalogue, a SQLite store, a webhook."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from limits.catalogue import load_catalogue
from monitoring.safety.alarms import AlarmBook, AlarmChannel
from monitoring.safety.thresholds import Thresholds
from tests.monitoring.sinks import HttpSink


@pytest.fixture(scope="session")
def catalogue():
    return load_catalogue(None)


@pytest.fixture(scope="session")
def thresholds(registry, catalogue) -> Thresholds:
    return Thresholds.load(registry, catalogue, plans_path=None)


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'safety.sqlite'}"


@pytest.fixture
def sink() -> Iterator[HttpSink]:
    with HttpSink() as s:
        yield s


@pytest.fixture
def duty_sink() -> Iterator[HttpSink]:
    """The escalation channel (the bureau's duty leader)."""
    with HttpSink() as s:
        yield s


@pytest.fixture
def book(db_url, registry, thresholds, sink, duty_sink) -> AlarmBook:
    return AlarmBook(db_url, registry, thresholds, channels=[AlarmChannel.from_url(sink.url)],
                     escalation_channels=[AlarmChannel.from_url(duty_sink.url)])
