"""timestamps and audit triggers on every table

Every table (but ``audit_log`` itself) gets ``created_at``/``updated_at`` (``updated_at`` kept
by a BEFORE UPDATE trigger) and audit triggers, installed by one SQL function,
``minqing_audit_table(table, row_level)``, that later migrations call for their new tables:

* row-level tables (``row_level`` true: every layer, reference table, account and run): a row
  trigger records each insert/update/delete with who, when and the row before/after. Bulk
  writes (a transaction that sets ``minqing.bulk = on``: the demo load, imports) skip it, through
  the trigger's WHEN clause so a network load of 10^5-10^6 rows pays no per-row function call;
  instead a statement trigger records one summary row per statement (``after`` =
  ``{"statement": true, "bulk": true}``), and the loader adds its own ``import`` row with counts.
* derived tables (``row_level`` false: the coverage results, 10^5 rows per run, recomputable
  from their run): one summary row per statement, always; the run itself is audited row by row
  in ``coverage_runs``.
* every table: TRUNCATE is recorded (one row per table).

Writes made by a trigger (the data_versions counters) are not recorded again: the statement
that caused them is. Object ids of composite keys are the key values joined by ``/``.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

ROW_LEVEL = [
    "areas",
    "facility_types",
    "facilities",
    "residences",
    "place_names",
    "place_name_history",
    "network_nodes",
    "network_edges",
    "water",
    "divisions",
    "scenarios",
    "users",
    "coverage_runs",
    "data_versions",
]
DERIVED = ["coverage_area", "coverage_residence", "coverage_facility", "coverage_gaps"]
NEW_CREATED_AT = ["water", "place_name_history", "data_versions", "coverage_runs", *DERIVED]
NEW_UPDATED_AT = [
    "water",
    "network_nodes",
    "network_edges",
    "divisions",
    "place_name_history",
    "coverage_runs",
    *DERIVED,
]
# 0002's triggers, restored on downgrade
OLD_AUDITED = {
    "areas": "area_id",
    "facility_types": "code",
    "facilities": "facility_id",
    "residences": "residence_id",
    "place_names": "name_id",
    "scenarios": "scenario_id",
    "users": "user_id",
}
OLD_TOUCHED = ["areas", "facility_types", "facilities", "residences", "place_names", "scenarios", "users"]

FUNCTIONS = r"""
CREATE OR REPLACE FUNCTION minqing_audit() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    who text := coalesce(nullif(current_setting('minqing.actor', true), ''), session_user);
    old_j jsonb;
    new_j jsonb;
    key text[] := '{}';
    col text;
BEGIN
    IF coalesce(current_setting('minqing.bulk', true), 'off') = 'on' OR pg_trigger_depth() > 1 THEN
        RETURN NULL;
    END IF;
    IF TG_OP <> 'INSERT' THEN old_j := minqing_row_json(to_jsonb(OLD)); END IF;
    IF TG_OP <> 'DELETE' THEN new_j := minqing_row_json(to_jsonb(NEW)); END IF;
    FOREACH col IN ARRAY TG_ARGV LOOP
        key := key || (coalesce(new_j, old_j) ->> col);
    END LOOP;
    INSERT INTO audit_log (actor, action, layer, object_id, before, after)
    VALUES (who, lower(TG_OP), TG_TABLE_NAME, left(array_to_string(key, '/'), 40), old_j, new_j);
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION minqing_audit_statement() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF pg_trigger_depth() > 1 THEN
        RETURN NULL;
    END IF;
    INSERT INTO audit_log (actor, action, layer, after)
    VALUES (coalesce(nullif(current_setting('minqing.actor', true), ''), session_user), lower(TG_OP),
            TG_TABLE_NAME, jsonb_build_object(
                'statement', true, 'bulk', coalesce(current_setting('minqing.bulk', true), 'off') = 'on'));
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION minqing_audit_table(tbl regclass, row_level boolean) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    name text := (SELECT relname FROM pg_class WHERE oid = tbl);
    pk text;
    bulk text := $w$coalesce(current_setting('minqing.bulk', true), 'off') = 'on'$w$;
