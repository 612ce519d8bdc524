"""``minqing plan``: planner tools — scenarios, siting, compliance, reports, exports, gap maps."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from api.cli._common import fail, friendly_errors, steps

app = typer.Typer(no_args_is_help=True)
scenario_app = typer.Typer(no_args_is_help=True, help="情景 what-if scenarios: create, list, show, evaluate")
app.add_typer(scenario_app, name="scenario")

RUN = typer.Option(
    None, "--run", help="coverage run id; default the latest (`minqing coverage run` makes one)"
)
FORMAT = typer.Option("table", "--format", help="table | json")


# --- scenarios ------------------------------------------------------------------------------------


@scenario_app.command("create")
def scenario_create(
    name: str = typer.Option(..., "--name", help="scenario name, e.g. 新建两处日间照料中心"),
    description: str = typer.Option(None, "--description", help="free text"),
    changes_file: Path = typer.Option(
        None,
        "--changes",
        exists=True,
        dir_okay=False,
        help='JSON list of changes, e.g. [{"op": "add", "type_code": "elderly_daycare", '
        '"lon": 115.88, "lat": 21.57, "name": "新日照", "capacity": 40}]',
    ),
    add: list[str] = typer.Option(
        None, "--add", help="add a facility: TYPE,LON,LAT[,NAME[,CAPACITY]] (repeat)"
    ),
    close: list[int] = typer.Option(None, "--close", help="close the facility with this id (repeat)"),
    move: list[str] = typer.Option(None, "--move", help="move a facility: ID,LON,LAT (repeat)"),
    change: list[str] = typer.Option(
        None, "--set", help="change a facility: ID,type=CODE and/or ID,capacity=N (repeat)"
    ),
    evaluate: bool = typer.Option(False, "--evaluate", help="evaluate right away"),
) -> None:
    """Save a named scenario: facilities added, closed, moved or changed (base layers untouched)."""
    # late: keeps `minqing` start-up fast (loaded when the command runs)
    from layers.db import session
    from pipeline import scenarios

    changes = _changes(changes_file, add or [], close or [], move or [], change or [])
    if not changes:
        fail("no changes given: use --changes FILE.json, --add, --close, --move or --set")
    with friendly_errors(), session(actor="cli") as s:
        row = scenarios.create(s, name=name, description=description, changes=changes, actor="cli")
        if evaluate:
            row = scenarios.evaluate(s, row["scenario_id"], actor="cli")
    typer.echo(f"已保存情景 saved scenario {row['scenario_id']}: {row['name']} ({len(changes)} changes)")
    if evaluate:
        _print_result(row["result"])


def _changes(
    path: Path | None, add: list[str], close: list[int], move: list[str], change: list[str]
) -> list[dict]:
    out = json.loads(path.read_text(encoding="utf-8")) if path else []
    if not isinstance(out, list):
        fail(f"{path} must hold a JSON list of change objects")
    for text in add:
        parts = text.split(",")
        if len(parts) < 3:
            fail(f"--add {text!r}: write TYPE,LON,LAT[,NAME[,CAPACITY]]")
        item = {"op": "add", "type_code": parts[0], "lon": parts[1], "lat": parts[2]}
        item.update({k: v for k, v in zip(("name", "capacity"), parts[3:5], strict=False) if v})
        out.append(item)
    out += [{"op": "close", "facility_id": fid} for fid in close]
    for text in move:
        parts = text.split(",")
        if len(parts) != 3:
            fail(f"--move {text!r}: write ID,LON,LAT")
        out.append({"op": "move", "facility_id": parts[0], "lon": parts[1], "lat": parts[2]})
    for text in change:
        fid, _, rest = text.partition(",")
        fields = dict(p.split("=", 1) for p in rest.split(",") if "=" in p)
        if not fields or set(fields) - {"type", "capacity"}:
            fail(f"--set {text!r}: write ID,type=CODE and/or ID,capacity=N")
        out.append(
            {
                "op": "change",
                "facility_id": fid,
                "type_code": fields.get("type"),
                "capacity": fields.get("capacity"),
            }
        )
    return out


@scenario_app.command("list")
def scenario_list() -> None:
    """List saved scenarios, newest first."""
    # late: keeps `minqing` start-up fast (loaded when the command runs)
    from layers import scenarios
    from layers.db import session

    with friendly_errors(), session() as s:
        rows = scenarios.listing(s)
    if not rows:
        typer.echo("尚无情景 no scenarios yet: `minqing plan scenario create --name ...`")
        return
    for r in rows:
        state = f"evaluated {r['evaluated_at']}" if r["evaluated_at"] else "未评估 not evaluated"
        typer.echo(f"{r['scenario_id']:>5}  {r['name']}  ({r['n_changes']} changes, {state})")


@scenario_app.command("show")
def scenario_show(
    scenario_id: int = typer.Argument(..., help="scenario id"),
    level: str = typer.Option(
        "town", "--level", help="area level listed: district, town, community, grid_small ..."
    ),
    fmt: str = FORMAT,
) -> None:
    """Show a scenario's changes and, when evaluated, coverage before/after."""
    # late: keeps `minqing` start-up fast (loaded when the command runs)
    from layers import scenarios
    from layers.db import session

    with friendly_errors(), session() as s:
        row = scenarios.get(s, scenario_id)
    if fmt == "json":
        typer.echo(json.dumps(row, ensure_ascii=False, indent=2, default=str))
        return
    typer.echo(f"情景 {row['scenario_id']}: {row['name']}  {row['description'] or ''}")
    for i, c in enumerate(row["changes"]):
        typer.echo(f"  {i}. {json.dumps(c, ensure_ascii=False)}")
    if not row["result"]:
        typer.echo(f"未评估 not evaluated: `minqing plan scenario evaluate {scenario_id}`")
        return
    _print_result(row["result"], level=level)


