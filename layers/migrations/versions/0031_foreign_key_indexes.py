"""indexes on the foreign keys that lacked one

Deleting or changing a referenced row makes PostgreSQL look for the rows that refer to it; without
an index on the referring column that is a scan of the whole table per row. Removing the demo
deleted 5,528 events with 47,944 visits referring to them in 82 s (a scan of ``visits`` per event).
The per-run coverage result tables are left out: their rows go with their run, and an extra index
would slow every run's writes.

Revision ID: 0031
Revises: 0030
"""

from alembic import op

revision = "0031"
down_revision = "0030"
branch_labels = None
depends_on = None

INDEXES = [
    ("visits", "event_id"),
    ("events", "community_id"),
    ("events", "town_id"),
    ("events", "worker_id"),
    ("users", "area_id"),
    ("coverage_runs", "scenario_id"),
]


def upgrade() -> None:
    for table, column in INDEXES:
        op.create_index(f"ix_{table}_{column}", table, [column])


def downgrade() -> None:
    for table, column in INDEXES:
        op.drop_index(f"ix_{table}_{column}", table_name=table)