BEGIN
    SELECT string_agg(quote_literal(a.attname), ', ' ORDER BY k.i) INTO pk
    FROM pg_index x CROSS JOIN LATERAL unnest(x.indkey) WITH ORDINALITY AS k(attnum, i)
    JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = k.attnum
    WHERE x.indrelid = tbl AND x.indisprimary;
    IF row_level AND pk IS NULL THEN
        RAISE EXCEPTION 'table % has no primary key: row-level audit needs one', name;
    END IF;
    EXECUTE format('DROP TRIGGER IF EXISTS %I ON %s', name || '_audit', tbl);
    EXECUTE format('DROP TRIGGER IF EXISTS %I ON %s', name || '_audit_statement', tbl);
    EXECUTE format('DROP TRIGGER IF EXISTS %I ON %s', name || '_audit_truncate', tbl);
    EXECUTE format('DROP TRIGGER IF EXISTS %I ON %s', name || '_touch', tbl);
    IF row_level THEN
        EXECUTE format('CREATE TRIGGER %I AFTER INSERT OR UPDATE OR DELETE ON %s FOR EACH ROW '
                       'WHEN (NOT (%s)) EXECUTE FUNCTION minqing_audit(%s)', name || '_audit', tbl, bulk, pk);
        EXECUTE format('CREATE TRIGGER %I AFTER INSERT OR UPDATE OR DELETE ON %s FOR EACH STATEMENT '
                       'WHEN (%s) EXECUTE FUNCTION minqing_audit_statement()', name || '_audit_statement',
                       tbl, bulk);
    ELSE
        EXECUTE format('CREATE TRIGGER %I AFTER INSERT OR UPDATE OR DELETE ON %s FOR EACH STATEMENT '
                       'EXECUTE FUNCTION minqing_audit_statement()', name || '_audit_statement', tbl);
    END IF;
    EXECUTE format('CREATE TRIGGER %I AFTER TRUNCATE ON %s FOR EACH STATEMENT '
                   'EXECUTE FUNCTION minqing_audit_statement()', name || '_audit_truncate', tbl);
    IF EXISTS (SELECT 1 FROM pg_attribute
               WHERE attrelid = tbl AND attname = 'updated_at' AND NOT attisdropped) THEN
        EXECUTE format('CREATE TRIGGER %I BEFORE UPDATE ON %s FOR EACH ROW EXECUTE FUNCTION minqing_touch()',
                       name || '_touch', tbl);
    END IF;
END $$;
"""

# 0002's minqing_audit, restored on downgrade
OLD_AUDIT = r"""
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
"""


def _now() -> sa.TextClause:
    return sa.text("now()")


def upgrade() -> None:
    for table in NEW_CREATED_AT:
        op.add_column(
            table, sa.Column("created_at", sa.DateTime(timezone=True), server_default=_now(), nullable=False)
        )
    for table in NEW_UPDATED_AT:
        op.add_column(
            table, sa.Column("updated_at", sa.DateTime(timezone=True), server_default=_now(), nullable=False)
        )
    op.execute(FUNCTIONS)
    for table in ROW_LEVEL:
        op.execute(f"SELECT minqing_audit_table('{table}', true)")
    for table in DERIVED:
        op.execute(f"SELECT minqing_audit_table('{table}', false)")


def downgrade() -> None:
    for table in ROW_LEVEL + DERIVED:
        for suffix in ("audit", "audit_statement", "audit_truncate", "touch"):
            op.execute(f"DROP TRIGGER IF EXISTS {table}_{suffix} ON {table}")
    op.execute(
        "DROP FUNCTION minqing_audit_table(regclass, boolean); DROP FUNCTION minqing_audit_statement();"
    )
    op.execute(OLD_AUDIT)
    for table, pk in OLD_AUDITED.items():
        op.execute(
            f"CREATE TRIGGER {table}_audit AFTER INSERT OR UPDATE OR DELETE ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION minqing_audit('{pk}')"
        )
    for table in OLD_TOUCHED:
        op.execute(
            f"CREATE TRIGGER {table}_touch BEFORE UPDATE ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION minqing_touch()"
        )
    for table in NEW_UPDATED_AT:
        op.drop_column(table, "updated_at")
    for table in NEW_CREATED_AT:
        op.drop_column(table, "created_at")
