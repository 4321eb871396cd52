"""Fixtures of the console tests: an app on a private data dir, one user per role, an incident."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from starlette.testclient import TestClient

from monitoring.config import Settings
from monitoring.console import create_app
from monitoring.console.users import add_user
from monitoring.incidents import IncidentManager

#: test accounts (passwords exist only in this test file)
ACCOUNTS = {"op": "operator", "insp": "inspector", "lead": "leader", "adm": "admin"}
PASSWORD = "correct horse battery"
H = timedelta(hours=1)


@pytest.fixture(autouse=True)
def cheap_argon2(monkeypatch: pytest.MonkeyPatch) -> None:
    """argon2id with small cost parameters: the same code path, a fraction of the CPU on 2 shared cores."""
    from argon2 import PasswordHasher

    from monitoring.console import users
    cheap = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1)
    monkeypatch.setattr(users, "_hasher", cheap)
    monkeypatch.setattr(users, "_DUMMY_HASH", cheap.hash("not a password of anybody"))


@pytest.fixture
def console_settings(settings: Settings) -> Settings:
    for name, role in ACCOUNTS.items():
        add_user(settings.sql_url, name, role=role, password=PASSWORD, display_name=f"{name}-姓名",
                 inspector_id="I01" if role == "inspector" else None)
    return settings


@pytest.fixture
def app(console_settings: Settings):
    return create_app(console_settings)


@pytest.fixture
def client(app) -> TestClient:
    with TestClient(app, base_url="http://testserver", follow_redirects=False) as c:
        yield c


def csrf_token(client: TestClient, page: str = "/login") -> str:
    """The token a form on ``page`` carries (the double-submit cookie's value)."""
    html = client.get(page).text
    m = re.search(r'name="csrftoken" value="([^"]+)"', html)
    assert m, f"no CSRF field on {page}"
    return m.group(1)


def login(client: TestClient, name: str, password: str = PASSWORD):
    token = csrf_token(client)
    return client.post("/login", data={"csrftoken": token, "username": name, "password": password,
                                       "next": "/console/"})


def post(client: TestClient, path: str, data: dict | None = None, files: dict | None = None, page: str = "/login"):
    """A POST carrying the CSRF token as a form field (first field, also for multipart)."""
    token = client.cookies.get("csrftoken") or csrf_token(client, page)
    body = {"csrftoken": token, **(data or {})}
    return client.post(path, data=body, files=files)


def make_incident(settings: Settings, *, point: str = "JK-001-DA001", start: datetime | None = None,
                  hours: int = 3, now: datetime | None = None) -> int:
    """Open one SO₂ exceedance incident (GB 16297-1996 表2 二级 550 mg/m3) through the real manager."""
    from tests.monitoring.test_incidents import windows
    start = start or (datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - (hours + 1) * H)
    m = IncidentManager(settings.sql_url, min_duration=3 * H, clear_after=3)
    changes = m.apply_assessments(windows("E" * hours, start=start, point=point), now=now or start + hours * H)
    return changes.opened[0].id


@pytest.fixture
def incident_id(console_settings: Settings) -> int:
    return make_incident(console_settings)
