"""Concurrent draws of one period (issue 9, item 6): the database lets exactly one win.

Four `envmon roster draw --period 2027-Q1` started at once used to all succeed on PostgreSQL (records -1
… -4, 24 conflict rows for 6 conflicts, verify MISMATCH). Now the draw transaction is serialised by the
database (advisory lock / SQLite write lock) and (period, scope, replaces) is unique.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from sqlalchemy import func, select

from monitoring.db import session_scope
from monitoring.roster import tables
from monitoring.roster.directories import load_inspectors
from monitoring.roster.records import RosterError, run_draw
from monitoring.roster.verify import verify_record

NOW = datetime(2026, 12, 28, 1, 0, tzinfo=UTC)


def test_four_parallel_draws_one_wins_the_others_get_a_clear_error(roster_settings, registry):
    barrier = threading.Barrier(4)
    won: list[dict] = []
    lost: list[BaseException] = []

    def draw(seed: int) -> None:
        barrier.wait()
        try:
            won.append(run_draw(roster_settings, "2027-Q1", seed=seed, by="并发", now=NOW, registry=registry))
        except BaseException as exc:  # noqa: BLE001 - collected and asserted below
            lost.append(exc)

    threads = [threading.Thread(target=draw, args=(s,)) for s in range(1, 5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert len(won) == 1, [repr(e) for e in lost]
    assert len(lost) == 3 and all(isinstance(e, RosterError) for e in lost), [repr(e) for e in lost]
    assert all("2027-Q1 (county) is already drawn: 2027-Q1-county-1" in str(e) for e in lost)

    conflicts = load_inspectors(roster_settings.inspectors_path, enterprises=set(registry.enterprises)).conflicts
    with session_scope(roster_settings.sql_url) as s:
        assert s.scalar(select(func.count()).select_from(tables.DrawRow)) == 1
        assert s.scalar(select(func.count()).select_from(tables.ConflictRow)) == len(conflicts) > 0
        n_tasks = s.scalar(select(func.count()).select_from(tables.TaskRow))
    assert n_tasks == len(won[0]["result"]["tasks"])
    assert sorted(p.name for p in roster_settings.rosters_dir.glob("*.json")) == ["2027-Q1-county-1.json"]
    v = verify_record(roster_settings, "2027-Q1-county-1", registry)
    assert v.ok, "\n".join(v.differences)


def test_the_database_itself_refuses_a_second_first_draw(roster_settings, registry):
    """Even a writer that skips run_draw's lock cannot store two first draws of one period and scope."""
    run_draw(roster_settings, "2027-Q1", zone="nanxi", seed=7, by="x", now=NOW, registry=registry)
    with session_scope(roster_settings.sql_url) as s:
        row = s.get(tables.DrawRow, "2027-Q1-nanxi-1")
        clone = {c.key: getattr(row, c.key) for c in sa.inspect(tables.DrawRow).column_attrs}
    clone.update(record_id="2027-Q1-nanxi-2", record_sha256="other")
    with pytest.raises(sa.exc.IntegrityError), session_scope(roster_settings.sql_url) as s:
        s.add(tables.DrawRow(**clone))
