"""per-row audit of file imports; background jobs

Imports write in bulk (``minqing.bulk = on``: COPY and set-based INSERT/UPDATE/DELETE), which the
row triggers skip. On the tables an import writes, statement triggers with transition tables now
record every inserted, updated and deleted row (object id, before, after) in ONE
``INSERT ... SELECT`` per statement, as long as the transaction has not set
``minqing.audit_rows = off``. Only the demo loader turns it off (10^5 generated residences in
one go: its summary row says what it loaded); network tables are not covered (summary rows).

``jobs``: long planner computations (siting) run in the background; a job row holds the request,
status (queued, running, done, failed), the result or the error text, and who asked. Coverage
runs are their own jobs: ``coverage_runs.status`` also takes 'queued'.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

IMPORTED = {
    "areas": "area_id",
    "facilities": "facility_id",
    "residences": "residence_id",
    "place_names": "name_id",
    "facility_types": "code",
}
"""Tables the file imports (layers.load.files) write → their key."""

WHEN = (
    "coalesce(current_setting('minqing.bulk', true), 'off') = 'on' "
    "AND coalesce(current_setting('minqing.audit_rows', true), 'on') <> 'off'"
)

FUNCTION = r"""
CREATE OR REPLACE FUNCTION minqing_audit_import() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    who text := coalesce(nullif(current_setting('minqing.actor', true), ''), session_user);
    pk text := TG_ARGV[0];
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO audit_log (actor, action, layer, object_id, before, after)
        SELECT who, 'insert', TG_TABLE_NAME, left(j ->> pk, 40), NULL, j
        FROM (SELECT minqing_row_json(to_jsonb(n)) AS j FROM new_rows n) AS t;
    ELSIF TG_OP = 'UPDATE' THEN
        INSERT INTO audit_log (actor, action, layer, object_id, before, after)
        SELECT who, 'update', TG_TABLE_NAME, left(a.j ->> pk, 40), b.j, a.j
        FROM (SELECT minqing_row_json(to_jsonb(o)) AS j FROM old_rows o) AS b
        JOIN (SELECT minqing_row_json(to_jsonb(n)) AS j FROM new_rows n) AS a ON (a.j -> pk) = (b.j -> pk);
    ELSE
        INSERT INTO audit_log (actor, action, layer, object_id, before, after)
        SELECT who, 'delete', TG_TABLE_NAME, left(j ->> pk, 40), j, NULL
        FROM (SELECT minqing_row_json(to_jsonb(o)) AS j FROM old_rows o) AS t;
    END IF;
    RETURN NULL;
END $$;
"""

TRANSITIONS = {
    "insert": "NEW TABLE AS new_rows",
    "update": "OLD TABLE AS old_rows NEW TABLE AS new_rows",
    "delete": "OLD TABLE AS old_rows",
}


def upgrade() -> None:
    op.execute(FUNCTION)
    for table, pk in IMPORTED.items():
        for event, referencing in TRANSITIONS.items():
            # one trigger per event: PostgreSQL allows transition tables only on single-event triggers
            op.execute(
                f"CREATE TRIGGER {table}_audit_import_{event} AFTER {event.upper()} ON {table} "
                f"REFERENCING {referencing} FOR EACH STATEMENT WHEN ({WHEN}) "
                f"EXECUTE FUNCTION minqing_audit_import('{pk}')"
            )
    op.create_table(
        "jobs",
        sa.Column("job_id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=12), server_default="queued", nullable=False),
        sa.Column(
            "params",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column("result", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("actor", sa.String(length=60), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("status IN ('queued', 'running', 'done', 'failed')", name="job_status_known"),
        sa.PrimaryKeyConstraint("job_id"),
    )
    # results are large and recomputable: one audit row per statement (minqing_audit_table of 0006);
    # who asked for which job is recorded explicitly by the job layer
    op.execute("SELECT minqing_audit_table('jobs', false)")


def downgrade() -> None:
    op.drop_table("jobs")
    for table in IMPORTED:
        for event in TRANSITIONS:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_audit_import_{event} ON {table}")
    op.execute("DROP FUNCTION IF EXISTS minqing_audit_import()")
