"""the check result of every place name, kept in the database

``place_name_results``: one row per place name with its check result (``geo.placenames.results``: the
most serious of its findings, else a missing sign, else current or retired) and the data versions of
``place_names`` and ``place_name_reviews`` it was computed on. Derived: recomputed as a whole when either
version moved on (``pipeline.placename_results``, before a clustered place-name tile is made), so it
follows every edit, review and import. The place-name map's clusters count names per result in PostGIS.

Revision ID: 0039
Revises: 0038
"""

import sqlalchemy as sa
from alembic import op

revision = "0039"
down_revision = "0038"
branch_labels = None
depends_on = None

RESULTS = ("duplicate", "dayangguai", "other", "missing_sign", "historical", "ok")


def upgrade() -> None:
    op.create_table(
        "place_name_results",
        sa.Column("name_id", sa.BigInteger(), nullable=False),
        sa.Column("result", sa.String(length=12), nullable=False),
        sa.Column("basis", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("name_id"),
        sa.CheckConstraint(
            "result IN (" + ", ".join(f"'{r}'" for r in RESULTS) + ")", name="place_name_result_known"
        ),
    )
    op.execute("SELECT minqing_audit_table('place_name_results', false)")


def downgrade() -> None:
    op.drop_table("place_name_results")
