"""officers' review decisions on flagged place names

``place_name_reviews``: one row per place name, the officer's decision on its findings — 保留 (keep
the name), 豁免 (exempt it from the rule) or 整改 (have it corrected) — with the finding codes
reviewed, the name as reviewed (a rename makes the review lapse), a note, who decided and when.
保留 and 豁免 stop the reviewed findings from being flagged (layers.placenames.registry_findings).
Audited row by row like every table. No foreign key to place_names, so the tests and loaders that
TRUNCATE place_names keep working; layers.load.demo.clear_layers empties it with them, and
layers.features refuses to delete a name that has a review (retire it instead).

Revision ID: 0015
Revises: 0014
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "place_name_reviews",
        sa.Column("name_id", sa.BigInteger(), nullable=False),
        sa.Column("decision", sa.String(length=4), nullable=False),
        sa.Column("codes", postgresql.ARRAY(sa.String(length=40)), nullable=False),
        sa.Column("reviewed_name", sa.String(length=120), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("decided_by", sa.String(length=60), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("name_id"),
        sa.CheckConstraint("decision IN ('保留', '豁免', '整改')", name="place_name_review_decision_known"),
    )
    op.execute("SELECT minqing_audit_table('place_name_reviews', true)")
    # the checks cache (api.routes.placenames) is keyed on this counter
    op.execute(
        "CREATE TRIGGER place_name_reviews_version AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE "
        "ON place_name_reviews FOR EACH STATEMENT EXECUTE FUNCTION minqing_bump_version()"
    )


def downgrade() -> None:
    op.drop_table("place_name_reviews")
