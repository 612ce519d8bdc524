"""``minqing demo load --queue-scenarios``: the demo's scenarios saved, their evaluations queued for the
task queue's worker (the default above scale 1), then evaluated by a real worker (own database)."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from typer.testing import CliRunner
from worker_fixture import drain

from api.cli import app
from layers.db import session


@pytest.fixture(scope="module")
def demo_db(fresh_db):
    return fresh_db("cli_demo_queue")


@pytest.fixture
def cli(monkeypatch):
    from layers.db import engine

    def invoke(*args: str, url: str):
        monkeypatch.setenv("DATABASE_URL", url)
        engine.cache_clear()
        return CliRunner().invoke(app, list(args), terminal_width=200)

    yield invoke
    engine.cache_clear()


def _scenarios(url: str) -> list:
    with session(url) as s:
        return s.execute(
            text(
                "SELECT s.scenario_id, s.name, s.result ->> 'evaluated_at' AS evaluated_at, "
                "(s.result ->> 'run_id')::bigint AS run_id, q.status, q.task_name, q.queue_name, q.lock "
                "FROM scenarios s JOIN procrastinate.procrastinate_jobs q "
                "ON (q.args ->> 'scenario_id')::bigint = s.scenario_id ORDER BY s.scenario_id"
            )
        ).all()


def test_demo_load_queues_the_scenarios_and_a_worker_evaluates_them(cli, demo_db):
    r = cli("demo", "load", "--scale", "0.2", "--seed", "7", "--queue-scenarios", url=demo_db)
    assert r.exit_code == 0, r.output
    assert "待任务队列评估" in r.output and "当前没有运行中的 worker" in r.output
    assert "民情演示" in r.output and "情景排队" in r.output
    queued = _scenarios(demo_db)
    assert {q.name for q in queued} == {"规划新增日间照料中心", "日间照料中心调整与幼儿园扩容（示例）"}
    for q in queued:
        assert (q.evaluated_at, q.status, q.task_name, q.queue_name, q.lock) == (
            None,
            "todo",
            "scenario_evaluate",
            "coverage",
            "coverage",
        )
        assert "job #" in r.output and q.name in r.output
    drain(demo_db)
    done = _scenarios(demo_db)
    assert [d.scenario_id for d in done] == [q.scenario_id for q in queued]
    assert all(d.status == "succeeded" and d.evaluated_at and d.run_id for d in done)
    with session(demo_db) as s:
        runs = s.execute(
            text("SELECT count(*) FROM coverage_runs WHERE run_id = ANY(:r) AND status = 'done'"),
            {"r": [d.run_id for d in done]},
        ).scalar_one()
    assert runs == len(done)
