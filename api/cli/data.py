"""``minqing data``: the editable reference tables of data/ loaded into the database.

``minqing data facility-types load [CSV]`` makes the facility_types table equal to the CSV (default
data/facility_types.csv) in one transaction, touching no other layer (``minqing demo load``
replaces every layer). The capacity columns of the CSV (capacity_unit, capacity_basis ...) are
read by coverage runs from data/facility_types.csv itself; targets (data/targets.csv) have no
table: coverage reads the file at every run.
"""

from __future__ import annotations

from pathlib import Path

import typer

from api.cli._common import fail, friendly_errors

app = typer.Typer(no_args_is_help=True)
facility_types = typer.Typer(no_args_is_help=True)
app.add_typer(
    facility_types,
    name="facility-types",
    help="设施类型参考表 the facility-type table (data/facility_types.csv)",
)


@facility_types.command("load")
def load_facility_types(
    csv: Path = typer.Argument(
        None,
        help="the table to load; default data/facility_types.csv",
        exists=True,
        dir_okay=False,
        show_default=False,
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="check and report, write nothing"),
    actor: str = typer.Option("reference-loader", help="name recorded in the audit log"),
) -> None:
    """Check the facility-type table and load it: adds, changes and removes types (one transaction).

    A type still used by facilities is never removed: the load stops and says which.
    Coverage results become stale when a type changes: minqing coverage run recomputes them.
    """
    # late: keeps `minqing` start-up fast (loaded when the command runs)
    from geo.profiles import load_profiles
    from geo.standards import TIERS
    from layers.db import session
    from layers.load.reference import DATA_DIR, check_facility_types, load_facility_types, read_facility_types

    path = csv or DATA_DIR / "facility_types.csv"
    with friendly_errors():
        frame = read_facility_types(path)
        problems = check_facility_types(
            frame, profiles=set(load_profiles(DATA_DIR / "profiles.csv")), tiers=TIERS
        )
    if problems:
        for p in problems:
            typer.secho(f"{path.name}:{p['line']} {p['code']}: {p['problem']} — {p['fix']}", err=True)
        fail(f"{len(problems)} problem(s) in {path}: nothing was loaded")
    with friendly_errors(), session(actor=actor) as s:
        report = load_facility_types(s, frame, dry_run=dry_run)
    typer.echo(
        f"设施类型 facility types from {path}: {len(frame)} rows — added {len(report.added)}, "
        f"changed {len(report.changed)}, unchanged {len(report.unchanged)}, removed {len(report.removed)}"
        + (" (dry run: nothing written)" if dry_run else "")
    )
    for label, codes in (("added", report.added), ("removed", report.removed)):
        if codes:
            typer.echo(f"  {label}: {', '.join(codes)}")
    for code, diff in report.changed.items():
        typer.echo(
            f"  changed {code}: " + "; ".join(f"{c} {old!r} → {new!r}" for c, (old, new) in diff.items())
        )
