"""safety alarms, messages, follow-up tasks (issue 14)

monitoring.safety.alarms: one active alarm per (point, parameter) (partial unique index), one message per
(alarm, action, level, channel) (unique), so the fast and the batch path never send an alarm twice.
monitoring.followup: one task per (point, parameter, check, sample window).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28 08:32:26.300169
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('followup_task',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('point', sa.String(length=64), nullable=False),
    sa.Column('zone', sa.String(length=32), nullable=True),
    sa.Column('enterprise', sa.String(length=64), nullable=True),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('parameter', sa.String(length=32), nullable=False),
    sa.Column('check_name', sa.String(length=32), nullable=False),
    sa.Column('window_start', sa.DateTime(timezone=True), nullable=False),
    sa.Column('value', sa.Float(), nullable=True),
    sa.Column('limit_value', sa.Float(), nullable=True),
    sa.Column('unit', sa.String(length=16), nullable=True),
    sa.Column('standard', sa.String(length=128), nullable=True),
    sa.Column('clause', sa.String(length=255), nullable=True),
    sa.Column('limit_status', sa.String(length=16), nullable=True),
    sa.Column('action', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('closed_by', sa.String(length=64), nullable=True),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('point', 'parameter', 'check_name', 'window_start', name='uq_followup_task')
    )
    with op.batch_alter_table('followup_task', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_followup_task_point'), ['point'], unique=False)

    op.create_table('safety_alarm',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('point', sa.String(length=64), nullable=False),
    sa.Column('parameter', sa.String(length=32), nullable=False),
    sa.Column('zone', sa.String(length=32), nullable=True),
    sa.Column('enterprise', sa.String(length=64), nullable=True),
    sa.Column('sensor', sa.String(length=32), nullable=True),
    sa.Column('level', sa.Integer(), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('level2_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_over_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('cleared_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('peak_value', sa.Float(), nullable=True),
    sa.Column('peak_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('unit', sa.String(length=16), nullable=True),
    sa.Column('threshold', sa.Float(), nullable=True),
    sa.Column('threshold_low', sa.Float(), nullable=True),
    sa.Column('standard', sa.String(length=128), nullable=True),
    sa.Column('clause', sa.String(length=255), nullable=True),
    sa.Column('threshold_status', sa.String(length=16), nullable=True),
    sa.Column('threshold_source', sa.Text(), nullable=True),
    sa.Column('detected_by', sa.String(length=8), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('escalated_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('acknowledged_by', sa.String(length=64), nullable=True),
    sa.Column('acknowledged_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('safety_alarm', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_safety_alarm_point'), ['point'], unique=False)
        batch_op.create_index('uq_safety_alarm_one_active', ['point', 'parameter'], unique=True, sqlite_where=sa.text('cleared_at IS NULL'), postgresql_where=sa.text('cleared_at IS NULL'))

    op.create_table('safety_message',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('alarm_id', sa.Integer(), nullable=False),
    sa.Column('action', sa.String(length=16), nullable=False),
    sa.Column('level', sa.Integer(), nullable=False),
    sa.Column('channel_key', sa.String(length=40), nullable=False),
    sa.Column('channel', sa.String(length=255), nullable=False),
    sa.Column('title', sa.Text(), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('claimed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('claimed_by', sa.String(length=64), nullable=True),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['alarm_id'], ['safety_alarm.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('alarm_id', 'action', 'level', 'channel_key', name='uq_safety_message')
    )
    with op.batch_alter_table('safety_message', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_safety_message_alarm_id'), ['alarm_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_safety_message_sent_at'), ['sent_at'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('safety_message', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_safety_message_sent_at'))
        batch_op.drop_index(batch_op.f('ix_safety_message_alarm_id'))

    op.drop_table('safety_message')
    with op.batch_alter_table('safety_alarm', schema=None) as batch_op:
        batch_op.drop_index('uq_safety_alarm_one_active', sqlite_where=sa.text('cleared_at IS NULL'), postgresql_where=sa.text('cleared_at IS NULL'))
        batch_op.drop_index(batch_op.f('ix_safety_alarm_point'))

    op.drop_table('safety_alarm')
    with op.batch_alter_table('followup_task', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_followup_task_point'))

    op.drop_table('followup_task')
