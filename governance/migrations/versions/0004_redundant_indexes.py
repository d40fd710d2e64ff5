"""drop indexes that the unique constraints already provide

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 18:00:00

``ballot`` is unique on (poll_id, voter_link) and (poll_id, tracker), ``participation`` on
(poll_id, member_id): lookups by poll use those indexes' leading column, so the single-column
poll indexes only cost every vote two more index updates.
"""
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index('ix_ballot_poll', table_name='ballot')
    op.drop_index('ix_participation_poll_id', table_name='participation')


def downgrade() -> None:
    op.create_index('ix_participation_poll_id', 'participation', ['poll_id'], unique=False)
    op.create_index('ix_ballot_poll', 'ballot', ['poll_id'], unique=False)
