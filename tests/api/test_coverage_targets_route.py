"""Coverage runs through the API: targets judged per district, town and community; runs posted for
some types."""

from __future__ import annotations

import pytest
from api_fixture import drain


@pytest.fixture(scope="module")
def run_id(client, auth, api_db):
    drain(api_db)  # a run another test file queued and left is computed first (one run at a time)
    r = client.post("/coverage/runs", json={"full": True}, headers=auth("planner"))
    assert r.status_code in (201, 202), r.text
    drain(api_db)  # a real worker of the task queue computes it
    done = client.get(f"/coverage/runs/{r.json()['run_id']}", headers=auth("planner")).json()
    assert done["status"] == "done", done
    return done["run_id"]


def test_targets_per_area_match_the_area_shares(client, auth, run_id):
    r = client.get(f"/coverage/runs/{run_id}/targets", headers=auth("planner"))
    assert r.status_code == 200, r.text
    rows = r.json()["targets"]
    assert {t["level"] for t in rows} >= {"district", "town"}
    assert all(
        set(t)
        >= {
            "target_code",
            "label_zh",
            "area_id",
            "name",
            "value",
            "threshold",
            "pass",
            "measure_zh",
            "definition_zh",
        }
        for t in rows
    )
    for t in rows:
        if t["value"] is not None:
            assert t["pass"] == (t["value"] >= t["threshold"] - 1e-12)
    # a network target in a community is that community's covered share of the type
    kg = [t for t in rows if t["target_code"] == "health_network" and t["level"] == "community"]
    assert kg
    areas = client.get(
        f"/coverage/runs/{run_id}/areas?level=community&type=health_center", headers=auth("planner")
    ).json()["features"]
    share = {f["properties"]["area_id"]: f["properties"]["share"] for f in areas}
    assert any(t["value"] is not None for t in kg)
    for t in kg:  # a community without residents (another test file may add one) has no share and no value
        assert (
            t["value"] == pytest.approx(share[t["area_id"]])
            if t["value"] is not None
            else share.get(t["area_id"]) is None
        )
    # share-of-communities targets are never judged for a single community
    assert not [t for t in rows if t["measure"] == "presence" and t["level"] == "community"]
    assert {t["measure_zh"] for t in rows if t["measure"] == "presence"} <= {
        "设施覆盖社区比例",
        "设施覆盖行政村比例",
    }
    code = next(
        t["target_code"]
        for t in rows
        if t["measure"] == "presence" and t["level"] == "town" and t["communities"]
    )
    towns = client.get(
        f"/coverage/runs/{run_id}/targets?level=town&code={code}", headers=auth("planner")
    ).json()["targets"]
    assert towns and {t["level"] for t in towns} == {"town"} and {t["target_code"] for t in towns} == {code}
    assert all(t["communities"] >= t["communities_reached"] >= 0 for t in towns)


@pytest.mark.parametrize(("who", "status"), [(None, 401), ("gridworker", 403)])
def test_targets_need_a_planner(client, auth, run_id, who, status):
    assert client.get(f"/coverage/runs/{run_id}/targets", headers=auth(who)).status_code == status


def test_bad_level_is_refused(client, auth, run_id):
    assert (
        client.get(f"/coverage/runs/{run_id}/targets?level=grid_small", headers=auth("planner")).status_code
        == 400
    )


def test_a_run_posted_for_some_types_is_completed_by_the_next_plain_run(client, auth, run_id, api_db):
    planner = auth("planner")
    first = client.get(f"/coverage/runs/{run_id}", headers=planner).json()["summary"]
    every, held = set(first["types"]), set(first["held_types"])
    r = client.post("/coverage/runs", json={"types": ["kindergarten"], "full": True}, headers=planner)
    drain(api_db)
    partial = client.get(f"/coverage/runs/{r.json()['run_id']}", headers=planner).json()
    assert partial["status"] == "done" and set(partial["summary"]["types"]) == {"kindergarten"}
    assert set(partial["params"]["fingerprints"]) == {"kindergarten"}
    r = client.post("/coverage/runs", json={}, headers=planner)
    drain(api_db)
    plain = client.get(f"/coverage/runs/{r.json()['run_id']}", headers=planner).json()
    assert set(plain["summary"]["types"]) == every and plain["summary"]["missing_types"] == []
    assert plain["summary"]["reused_types"] == ["kindergarten"]
    assert sorted(plain["summary"]["recomputed_types"]) == sorted(held - {"kindergarten"})
