"""Photos of a resident's own report (POST /public/events/{code}/photos, no login): the image itself as
the body, at most 3, within 30 minutes of reporting, EXIF (GPS) stripped, seen only by staff; nothing
about the report or anyone's photos ever comes back to the public."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import pytest
from PIL import Image
from sqlalchemy import create_engine, text

from pipeline import events as service

GPS_IFD = 0x8825


@pytest.fixture(scope="module", autouse=True)
def photo_settings(app, tmp_path_factory):
    state = app.state
    saved = getattr(state, "event_settings", None)
    state.event_settings = service.EventSettings(
        photo_dir=tmp_path_factory.mktemp("public_photos"), photo_max_mb=0.5, public_per_ip_per_hour=100_000
    )
    if hasattr(state, "event_report_buckets"):
        del state.event_report_buckets
    yield state.event_settings
    if saved is None:
        del state.event_settings
    else:
        state.event_settings = saved


def _image(colour, fmt="JPEG", gps=False) -> bytes:
    image = Image.new("RGB", (40, 30), colour)
    out = io.BytesIO()
    if gps:
        exif = Image.Exif()
        exif[GPS_IFD] = {1: "N", 2: (22.0, 33.0, 44.0), 3: "E", 4: (113.0, 12.0, 34.0)}
        image.save(out, format=fmt, exif=exif)
    else:
        image.save(out, format=fmt)
    return out.getvalue()


def _report(client, phone: str) -> str:
    r = client.post(
        "/public/events",
        json={
            "category": "sanitation",
            "description": "垃圾满溢",
            "lon": 113.22,
            "lat": 22.6,
            "phone": phone,
        },
    )
    assert r.status_code == 201, r.text
    return r.json()["tracking_code"]


def _post(client, code, data, mime="image/jpeg"):
    return client.post(f"/public/events/{code}/photos", content=data, headers={"Content-Type": mime})


def test_three_photos_then_no_more_and_gps_is_gone(client, auth, api_db, photo_settings):
    code = _report(client, "13700000001")
    first = _post(client, code, _image((200, 0, 0), gps=True))
    assert first.status_code == 201, first.text
    assert first.json() == {"photos": 1, "limit": 3}  # counts only: no hash, no path, no report
    assert _post(client, code, _image((0, 200, 0), "PNG"), "image/png").json()["photos"] == 2
    assert _post(client, code, _image((0, 0, 200), "WEBP"), "image/webp").json()["photos"] == 3
    fourth = _post(client, code, _image((9, 9, 9)))
    assert fourth.status_code == 422 and "最多 3 张" in fourth.json()["error"]["message"]
    # the staff of the event see the three photos; the stored JPEG carries no GPS
    engine = create_engine(api_db)
    with engine.connect() as con:
        event_id = con.execute(
            text("SELECT event_id FROM events WHERE tracking_code = :c"), {"c": code}
        ).scalar_one()
    engine.dispose()
    photos = client.get(f"/events/{event_id}/photos", headers=auth("gridworker")).json()
    assert len(photos) == 3 and {p["uploaded_by"] for p in photos} == {"public"}
    jpeg = next(p for p in photos if p["content_type"] == "image/jpeg")
    stored = next(photo_settings.photo_dir.rglob(f"{jpeg['sha256']}.jpg")).read_bytes()
    assert not Image.open(io.BytesIO(stored)).getexif().get_ifd(GPS_IFD) and b"Exif" not in stored
    # the public tracking answer says nothing of the photos either
    assert set(client.get(f"/public/events/{code}").json()) <= {
        "status",
        "status_zh",
        "category_zh",
        "reported_at",
        "due_at",
        "resolved_at",
        "updated_at",
    }


def test_not_an_image_unknown_code_and_staff_reports(client, auth):
    code = _report(client, "13700000002")
    bad = _post(client, code, b"%PDF-1.4 not an image", "image/jpeg")
    assert bad.status_code == 422 and "图片" in bad.json()["error"]["message"]
    assert _post(client, "MQ2222222222", _image((1, 2, 3))).status_code == 404
    staff = client.post(
        "/events",
        json={"category": "sanitation", "description": "网格员上报", "lon": 113.22, "lat": 22.6},
        headers=auth("gridworker"),
    ).json()
    # a staff report's code cannot be used to add photos anonymously (it reads as unknown)
    assert _post(client, staff["tracking_code"], _image((1, 2, 3))).status_code == 404


def test_too_late(client, api_db, photo_settings):
    code = _report(client, "13700000003")
    engine = create_engine(api_db)
    with engine.begin() as con:
        con.execute(
            text("UPDATE events SET reported_at = :t WHERE tracking_code = :c"),
            {"t": datetime.now(UTC) - timedelta(minutes=photo_settings.public_photo_minutes + 1), "c": code},
        )
    engine.dispose()
    r = _post(client, code, _image((5, 5, 5)))
    assert r.status_code == 403 and "分钟后不能再补充照片" in r.json()["error"]["message"]


def test_too_large(client, photo_settings):
    code = _report(client, "13700000004")
    noise = Image.effect_noise((900, 900), 90).convert("RGB")
    out = io.BytesIO()
    noise.save(out, format="PNG")
    assert len(out.getvalue()) > photo_settings.photo_max_mb * 1024 * 1024
    assert _post(client, code, out.getvalue(), "image/png").status_code == 413
