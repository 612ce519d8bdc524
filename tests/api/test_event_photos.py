"""Event photos: type by content, size limit, EXIF (GPS) stripped, stored by hash, served by role."""

from __future__ import annotations

import hashlib
import io

import pytest
from PIL import Image

from pipeline import events as service

GPS_IFD = 0x8825


@pytest.fixture(scope="module", autouse=True)
def photo_settings(app, tmp_path_factory):
    state = app.state
    saved = getattr(state, "event_settings", None)
    state.event_settings = service.EventSettings(
        photo_dir=tmp_path_factory.mktemp("photos"), photo_max_mb=0.5, public_per_ip_per_hour=100_000
    )
    yield state.event_settings
    if saved is None:
        del state.event_settings
    else:
        state.event_settings = saved


def _jpeg_with_gps() -> bytes:
    image = Image.new("RGB", (64, 48), (200, 30, 30))
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"  # Make
    exif[GPS_IFD] = {1: "N", 2: (22.0, 33.0, 44.0), 3: "E", 4: (113.0, 12.0, 34.0)}
    out = io.BytesIO()
    image.save(out, format="JPEG", exif=exif)
    data = out.getvalue()
    assert Image.open(io.BytesIO(data)).getexif().get_ifd(GPS_IFD)  # the input really carries GPS
    return data


@pytest.fixture(scope="module")
def event_id(client, auth) -> int:
    r = client.post(
        "/events",
        json={"category": "sanitation", "description": "照片测试", "lon": 113.22, "lat": 22.6},
        headers=auth("gridworker"),
    )
    assert r.status_code == 201, r.text
    return r.json()["event_id"]


def _upload(client, auth, who, event_id, data: bytes, name="p.jpg", mime="image/jpeg"):
    return client.post(f"/events/{event_id}/photos", files={"file": (name, data, mime)}, headers=auth(who))


def test_exif_gps_is_stripped(client, auth, event_id, photo_settings):
    r = _upload(client, auth, "gridworker", event_id, _jpeg_with_gps())
    assert r.status_code == 201, r.text
    photo = r.json()
    stored = next(photo_settings.photo_dir.rglob(f"{photo['sha256']}.jpg")).read_bytes()
    assert hashlib.sha256(stored).hexdigest() == photo["sha256"]
    reopened = Image.open(io.BytesIO(stored))
    assert len(reopened.getexif()) == 0 and b"Exif" not in stored and b"PhoneMaker" not in stored
    assert (reopened.format, reopened.size) == ("JPEG", (64, 48))
    served = client.get(f"/events/{event_id}/photos/{photo['sha256']}", headers=auth("gridworker"))
    assert served.status_code == 200 and served.content == stored
    assert served.headers["content-type"] == "image/jpeg"
    thumb = client.get(
        f"/events/{event_id}/photos/{photo['sha256']}", params={"thumb": "true"}, headers=auth("admin")
    )
    assert thumb.status_code == 200 and Image.open(io.BytesIO(thumb.content)).format == "JPEG"


def test_type_by_content_not_name(client, auth, event_id):
    png = io.BytesIO()
    Image.new("RGBA", (10, 10), (0, 0, 255, 128)).save(png, format="PNG")
    r = _upload(client, auth, "gridworker", event_id, png.getvalue(), name="looks.jpg", mime="image/jpeg")
    assert r.status_code == 201 and r.json()["content_type"] == "image/png"
    fake = _upload(
        client, auth, "gridworker", event_id, b"GIF89a" + b"\0" * 100, name="x.png", mime="image/png"
    )
    assert fake.status_code == 422
    text = _upload(client, auth, "gridworker", event_id, b"<script>alert(1)</script>", name="a.jpg")
    assert text.status_code == 422 and "图片" in text.json()["error"]["message"]
    gif = io.BytesIO()
    Image.new("RGB", (4, 4)).save(gif, format="GIF")
    assert (
        _upload(
            client, auth, "gridworker", event_id, gif.getvalue(), name="g.gif", mime="image/gif"
        ).status_code
        == 422
    )


def test_size_limit(client, auth, event_id):
    import os

    big = io.BytesIO()
    Image.frombytes("RGB", (600, 600), os.urandom(600 * 600 * 3)).save(big, format="PNG")  # noise: ~1 MB
    assert len(big.getvalue()) > 0.5 * 1024 * 1024
    assert (
        _upload(
            client, auth, "gridworker", event_id, big.getvalue(), name="b.png", mime="image/png"
        ).status_code
        == 413
    )


PHOTO_ROLES = {None: 401, "gridworker": 200, "admin": 200, "dispatcher": 200, "department": 404}


@pytest.mark.parametrize(
    "who", [None, "gridworker", "planner", "officer", "admin", "dispatcher", "department"]
)
def test_photos_served_only_to_roles_seeing_the_event(client, auth, event_id, who):
    sha = _upload(client, auth, "admin", event_id, _jpeg_with_gps()).json()["sha256"]
    r = client.get(f"/events/{event_id}/photos/{sha}", headers=auth(who))
    assert r.status_code == PHOTO_ROLES.get(who, 403), r.text
    listing = client.get(f"/events/{event_id}/photos", headers=auth(who))
    assert listing.status_code == PHOTO_ROLES.get(who, 403)
    upload = _upload(client, auth, who, event_id, _jpeg_with_gps())
    assert upload.status_code == {200: 201}.get(PHOTO_ROLES.get(who, 403), PHOTO_ROLES.get(who, 403))
