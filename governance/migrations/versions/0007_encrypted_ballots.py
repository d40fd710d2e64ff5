"""encrypted ballots: per-poll secrets, trustees, the bulletin board, mixes, decryption shares

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 18:00:00

Ballots become ElGamal ciphertexts with proofs (docs/crypto.md). Existing data is carried over:

* polls already counted keep their plaintext ballots, moved to ``legacy_ballot`` (their audit
  bundles stay format 1);
* polls open now have their ballots encrypted here under a platform-held key (the server held
  those ballots in plaintext anyway) with each voter's credential, each recorded in the log as a
  ``ballot.cast`` entry marked ``migrated``, so voting goes on and voters can still replace their
  ballot. That needs the platform's secret key: set ``GOVERNANCE_SECRET_KEY`` (``flask db upgrade``
  passes the app's) when any poll is open;
* ``participation`` loses its last-voted time and, on SQLite, its rowid (no insertion order);
  ``poll_key`` (the old voter links' key) is dropped.

Going down drops every encrypted ballot (they cannot be turned back into plaintext): it refuses
while any poll has encrypted ballots.
"""
from __future__ import annotations

import secrets

import sqlalchemy as sa
import sqlmodel
from alembic import context, op

import governance.models.base

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

_STR = sqlmodel.sql.sqltypes.AutoString


