"""audit log, data versions and updated_at triggers

Every row written to a user-facing layer is recorded in audit_log (who, when, before/after),
unless the transaction declares itself a bulk import (``minqing.bulk = on``), which records one
summary row instead. Every statement bumps the layer's counter in data_versions, which coverage
runs store as the version of the data they were computed on.

Revision ID: 0002
Revises: 0001
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

AUDITED = {
    "areas": "area_id",
    "facility_types": "code",
    "facilities": "facility_id",
    "residences": "residence_id",
    "place_names": "name_id",
    "scenarios": "scenario_id",
    "users": "user_id",
}
VERSIONED = [
    "areas",
    "facility_types",
    "facilities",
    "residences",
    "place_names",
    "network_nodes",
    "network_edges",
    "water",
]
TOUCHED = ["areas", "facility_types", "facilities", "residences", "place_names", "scenarios", "users"]


def upgrade() -> None:
    op.execute("""
    CREATE OR REPLACE FUNCTION minqing_row_json(r jsonb) RETURNS jsonb LANGUAGE sql IMMUTABLE AS $$
        SELECT r - 'password_hash'
    $$;
    CREATE OR REPLACE FUNCTION minqing_audit() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
        who text := coalesce(nullif(current_setting('minqing.actor', true), ''), session_user);
        pk text := TG_ARGV[0];
        old_j jsonb;
        new_j jsonb;
    BEGIN
        IF coalesce(current_setting('minqing.bulk', true), 'off') = 'on' THEN
            RETURN NULL;
        END IF;
        IF TG_OP <> 'INSERT' THEN old_j := minqing_row_json(to_jsonb(OLD)); END IF;
        IF TG_OP <> 'DELETE' THEN new_j := minqing_row_json(to_jsonb(NEW)); END IF;
        INSERT INTO audit_log (actor, action, layer, object_id, before, after)
        VALUES (who, lower(TG_OP), TG_TABLE_NAME, coalesce(new_j, old_j) ->> pk, old_j, new_j);
        RETURN NULL;
    END $$;
    CREATE OR REPLACE FUNCTION minqing_bump_version() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO data_versions (layer, version, updated_at) VALUES (TG_TABLE_NAME, 1, now())
        ON CONFLICT (layer) DO UPDATE SET version = data_versions.version + 1, updated_at = now();
        RETURN NULL;
    END $$;
    CREATE OR REPLACE FUNCTION minqing_touch() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        NEW.updated_at := now();
        RETURN NEW;
    END $$;
    """)
    for table, pk in AUDITED.items():
        op.execute(
            f"CREATE TRIGGER {table}_audit AFTER INSERT OR UPDATE OR DELETE ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION minqing_audit('{pk}')"
        )
    for table in VERSIONED:
        op.execute(
            f"CREATE TRIGGER {table}_version AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE "
            f"ON {table} FOR EACH STATEMENT EXECUTE FUNCTION minqing_bump_version()"
        )
    for table in TOUCHED:
        op.execute(
            f"CREATE TRIGGER {table}_touch BEFORE UPDATE ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION minqing_touch()"
        )


def downgrade() -> None:
    for table in TOUCHED:
        op.execute(f"DROP TRIGGER IF EXISTS {table}_touch ON {table}")
    for table in VERSIONED:
        op.execute(f"DROP TRIGGER IF EXISTS {table}_version ON {table}")
    for table in AUDITED:
        op.execute(f"DROP TRIGGER IF EXISTS {table}_audit ON {table}")
    op.execute(
        "DROP FUNCTION IF EXISTS minqing_touch(); DROP FUNCTION IF EXISTS minqing_bump_version(); "
        "DROP FUNCTION IF EXISTS minqing_audit(); DROP FUNCTION IF EXISTS minqing_row_json(jsonb);"
    )
