"""Health check and start-up settings."""

from __future__ import annotations

import pytest


def test_healthz(client):
    r = client.get("/healthz")
    assert r.status_code == 200
    assert r.json()["status"] == "ok" and r.json()["database"] == "ok" and r.json()["schema_revision"]


def test_missing_secret_key_fails_start_up_clearly(monkeypatch, tmp_path):
    from settings import SettingsError, api_settings

    monkeypatch.delenv("MINQING_SECRET_KEY", raising=False)
    monkeypatch.chdir(tmp_path)  # no .env here
    api_settings.cache_clear()
    try:
        with pytest.raises(SettingsError, match="MINQING_SECRET_KEY") as info:
            api_settings()
        assert ".env" in str(info.value)
    finally:
        api_settings.cache_clear()


def test_short_secret_key_is_refused(monkeypatch, tmp_path):
    from settings import SettingsError, api_settings

    monkeypatch.setenv("MINQING_SECRET_KEY", "short")
    monkeypatch.chdir(tmp_path)
    api_settings.cache_clear()
    try:
        with pytest.raises(SettingsError, match="at least 32"):
            api_settings()
    finally:
        api_settings.cache_clear()
