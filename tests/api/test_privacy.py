"""Every route reachable without a token leaks no residence or personal data.

The walk is driven by ``app.routes``: a new GET route without sample parameters here fails the
test until someone says how to call it, so no public route escapes the check.
"""

from __future__ import annotations

import json
import re
from typing import Any

import mapbox_vector_tile
import pytest
from api_fixture import GRID_A, GRID_B, GRID_MIDDLE, RESIDENCES
from fastapi.routing import APIRoute

MIN_HOUSEHOLDS = 5
ROUND_TO = 5

NEVER = {
    "residence_id",
    "residences",
    "elderly",
    "children",
    "elderly_covered",
    "children_covered",
    "estimated",
    "footprint",
    "username",
    "password",
    "password_hash",
    "user_id",
    "actor",
    "before",
    "after",
    "changed_by",
    "role",
}
"""Keys that no anonymous response may contain, at any depth."""

AGGREGATES = {
    "households",
    "households_covered",
    "population",
    "population_covered",
    "share",
    "estimated_share",
}
"""Area aggregates: allowed only on area features
(grids, areas, coverage) and suppressed below 5 households.
"""

AGGREGATE_COLLECTIONS = {"grids", "areas", "coverage"}

AREA_FLAGS = {"coverage": {"estimated"}}
"""Area-level flags (true/false for every area, never a count) allowed on these collections only."""

DERIVED = {"share": ("population_covered", "population"), "estimated_share": (None, "population")}
"""Public ratios: each must be a function of the shown (rounded) counts only, to 2 decimals (None: a
numerator that is not public; the ratio must still be a whole number of rounding steps over the
shown denominator)."""

LEAKED_VALUES = [address for _, address, *_ in RESIDENCES] + [
    "gridworker",
    "gridworker_nogrid",
    "$2b$",
    "13800138000",
    "夜里装修",
]
"""Values that must never appear anonymously: residence addresses, usernames, bcrypt hashes."""

QUERY_SAMPLES: dict[str, Any] = {
    "lon": 113.22,
    "lat": 22.5502,
    "minutes": "5,60",
    "profile": "walk",
    "q": "滨河",
    "limit": 1000,
    "name": "滨河路",
    "type": "kindergarten",
    "since": "2026-01-01T00:00:00",
    "until": "2027-01-01T00:00:00",
}
"""Values for query parameters: every required one must be here; ``minutes`` is also sent when accepted."""
PATH_SAMPLES = {
    "{facility_id}": "1",
    "{user_id}": "1",
    "{layer}": "facilities",
    "{run_id}": "1",
    "{name_id}": "1",
    "{id}": "1",
    "{scenario_id}": "1",
    "{type}": "kindergarten",
    "{job_id}": "1",
    "{event_id}": "1",
    "{code}": "MQ2345678923",
    "{sha256}": "0" * 64,
    "{household_id}": "1",
    "{visit_id}": "1",
    "{part}": "0",
}
"""Values for path parameters (``{code}``: replaced by the tracking code of a real public report)."""
METADATA = {"/openapi.json", "/docs", "/redoc", "/docs/oauth2-redirect"}
"""API description pages: no data, but they name schema fields such as ``residence_id``."""


def _flat_routes(routes):
    for route in routes:
        if hasattr(route, "effective_candidates"):
            yield from _flat_routes(route.effective_candidates())
        elif hasattr(route, "original_route"):
            yield route.path, route.original_route
        else:
            yield route.path, route


def _get_routes(app) -> list[tuple[str, Any]]:
    return [(path, r) for path, r in _flat_routes(app.routes) if "GET" in (getattr(r, "methods", None) or ())]


def _query_params(dependant) -> list:
    params = list(dependant.query_params)
    for sub in dependant.dependencies:
        params += _query_params(sub)
    return params


def _required_query(route) -> list[str]:
    if not isinstance(route, APIRoute):
        return []
    return [p.alias for p in _query_params(route.dependant) if p.field_info.is_required()]


def _urls(client, path: str, route) -> list[str]:
    """Concrete anonymous GET URLs for ``path`` (fails for a route this test cannot call)."""
    from layers.features import LAYERS

    missing = [q for q in _required_query(route) if q not in QUERY_SAMPLES]
    assert not missing, f"add sample values for {missing} of GET {path} to QUERY_SAMPLES"
    wanted = set(_required_query(route)) | ({"minutes"} & _all_query(route))
    query = "&".join(f"{k}={v}" for k, v in QUERY_SAMPLES.items() if k in wanted)
    suffix = f"?{query}" if query else ""
    if "{path:path}" in path:
        return []  # static files (map assets): no data
    if "{z}" in path:
        return _tile_urls(path)
    if "{collection_id}" in path:
        urls = []
        for cid in LAYERS:
            base = path.replace("{collection_id}", cid)
            if "{fid}" in base:
                urls += [base.replace("{fid}", str(fid)) for fid in _sample_ids(client, cid)]
            else:
                urls.append(base + ("?limit=1000" if base.endswith("/items") else ""))
        return urls
    for placeholder, value in PATH_SAMPLES.items():
        path = path.replace(placeholder, value)
    assert "{" not in path, f"add a sample value for the path parameter of GET {path}"
    return [path + suffix]


