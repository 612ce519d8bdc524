"""coverage result rows checked against their run and area once per statement, not once per row

A run at scale 10 writes some 230,000 result rows (per area, per area and circle, gaps, facilities,
presence, the composite, targets). Their foreign keys to ``coverage_runs`` and ``areas`` made
PostgreSQL look up the run and the area of every row, one by one: 3.3 of the 3.9 s that 98,772 rows of
``coverage_area_rows`` took to write. The same rules now hold per statement, set-based:

- rows written must name an existing run and (where they have one) an existing area: one anti-join
  per INSERT statement (``minqing_result_refs``), raising ``foreign_key_violation`` as before;
- deleting runs deletes their rows, as ``ON DELETE CASCADE`` did (``minqing_run_results_gone``), and
  truncating the runs empties these tables (list them in the TRUNCATE too: that is instant);
- deleting areas deletes their rows (the loaders did so before deleting areas, and the target,
  presence and composite rows cascaded already).

Revision ID: 0036
Revises: 0035
"""

from alembic import op

revision = "0036"
down_revision = "0035"
branch_labels = None
depends_on = None

# table: (its foreign-key constraints on run_id and area_id (None: no area), area ON DELETE)
TABLES = {
    "coverage_area_rows": ("coverage_area_run_id_fkey", "coverage_area_area_id_fkey", ""),
    "coverage_area_circle_rows": (
        "coverage_area_circle_run_id_fkey",
        "coverage_area_circle_area_id_fkey",
        "",
    ),
    "coverage_target": ("coverage_target_run_id_fkey", "coverage_target_area_id_fkey", " ON DELETE CASCADE"),
    "coverage_presence": (
        "coverage_presence_run_id_fkey",
        "coverage_presence_area_id_fkey",
        " ON DELETE CASCADE",
    ),
    "coverage_composite": (
        "coverage_composite_run_id_fkey",
        "coverage_composite_area_id_fkey",
        " ON DELETE CASCADE",
    ),
    "coverage_facility_rows": ("coverage_facility_run_id_fkey", None, ""),
    "coverage_gaps_rows": ("coverage_gaps_run_id_fkey", None, ""),
}
WITH_AREA = [t for t, (_, area, _) in TABLES.items() if area]


def _trigger_function(name: str, body: str) -> str:
    head = f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$"
    return f"{head}\nBEGIN\n{body}\n  RETURN NULL;\nEND $$"


def _deletes_of_gone(key: str, tables: list[str]) -> str:
    """Delete the rows whose ``key`` is in the transition table ``gone`` (if it holds any)."""
    deletes = "\n".join(f"    DELETE FROM {t} WHERE {key} IN (SELECT {key} FROM gone);" for t in tables)
    return f"  IF EXISTS (SELECT 1 FROM gone) THEN\n{deletes}\n  END IF;"


def upgrade() -> None:
    op.execute(
        """
CREATE FUNCTION minqing_result_refs() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  missing bigint;
BEGIN
  SELECT n.run_id INTO missing FROM (SELECT DISTINCT run_id FROM new_rows) n
   WHERE NOT EXISTS (SELECT 1 FROM coverage_runs r WHERE r.run_id = n.run_id) LIMIT 1;
  IF FOUND THEN
    RAISE EXCEPTION 'insert into % names run %, which does not exist', TG_TABLE_NAME, missing
      USING ERRCODE = 'foreign_key_violation';
  END IF;
  IF TG_NARGS > 0 THEN
    SELECT n.area_id INTO missing FROM (SELECT DISTINCT area_id FROM new_rows) n
     WHERE NOT EXISTS (SELECT 1 FROM areas a WHERE a.area_id = n.area_id) LIMIT 1;
    IF FOUND THEN
      RAISE EXCEPTION 'insert into % names area %, which does not exist', TG_TABLE_NAME, missing
        USING ERRCODE = 'foreign_key_violation';
    END IF;
  END IF;
  RETURN NULL;
END $$"""
    )
    op.execute(_trigger_function("minqing_run_results_gone", _deletes_of_gone("run_id", list(TABLES))))
    op.execute(_trigger_function("minqing_area_results_gone", _deletes_of_gone("area_id", WITH_AREA)))
    # DELETE, not TRUNCATE: a TRUNCATE that lists these tables too has them open (and empty) already
    op.execute(
        _trigger_function("minqing_run_results_truncated", "\n".join(f"  DELETE FROM {t};" for t in TABLES))
    )
    for table, (run_key, area_key, _) in TABLES.items():
        op.execute(f"ALTER TABLE {table} DROP CONSTRAINT {run_key}")
        if area_key:
            op.execute(f"ALTER TABLE {table} DROP CONSTRAINT {area_key}")
        op.execute(
            f"CREATE TRIGGER {table}_refs AFTER INSERT ON {table} REFERENCING NEW TABLE AS new_rows "
            f"FOR EACH STATEMENT EXECUTE FUNCTION minqing_result_refs({'area' if area_key else ''})"
        )
    op.execute(
        "CREATE TRIGGER coverage_runs_results_gone AFTER DELETE ON coverage_runs REFERENCING OLD TABLE "
        "AS gone FOR EACH STATEMENT EXECUTE FUNCTION minqing_run_results_gone()"
    )
    op.execute(
        "CREATE TRIGGER coverage_runs_results_truncated AFTER TRUNCATE ON coverage_runs "
        "FOR EACH STATEMENT EXECUTE FUNCTION minqing_run_results_truncated()"
    )
    op.execute(
        "CREATE TRIGGER areas_results_gone AFTER DELETE ON areas REFERENCING OLD TABLE AS gone "
        "FOR EACH STATEMENT EXECUTE FUNCTION minqing_area_results_gone()"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER areas_results_gone ON areas")
    op.execute("DROP TRIGGER coverage_runs_results_truncated ON coverage_runs")
    op.execute("DROP TRIGGER coverage_runs_results_gone ON coverage_runs")
    for table, (run_key, area_key, area_delete) in TABLES.items():
        op.execute(f"DROP TRIGGER {table}_refs ON {table}")
        op.execute(
            f"ALTER TABLE {table} ADD CONSTRAINT {run_key} FOREIGN KEY (run_id) "
            "REFERENCES coverage_runs (run_id) ON DELETE CASCADE"
        )
        if area_key:
            op.execute(
                f"ALTER TABLE {table} ADD CONSTRAINT {area_key} FOREIGN KEY (area_id) "
                f"REFERENCES areas (area_id){area_delete}"
            )
    for fn in (
        "minqing_run_results_truncated",
        "minqing_area_results_gone",
        "minqing_run_results_gone",
        "minqing_result_refs",
    ):
        op.execute(f"DROP FUNCTION {fn}()")
