"""election officers: eligibility exceptions, certification, reminders, affiliations

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-10 10:00:00

``poll.rules`` freezes the body's rules a poll follows (officers, certification, exceptions,
reminder days, the cap on seats per affiliation); polls that exist already get ``{}`` and keep
the rules they were scheduled under (none of these). Nominations and election options get the
candidate's declared affiliation. New tables: ``eligibility_exception`` (requests and the
officers' decisions), ``certification`` (a count waiting for certification, and the decision),
``reminder_round`` (a reminder round in progress; names no member) and ``reminder_opt_out``.
"""
from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

import governance.models.base

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None

_STR = sqlmodel.sql.sqltypes.AutoString
_TIME = governance.models.base.UTCDateTime(timezone=True)


def upgrade() -> None:
    # Plain ALTER TABLE (not batch mode): on SQLite batch mode copies a table, which the rows that
    # refer to polls forbid (see 0007).
    op.add_column('poll', sa.Column('rules', sa.JSON(), nullable=False, server_default='{}'))
    op.add_column('poll_option', sa.Column('affiliation', _STR(length=100), nullable=True))
    op.add_column('nomination', sa.Column('affiliation', _STR(length=100), nullable=True))
    op.create_table('eligibility_exception',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('poll_id', sa.Integer(), nullable=False),
    sa.Column('member_id', sa.Integer(), nullable=False),
    sa.Column('forum_user_id', sa.Integer(), nullable=False),
    sa.Column('username', _STR(length=60), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('rule_reasons', sa.JSON(), nullable=False),
    sa.Column('status', _STR(length=20), nullable=False),
    sa.Column('decided_by', sa.Integer(), nullable=True),
    sa.Column('decided_by_username', _STR(length=60), nullable=False),
    sa.Column('decided_as', sa.JSON(), nullable=False),
    sa.Column('decision_reason', sa.Text(), nullable=False),
    sa.Column('created_at', _TIME, nullable=False),
    sa.Column('decided_at', _TIME, nullable=True),
    sa.ForeignKeyConstraint(['decided_by'], ['member.id'], ),
    sa.ForeignKeyConstraint(['member_id'], ['member.id'], ),
    sa.ForeignKeyConstraint(['poll_id'], ['poll.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('poll_id', 'member_id')
    )
    op.create_index(op.f('ix_eligibility_exception_poll_id'), 'eligibility_exception', ['poll_id'], unique=False)
    op.create_table('certification',
    sa.Column('poll_id', sa.Integer(), nullable=False),
    sa.Column('result', sa.JSON(), nullable=True),
    sa.Column('counted_at', _TIME, nullable=False),
    sa.Column('due_at', _TIME, nullable=True),
    sa.Column('decision', _STR(length=20), nullable=False),
    sa.Column('decided_at', _TIME, nullable=True),
    sa.Column('officer_id', sa.Integer(), nullable=True),
    sa.Column('officer', _STR(length=60), nullable=False),
    sa.Column('officer_groups', sa.JSON(), nullable=False),
    sa.Column('reason', _STR(length=1000), nullable=False),
    sa.ForeignKeyConstraint(['officer_id'], ['member.id'], ),
    sa.ForeignKeyConstraint(['poll_id'], ['poll.id'], ),
    sa.PrimaryKeyConstraint('poll_id')
    )
    op.create_table('reminder_round',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('poll_id', sa.Integer(), nullable=False),
    sa.Column('days', sa.Integer(), nullable=False),
    sa.Column('cursor', sa.Integer(), nullable=False),
    sa.Column('sent', sa.Integer(), nullable=False),
    sa.Column('lease_until', _TIME, nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('last_error', _STR(length=500), nullable=False),
    sa.Column('next_attempt_at', _TIME, nullable=False),
    sa.Column('done_at', _TIME, nullable=True),
    sa.ForeignKeyConstraint(['poll_id'], ['poll.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('poll_id', 'days')
    )
    op.create_index(op.f('ix_reminder_round_poll_id'), 'reminder_round', ['poll_id'], unique=False)
    op.create_table('reminder_opt_out',
    sa.Column('member_id', sa.Integer(), nullable=False),
    sa.Column('created_at', _TIME, nullable=False),
    sa.ForeignKeyConstraint(['member_id'], ['member.id'], ),
    sa.PrimaryKeyConstraint('member_id')
    )


def downgrade() -> None:
    op.drop_table('reminder_opt_out')
    op.drop_index(op.f('ix_reminder_round_poll_id'), table_name='reminder_round')
    op.drop_table('reminder_round')
    op.drop_table('certification')
    op.drop_index(op.f('ix_eligibility_exception_poll_id'), table_name='eligibility_exception')
    op.drop_table('eligibility_exception')
    if op.get_bind().execute(sa.text("SELECT count(*) FROM poll WHERE status = 'certifying'")).scalar():
        raise RuntimeError("a count is waiting for certification: certify or void it before going down")
    op.drop_column('nomination', 'affiliation')
    op.drop_column('poll_option', 'affiliation')
    op.drop_column('poll', 'rules')