TILE_FILTERS = {
    "coverage": "?type_code=kindergarten",
    "gaps": "?type_code=kindergarten",
    "province": "?type_code=kindergarten&circle=15min",
}


def _tile_urls(path: str) -> list[str]:
    """Every tile layer over the fixture district at zoom 12 (the fixture's features are all in view)."""
    from test_tiles import BBOX, tiles_over

    from layers.tiles import TILE_LAYERS

    return [
        path.replace("{layer}", name).replace("{z}", "12").replace("{x}", str(x)).replace("{y}", str(y))
        + TILE_FILTERS.get(name, "")
        for name in TILE_LAYERS
        for x, y in tiles_over(BBOX, 12)
    ]


def _all_query(route) -> set[str]:
    if not isinstance(route, APIRoute):
        return set()
    return {p.alias for p in _query_params(route.dependant)}


def _sample_ids(client, cid: str) -> list[str]:
    r = client.get(f"/collections/{cid}/items", params={"limit": 5})
    ids = [str(f["id"]) for f in r.json()["features"]] if r.status_code == 200 else []
    return ids or ["1"]


def _walk(obj: Any, found: list[tuple[str, Any, Any]], parent: Any = None) -> None:
    if isinstance(obj, dict):
        for key, value in obj.items():
            found.append((key, value, obj))
            _walk(value, found, obj)
    elif isinstance(obj, list):
        for item in obj:
            _walk(item, found, parent)


def _check_json(url: str, body: Any) -> None:
    pairs: list[tuple[str, Any, Any]] = []
    _walk(body, pairs)
    collection = re.match(r"/(?:collections|tiles)/([a-z_]+)", url)
    aggregates_allowed = collection is not None and collection.group(1) in AGGREGATE_COLLECTIONS
    flags = AREA_FLAGS.get(collection.group(1), set()) if collection else set()
    for key, value, holder in pairs:
        if key in flags and "households" in holder:  # on an area feature's properties
            assert isinstance(value, bool), f"{url}: {key} must be a flag, is {value!r}"
            continue
        assert key not in NEVER, f"{url} exposes {key!r}"
        if key in AGGREGATES:
            assert aggregates_allowed, f"{url} exposes the count {key!r} outside an area aggregate"
            households = holder.get("households")
            if households is None:
                assert value is None and holder.get("suppressed") is True, f"{url}: {key} not suppressed"
            else:
                assert households >= MIN_HOUSEHOLDS, f"{url}: households={households} is below the threshold"
        if "households" in holder and isinstance(value, float):
            _check_derived(url, key, value, holder)


def _check_derived(url: str, key: str, value: float, holder: dict) -> None:
    """A fractional number next to area counts must be a known ratio of the SHOWN counts (to 2 decimals):
    an exact ratio times a rounded count gives the exact count back."""
    assert key in DERIVED, f"{url}: {key}={value} is a derived value the privacy filter does not know"
    top, bottom = DERIVED[key]
    denominator = holder.get(bottom)
    assert denominator, f"{url}: {key} shown without its counts"
    if top is None:  # any multiple of the rounding step, as a ratio of the shown denominator
        steps = {round(n / denominator, 2) for n in range(0, denominator + 1, ROUND_TO)}
        assert value in steps, (
            f"{url}: {key}={value} is no rounded count over {denominator}: it leaks exact counts"
        )
        return
    numerator = holder.get(top)
    assert numerator is not None, f"{url}: {key} shown without its counts"
    assert value == round(numerator / denominator, 2), (
        f"{url}: {key}={value} is not {numerator}/{denominator} of the shown counts: "
        "it leaks the exact counts"
    )


@pytest.fixture(scope="module")
def anonymous_responses(app, client):
    # a resident's report with a phone and a description: its tracking page must show neither
    report = client.post(
        "/public/events",
        json={
            "category": "noise",
            "description": "夜里装修",
            "lon": 113.22,
            "lat": 22.56,
            "phone": "13800138000",
        },
    )
    assert report.status_code == 201, report.text
    PATH_SAMPLES["{code}"] = report.json()["tracking_code"]
    seen = {}
    for path, route in _get_routes(app):
        for url in _urls(client, path, route):
            seen[url] = (path, route, client.get(url))
    return seen