@scenario_app.command("evaluate")
def scenario_evaluate(
    scenario_id: int = typer.Argument(..., help="scenario id"),
    level: str = typer.Option("town", "--level", help="area level listed"),
) -> None:
    """Evaluate a scenario: recompute the affected facility types with the changes, store the result."""
    # late: keeps `minqing` start-up fast (loaded when the command runs)
    from layers.db import session
    from pipeline import scenarios

    with friendly_errors(), steps(1, desc="情景评估 scenario") as step, session(actor="cli") as s:
        row = scenarios.evaluate(s, scenario_id, actor="cli")
        step("完成 done")
    _print_result(row["result"], level=level)


def _print_result(result: dict, *, level: str = "town") -> None:
    # late: keeps `minqing` start-up fast (loaded when the command runs)
    from pipeline.scenarios import area_records

    typer.echo(f"评估 evaluated {result['evaluated_at']} (run {result['run_id']}, {result['seconds']} s)")
    typer.echo(f"{'设施类型 type':28} {'覆盖率 前→后':>18} {'新增覆盖人口':>10} {'失去覆盖人口':>10}")
    for r in result["summary"]:
        typer.echo(
            f"{r['type_name']:28} {_pct(r['share_before']):>8} → {_pct(r['share_after']):<8} "
            f"{r['population_gained']:>10} {r['population_lost']:>10}"
        )
    rows = [r for r in area_records(result, level=level) if r["population_gained"] or r["population_lost"]]
    if rows:
        typer.echo(f"有变化的{level} areas with changes:")
        for r in rows:
            typer.echo(
                f"  {r['name']:16} {r['type_code']:22} {_pct(r['share_before'])} → {_pct(r['share_after'])} "
                f"+{r['population_gained']} -{r['population_lost']}"
            )


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


# --- siting ---------------------------------------------------------------------------------------


