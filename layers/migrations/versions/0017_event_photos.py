"""photos of 民情事件 (issue 16)

``event_photos``: one row per photo of an event, keyed by the SHA-256 of the stored bytes (the
file lives under the configured photo folder by that hash). Photos are re-encoded on upload, so no
EXIF (GPS) survives. Audited row by row.

Revision ID: 0017
Revises: 0016
"""

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "event_photos",
        sa.Column(
            "event_id", sa.BigInteger(), sa.ForeignKey("events.event_id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("content_type", sa.String(length=20), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("uploaded_by", sa.String(length=60), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("event_id", "sha256"),
    )
    op.execute("SELECT minqing_audit_table('event_photos', true)")


def downgrade() -> None:
    op.drop_table("event_photos")
