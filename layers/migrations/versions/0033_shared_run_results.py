"""coverage results shared between runs by reference, not copied

An incremental run reused the unchanged facility types' results by copying their rows: at scale 10
some 10^5 area rows, the packed per-home arrays (tens of MB) and the gap polygons per run, 26 s in
PostgreSQL for a run whose computation took 4 s. Now each result row is stored once, under the run
that computed it, and ``coverage_run_types`` says for each run and facility type it holds which run
computed that type's rows (``source_run_id``: the run itself, or for a reused type the run it came
from). An incremental run writes the changed types' rows and one mapping row per reused type.

The tables are renamed ``*_rows`` (``coverage_residence_packed`` keeps its name: it was never read
directly but by the view and ``layers.store``), and views with the former names join them through
the mapping, so every reader keeps its SQL: ``coverage_area``, ``coverage_area_circle``,
``coverage_facility``, ``coverage_gaps`` and ``coverage_residence``. A run that others refer to
cannot be deleted alone (the foreign key of ``source_run_id``); deleting every run at once can.
``coverage_area``'s key becomes (run, type, area): rows are looked up per run and type.

Revision ID: 0033
Revises: 0032
"""

import sqlalchemy as sa
from alembic import op

revision = "0033"
down_revision = "0032"
branch_labels = None
depends_on = None

SHARED = ("coverage_area", "coverage_area_circle", "coverage_facility", "coverage_gaps")
"""Tables renamed ``<name>_rows``, a view with the former name in their place."""
RESIDENCE_VIEW = """
CREATE VIEW coverage_residence AS
SELECT t.run_id, u.residence_id, p.type_code, nullif(u.time_s, 'NaN') AS time_s,
       nullif(u.facility_id, -1) AS facility_id, u.covered, u.unreachable,
       nullif(p.circle, '')::varchar(5) AS circle, p.created_at, p.updated_at
FROM coverage_run_types t
JOIN coverage_residence_packed p ON p.run_id = t.source_run_id AND p.type_code = t.type_code
CROSS JOIN LATERAL unnest(p.residence_id, p.time_s, p.facility_id, p.covered, p.unreachable)
    AS u(residence_id, time_s, facility_id, covered, unreachable)
"""
OLD_RESIDENCE_VIEW = """
CREATE VIEW coverage_residence AS
SELECT p.run_id, u.residence_id, p.type_code, nullif(u.time_s, 'NaN') AS time_s,
       nullif(u.facility_id, -1) AS facility_id, u.covered, u.unreachable,
       nullif(p.circle, '')::varchar(5) AS circle, p.created_at, p.updated_at
FROM coverage_residence_packed p
CROSS JOIN LATERAL unnest(p.residence_id, p.time_s, p.facility_id, p.covered, p.unreachable)
    AS u(residence_id, time_s, facility_id, covered, unreachable)
"""


def _columns(table: str) -> list[str]:
    return list(
        op.get_bind()
        .execute(
            sa.text(
                "SELECT column_name FROM information_schema.columns WHERE table_schema = 'public' "
                "AND table_name = :t ORDER BY ordinal_position"
            ),
            {"t": table},
        )
        .scalars()
    )


def _view(name: str) -> str:
    cols = ", ".join("t.run_id" if c == "run_id" else f"r.{c}" for c in _columns(f"{name}_rows"))
    return (
        f"CREATE VIEW {name} AS SELECT {cols} FROM coverage_run_types t "
        f"JOIN {name}_rows r ON r.run_id = t.source_run_id AND r.type_code = t.type_code"
    )


def upgrade() -> None:
    op.create_table(
        "coverage_run_types",
        sa.Column(
            "run_id",
            sa.BigInteger(),
            sa.ForeignKey("coverage_runs.run_id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("type_code", sa.String(length=40), nullable=False),
        sa.Column("source_run_id", sa.BigInteger(), sa.ForeignKey("coverage_runs.run_id"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("run_id", "type_code"),
    )
    op.create_index("ix_coverage_run_types_source_run_id", "coverage_run_types", ["source_run_id"])
    op.execute(
        "INSERT INTO coverage_run_types (run_id, type_code, source_run_id) "
        "SELECT run_id, type_code, run_id FROM ("
        + " UNION ".join(
            f"SELECT DISTINCT run_id, type_code FROM {t}" for t in (*SHARED, "coverage_residence_packed")
        )
        + ") held"
    )
    op.execute("SELECT minqing_audit_table('coverage_run_types', false)")
    op.execute("DROP VIEW coverage_residence")
    for name in SHARED:
        op.execute(f"ALTER TABLE {name} RENAME TO {name}_rows")
        op.execute(f"ALTER INDEX {name}_pkey RENAME TO {name}_rows_pkey")
    for col in ("run_id", "type_code"):
        op.execute(f"ALTER INDEX ix_coverage_gaps_{col} RENAME TO ix_coverage_gaps_rows_{col}")
    op.execute(
        "ALTER TABLE coverage_area_rows DROP CONSTRAINT coverage_area_rows_pkey, "
        "ADD CONSTRAINT coverage_area_rows_pkey PRIMARY KEY (run_id, type_code, area_id)"
    )
    for name in SHARED:
        op.execute(_view(name))
    op.execute(RESIDENCE_VIEW)


def downgrade() -> None:
    op.execute("DROP VIEW coverage_residence")
    for name in SHARED:
        op.execute(f"DROP VIEW {name}")
    # every run gets its own copy of the rows it held by reference
    for name in (*SHARED, "coverage_residence_packed"):
        table = name if name == "coverage_residence_packed" else f"{name}_rows"
        cols = [c for c in _columns(table) if c not in ("run_id", "gap_id")]
        listed = ", ".join(cols)
        picked = ", ".join(f"r.{c}" for c in cols)
        op.execute(
            f"INSERT INTO {table} (run_id, {listed}) SELECT t.run_id, {picked} FROM coverage_run_types t "
            f"JOIN {table} r ON r.run_id = t.source_run_id AND r.type_code = t.type_code "
            "WHERE t.source_run_id <> t.run_id"
        )
    op.execute(
        "ALTER TABLE coverage_area_rows DROP CONSTRAINT coverage_area_rows_pkey, "
        "ADD CONSTRAINT coverage_area_rows_pkey PRIMARY KEY (run_id, area_id, type_code)"
    )
    for col in ("run_id", "type_code"):
        op.execute(f"ALTER INDEX ix_coverage_gaps_rows_{col} RENAME TO ix_coverage_gaps_{col}")
    for name in SHARED:
        op.execute(f"ALTER INDEX {name}_rows_pkey RENAME TO {name}_pkey")
        op.execute(f"ALTER TABLE {name}_rows RENAME TO {name}")
    op.execute(OLD_RESIDENCE_VIEW)
    op.drop_table("coverage_run_types")
