"""roster: one draw per period and scope, enforced by the database (issue 9, item 6)

Adds ``roster_draw.replaces`` (the comma-joined record ids a redraw supersedes, '' for a first draw) and
the unique constraint (period, scope, replaces). Existing rows are filled from ``roster_supersession``.
Rows that a concurrent-draw race stored twice (same period, scope and replaces) keep the earliest as it
is; each later one gets ``replaces = '!race:<its own id>'`` so the constraint holds and ``envmon roster
verify`` still shows them.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("roster_draw", schema=None) as batch_op:
        batch_op.add_column(sa.Column("replaces", sa.String(length=255), server_default="", nullable=False))

    conn = op.get_bind()
    sup = conn.execute(sa.text("SELECT record_id, superseded_by FROM roster_supersession")).all()
    replaced_by: dict[str, list[str]] = {}
    for old, new in sup:
        replaced_by.setdefault(new, []).append(old)
    for new, olds in replaced_by.items():
        conn.execute(sa.text("UPDATE roster_draw SET replaces = :r WHERE record_id = :id"),
                     {"r": ",".join(sorted(olds)), "id": new})
    seen: set[tuple[str, str, str]] = set()
    for rid, period, scope, replaces in conn.execute(sa.text(
            "SELECT record_id, period, scope, replaces FROM roster_draw ORDER BY drawn_at, record_id")).all():
        key = (period, scope, replaces)
        if key in seen:
            conn.execute(sa.text("UPDATE roster_draw SET replaces = :r WHERE record_id = :id"),
                         {"r": f"!race:{rid}", "id": rid})
        seen.add(key)

    with op.batch_alter_table("roster_draw", schema=None) as batch_op:
        batch_op.create_unique_constraint("uq_roster_draw_one_per_scope", ["period", "scope", "replaces"])


def downgrade() -> None:
    with op.batch_alter_table("roster_draw", schema=None) as batch_op:
        batch_op.drop_constraint("uq_roster_draw_one_per_scope", type_="unique")
        batch_op.drop_column("replaces")
