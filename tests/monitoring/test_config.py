"""Configuration has one home: only ``monitoring/config.py`` reads ``ENVMON_*`` variables, and the README
lists every one of them."""

from __future__ import annotations

import ast
import re
from datetime import timedelta
from pathlib import Path

import pytest

from monitoring.config import SettingsError, load_settings

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "monitoring" / "config.py"


def _env_reads(path: Path) -> set[str]:
    """``ENVMON_*`` names read through ``os.environ[...]``, ``os.environ.get(...)`` or ``os.getenv(...)``
    (also through a helper whose first argument is the literal name, like ``_env_path("ENVMON_X")``)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        literal = None
        if isinstance(node, ast.Subscript) and ast.unparse(node.value) == "os.environ":
            literal = node.slice
        elif isinstance(node, ast.Call) and node.args:
            literal = node.args[0]
        if isinstance(literal, ast.Constant) and isinstance(literal.value, str) \
                and literal.value.startswith("ENVMON_"):
            if isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Store):
                continue                                     # setting a variable for a child is not reading
            names.add(literal.value)
    return names


def test_only_settings_reads_envmon_variables() -> None:
    readers = {}
    for pkg in ("sensors", "limits", "monitoring", "dags"):
        for path in (ROOT / pkg).rglob("*.py"):
            if path != CONFIG and (found := _env_reads(path)):
                readers[str(path.relative_to(ROOT))] = sorted(found)
    assert not readers, f"ENVMON_* read outside monitoring/config.py: {readers}"
    assert len(_env_reads(CONFIG)) >= 20          # the walker sees config.py's reads, so it can fail


def test_every_variable_is_documented_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    missing = sorted(v for v in _env_reads(CONFIG) if v not in readme)
    assert not missing, f"README.md lacks {missing}"
    assert "ENVMON_ENFORCEMENT_HISTORY" in readme


def test_settings_carry_the_incident_and_notification_variables(monkeypatch) -> None:
    monkeypatch.setenv("ENVMON_INCIDENT_MIN_MINUTES", "90")
    monkeypatch.setenv("ENVMON_NOTIFY_URLS", "json://a/x, json://b/y")
    monkeypatch.setenv("ENVMON_PUBLIC_URL", "https://envmon.example/")
    monkeypatch.setenv("ENVMON_ENFORCEMENT_HISTORY", "/srv/envmon/enforcement.yaml")
    s = load_settings()
    assert s.incident_min_duration == timedelta(minutes=90)
    assert s.notify_urls == ("json://a/x", "json://b/y") and "json://" not in repr(s)   # secrets not shown
    assert s.public_url == "https://envmon.example"
    assert s.enforcement_history_path == Path("/srv/envmon/enforcement.yaml")


@pytest.mark.parametrize("name, value", [("ENVMON_NOTIFY_RETRY", "twice"), ("ENVMON_DEADMAN_FACTOR", "-1"),
                                         ("ENVMON_INCIDENT_CLEAR_AFTER", "0")])
def test_a_bad_value_names_the_variable(monkeypatch, name: str, value: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError, match=re.escape(name)):
        load_settings()
