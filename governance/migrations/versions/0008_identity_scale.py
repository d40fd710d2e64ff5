"""identity at scale: observations, resumable sync passes, webhook deliveries, stale members

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-24 10:00:00

``forum_observation`` keeps what the forum said about an account and when (so eligibility can be
judged as of a poll's opening), ``forum_sync_pass`` the cursor of ``flask forum sync``,
``forum_webhook_delivery`` the event ids already accepted (replays are refused); members get
``stale_since`` (a webhook said the account changed) and ``seen_pass``.
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel
import governance.models.base

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

_TIME = governance.models.base.UTCDateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table('member', schema=None) as batch_op:
        batch_op.add_column(sa.Column('stale_since', _TIME, nullable=True))
        batch_op.add_column(sa.Column('seen_pass', sa.Integer(), nullable=True))
    op.create_table('forum_observation',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('forum_user_id', sa.Integer(), nullable=False),
    sa.Column('observed_at', _TIME, nullable=False),
    sa.Column('source', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('evidence', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_forum_observation_account_time', 'forum_observation', ['forum_user_id', 'observed_at'],
                    unique=False)
    op.create_table('forum_sync_pass',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('started_at', _TIME, nullable=False),
    sa.Column('updated_at', _TIME, nullable=False),
    sa.Column('finished_at', _TIME, nullable=True),
    sa.Column('phase', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('next_page', sa.Integer(), nullable=False),
    sa.Column('accounts', sa.Integer(), nullable=False),
    sa.Column('changed', sa.Integer(), nullable=False),
    sa.Column('calls', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('forum_webhook_delivery',
    sa.Column('event_id', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('event', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('forum_user_id', sa.Integer(), nullable=True),
    sa.Column('received_at', _TIME, nullable=False),
    sa.PrimaryKeyConstraint('event_id')
    )
    op.create_index(op.f('ix_forum_webhook_delivery_received_at'), 'forum_webhook_delivery', ['received_at'],
                    unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_forum_webhook_delivery_received_at'), table_name='forum_webhook_delivery')
    op.drop_table('forum_webhook_delivery')
    op.drop_table('forum_sync_pass')
    op.drop_index('ix_forum_observation_account_time', table_name='forum_observation')
    op.drop_table('forum_observation')
    with op.batch_alter_table('member', schema=None) as batch_op:
        batch_op.drop_column('seen_pass')
        batch_op.drop_column('stale_since')