def _secret() -> str | None:
    import os

    secret = context.config.attributes.get("secret_key") or os.environ.get("GOVERNANCE_SECRET_KEY")
    if not secret:
        try:
            from flask import current_app

            secret = current_app.config.get("SECRET_KEY")
        except RuntimeError:
            secret = None
    return secret


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    # Plain ALTER TABLE (not batch mode): on SQLite batch mode copies a table, which the rows that
    # refer to polls forbid, and would lose the audit log's append-only triggers.
    op.add_column('poll', sa.Column('key_mode', _STR(length=20), nullable=False, server_default='platform'))
    op.add_column('poll', sa.Column('trustee_threshold', sa.Integer(), nullable=False, server_default='1'))
    op.add_column('poll', sa.Column('election_params', sa.JSON(), nullable=True))
    op.add_column('poll', sa.Column('fingerprint', _STR(length=64), nullable=False, server_default=''))
    op.add_column('poll', sa.Column('ceremony', sa.JSON(), nullable=True))
    op.add_column('poll', sa.Column('mixing_ended', sa.Boolean(), nullable=False, server_default=sa.false()))
    op.add_column('audit_entry', sa.Column('signature', _STR(length=128), nullable=False, server_default=''))

    op.create_table('poll_secret',
                    sa.Column('poll_id', sa.Integer(), sa.ForeignKey('poll.id'), primary_key=True),
                    sa.Column('link_salt', _STR(length=64), nullable=True),
                    sa.Column('key_salt', _STR(length=64), nullable=True))
    op.create_table('poll_trustee',
                    sa.Column('id', sa.Integer(), primary_key=True),
                    sa.Column('poll_id', sa.Integer(), sa.ForeignKey('poll.id'), nullable=False),
                    sa.Column('position', sa.Integer(), nullable=False),
                    sa.Column('member_id', sa.Integer(), sa.ForeignKey('member.id'), nullable=False),
                    sa.Column('username', _STR(length=60), nullable=False),
                    sa.Column('certificate', sa.JSON(), nullable=True),
                    sa.Column('shares', sa.JSON(), nullable=True),
                    sa.Column('verification', sa.JSON(), nullable=True),
                    sa.UniqueConstraint('poll_id', 'position'), sa.UniqueConstraint('poll_id', 'member_id'))
    op.create_index('ix_poll_trustee_poll_id', 'poll_trustee', ['poll_id'])
    op.create_table('mix',
                    sa.Column('id', sa.Integer(), primary_key=True),
                    sa.Column('poll_id', sa.Integer(), sa.ForeignKey('poll.id'), nullable=False),
                    sa.Column('position', sa.Integer(), nullable=False),
                    sa.Column('mixer', sa.Integer(), nullable=False),
                    sa.Column('input_sha256', _STR(length=64), nullable=False),
                    sa.Column('output_sha256', _STR(length=64), nullable=False),
                    sa.Column('output', sa.LargeBinary(), nullable=False),
                    sa.Column('proof', sa.JSON(), nullable=False),
                    sa.Column('verified', sa.Boolean(), nullable=False),
                    sa.Column('created_at', governance.models.base.UTCDateTime(timezone=True), nullable=False),
                    sa.UniqueConstraint('poll_id', 'position'))
    op.create_index('ix_mix_poll_id', 'mix', ['poll_id'])
    op.create_table('decryption_share',
                    sa.Column('id', sa.Integer(), primary_key=True),
                    sa.Column('poll_id', sa.Integer(), sa.ForeignKey('poll.id'), nullable=False),
                    sa.Column('trustee', sa.Integer(), nullable=False),
                    sa.Column('mix_sha256', _STR(length=64), nullable=False),
                    sa.Column('factors', sa.LargeBinary(), nullable=False),
                    sa.Column('proof', sa.JSON(), nullable=False),
                    sa.Column('verified', sa.Boolean(), nullable=False),
                    sa.Column('created_at', governance.models.base.UTCDateTime(timezone=True), nullable=False),
                    sa.UniqueConstraint('poll_id', 'trustee'))
    op.create_index('ix_decryption_share_poll_id', 'decryption_share', ['poll_id'])
    op.create_table('decoded_ballot',
                    sa.Column('id', sa.Integer(), primary_key=True),
                    sa.Column('poll_id', sa.Integer(), sa.ForeignKey('poll.id'), nullable=False),
                    sa.Column('position', sa.Integer(), nullable=False),
                    sa.Column('values', sa.JSON(), nullable=False),
                    sa.Column('ranking', sa.JSON(), nullable=True),
                    sa.Column('invalid', _STR(length=200), nullable=False),
                    sa.UniqueConstraint('poll_id', 'position'))
    op.create_table('legacy_ballot',
                    sa.Column('id', _STR(length=32), primary_key=True),
                    sa.Column('poll_id', sa.Integer(), sa.ForeignKey('poll.id'), nullable=False),
                    sa.Column('tracker', _STR(length=32), nullable=False),
                    sa.Column('ranking', sa.JSON(), nullable=False),
                    sa.UniqueConstraint('poll_id', 'tracker'))
    op.create_table('ballot_new',
                    sa.Column('id', _STR(length=32), primary_key=True),
                    sa.Column('poll_id', sa.Integer(), sa.ForeignKey('poll.id'), nullable=False),
                    sa.Column('tracker', _STR(length=64), nullable=False),
                    sa.Column('credential', _STR(length=32), nullable=False),
                    sa.Column('content', sa.JSON(), nullable=False),
                    sa.Column('seq', sa.Integer(), nullable=False),
                    sa.Column('superseded', sa.Boolean(), nullable=False),
                    sa.UniqueConstraint('poll_id', 'tracker', name='uq_ballot_poll_tracker'),
                    sqlite_with_rowid=False)
    op.create_table('participation_new',
                    sa.Column('id', _STR(length=32), primary_key=True),
                    sa.Column('poll_id', sa.Integer(), sa.ForeignKey('poll.id'), nullable=False),
                    sa.Column('member_id', sa.Integer(), sa.ForeignKey('member.id'), nullable=False),
                    sa.Column('evidence', sa.JSON(), nullable=False),
                    sa.UniqueConstraint('poll_id', 'member_id', name='uq_participation_poll_member'),
                    sqlite_with_rowid=False)

    conn = op.get_bind()
    conn.execute(sa.text("INSERT INTO participation_new (id, poll_id, member_id, evidence) "
                         "SELECT id, poll_id, member_id, evidence FROM participation"))
    conn.execute(sa.text("INSERT INTO legacy_ballot (id, poll_id, tracker, ranking) "
                         "SELECT b.id, b.poll_id, b.tracker, b.ranking FROM ballot b JOIN poll p ON p.id = b.poll_id "
                         "WHERE p.status IN ('closed', 'published')"))
    open_polls = [row[0] for row in conn.execute(sa.text(
        "SELECT DISTINCT p.id FROM poll p WHERE p.status = 'open'"))]
    if open_polls:
        secret = _secret()
        if not secret:
            raise RuntimeError("polls are open: their ballots must be encrypted during this migration, which needs "
                               "the platform's secret key; set GOVERNANCE_SECRET_KEY and run it again")
        from governance.polls.migrate import encrypt_open_poll

        for poll_id in open_polls:
            encrypt_open_poll(conn, poll_id, secret=secret)

    op.drop_table('ballot')
    op.drop_table('participation')
    op.drop_table('poll_key')
    op.rename_table('ballot_new', 'ballot')
    op.rename_table('participation_new', 'participation')
    op.create_index('ix_ballot_poll_credential', 'ballot', ['poll_id', 'credential'])
    if sqlite:
        conn.execute(sa.text("PRAGMA foreign_keys=ON"))


