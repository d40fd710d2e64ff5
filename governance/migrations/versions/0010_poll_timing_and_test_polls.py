"""the chair's controls: opening now, closing early, extending; test polls

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-08 02:00:00

``poll.is_test`` marks a test poll (existing polls are real: false). ``timing_change`` holds a
manager's request to open a poll now, close it early or extend it, and the second manager's
decision (``polls.timing``).
"""
from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

import governance.models.base

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

_STR = sqlmodel.sql.sqltypes.AutoString
_TIME = governance.models.base.UTCDateTime(timezone=True)


def upgrade() -> None:
    # Plain ALTER TABLE (not batch mode): on SQLite batch mode copies a table, which the rows that
    # refer to polls forbid (see 0007).
    op.add_column('poll', sa.Column('is_test', sa.Boolean(), nullable=False, server_default=sa.false()))
    op.create_table('timing_change',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('poll_id', sa.Integer(), nullable=False),
    sa.Column('kind', _STR(length=20), nullable=False),
    sa.Column('reason', _STR(length=1000), nullable=False),
    sa.Column('closes_at', _TIME, nullable=True),
    sa.Column('status', _STR(length=20), nullable=False),
    sa.Column('requested_by', sa.Integer(), nullable=False),
    sa.Column('decided_by', sa.Integer(), nullable=True),
    sa.Column('decision_reason', _STR(length=1000), nullable=False),
    sa.Column('applied', sa.JSON(), nullable=False),
    sa.Column('created_at', _TIME, nullable=False),
    sa.Column('decided_at', _TIME, nullable=True),
    sa.ForeignKeyConstraint(['decided_by'], ['member.id'], ),
    sa.ForeignKeyConstraint(['poll_id'], ['poll.id'], ),
    sa.ForeignKeyConstraint(['requested_by'], ['member.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_timing_change_poll_id'), 'timing_change', ['poll_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_timing_change_poll_id'), table_name='timing_change')
    op.drop_table('timing_change')
    op.drop_column('poll', 'is_test')
