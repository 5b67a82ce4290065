"""What a browser, a load balancer or a scraper meets first: the landing page at ``/``, HEAD on the
public monitoring routes, ``/metrics``' exact content type, and CORS only where it is configured."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from host.settings import Settings
from tests.support import opened, serving

BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
APP = "https://app.example.uz"
PROMETHEUS = "text/plain; version=0.0.4; charset=utf-8"
SENT = ["authorization", "content-type", "if-match", "last-event-id", "x-facility"]


async def settings_for(db_url: str, **changes: Any) -> Settings:
    settings = Settings(database_url=db_url, modules=(), run_relay=False, **changes)
    async with opened(settings):  # migrated: /ready and /metrics read the outbox and the audit trail
        pass
    return settings


async def test_landing_page_links_docs_fhir_and_health_for_browsers_and_programs(db_url: str) -> None:
    async with serving(await settings_for(db_url)) as client:
        page = await client.get("/", headers={"Accept": BROWSER})
        plain = await client.get("/")
        curl = await client.get("/", headers={"Accept": "*/*"})
        heads = [await client.head("/", headers={"Accept": accept}) for accept in (BROWSER, "*/*")]
        followed = {href: (await client.get(href)).status_code for href in ("/schema", "/fhir/metadata", "/health")}
    assert page.status_code == 200 and page.headers["content-type"] == "text/html; charset=utf-8"
    for href in ("/schema", "/fhir/metadata", "/health"):
        assert f'href="{href}"' in page.text
    assert "<script" not in page.text and "http://" not in page.text and "https://" not in page.text
    assert page.headers["vary"] == "Accept"
    for answer in (plain, curl):
        assert answer.status_code == 200 and answer.headers["content-type"] == "application/json"
        links = answer.json()["links"]
        assert {name: link["href"] for name, link in links.items()} == {
            "docs": "/schema", "fhir_metadata": "/fhir/metadata", "health": "/health"}
    assert followed == {"/schema": 200, "/fhir/metadata": 200, "/health": 200}
    assert [(h.status_code, h.content, h.headers["content-type"]) for h in heads] == [
        (200, b"", "text/html; charset=utf-8"), (200, b"", "application/json")]
    assert [int(h.headers["content-length"]) for h in heads] == [len(page.content), len(curl.content)]


async def test_head_answers_on_health_ready_and_metrics_like_get_without_a_body(
        db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    async with serving(await settings_for(db_url)) as client:
        pairs = {path: (await client.get(path), await client.head(path))
                 for path in ("/health", "/ready", "/metrics")}
        storage = client.app.state.runtime.storage

        async def down() -> None:
            raise ConnectionRefusedError("the database went away")

        monkeypatch.setattr(storage, "ping", down)
        unready = await client.head("/ready")
    for path, (got, headed) in pairs.items():
        assert (headed.status_code, headed.content) == (got.status_code, b""), path
        assert headed.headers["content-type"] == got.headers["content-type"], path
        assert int(headed.headers["content-length"]) > 0, path
    assert pairs["/health"][1].headers["content-length"] == str(len(pairs["/health"][0].content))
    assert pairs["/metrics"][0].headers["content-type"] == PROMETHEUS  # charset once, not twice
    assert pairs["/metrics"][1].headers["content-type"] == PROMETHEUS
    assert pairs["/ready"][1].status_code == 200
    assert (unready.status_code, unready.headers["retry-after"], unready.content) == (503, "2", b"")


async def test_cors_preflight_allows_the_configured_origin_only(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'shifo.db'}"
    asked = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": ", ".join(SENT)}
    async with serving(await settings_for(url, cors_origins=(APP,))) as client:
        allowed = await client.options("/api/v1/auth/login", headers={"Origin": APP, **asked})
        foreign = await client.options("/api/v1/auth/login", headers={"Origin": "https://evil.example", **asked})
        simple = await client.get("/health", headers={"Origin": APP})
        simple_foreign = await client.get("/health", headers={"Origin": "https://evil.example"})
    assert allowed.status_code == 204
    assert allowed.headers["access-control-allow-origin"] == APP
    assert set(SENT) <= {h.strip().lower() for h in allowed.headers["access-control-allow-headers"].split(",")}
    assert "POST" in allowed.headers["access-control-allow-methods"]
    assert "access-control-allow-credentials" not in allowed.headers  # bearer tokens, not cookies
    assert foreign.status_code >= 400 and "access-control-allow-origin" not in foreign.headers
    assert simple.headers["access-control-allow-origin"] == APP
    exposed = {h.strip().lower() for h in simple.headers["access-control-expose-headers"].split(",")}
    assert {"etag", "retry-after", "location"} <= exposed
    assert simple_foreign.status_code == 200 and "access-control-allow-origin" not in simple_foreign.headers


async def test_without_cors_origins_nothing_changes(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'shifo.db'}"
    asked = {"Origin": APP, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization"}
    async with serving(await settings_for(url)) as client:
        preflight = await client.options("/api/v1/auth/login", headers=asked)
        simple = await client.get("/health", headers={"Origin": APP})
    assert preflight.status_code == 204 and "POST" in preflight.headers["allow"]  # Litestar's own OPTIONS
    for answer in (preflight, simple):
        assert not [h for h in answer.headers if h.lower().startswith("access-control-")]


def test_cors_origins_setting_is_comma_separated_and_off_by_default() -> None:
    assert Settings().cors_origins == ()
    assert Settings.from_env({"SHIFO_CORS_ORIGINS": f" {APP}, https://b.example.uz ,"}).cors_origins == (
        APP, "https://b.example.uz")
    assert Settings.from_env({"SHIFO_CORS_ORIGINS": ""}).cors_origins == ()
