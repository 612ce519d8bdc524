"""data-version changes announced with NOTIFY

Every bump of a ``data_versions`` counter, and every statement on the tables the tile versions and
the login check also read (``coverage_runs``, ``province_runs``, ``users``, ``revoked_tokens``),
sends ``NOTIFY minqing_versions, '<table>'``. PostgreSQL delivers it when the transaction commits
(never for a rolled-back one) to every listening connection: each server process keeps the data
versions it read until it hears one (``layers.versions``), instead of reading them for every tile.

Revision ID: 0038
Revises: 0037
"""

from alembic import op

revision = "0038"
down_revision = "0037"
branch_labels = None
depends_on = None

CHANNEL = "minqing_versions"
NOTIFIED = ["coverage_runs", "province_runs", "users", "revoked_tokens"]


def upgrade() -> None:
    op.execute(f"""
    CREATE OR REPLACE FUNCTION minqing_bump_version() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO data_versions (layer, version, updated_at) VALUES (TG_TABLE_NAME, 1, now())
        ON CONFLICT (layer) DO UPDATE SET version = data_versions.version + 1, updated_at = now();
        PERFORM pg_notify('{CHANNEL}', TG_TABLE_NAME);
        RETURN NULL;
    END $$;
    CREATE OR REPLACE FUNCTION minqing_notify_change() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        PERFORM pg_notify('{CHANNEL}', TG_TABLE_NAME);
        RETURN NULL;
    END $$;
    """)
    for table in NOTIFIED:
        op.execute(
            f"CREATE TRIGGER {table}_notify AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE "
            f"ON {table} FOR EACH STATEMENT EXECUTE FUNCTION minqing_notify_change()"
        )


def downgrade() -> None:
    for table in NOTIFIED:
        op.execute(f"DROP TRIGGER IF EXISTS {table}_notify ON {table}")
    op.execute("""
    DROP FUNCTION IF EXISTS minqing_notify_change();
    CREATE OR REPLACE FUNCTION minqing_bump_version() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO data_versions (layer, version, updated_at) VALUES (TG_TABLE_NAME, 1, now())
        ON CONFLICT (layer) DO UPDATE SET version = data_versions.version + 1, updated_at = now();
        RETURN NULL;
    END $$;
    """)
