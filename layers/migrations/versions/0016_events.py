"""民情事件: residents' reports with their whole history; dispatcher and department roles (issue 16)

* ``events``: one report, routed to the smallest grid covering its point (``grid_id`` with its
  community and town) and that grid's worker; status, handling level, deadline, 超时 flag, result
  and satisfaction (flow: geo.events). ``reporter_phone`` is personal data: staff only.
* ``event_history``: every step, stamped with who and when.
* ``users``: roles ``dispatcher`` (镇街联勤指挥中心) and ``department`` (职能部门, named in the new
  ``department`` column, which a department account must have).

Both new tables are audited row by row.

Revision ID: 0016
Revises: 0015
"""

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

OLD_ROLES = "role IN ('grid_worker', 'planner', 'placename_officer', 'admin')"
NEW_ROLES = "role IN ('grid_worker', 'planner', 'placename_officer', 'admin', 'dispatcher', 'department')"
STATUS = (
    "status IN ('reported', 'accepted', 'escalated', 'assigned', 'handling', 'resolved', 'reviewed', "
    "'archived')"
)


def _stamps() -> list[sa.Column]:
    return [
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
    ]


def upgrade() -> None:
    op.add_column("users", sa.Column("department", sa.String(length=60), nullable=True))
    op.drop_constraint("user_role_known", "users", type_="check")
    op.create_check_constraint("user_role_known", "users", NEW_ROLES)
    op.create_check_constraint(
        "user_department_named", "users", "role <> 'department' OR department IS NOT NULL"
    )

    op.create_table(
        "events",
        sa.Column("event_id", sa.BigInteger(), nullable=False),
        sa.Column("tracking_code", sa.String(length=16), nullable=False),
        sa.Column("category", sa.String(length=30), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("level", sa.String(length=8), nullable=False),
        sa.Column("source", sa.String(length=8), nullable=False),
        sa.Column("grid_id", sa.BigInteger(), sa.ForeignKey("areas.area_id"), nullable=True),
        sa.Column("community_id", sa.BigInteger(), sa.ForeignKey("areas.area_id"), nullable=True),
        sa.Column("town_id", sa.BigInteger(), sa.ForeignKey("areas.area_id"), nullable=True),
        sa.Column("worker_id", sa.BigInteger(), sa.ForeignKey("users.user_id"), nullable=True),
        sa.Column("department", sa.String(length=60), nullable=True),
        sa.Column("address", sa.String(length=300), nullable=True),
        sa.Column("reporter_phone", sa.String(length=20), nullable=True),
        sa.Column("reported_by", sa.String(length=60), nullable=False),
        sa.Column("reported_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("overdue", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("escalations", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("result_note", sa.Text(), nullable=True),
        sa.Column("satisfaction", sa.Integer(), nullable=True),
        sa.Column("duplicate_of", sa.BigInteger(), sa.ForeignKey("events.event_id"), nullable=True),
        sa.Column("version", sa.Integer(), server_default=sa.text("1"), nullable=False),
        sa.Column("geom", Geometry("POINT", srid=4326, spatial_index=False), nullable=False),
        *_stamps(),
        sa.PrimaryKeyConstraint("event_id"),
        sa.UniqueConstraint("tracking_code"),
        sa.CheckConstraint(STATUS, name="event_status_known"),
        sa.CheckConstraint("level IN ('网格', '村社区', '镇街', '职能部门')", name="event_level_known"),
        sa.CheckConstraint("source IN ('public', 'staff', '12345')", name="event_source_known"),
        sa.CheckConstraint("satisfaction BETWEEN 1 AND 5", name="event_satisfaction_range"),
    )
    op.create_index("ix_events_geom", "events", ["geom"], postgresql_using="gist")
    for column in ("category", "status", "grid_id", "department", "reported_at"):
        op.create_index(f"ix_events_{column}", "events", [column])
    op.create_table(
        "event_history",
        sa.Column("history_id", sa.BigInteger(), nullable=False),
        sa.Column(
            "event_id", sa.BigInteger(), sa.ForeignKey("events.event_id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("action", sa.String(length=12), nullable=False),
        sa.Column("from_status", sa.String(length=12), nullable=True),
        sa.Column("to_status", sa.String(length=12), nullable=False),
        sa.Column("actor", sa.String(length=60), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("department", sa.String(length=60), nullable=True),
        *_stamps(),
        sa.PrimaryKeyConstraint("history_id"),
    )
    op.create_index("ix_event_history_event_id", "event_history", ["event_id"])
    op.execute("SELECT minqing_audit_table('events', true)")
    op.execute("SELECT minqing_audit_table('event_history', true)")


def downgrade() -> None:
    op.drop_table("event_history")
    op.drop_table("events")
    op.execute("DELETE FROM users WHERE role IN ('dispatcher', 'department')")
    op.drop_constraint("user_department_named", "users", type_="check")
    op.drop_constraint("user_role_known", "users", type_="check")
    op.create_check_constraint("user_role_known", "users", OLD_ROLES)
    op.drop_column("users", "department")