def test_the_walk_covers_every_anonymous_get_route(app, anonymous_responses):
    walked = {path for path, _, _ in anonymous_responses.values()}
    every = {path for path, _ in _get_routes(app) if "{path:path}" not in path}
    assert every == walked


def test_no_anonymous_response_leaks_personal_data(anonymous_responses):
    for url, (_, _route, r) in anonymous_responses.items():
        for value in LEAKED_VALUES:
            assert value not in r.text, f"{url} leaks {value!r}"
        if r.headers.get("content-type") == "application/vnd.mapbox-vector-tile":
            layers = mapbox_vector_tile.decode(r.content)
            _check_json(url, [f["properties"] for layer in layers.values() for f in layer["features"]])
            continue
        if url.split("?")[0] in METADATA or "json" not in r.headers.get("content-type", ""):
            continue
        _check_json(url, r.json())


def test_our_api_routes_answer_without_server_errors(anonymous_responses):
    for url, (_, route, r) in anonymous_responses.items():
        if isinstance(route, APIRoute) and route.include_in_schema:
            assert r.status_code < 500, f"{url} → {r.status_code}: {r.text[:300]}"


def test_residences_are_401_for_anonymous(client):
    for url in (
        "/collections/residences",
        "/collections/residences/items",
        "/collections/residences/items/1",
    ):
        r = client.get(url)
        assert r.status_code == 401
        assert "households" not in r.text and "滨河路1号" not in r.text


def test_the_public_walk_really_sees_data(anonymous_responses):
    """Guard against a vacuous pass: the walk must have read real features and aggregates."""
    grids = anonymous_responses["/collections/grids/items?limit=1000"][2].json()
    # the fixture's three grids (other test files, when they ran first, add grids of their own)
    grids["features"] = [
        f for f in grids["features"] if f["properties"]["area_id"] in (GRID_MIDDLE, GRID_A, GRID_B)
    ]
    assert len(grids["features"]) == 3
    suppressed = [f for f in grids["features"] if f["properties"]["suppressed"]]
    assert len(suppressed) == 1 and suppressed[0]["properties"]["households"] is None
    coverage = anonymous_responses["/collections/coverage/items?limit=1000"][2].json()
    assert any(f["properties"]["population"] for f in coverage["features"])
    assert (
        json.dumps(anonymous_responses["/collections/facilities/items?limit=1000"][2].json()).count(
            '"Feature"'
        )
        >= 5
    )


def test_the_checker_catches_leaks():
    """The JSON check itself fails on the shapes it is meant to catch."""
    with pytest.raises(AssertionError):
        _check_json("/collections/facilities/items", {"features": [{"properties": {"population": 3}}]})
    with pytest.raises(AssertionError):
        _check_json("/collections/grids/items", {"features": [{"properties": {"households": 3}}]})
    with pytest.raises(AssertionError):
        _check_json("/reverse", {"grid": {"username": "x"}})
    _check_json(
        "/collections/grids/items", {"features": [{"properties": {"households": None, "suppressed": True}}]}
    )
    exact_share = {
        "households": 725,
        "population": 725,
        "population_covered": 680,
        "share": 0.9406896551724138,
        "suppressed": False,
    }
    with pytest.raises(AssertionError, match="leaks the exact counts"):
        _check_json("/collections/coverage/items", {"features": [{"properties": exact_share}]})
    with pytest.raises(AssertionError, match="does not know"):
        _check_json(
            "/collections/coverage/items", {"features": [{"properties": {"households": 725, "density": 1.5}}]}
        )
    _check_json("/collections/coverage/items", {"features": [{"properties": {**exact_share, "share": 0.94}}]})
    with pytest.raises(AssertionError, match="leaks exact counts"):  # 17 of 725 estimated, exactly
        _check_json(
            "/collections/coverage/items",
            {"features": [{"properties": {**exact_share, "share": 0.94, "estimated_share": 17 / 725}}]},
        )
    # 20/725
    _check_json(
        "/collections/coverage/items",
        {"features": [{"properties": {**exact_share, "share": 0.94, "estimated_share": 0.03}}]},
    )