def downgrade() -> None:
    conn = op.get_bind()
    if conn.execute(sa.text("SELECT count(*) FROM ballot")).scalar():
        raise RuntimeError("encrypted ballots exist: they cannot be turned back into plaintext ballots")
    op.drop_index('ix_ballot_poll_credential', table_name='ballot')
    op.drop_table('ballot')
    op.create_table('ballot',
                    sa.Column('id', _STR(length=32), primary_key=True),
                    sa.Column('poll_id', sa.Integer(), sa.ForeignKey('poll.id'), nullable=False),
                    sa.Column('tracker', _STR(length=32), nullable=False),
                    sa.Column('ranking', sa.JSON(), nullable=False),
                    sa.Column('voter_link', _STR(length=64), nullable=True),
                    sa.UniqueConstraint('poll_id', 'tracker'), sa.UniqueConstraint('poll_id', 'voter_link'))
    conn.execute(sa.text("INSERT INTO ballot (id, poll_id, tracker, ranking) "
                         "SELECT id, poll_id, tracker, ranking FROM legacy_ballot"))
    op.create_table('participation_old',
                    sa.Column('id', _STR(length=32), primary_key=True),
                    sa.Column('poll_id', sa.Integer(), sa.ForeignKey('poll.id'), nullable=False),
                    sa.Column('member_id', sa.Integer(), sa.ForeignKey('member.id'), nullable=False),
                    sa.Column('evidence', sa.JSON(), nullable=False),
                    sa.Column('last_cast_at', governance.models.base.UTCDateTime(timezone=True), nullable=True),
                    sa.UniqueConstraint('poll_id', 'member_id'))
    conn.execute(sa.text("INSERT INTO participation_old (id, poll_id, member_id, evidence) "
                         "SELECT id, poll_id, member_id, evidence FROM participation"))
    op.drop_table('participation')
    op.rename_table('participation_old', 'participation')
    op.create_table('poll_key',
                    sa.Column('poll_id', sa.Integer(), sa.ForeignKey('poll.id'), primary_key=True),
                    sa.Column('key', _STR(length=64), nullable=False))
    for poll_id, in conn.execute(sa.text("SELECT id FROM poll WHERE status = 'open'")).all():
        conn.execute(sa.text("INSERT INTO poll_key (poll_id, key) VALUES (:p, :k)"),
                     {"p": poll_id, "k": secrets.token_hex(32)})
    for name in ('legacy_ballot', 'decoded_ballot', 'decryption_share', 'mix', 'poll_trustee', 'poll_secret'):
        op.drop_table(name)
    op.drop_column('audit_entry', 'signature')
    for column in ('mixing_ended', 'ceremony', 'fingerprint', 'election_params', 'trustee_threshold', 'key_mode'):
        op.drop_column('poll', column)
