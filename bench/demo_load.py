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


def _runnable(pid: int) -> float:
    """Seconds the process's threads ran or waited in a run queue (/proc/<pid>/task/*/schedstat): the
    time it wanted a core, whatever else the machine ran."""
    total = 0
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return 0.0
    for task in tasks:
        try:
            ran, waited, _ = Path(f"/proc/{pid}/task/{task}/schedstat").read_text().split()
        except (OSError, ValueError):
            continue
        total += int(ran) + int(waited)
    return total / 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scale", type=float, default=10.0)
    parser.add_argument("--entry", choices=("script", "c"), default="script")
    parser.add_argument(
        "--timeline",
        type=float,
        metavar="SECONDS",
        help="also print, per interval of SECONDS, the cores each process used (main, pool, PostgreSQL)",
    )
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
    samples: list[Sample] = []
    wanted: dict[int, float] = {}  # pid → seconds run or runnable (``--timeline``)
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
            if args.timeline:
                for pid in [*tree, *(p for (p,) in serving)]:
                    if pid in procs:
                        wanted[pid] = _runnable(pid)
                pg = {p: wanted.get(p, 0.0) for p in backends}
                samples.append((time.perf_counter() - t0, dict(wanted), pg))
            else:
                samples.append((time.perf_counter() - t0, dict(mine), dict(backends)))
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
    if args.timeline:
        _timeline(samples, run.pid, args.timeline)


Sample = tuple[float, dict[int, float], dict[int, float]]
"""Seconds since the start, seconds of each process of the command, of each PostgreSQL backend."""


def _timeline(samples: list[Sample], main: int, every: float) -> None:
    """Cores wanted per interval (ran or waited for a core): the main process, each other process of the
    command (pool, forkserver), PostgreSQL (all backends), and the sum. Where the sum stays near 1, the
    load runs on one core at a time, however busy the machine is."""
    others = sorted({pid for _, mine, _ in samples for pid in mine if pid != main})
    print(
        f"timeline (cores wanted per {every:g} s: ran or runnable): t, main, {', '.join(map(str, others))}, "
        "postgres, all"
    )
    last_t, last_mine, last_pg = 0.0, {}, {}
    for t, mine, pg in samples:
        if t - last_t < every and (t, mine, pg) != samples[-1]:
            continue
        span = t - last_t
        used = [mine.get(main, 0) - last_mine.get(main, 0)]
        used += [mine.get(p, 0) - last_mine.get(p, 0) for p in others]
        used.append(sum(pg.values()) - sum(last_pg.values()))
        cells = " ".join(f"{u / span:4.2f}" for u in used)
        print(f"{t:6.1f} {cells} | {sum(used) / span:4.2f}")
        last_t, last_mine, last_pg = t, mine, pg


if __name__ == "__main__":
    main()
