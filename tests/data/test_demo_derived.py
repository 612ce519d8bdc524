"""Tests of the derived copies of a large demo (data.demo.derived): copy k laid out like copy 1 in its
own slot, with its own ids, names, codes, phones and grid workers, and every rule of a copy kept."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import shapely

from data.demo import derived, generate
from data.demo.frames import ID_STRIDE, copy_frames
from data.demo.geography import SAFE_BOX, copy_sizes, layout
from data.demo.names import district, town_propers, worker_name

ORIGINS = layout(10)
LAYERS = ("areas", "nodes", "edges", "residences", "facilities", "place_names", "water", "buildings")
ID = {
    "areas": "area_id",
    "nodes": "node_id",
    "edges": "edge_id",
    "residences": "residence_id",
    "facilities": "facility_id",
    "place_names": "name_id",
    "water": "water_id",
    "buildings": "building_id",
}


@pytest.fixture(scope="module")
def template() -> dict:
    return copy_frames(1, 0.25, ORIGINS[1], 5)


@pytest.fixture(scope="module", params=[2, 9])
def pair(request, template) -> tuple[int, dict, dict]:
    dst = request.param
    return dst, template, derived.derive(template, 1, dst, ORIGINS[1], ORIGINS[dst])


def test_which_copies_are_derived():
    assert [derived.template(c, copy_sizes(10)) for c in range(10)] == [0, 1] + [1] * 8
    assert [derived.template(c, copy_sizes(2)) for c in range(2)] == [0, 1]
    # a partial last copy is generated
    assert [derived.template(c, copy_sizes(3.5)) for c in range(4)] == [0, 1, 1, 3]


def test_ids_in_the_copys_own_range(pair):
    dst, src, out = pair
    for layer in LAYERS:
        ids = out[layer][ID[layer]].to_numpy()
        assert ids.min() > dst * ID_STRIDE and ids.max() < (dst + 1) * ID_STRIDE, layer
        assert np.array_equal(np.sort(ids - dst * ID_STRIDE), np.sort(src[layer][ID[layer]] - ID_STRIDE))
        assert not np.isin(ids, src[layer][ID[layer]]).any(), layer
    # the links follow: edges' ends, parents, homes' and names' areas, planted objects, the plan
    nodes, areas = set(out["nodes"]["node_id"]), set(out["areas"]["area_id"])
    assert set(out["edges"]["u"]) | set(out["edges"]["v"]) <= nodes
    assert set(out["areas"]["parent_id"].dropna()) <= areas
    assert (
        set(out["residences"]["area_id"]) | set(out["place_names"]["area_id"]) | set(out["plan"]["area_id"])
        <= areas
    )
    layer_ids = {layer: set(out[layer][ID[layer]]) for layer in LAYERS}
    layer_ids["edges"] = set(out["edges"]["edge_id"])
    for r in out["planted"].itertuples():
        assert r.object_id in layer_ids[r.layer], (r.case, r.layer)
    assert len(out["planted"]) == len(src["planted"])


def test_shapes_moved_by_the_slot_offset(pair):
    dst, src, out = pair
    dx, dy = ORIGINS[dst][0] - ORIGINS[1][0], ORIGINS[dst][1] - ORIGINS[1][1]
    for layer in ("areas", "edges", "residences", "facilities", "place_names", "water", "buildings"):
        a, b = src[layer].to_crs(32650), out[layer].to_crs(32650)
        moved = shapely.transform(a.geometry.values, lambda c: c + [dx, dy])  # noqa: B023
        assert (shapely.hausdorff_distance(moved, b.geometry.values) < 0.01).all(), layer
        assert np.allclose(a.area, b.area, rtol=1e-6, atol=1e-3) and np.allclose(a.length, b.length), layer
    assert shapely.is_valid(out["areas"].geometry.values).all()
    # the nodes are the edges' ends
    ll = out["nodes"].set_index("node_id")
    start = shapely.get_point(out["edges"].geometry.values, 0)
    assert np.allclose(ll.loc[out["edges"]["u"], "lon"], shapely.get_x(start), atol=1e-9)
    assert np.allclose(ll.loc[out["edges"]["u"], "lat"], shapely.get_y(start), atol=1e-9)
    # in open sea, clear of the template's slot
    x0, y0, x1, y1 = out["areas"].total_bounds
    assert SAFE_BOX[0] <= x0 and x1 <= SAFE_BOX[2] and SAFE_BOX[1] <= y0 and y1 <= SAFE_BOX[3]
    assert not shapely.box(*src["water"].total_bounds).intersects(shapely.box(x0, y0, x1, y1))


def test_every_home_in_its_grid(pair):
    _, _, out = pair
    grids = out["areas"].set_index("area_id").geometry
    homes = out["residences"]
    inside = shapely.covers(grids.loc[homes["area_id"]].values, homes.geometry.values)
    assert inside.all(), homes[~inside].head()
    assert (out["areas"].set_index("area_id").loc[homes["area_id"], "level"] == "grid_small").all()


def test_names_codes_phones_and_workers_of_the_copy(pair):
    dst, src, out = pair
    dname, dcode = district(dst)
    a, b, c = town_propers(dst)
    areas = out["areas"]
    top = areas[areas["level"] == "district"].iloc[0]
    assert (top["name"], top["code"]) == (dname, dcode + "000000")
    towns = areas[areas["level"] == "town"]["name"]
    assert [t[:2] for t in towns] == [a, b, c]
    stats = areas["code"].str.len() == 12
    assert areas.loc[stats, "code"].str.startswith(dcode).all()
    assert areas.loc[~stats, "code"].str[6:12].eq(dcode).all()
    assert pd.concat([src["areas"]["code"], areas["code"]]).is_unique
    small = areas[areas["level"] == "grid_small"]
    assert small["worker_name"].tolist() == [worker_name(x) for x in small["code"]]
    phones = pd.concat([src["areas"]["worker_phone"], areas["worker_phone"]])
    assert phones.is_unique
    fac = pd.concat([src["facilities"]["phone"], out["facilities"]["phone"]]).dropna()
    assert fac.is_unique and out["facilities"]["phone"].isna().eq(src["facilities"]["phone"].isna()).all()
    # addresses under the copy's district and towns; the named water and roads of its towns
    prefix = tuple(dname + t for t in towns)
    assert out["residences"]["address"].map(lambda s: s.startswith(prefix)).all()
    assert out["facilities"]["address"].map(lambda s: s.startswith(prefix)).all()
    water = dict(zip(out["water"]["kind"], out["water"]["name"], strict=True))
    assert (water["river"], water["sea"]) == (a[0] + "江", a + "海域")
    roads = set(out["edges"]["name"].dropna())
    assert {a[0] + c[0] + "高速", a[0] + b[0] + "公路", a[0] + c[0] + "公路", b[0] + c[0] + "公路"} <= roads
    river = out["place_names"].query("name == @water['river']")
    assert (river["proper"] + river["generic"] == river["name"]).all() and len(river) == 1
    # nothing of the template's district name is left, and names stay as distinct as the template's
    sname = district(1)[0]
    for layer, cols in derived.TEXT_COLUMNS.items():
        for col in cols:
            assert not out[layer][col].dropna().str.contains(sname).any(), (layer, col)
    assert out["place_names"]["name"].nunique() == src["place_names"]["name"].nunique()
    assert (out["place_names"]["proper"] + out["place_names"]["generic"]).nunique() == (
        src["place_names"]["proper"] + src["place_names"]["generic"]
    ).nunique()


@pytest.mark.slow
def test_scale_three_holds_two_laid_out_alike():
    d = generate(scale=3.0, seed=3)
    copy = {layer: getattr(d, layer)[ID[layer]] // ID_STRIDE for layer in LAYERS}
    for layer in LAYERS:
        assert getattr(d, layer)[ID[layer]].is_unique, layer
        counts = copy[layer].value_counts()
        assert counts[1] == counts[2], layer
    types = d.facilities.groupby(copy["facilities"])["type_code"].value_counts().unstack(0)
    assert types[1].equals(types[2])
    assert d.residences.groupby(copy["residences"])["population"].sum().pipe(lambda p: p[1] == p[2])
    homes = d.residences
    grids = d.areas.set_index("area_id").geometry
    inside = shapely.covers(grids.loc[homes["area_id"]].values, homes.geometry.values)
    # copy 1 and the one laid out like it (copy 0 of seed 3 holds an empty village grid of its own)
    assert inside[copy["residences"].to_numpy() > 0].all()
    # the 民情's old town of copy 2 is copy 1's, moved with its homes
    from data.demo.minqing import old_town_lonlat

    old = old_town_lonlat(scale=3.0, seed=3)
    xy = homes.get_coordinates().to_numpy()
    inside = pd.Series(shapely.contains_xy(old, xy[:, 0], xy[:, 1]))
    by_copy = inside.groupby(copy["residences"].to_numpy()).sum()
    assert by_copy[1] == by_copy[2] > 0
