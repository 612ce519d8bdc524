"""我要反映 in headless Chromium on a phone-sized page: report from a map point, get a tracking code,
follow it; no console error or CSP violation, no request to another host."""

from __future__ import annotations

import httpx
import pytest

pytestmark = pytest.mark.browser
PHONE = {"width": 390, "height": 844, "mobile": True}


def _inside_a_grid(server) -> tuple[float, float]:
    grid = httpx.get(f"{server}/collections/grids/items", params={"limit": 1}).json()["features"][0]
    ring = (
        grid["geometry"]["coordinates"][0][0]
        if grid["geometry"]["type"] == "MultiPolygon"
        else grid["geometry"]["coordinates"][0]
    )
    xs, ys = [p[0] for p in ring[:-1]], [p[1] for p in ring[:-1]]
    return sum(xs) / len(xs), sum(ys) / len(ys)


def test_report_and_track_on_a_phone(visit, server):
    lon, lat = _inside_a_grid(server)
    v = visit(**PHONE)
    response = v.open(f"/report?lon={lon}&lat={lat}", ready=False)
    assert response.status == 200 and "script-src 'self'" in response.headers["content-security-policy"]
    v.page.select_option("#category", "sanitation")
    v.page.fill("#description", "楼下垃圾桶满了<script>alert(1)</script>")
    v.page.click("#mq-report-form button[type=submit]")
    v.page.wait_for_function(
        "() => document.getElementById('mq-report-result').textContent.includes('查询码')"
    )
    text = v.page.text_content("#mq-report-result")
    code = text.split("查询码：")[1][:12]
    assert code.startswith("MQ") and len(code) == 12
    v.page.click("#mq-track-form button[type=submit]")
    v.page.wait_for_function(
        "() => document.getElementById('mq-track-result').textContent.includes('已上报')"
    )
    assert "环境卫生" in v.page.text_content("#mq-track-result")
    # the description is shown nowhere on the public page (the tracking answer has status and dates only)
    assert "楼下垃圾桶" not in v.page.text_content("#mq-track-result")
    v.assert_clean()
