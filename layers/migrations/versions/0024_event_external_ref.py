"""12345 work-order numbers on events (issue 16)

``events.external_ref``: the number of the 12345 work order an event was imported from (工单编号), unique
per source, so that importing the same export twice is refused row by row.

Revision ID: 0024
Revises: 0023
"""

import sqlalchemy as sa
from alembic import op

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("events", sa.Column("external_ref", sa.String(length=40), nullable=True))
    op.create_index(
        "ux_events_source_external_ref",
        "events",
        ["source", "external_ref"],
        unique=True,
        postgresql_where=sa.text("external_ref IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ux_events_source_external_ref", "events")
    op.drop_column("events", "external_ref")
