"""重点人群 key households, 走访 visits, merged events (issue 16)

* ``key_households``: a household of a residence point (一标三实) in one or more key groups
  (``groups``: codes of data/visit_plan.csv — 低保户, 特困供养, 独居/空巢老人, 残疾人, 留守儿童),
  with its grid, community and town. Personal and sensitive (PIPL): staff only, never public.
* ``visits``: one 走访 of a key household: who, when, where the worker's browser was (``geom``)
  and how far that was from the household (``distance_m``), notes, needs found and the event a
  need became (``event_id``).
* ``events``: a new status ``merged`` (并入另一事件, ``duplicate_of`` names it); merged events
  count in no KPI.

Both new tables are audited row by row.

Revision ID: 0023
Revises: 0022
"""

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry
from sqlalchemy.dialects.postgresql import ARRAY

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None

OLD_STATUS = (
    "status IN ('reported', 'accepted', 'escalated', 'assigned', 'handling', 'resolved', 'reviewed', "
    "'archived')"
)
NEW_STATUS = (
    "status IN ('reported', 'accepted', 'escalated', 'assigned', 'handling', 'resolved', 'reviewed', "
    "'archived', 'merged')"
)


def _stamps() -> list[sa.Column]:
    return [
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "key_households",
        sa.Column("household_id", sa.BigInteger(), nullable=False),
        sa.Column(
            "residence_id",
            sa.BigInteger(),
            sa.ForeignKey("residences.residence_id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("groups", ARRAY(sa.String(length=30)), nullable=False),
        sa.Column("head_name", sa.String(length=40), nullable=False),
        sa.Column("address", sa.String(length=300), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column(
            "grid_id", sa.BigInteger(), sa.ForeignKey("areas.area_id", ondelete="SET NULL"), nullable=True
        ),
        sa.Column(
            "community_id",
            sa.BigInteger(),
            sa.ForeignKey("areas.area_id", ondelete="SET NULL"),
            nullable=True,
        ),
        sa.Column(
            "town_id", sa.BigInteger(), sa.ForeignKey("areas.area_id", ondelete="SET NULL"), nullable=True
        ),
        sa.Column(
            "registered_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.Column("active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("version", sa.Integer(), server_default=sa.text("1"), nullable=False),
        *_stamps(),
        sa.PrimaryKeyConstraint("household_id"),
        sa.CheckConstraint("cardinality(groups) >= 1", name="key_household_has_group"),
    )
    for column in ("residence_id", "grid_id", "community_id", "town_id"):
        op.create_index(f"ix_key_households_{column}", "key_households", [column])
    op.create_table(
        "visits",
        sa.Column("visit_id", sa.BigInteger(), nullable=False),
        sa.Column(
            "household_id",
            sa.BigInteger(),
            sa.ForeignKey("key_households.household_id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("worker", sa.String(length=60), nullable=False),
        sa.Column("visited_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("distance_m", sa.Float(), nullable=True),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("needs", sa.Text(), nullable=True),
        sa.Column(
            "event_id", sa.BigInteger(), sa.ForeignKey("events.event_id", ondelete="SET NULL"), nullable=True
        ),
        sa.Column("geom", Geometry("POINT", srid=4326, spatial_index=False), nullable=True),
        *_stamps(),
        sa.PrimaryKeyConstraint("visit_id"),
    )
    op.create_index("ix_visits_household_at", "visits", ["household_id", "visited_at"])
    op.create_index("ix_visits_visited_at", "visits", ["visited_at"])
    op.execute("SELECT minqing_audit_table('key_households', true)")
    op.execute("SELECT minqing_audit_table('visits', true)")
    op.drop_constraint("event_status_known", "events", type_="check")
    op.create_check_constraint("event_status_known", "events", NEW_STATUS)
    op.create_index("ix_events_duplicate_of", "events", ["duplicate_of"])


def downgrade() -> None:
    op.drop_index("ix_events_duplicate_of", "events")
    op.execute("UPDATE events SET status = 'archived' WHERE status = 'merged'")
    op.drop_constraint("event_status_known", "events", type_="check")
    op.create_check_constraint("event_status_known", "events", OLD_STATUS)
    op.drop_table("visits")
    op.drop_table("key_households")
