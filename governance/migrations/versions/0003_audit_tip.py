"""audit log tip under the log's lock, in one round trip (PostgreSQL)

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 17:30:00
"""
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None

#: The advisory lock key of the log head (governance.audit.log._LOG_LOCK).
LOG_LOCK = 7_243_001


def upgrade() -> None:
    """On PostgreSQL, a function that takes the log's lock and then reads the newest entry.

    It is VOLATILE, so under READ COMMITTED its query runs on a snapshot taken after the lock is
    granted and sees the entry appended by the transaction it waited for. SQLite needs nothing:
    its write transactions are exclusive already.
    """
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(f"""
        CREATE FUNCTION audit_log_tip_locked() RETURNS TABLE (seq integer, hash varchar)
        LANGUAGE plpgsql VOLATILE AS $$
        BEGIN
            PERFORM pg_advisory_xact_lock({LOG_LOCK});
            RETURN QUERY SELECT e.seq, e.hash::varchar FROM audit_entry e ORDER BY e.seq DESC LIMIT 1;
        END $$;
    """)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION audit_log_tip_locked()")