def test_public_counts_are_rounded_and_small_ones_suppressed():
    from api.privacy import PrivacyFilter

    f = PrivacyFilter(min_households=5, round_to=5)
    shown = f.properties(
        "coverage",
        {
            "households": 597,
            "households_covered": 12,
            "population": 1622,
            "population_covered": 3,
            "share": 0.0018,
            "elderly": 40,
        },
        role=None,
    )
    # half up: 12 → 10, 3 → 5; elderly never public
    assert shown == {
        "households": 595,
        "households_covered": 10,
        "population": 1620,
        "population_covered": 5,
        "share": 0.0,
        "suppressed": False,
    }
    estimated = f.properties(
        "coverage",
        {
            "households": 300,
            "population": 725,
            "population_covered": 682,
            "population_estimated": 17,
            "share": 682 / 725,
            "estimated_share": 17 / 725,
        },
        role=None,
    )
    assert estimated["share"] == round(680 / 725, 2) and estimated["estimated_share"] == round(15 / 725, 2)
    assert "population_estimated" not in estimated
    small = f.properties("coverage", {"households": 4, "population": 9, "share": 0.5}, role=None)
    assert small == {"households": None, "population": None, "share": None, "suppressed": True}
    # a grid whose household count nobody entered cannot be shown to be safe: suppressed too
    unknown = f.properties("coverage", {"households": None, "population": 40, "share": 0.5}, role=None)
    assert unknown == {"households": None, "population": None, "share": None, "suppressed": True}
    assert f.properties("coverage", {"households": 597}, role="planner") == {"households": 597}
    exact = PrivacyFilter(min_households=5, round_to=1)
    assert exact.properties("grids", {"households": 597}, role=None)["households"] == 597


def test_a_suppressed_count_cannot_be_recovered_by_differencing():
    """A parent with two children: one suppressed (1-4 households), one shown. Whatever the public sees
    (the parent's and the shown child's rounded counts), at least two values of the suppressed count
    fit it: parent minus child never pins it down."""
    from api.privacy import PrivacyFilter

    f = PrivacyFilter(min_households=5, round_to=5)

    def seen(n: int) -> int:
        return f.properties("grids", {"households": n}, role=None)["households"]

    fits: dict[tuple[int, int], set[int]] = {}
    for shown_child in range(5, 420):
        for hidden in range(1, 5):
            fits.setdefault((seen(hidden + shown_child), seen(shown_child)), set()).add(hidden)
    judged = {k: v for k, v in fits.items() if k[1] <= 400}  # away from the loop's upper edge
    assert len(judged) > 100 and min(len(v) for v in judged.values()) >= 2


def _hidden_fits(
    view,
) -> tuple[dict[tuple, set[tuple[int, int, int]]], list[tuple[tuple, tuple[int, int, int]]]]:
    """(parent's public view, shown child's public view) → every hidden child (households, population,
    covered) that produces them, for a parent = one shown child + one suppressed child; and the
    (key, hidden child) pairs away from the enumeration's edges, to be judged."""
    fits: dict[tuple, set[tuple[int, int, int]]] = {}
    judged = []
    hidden = [(h, p, c) for h in range(1, 5) for p in range(1, 11) for c in range(p + 1)]
    for pop in range(20, 51):
        for covered in range(0, pop + 1, 2):
            child = (pop // 3, pop, covered)
            child_view = view(*child)
            for h, p, c in hidden:
                key = (view(child[0] + h, pop + p, covered + c), child_view)
                fits.setdefault(key, set()).add((h, p, c))
                if 25 <= pop <= 45 and 2 <= p <= 8 and 2 <= covered <= pop - 2:
                    judged.append((key, (h, p, c)))
    return fits, judged


def _public_coverage_view(f):
    def view(households: int, population: int, covered: int) -> tuple:
        # the covered count doubles as the (private) estimated count: both ratios are public
        shown = f.properties(
            "coverage",
            {
                "households": households,
                "population": population,
                "population_covered": covered,
                "population_estimated": covered,
                "share": covered / population if population else None,
                "estimated_share": covered / population if population else None,
            },
            role=None,
        )
        return tuple(sorted(shown.items()))

    return view


def test_no_exact_small_count_is_recoverable_from_any_public_value():
    """The same differencing with every public value of a coverage row, the share included: for every
    suppressed child (1-4 households, 2-8 people) the public views of its parent and its shown sibling fit
    at least two different head counts and two different covered counts."""
    from api.privacy import PrivacyFilter

    fits, judged = _hidden_fits(_public_coverage_view(PrivacyFilter(min_households=5, round_to=5)))
    assert len(judged) > 10_000
    for key, (_h, p, c) in judged:
        assert len({cand[1] for cand in fits[key]}) >= 2, f"population {p} of a hidden child is recoverable"
        assert len({cand[2] for cand in fits[key]}) >= 2, f"covered {c} of a hidden child is recoverable"


def test_the_enumeration_catches_an_exact_share():
    """Guard for the test above: with the share left exact (the old filter) the counts come back out."""
    from api.privacy import PrivacyFilter

    class ExactShare(PrivacyFilter):
        def suppress(self, props, counts, **kwargs):
            share = props.get("share")
            out = super().suppress(props, counts, **kwargs)
            if not out["suppressed"]:
                out["share"] = share
            return out

    fits, judged = _hidden_fits(_public_coverage_view(ExactShare(min_households=5, round_to=5)))
    pinned = sum(len({cand[1] for cand in fits[key]}) == 1 for key, _ in judged)
    assert pinned > len(judged) // 2
