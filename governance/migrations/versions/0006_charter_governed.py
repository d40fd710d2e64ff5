"""charter governed: two-person publication requests, and versions that name theirs

Revision ID: 0006
Revises: 0004
Create Date: 2026-12-02 17:00:00

``pending_change`` holds a committee's direct publication (charter detail, document detail, a
poll's scheduling) until a second member approves it or its waiting period passes, and the forum
has been told; ``document_version.change_id`` names the request a committee version went through.
(Numbered 0006 on its branch; the lead renumbers at merge.)
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel
import governance.models.base

revision = '0006'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('pending_change',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('document', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
    sa.Column('poll_id', sa.Integer(), nullable=True),
    sa.Column('base_number', sa.Integer(), nullable=True),
    sa.Column('title', sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('sha256', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('classification', sa.JSON(), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('requested_by', sa.Integer(), nullable=False),
    sa.Column('approved_by', sa.Integer(), nullable=True),
    sa.Column('objected_by', sa.Integer(), nullable=True),
    sa.Column('reason', sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=False),
    sa.Column('waiting_days', sa.Integer(), nullable=True),
    sa.Column('effective_after', governance.models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('announced_at', governance.models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('forum_topic_id', sa.Integer(), nullable=True),
    sa.Column('applied_at', governance.models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('result', sa.JSON(), nullable=False),
    sa.Column('history', sa.JSON(), nullable=False),
    sa.Column('created_at', governance.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['poll_id'], ['poll.id'], ),
    sa.ForeignKeyConstraint(['requested_by'], ['member.id'], ),
    sa.ForeignKeyConstraint(['approved_by'], ['member.id'], ),
    sa.ForeignKeyConstraint(['objected_by'], ['member.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('pending_change', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_pending_change_document'), ['document'], unique=False)
        batch_op.create_index(batch_op.f('ix_pending_change_poll_id'), ['poll_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_pending_change_status'), ['status'], unique=False)
    with op.batch_alter_table('document_version', schema=None) as batch_op:
        batch_op.add_column(sa.Column('change_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key('fk_document_version_change_id', 'pending_change', ['change_id'], ['id'])


def downgrade() -> None:
    with op.batch_alter_table('document_version', schema=None) as batch_op:
        batch_op.drop_constraint('fk_document_version_change_id', type_='foreignkey')
        batch_op.drop_column('change_id')
    with op.batch_alter_table('pending_change', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_pending_change_status'))
        batch_op.drop_index(batch_op.f('ix_pending_change_poll_id'))
        batch_op.drop_index(batch_op.f('ix_pending_change_document'))
    op.drop_table('pending_change')
