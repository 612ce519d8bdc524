"""`minqing demo load --scale S` timed as a user runs it, with the CPU it costs.

    .venv/bin/python bench/demo_load.py --scale 10            # the `minqing` script
    .venv/bin/python bench/demo_load.py --scale 10 --entry c  # `python -c 'from api.cli import main; main()'`

Uses ``DATABASE_URL`` (give it a database of its own: it replaces every layer). Runs the command
once and prints its phases line (阶段用时), its wall time, and the CPU seconds of its processes (the
pool's processes and the forkserver too) and of the PostgreSQL backends serving its database, both
read from /proc every 0.1 s (a process's last 0.1 s may be missed), with the load average before
and after: the machine is shared, so compare CPU seconds, and wall times only of runs made back to
back. Target (issue 19): under 30 s on a quiet 2-core machine.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
TICK = os.sysconf("SC_CLK_TCK")


def _procs() -> dict[int, tuple[int, float]]:
    """pid → (parent pid, CPU seconds) of every process readable in /proc."""
    out = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            raw = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = raw[raw.rfind(")") + 2 :].split()
        out[int(entry)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / TICK)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scale", type=float, default=10.0)
    parser.add_argument("--entry", choices=("script", "c"), default="script")
    args = parser.parse_args()

    import psycopg

    from layers.db import database_url

    url = database_url().replace("postgresql+psycopg", "postgresql")
    database = url.rsplit("/", 1)[1].split("?")[0]
    bin_dir = Path(sys.executable).parent
    command = (
        [str(bin_dir / "minqing")]
        if args.entry == "script"
        else [sys.executable, "-c", "from api.cli import main; main()"]
    )
    command += ["demo", "load", "--scale", str(args.scale)]
    load_before = os.getloadavg()
    mine: dict[int, float] = {}
    backends: dict[int, float] = {}
    with psycopg.connect(url, autocommit=True) as watch:
        t0 = time.perf_counter()
        run = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True)
        while run.poll() is None:
            procs = _procs()
            tree, grew = {run.pid}, True
            while grew:
                grew = False
                for pid, (parent, _) in procs.items():
                    if parent in tree and pid not in tree:
                        tree.add(pid)
                        grew = True
            mine.update({pid: procs[pid][1] for pid in tree if pid in procs})
            serving = watch.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()", (database,)
            ).fetchall()
            backends.update({pid: procs[pid][1] for (pid,) in serving if pid in procs})
            time.sleep(0.1)
        wall = time.perf_counter() - t0
    stdout = run.stdout.read() if run.stdout else ""
    phases = [line for line in stdout.splitlines() if "阶段用时" in line]
    print(phases[-1] if phases else stdout[-2000:])
    print(f"exit {run.returncode}, wall {wall:.1f} s")
    top = ", ".join(f"{v:.1f}" for v in sorted(mine.values(), reverse=True)[:4])
    print(f"cpu_processes_s {sum(mine.values()):.1f} ({len(mine)} processes, largest {top})")
    print(f"cpu_postgres_s {sum(backends.values()):.1f}")
    print(f"cpu_total_s {sum(mine.values()) + sum(backends.values()):.1f}")
    print(f"load average before {load_before[0]:.2f}, after {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
