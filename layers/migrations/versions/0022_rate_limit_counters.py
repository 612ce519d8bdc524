"""rate-limit counters shared by every server process

``ratelimit.counters`` (fixed windows) and ``ratelimit.hits`` (moving windows, one row per hit) of
the ``limits`` library (``layers.ratelimits``: the
anonymous request limit, the login throttle per address, the public reports per address), in a
schema of its own and UNLOGGED (written on every anonymous request; worthless after a crash of
the database). Not audited, no timestamps: counters, not data.

Revision ID: 0022
Revises: 0021
"""

from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE SCHEMA ratelimit")
    op.execute(
        "CREATE UNLOGGED TABLE ratelimit.counters (key text PRIMARY KEY, hits bigint NOT NULL, "
        "expires_at timestamptz NOT NULL)"
    )
    op.execute("CREATE INDEX counters_expires_at ON ratelimit.counters (expires_at)")
    op.execute(
        "CREATE UNLOGGED TABLE ratelimit.hits (key text NOT NULL, at double precision NOT NULL, "
        "n integer NOT NULL)"
    )
    op.execute("CREATE INDEX hits_key_at ON ratelimit.hits (key, at)")


def downgrade() -> None:
    op.execute("DROP SCHEMA ratelimit CASCADE")