@app.command()
def site(
    type_code: str = typer.Option(..., "--type", "-t", help="facility type code, e.g. elderly_daycare"),
    k: int = typer.Option(
        3, "--k", "-k", min=0, max=500, help="number of new sites (maximal covering); 0 skips it"
    ),
    target: float = typer.Option(
        None,
        "--target",
        min=0.0,
        max=1.0,
        help="also find the fewest sites after which this share of the type's users is "
        "served (0..1, set covering), e.g. 0.8",
    ),
    candidates: str = typer.Option(
        "intersections",
        "--candidates",
        help="'intersections' (street junctions in the gap areas), 'gaps' (street nodes "
        "there), 'facilities' (open facilities of other types: co-location), or a "
        "CSV/XLSX (经度/纬度 or lon/lat; optional 名称, 容量) or GeoJSON/GPKG file of "
        "candidate points or public-land parcels",
    ),
    crs: str = typer.Option(
        "wgs84",
        "--crs",
        help="coordinate system of a candidate file: wgs84, cgcs2000, gcj02 "
        "(高德/腾讯), bd09 (百度) or epsg:NNNN",
    ),
    spacing: float = typer.Option(
        None,
        "--spacing",
        min=0.0,
        help="thin street candidates to one per square of this many metres (default: "
        "intersections 100, gaps 150; 0: every intersection)",
    ),
    candidate_types: str = typer.Option(
        None, "--candidate-types", help="with --candidates facilities: only these types, comma-separated"
    ),
    weight: str = typer.Option(
        "users",
        "--weight",
        help="users (the type's users: elderly, children of the age band, or residents) | "
        "population | households | elderly | children (no capacities)",
    ),
    capacity: float = typer.Option(
        None,
        "--capacity",
        min=0.001,
        help="capacity of each new site in the type's unit (places, seats, beds); default: "
        "new_site_capacity of data/facility_types.csv",
    ),
    min_spacing: float = typer.Option(
        None, "--min-spacing", min=0.0, help="least distance between new sites, metres"
    ),
    one_per_community: bool = typer.Option(
        False,
        "--one-per-community",
        help="new sites only in communities without one of the type inside their "
        "boundary, at most one each (设施覆盖社区比例)",
    ),
    solver: str = typer.Option("auto", "--solver", help="auto | exact (HiGHS MILP) | greedy"),
    max_exact: int = typer.Option(
        5_000_000, "--max-exact", help="largest candidates × demand groups solved exactly"
    ),
    time_limit: float = typer.Option(60.0, "--time-limit", help="MILP time limit, seconds"),
    out: Path = typer.Option(
        None, "--out", help="write the proposed sites with their service areas (GeoJSON)"
    ),
    save_scenario: str = typer.Option(
        None,
        "--save-scenario",
        help="save the proposals as a what-if scenario of this name (the k sites; "
        "with --k 0 the fewest reaching --target)",
    ),
    evaluate: bool = typer.Option(
        False, "--evaluate", help="with --save-scenario: evaluate the scenario right away"
    ),
    fmt: str = FORMAT,
) -> None:
    """Propose sites for new facilities of one type (maximal covering, set covering).

    Demand is the type's users and each new site serves at most its capacity (data/facility_types.csv).
    Existing facilities stay fixed; only users they do not reach count. With --target also the
    fewest sites after which that share of the type's users is served. Every site is named by where
    it lies (town, community, nearest road).
    """
    # late: keeps `minqing` start-up fast (loaded when the command runs)
    from layers.db import session
    from pipeline import siting

    with friendly_errors():
        kinds = siting.CANDIDATE_KINDS
        source = candidates if candidates in kinds else siting.read_candidates(Path(candidates), crs=crs)
        if not isinstance(source, str):
            points = source.geometry.representative_point()
        types = [t.strip() for t in candidate_types.split(",") if t.strip()] if candidate_types else None
        n_steps = 4 + (1 if target is not None and k else 0) + (1 if save_scenario else 0)
        with steps(n_steps, desc="选址 siting") as step, session(actor="cli") as s:
            if not isinstance(source, str):
                # late: keeps `minqing` start-up fast (loaded when the command runs)
                import pandas as pd

                siting.check_inside_district(
                    s, pd.DataFrame({"lon": points.x, "lat": points.y}), what="candidate"
                )
            result = siting.site(
                s,
                type_code=type_code,
                k=k or None,
                target=target,
                candidates=source,
                spacing_m=spacing,
                weight=weight,
                capacity=capacity,
                min_spacing_m=min_spacing,
                candidate_types=types,
                one_per_community=one_per_community,
                solver=solver,
                max_exact=max_exact,
                time_limit_s=time_limit,
                progress=step,
            )
            summary = siting.nan_to_none(siting.summary(result))
            saved = None
            if save_scenario:
                plan = "maximal_covering" if "maximal_covering" in summary else "set_covering"
                saved = siting.save_scenario(
                    s, summary, plan=plan, name=save_scenario, evaluate=evaluate, actor="cli"
                )
                step("情景 scenario")
    if out is not None:
        plans = [p for p in (result.maximal, result.covering) if p is not None]
        features = [f for p in plans for f in siting.sites_geojson(p)["features"]]
        out.write_text(
            json.dumps({"type": "FeatureCollection", "features": features}, ensure_ascii=False),
            encoding="utf-8",
        )
    if fmt == "json":
        if saved is not None:
            summary["scenario_id"] = saved["scenario_id"]
        typer.echo(json.dumps(summary, ensure_ascii=False, indent=2))
        return
    _print_siting(summary)
    if saved is not None:
        typer.echo(
            f"已保存情景 saved scenario {saved['scenario_id']}: {saved['name']} "
            f"({len(saved['changes'])} 处新增设施)"
        )
        if saved.get("result"):
            _print_result(saved["result"])


