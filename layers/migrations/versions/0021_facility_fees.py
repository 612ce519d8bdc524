"""facility fees: 收费标准 as published (free text, optional)

``facilities.fees``: what a resident pays (``床位费 1800元/月起``, ``午餐 12元/餐``, ``免费``), shown
in the public map's facility popup; null when unknown.

Revision ID: 0021
Revises: 0020
"""

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("facilities", sa.Column("fees", sa.String(length=200), nullable=True))


def downgrade() -> None:
    op.drop_column("facilities", "fees")
