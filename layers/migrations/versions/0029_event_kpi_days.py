"""民情 speed, offline visits: daily KPI sums and a data version of events, visit client ids (issue 16)

* ``event_kpi_days``: per Beijing day of report and grid / community / town (0: none), the sums the
  KPIs are made of (events, resolved, on time, closed, rated, satisfied, seconds to 办结), merged
  reports left out. Kept by statement triggers on ``events`` in the same transaction as each change
  (the rows a statement wrote in, the rows it replaced out), so a KPI over months reads a few
  thousand sums instead of every event; the part days at the ends of a period and the open events
  past their deadline (which depend on the hour asked) are read from ``events`` itself
  (``layers.events.kpis``). Derived: audited per statement, like the coverage results.
* ``ix_events_open_reported``: the open (unresolved) events by report time, for that last part.
* ``events_version``: every statement on ``events`` bumps ``data_versions['events']`` (what the
  command centre's counts are cached by).
* ``visits.client_id``: the id a phone gives a visit it recorded offline, unique, so that sending it
  again after the connection returns stores it once.

Revision ID: 0029
Revises: 0028
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import UUID

revision = "0029"
down_revision = "0028"
branch_labels = None
depends_on = None

SUMS = ("events", "resolved", "on_time", "closed", "rated", "satisfied", "resolve_seconds")
KEY = ("day", "grid_id", "community_id", "town_id")


def _terms(rows: str, sign: str) -> str:
    """SELECT of one statement's rows as signed contributions to the daily sums."""
    return f"""
        SELECT (reported_at AT TIME ZONE 'Asia/Shanghai')::date AS day, coalesce(grid_id, 0) AS grid_id,
               coalesce(community_id, 0) AS community_id, coalesce(town_id, 0) AS town_id,
               {sign}1 AS events,
               {sign}(resolved_at IS NOT NULL)::int AS resolved,
               {sign}(resolved_at IS NOT NULL AND NOT overdue AND resolved_at <= due_at)::int AS on_time,
               {sign}(status IN ('resolved', 'reviewed', 'archived'))::int AS closed,
               {sign}(satisfaction IS NOT NULL)::int AS rated,
               {sign}(coalesce(satisfaction, 0) >= 4)::int AS satisfied,
               {sign}coalesce(extract(epoch FROM resolved_at - reported_at), 0) AS resolve_seconds
        FROM {rows} WHERE status <> 'merged'"""


def _apply(terms: str) -> str:
    sums = ", ".join(f"sum({c})" for c in SUMS)
    sets = ", ".join(f"{c} = d.{c} + excluded.{c}" for c in SUMS)
    key = ", ".join(KEY)
    return (
        f"INSERT INTO event_kpi_days AS d ({key}, {', '.join(SUMS)}) "
        f"SELECT {key}, {sums} FROM ({terms}) t GROUP BY {key} ORDER BY {key} "
        f"ON CONFLICT ({key}) DO UPDATE SET {sets}, updated_at = now();"
    )


FUNCTION = f"""
CREATE OR REPLACE FUNCTION minqing_event_kpi_days() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        {_apply(_terms("new_rows", "+"))}
    ELSIF TG_OP = 'UPDATE' THEN
        {_apply(_terms("new_rows", "+") + " UNION ALL " + _terms("old_rows", "-"))}
    ELSIF TG_OP = 'DELETE' THEN
        {_apply(_terms("old_rows", "-"))}
    ELSE
        TRUNCATE event_kpi_days;
    END IF;
    RETURN NULL;
END $$;
"""


def upgrade() -> None:
    op.create_table(
        "event_kpi_days",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("grid_id", sa.BigInteger(), nullable=False),
        sa.Column("community_id", sa.BigInteger(), nullable=False),
        sa.Column("town_id", sa.BigInteger(), nullable=False),
        *[sa.Column(c, sa.Integer(), server_default=sa.text("0"), nullable=False) for c in SUMS[:-1]],
        sa.Column("resolve_seconds", sa.Numeric(), server_default=sa.text("0"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint(*KEY),
    )
    op.execute("SELECT minqing_audit_table('event_kpi_days', false)")
    op.execute(FUNCTION)
    for event, refs in (
        ("INSERT", "NEW TABLE AS new_rows"),
        ("UPDATE", "OLD TABLE AS old_rows NEW TABLE AS new_rows"),
        ("DELETE", "OLD TABLE AS old_rows"),
    ):
        op.execute(
            f"CREATE TRIGGER events_kpi_days_{event.lower()} AFTER {event} ON events "
            f"REFERENCING {refs} FOR EACH STATEMENT EXECUTE FUNCTION minqing_event_kpi_days()"
        )
    op.execute(
        "CREATE TRIGGER events_kpi_days_truncate AFTER TRUNCATE ON events "
        "FOR EACH STATEMENT EXECUTE FUNCTION minqing_event_kpi_days()"
    )
    op.execute(_apply(_terms("events", "+")).rstrip(";"))
    op.create_index(
        "ix_events_open_reported",
        "events",
        ["reported_at"],
        postgresql_where=sa.text("resolved_at IS NULL AND status <> 'merged'"),
        postgresql_include=["due_at", "grid_id", "community_id", "town_id"],
    )
    op.execute(
        "CREATE TRIGGER events_version AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON events "
        "FOR EACH STATEMENT EXECUTE FUNCTION minqing_bump_version()"
    )
    op.add_column("visits", sa.Column("client_id", UUID(as_uuid=True), nullable=True))
    op.create_index("ux_visits_client_id", "visits", ["client_id"], unique=True)


def downgrade() -> None:
    op.drop_index("ux_visits_client_id", "visits")
    op.drop_column("visits", "client_id")
    op.execute("DROP TRIGGER IF EXISTS events_version ON events")
    op.execute("DELETE FROM data_versions WHERE layer = 'events'")
    op.drop_index("ix_events_open_reported", "events")
    for event in ("insert", "update", "delete", "truncate"):
        op.execute(f"DROP TRIGGER IF EXISTS events_kpi_days_{event} ON events")
    op.execute("DROP FUNCTION IF EXISTS minqing_event_kpi_days()")
    op.drop_table("event_kpi_days")
