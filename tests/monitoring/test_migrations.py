"""Alembic migrations of the SQL store, on SQLite and PostgreSQL.

The schema is made only by ``monitoring/migrations/versions``. These tests fail when a table or column
is added to (or changed on) :class:`monitoring.db.Base` without a revision: write one with
``envmon db revision -m "what changed"``.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from monitoring.db import Base, get_engine, init_db
from monitoring.migrations import BASELINE, alembic_config, current_revision, head_revision, upgrade
from monitoring.migrations.metadata import register_tables

DRAWN = datetime(2026, 9, 28, 1, 0, tzinfo=UTC)


def _previous_revision() -> str:
    script = ScriptDirectory.from_config(alembic_config())
    down = script.get_revision(head_revision()).down_revision
    assert isinstance(down, str), "the revision history must be linear (one head, one parent)"
    return down


def _schema_diff(engine: sa.Engine) -> list:
    register_tables()
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        return compare_metadata(ctx, Base.metadata)


def test_one_linear_history_from_the_baseline():
    script = ScriptDirectory.from_config(alembic_config())
    assert len(script.get_heads()) == 1
    revs = [r.revision for r in script.walk_revisions()]
    assert revs[-1] == BASELINE and len(revs) >= 2


def test_empty_database_upgrades_to_head_and_matches_the_metadata(sql_url):
    engine = init_db(sql_url)
    assert current_revision(engine) == head_revision()
    tables = set(sa.inspect(engine).get_table_names())
    assert set(Base.metadata.tables) <= tables
    assert _schema_diff(engine) == [], (
        "the SQLAlchemy tables and the migrations differ: add a revision (envmon db revision -m ...)")


def test_metadata_change_without_a_revision_is_detected(sql_url):
    """The check above can fail: a column added to the metadata only shows up as a difference."""
    engine = init_db(sql_url)
    extra = sa.MetaData()
    for t in Base.metadata.tables.values():
        t.to_metadata(extra)
    sa.Table("complaint", extra, sa.Column("not_migrated", sa.Integer), extend_existing=True)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), extra)
    assert [d[0] for d in diff] == ["add_column"] and diff[0][2] == "complaint"


def _seed_roster(conn: sa.Connection) -> None:
    """Two draws of 2026-Q4 (the second a redraw) with baseline columns only, plus one incident."""
    rows = []
    for n in (1, 2):
        rows.append({"record_id": f"2026-Q4-county-{n}", "period": "2026-Q4", "scope": "county", "seed": n,
                     "algorithm": "a", "drawn_at": DRAWN, "drawn_by": "测试", "rules_sha256": "r",
                     "target_sha256": "t", "inspectors_sha256": "i", "history_sha256": "h",
                     "previous_sha256": None, "record_sha256": f"sha{n}",
                     "record_json": json.dumps({"record_id": f"2026-Q4-county-{n}"})})
    # from revision 0002 on, a redraw names what it replaces (one draw per period and scope)
    extra = ""
    if "replaces" in {c["name"] for c in sa.inspect(conn).get_columns("roster_draw")}:
        rows[0]["replaces"], rows[1]["replaces"] = "", "2026-Q4-county-1"
        extra = "replaces"
    conn.execute(sa.text(
        "INSERT INTO roster_draw (record_id, period, scope, seed, algorithm, drawn_at, drawn_by, rules_sha256,"
        " target_sha256, inspectors_sha256, history_sha256, previous_sha256, record_sha256, record_json"
        + (f", {extra}" if extra else "") + ") VALUES"
        " (:record_id, :period, :scope, :seed, :algorithm, :drawn_at, :drawn_by, :rules_sha256, :target_sha256,"
        " :inspectors_sha256, :history_sha256, :previous_sha256, :record_sha256, :record_json"
        + (f", :{extra}" if extra else "") + ")"), rows)
    conn.execute(sa.text("INSERT INTO roster_supersession (record_id, superseded_by, reason, at)"
                         " VALUES ('2026-Q4-county-1', '2026-Q4-county-2', '检查人员调动', :at)"), {"at": DRAWN})


def test_database_at_the_previous_revision_upgrades_with_its_data(sql_url):
    engine = get_engine(sql_url)
    previous = _previous_revision()
    upgrade(engine, previous)
    assert current_revision(engine) == previous
    with engine.begin() as conn:
        _seed_roster(conn)
    init_db(sql_url)                            # what every envmon process does first
    assert current_revision(engine) == head_revision()
    assert _schema_diff(engine) == []
    with engine.connect() as conn:
        ids = conn.execute(sa.text("SELECT record_id FROM roster_draw ORDER BY record_id")).scalars().all()
        sup = conn.execute(sa.text("SELECT record_id, superseded_by FROM roster_supersession")).all()
    assert ids == ["2026-Q4-county-1", "2026-Q4-county-2"]
    assert [tuple(r) for r in sup] == [("2026-Q4-county-1", "2026-Q4-county-2")]


def test_database_made_by_create_all_before_migrations_is_stamped_and_upgraded(sql_url):
    """Deployments that predate Alembic have the baseline tables and no ``alembic_version``."""
    engine = get_engine(sql_url)
    upgrade(engine, BASELINE)
    with engine.begin() as conn:
        _seed_roster(conn)
        conn.execute(sa.text("DROP TABLE alembic_version"))
    init_db(sql_url)
    assert current_revision(engine) == head_revision()
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM roster_draw")).scalar() == 2


def test_draws_that_a_race_stored_twice_survive_the_upgrade(sql_url):
    """0002 adds the one-draw-per-scope constraint; rows of an earlier race are kept and still visible."""
    engine = get_engine(sql_url)
    upgrade(engine, "0001")
    with engine.begin() as conn:
        _seed_roster(conn)
        conn.execute(sa.text("DELETE FROM roster_supersession"))   # two "first" draws: the race of issue 9
    upgrade(engine, "0002")
    with engine.connect() as conn:
        got = dict(conn.execute(sa.text("SELECT record_id, replaces FROM roster_draw")).all())
    assert got == {"2026-Q4-county-1": "", "2026-Q4-county-2": "!race:2026-Q4-county-2"}


@pytest.mark.parametrize("rev", ["0001"])
def test_downgrade_to_the_baseline_and_back(sql_url, rev):
    from monitoring.migrations import downgrade
    engine = init_db(sql_url)
    downgrade(engine, rev)
    assert current_revision(engine) == rev
    upgrade(engine)
    assert current_revision(engine) == head_revision()
    assert _schema_diff(engine) == []
