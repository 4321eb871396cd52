"""Fixtures for the 双随机 roster tests: settings whose rules and inspector files are private copies."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pandas as pd
import pytest

from monitoring.config import PACKAGE_DATA, Settings
from monitoring.roster.directories import TARGET_COLUMNS


@pytest.fixture
def roster_settings(settings: Settings, sql_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """``settings`` with copies of the packaged rules and inspector files (tests may edit them), on the
    SQL store ``sql_url`` (SQLite and PostgreSQL)."""
    cfg = tmp_path / "cfg"
    cfg.mkdir()
    for name in ("roster_rules.yaml", "inspectors.yaml"):
        shutil.copy(PACKAGE_DATA / name, cfg / name)
    monkeypatch.setenv("ENVMON_ROSTER_RULES", str(cfg / "roster_rules.yaml"))
    monkeypatch.setenv("ENVMON_INSPECTORS", str(cfg / "inspectors.yaml"))
    monkeypatch.setenv("ENVMON_DB_URL", sql_url)
    return dataclasses.replace(settings, roster_rules_path=cfg / "roster_rules.yaml",
                               inspectors_path=cfg / "inspectors.yaml", db_url=sql_url)


def target_frame(rows: list[dict]) -> pd.DataFrame:
    """A target directory frame from partial rows (defaults for the evidence columns)."""
    defaults = {"name": "示例企业", "zone": "z", "industry": "x", "registry_category": None, "category": "ordinary",
                "special_reasons": "", "positive_list": False, "commitment_exempt": False, "fields": "大气",
                "credit_rating": None, "enforcement_cases_last_year": 0, "substantiated_complaints": 0,
                "exceedance_incidents": 0, "data_missing_incidents": 0, "capture_pct": float("nan")}
    full = []
    for r in rows:
        d = {**defaults, **r}
        d["registry_category"] = d["registry_category"] or d["category"]
        full.append(d)
    return pd.DataFrame(full, columns=TARGET_COLUMNS)
