"""background jobs on the procrastinate task queue

The queue's own tables and functions (the ``schema.sql`` shipped inside the installed procrastinate
package, pinned to 3.10.0 in pyproject.toml; never copied into this repository) go into the
schema ``procrastinate``, beside ours and out of the models' comparison; its functions get that
schema as their search path, so they work from any connection. ``coverage_runs`` and ``jobs`` name
the queue job that computes them (``queue_job_id``): a run or siting job whose queue job has ended
without finishing it is marked failed. ``job_heartbeats`` (0014) goes: the queue's workers beat
themselves, and a job whose worker stopped is taken up again (``pipeline.queue.recover``).

Revision ID: 0020
Revises: 0019
"""

from importlib import metadata, resources

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None

QUEUE_VERSION = "3.10.0"
"""The procrastinate release whose schema this migration installs; later releases bring their own SQL
migrations (``procrastinate/sql/migrations``), applied by a new Alembic migration."""
LEFT_BEHIND = (
    "任务已中断: 升级到任务队列前未完成, 请重新发起 — left unfinished before the task queue was "
    "installed: start it again"
)


def queue_schema() -> str:
    """The installed procrastinate's ``schema.sql``; a clear error when another release is installed."""
    installed = metadata.version("procrastinate")
    if installed != QUEUE_VERSION:
        raise RuntimeError(
            f"migration 0020 installs the schema of procrastinate {QUEUE_VERSION}, but {installed} "
            f"is installed: run `pip install procrastinate=={QUEUE_VERSION}` (make setup does)"
        )
    return (resources.files("procrastinate") / "sql" / "schema.sql").read_text(encoding="utf-8")


def upgrade() -> None:
    con = op.get_bind().connection.driver_connection  # raw psycopg: the SQL has $$ bodies and % signs
    if con is None:
        raise RuntimeError("migration 0020 needs an open database connection")
    con.execute("CREATE SCHEMA procrastinate")
    con.execute("SELECT set_config('search_path', 'procrastinate, public', true)")
    con.execute(queue_schema())
    con.execute("""
        DO $$ DECLARE f regprocedure; BEGIN
          FOR f IN SELECT p.oid::regprocedure FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
                   WHERE n.nspname = 'procrastinate' LOOP
            EXECUTE format('ALTER FUNCTION %s SET search_path = procrastinate, pg_catalog', f);
          END LOOP;
        END $$""")
    con.execute("SELECT set_config('search_path', 'public', true)")
    for table in ("coverage_runs", "jobs"):
        op.add_column(table, sa.Column("queue_job_id", sa.BigInteger(), nullable=True))
        op.execute(
            sa.text(
                f"UPDATE {table} SET status = 'failed', finished_at = now(), error = :e "
                "WHERE status IN ('queued', 'running')"
            ).bindparams(e=LEFT_BEHIND)
        )
    op.drop_table("job_heartbeats")


def downgrade() -> None:
    op.create_table(
        "job_heartbeats",
        sa.Column("job_table", sa.String(length=20), nullable=False),
        sa.Column("job_id", sa.BigInteger(), nullable=False),
        sa.Column("beat_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("job_table", "job_id"),
    )
    for table in ("coverage_runs", "jobs"):
        op.drop_column(table, "queue_job_id")
    op.execute("DROP SCHEMA procrastinate CASCADE")