def _print_siting(r: dict) -> None:
    cur, users, cap = r["current"], r["users"], r["capacity"]
    label = users["label"] if r["weight"] == "users" else r["weight"]
    typer.echo(
        f"{r['type_name']} ({r['type_code']}), 服务对象 {label}: 现状可达 {cur['covered']:.0f} / "
        f"{cur['total']:.0f} ({_pct(cur['share'])}, 步行可达覆盖率); 候选点 {r['candidates']['count']} "
        f"({r['candidates']['source']}, {r['candidates']['snapped']} 个在街道旁)"
    )
    if cap["per_site"]:
        typer.echo(
            f"新设施容量 {cap['per_site']:g} {cap['unit'] or ''} = 可服务{label} "
            f"{cap['users_per_site']:.0f} 人"
            + (f"; 最小间距 {cap['min_spacing_m']:g} m" if cap["min_spacing_m"] else "")
        )
    for key, title in (("maximal_covering", "最大覆盖 MCLP"), ("set_covering", "最少设施 LSCP")):
        if key not in r:
            continue
        p = r[key]
        head = (
            f"k={p['k']}"
            if key == "maximal_covering"
            else (
                f"目标 {p['target']:.0%}: 需 {p['sites_needed']} 处"
                + ("" if p["feasible"] else " (候选点不足, 无法达到)")
            )
        )
        bound = "上界 upper bound" if key == "maximal_covering" else "下界 lower bound (sites)"
        u, res = p["users"], p["residents"]
        typer.echo(
            f"{title} {head}: 新增服务 {p['gained']:.0f}; {label} {u['before']:.0f} → {u['after']:.0f} "
            f"({_pct(u['share_before'])} → {_pct(u['share_after'])}), 居民可达 {_pct(res['share_before'])} → "
            f"{_pct(res['share_after'])}; {p['method']}, {bound} {p['bound']:.0f}, gap {p['gap']:.2%}, "
            f"size {p['size']}"
        )
        for key_, name in (("urban", "城市社区"), ("rural", "农村社区")):
            c = (p.get("communities") or {}).get(key_)
            if c and c["total"]:
                typer.echo(
                    f"  有此设施的{name} {c['before']:.0f} → {c['after']:.0f} / {c['total']:.0f} "
                    f"({_pct(c['share_before'])} → {_pct(c['share_after'])}, 设施覆盖社区比例)"
                )
        for site_ in p["sites"]:
            served = f"服务 {site_['users_served']:.0f}"
            if site_.get("capacity_users") is not None:
                served += f" / 容量 {site_['capacity_users']:.0f}"
            typer.echo(
                f"  {site_['rank']:>3}. {site_['name']} ({site_['lon']:.6f}, {site_['lat']:.6f}) {served} "
                f"{label}, 可达 {site_['users_reached']:.0f}; 新增可达居民 {site_['population_gained']} 人"
            )


# --- compliance, reports, exports -----------------------------------------------------------------


@app.command()
def compliance(
    run_id: int = RUN,
    min_share: float = typer.Option(
        0.5,
        "--min-share",
        min=0.01,
        max=1.0,
        help="share of a community's residents that must be covered for a type to count as within its circle",
    ),
    xlsx: Path = typer.Option(None, "--xlsx", help="also write the full report workbook here"),
    fmt: str = FORMAT,
) -> None:
    """Standard compliance per community and life-circle tier (GB 50180-2018, TD/T 1062-2021).

    Per 5/10/15-minute tier (rural: village/township): required facilities within the circle,
    pass/fail and what is missing; community service floor area; district targets.
    """
    # late: keeps `minqing` start-up fast (loaded when the command runs)
    from layers.db import session
    from pipeline import compliance as service
    from pipeline import reports

    with friendly_errors(), session() as s:
        c = service.compliance(s, run_id=run_id, min_share=min_share)
        if xlsx is not None:
            xlsx.write_bytes(reports.workbook(s, c.run["run_id"], min_share=min_share))
    if fmt == "json":
        typer.echo(json.dumps(service.as_json(c), ensure_ascii=False, indent=2))
        return
    _print_compliance(c)


def _print_compliance(c) -> None:
    floor = c.floor_area.set_index("area_id")
    typer.echo(
        f"运行 run {c.run['run_id']}{' (数据已变化 STALE)' if c.run['stale'] else ''}; "
        f"类型在生活圈内 = 至少 {c.min_share:.0%} 居民可达"
    )
    for r in c.communities.to_dict("records"):
        fa = floor.loc[r["area_id"]]
        area = f"用房 {fa.floor_area_m2:.0f}/{fa.required_m2:.0f} m² {'达标' if fa['pass'] else '不足'}"
        typer.echo(
            f"{r['name']:12} {'城市' if r['circle'] == 'urban' else '农村'} "
            f"{'达标' if r['pass'] else '未达标':4} {area}  {r['missing']}"
        )
    passed = int(c.communities["pass"].sum())
    typer.echo(f"合计 {passed}/{len(c.communities)} 个村居全部达标")
    for t in c.targets.to_dict("records"):
        value = "-" if t["value"] is None or t["value"] != t["value"] else f"{t['value']:.1%}"
        typer.echo(f"目标 {t['label_zh']}: {value} ({'达标' if t['pass'] else '未达标'})")


@app.command()
def report(
    out: Path = typer.Option(..., "--out", help="file to write: report.xlsx (or summary.pdf with --pdf)"),
    run_id: int = RUN,
    pdf: bool = typer.Option(
        False, "--pdf", help="write the one-page A4 PDF 摘要 with its map instead of the XLSX"
    ),
    scenario_id: int = typer.Option(
        None, "--scenario", help="add a sheet comparing this evaluated scenario (XLSX)"
    ),
    min_share: float = typer.Option(
        0.5, "--min-share", min=0.01, max=1.0, help="see `minqing plan compliance`"
    ),
) -> None:
    """Write the report of a coverage run, in Chinese, for officials.

    XLSX: 摘要 (the district against each target, the communities most in need and why, recommended
    sites, the largest gaps), one ranked table per level (区县, 镇街, 村居) with the three measures
    side by side, targets, tiers, floor area, gaps by place name, the gap map, and a scenario
    comparison with --scenario. --pdf: the 摘要 and the gap map on one A4 landscape page (needs
    fonts-wqy-zenhei).
    """
    # late: keeps `minqing` start-up fast (loaded when the command runs)
    from layers.db import session
    from pipeline import reports

    if pdf and scenario_id is not None:
        fail("--scenario adds a sheet to the XLSX report; leave it out with --pdf")
    with friendly_errors(), steps(1, desc="报告 report") as step, session() as s:
        content = (
            reports.pdf(s, run_id, min_share=min_share)
            if pdf
            else reports.workbook(s, run_id, scenario_id=scenario_id, min_share=min_share)
        )
        out.write_bytes(content)
        step("完成 done")
    typer.echo(f"已写入 wrote {out}")


@app.command()
def export(
    fmt: str = typer.Option(..., "--format", help="gpkg | geojson | csv"),
    out: Path = typer.Option(
        ..., "--out", file_okay=False, help="directory to write areas.* and gaps.* into"
    ),
    run_id: int = RUN,
    level: str = typer.Option(None, "--level", help="only areas of this level (e.g. community, grid_small)"),
    type_code: str = typer.Option(None, "--type", help="only this facility type"),
) -> None:
    """Export areas with coverage attributes and the gap polygons of a run."""
    # late: keeps `minqing` start-up fast (loaded when the command runs)
    from layers.db import session
    from pipeline import reports
    from pipeline.runs import resolve_run

    out.mkdir(parents=True, exist_ok=True)
    with friendly_errors(), steps(2, desc="导出 export") as step, session() as s:
        run = resolve_run(s, run_id)["run_id"]
        for build in (
            lambda: reports.export_areas(s, run, fmt, level=level, type_code=type_code),
            lambda: reports.export_gaps(s, run, fmt, type_code=type_code),
        ):
            file = build()
            (out / file.filename).write_bytes(file.content)
            step(file.filename)
    typer.echo(f"已导出 exported to {out}")


@app.command("gap-map")
def gap_map(
    type_code: str = typer.Option(..., "--type", "-t", help="facility type code"),
    out: Path = typer.Option(..., "--out", help="PNG file to write, e.g. gaps.png"),
    run_id: int = RUN,
    dpi: int = typer.Option(150, "--dpi", min=50, max=600, help="resolution"),
) -> None:
    """Draw a printable PNG map of one type's coverage gaps (needs fonts-wqy-zenhei)."""
    # late: keeps `minqing` start-up fast (loaded when the command runs)
    from layers.db import session
    from pipeline import reports

    with friendly_errors(), steps(1, desc="缺口地图 gap map") as step, session() as s:
        out.write_bytes(reports.gap_map(s, run_id, type_code, dpi=dpi))
        step("完成 done")
    typer.echo(f"已写入 wrote {out}")
