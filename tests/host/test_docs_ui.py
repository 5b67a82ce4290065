"""``/schema`` works without the internet: the page and every file it loads come from the app, under
a Content-Security-Policy that admits only the app's origin, and a real Chromium that can resolve
no host but 127.0.0.1 renders the operation list from a real ``shifo serve``."""

from __future__ import annotations

from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from host.settings import Settings
from tests.browser import OFFLINE, chromium, need_chromium
from tests.scaleout.cluster import FAST, App, Cluster
from tests.support import opened, serving

TYPES = {".css": "text/css", ".js": "text/javascript", ".png": "image/png"}


class Links(HTMLParser):
    """Every ``src`` and ``href`` of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found += [value or "" for name, value in attrs if name in ("src", "href")]


def links_of(html: str) -> list[str]:
    parser = Links()
    parser.feed(html)
    return parser.found


def csp_of(header: str) -> dict[str, list[str]]:
    return {d.split()[0]: d.split()[1:] for d in (p.strip() for p in header.split(";")) if d}


async def test_the_docs_page_and_its_files_come_from_the_app_alone(tmp_path: Path) -> None:
    settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'docs.db'}", modules=(), run_relay=False)
    async with opened(settings):
        pass
    async with serving(settings) as client:  # no token anywhere: every /schema route is public
        page = await client.get("/schema")
        links = links_of(page.text)
        files = {link: await client.get(link) for link in links}
        spec = await client.get("/schema/openapi.json")
        unknown = await client.get("/schema/assets/swagger-initializer.js")  # in the package, not served
    assert page.status_code == 200 and page.headers["content-type"] == "text/html; charset=utf-8"
    assert "http://" not in page.text and "https://" not in page.text and "<script>" not in page.text
    assert {link.rsplit("/", 1)[1] for link in links} == {
        "favicon-32x32.png", "swagger-ui.css", "swagger-ui-bundle.js", "shifo-docs.js"}
    for link, answer in files.items():
        assert link.startswith("/schema/assets/") and answer.status_code == 200, (link, answer.status_code)
        assert answer.headers["content-type"].split(";")[0] == TYPES[Path(link).suffix]
        assert "public" in answer.headers["cache-control"]
    assert b"SwaggerUIBundle" in files["/schema/assets/swagger-ui-bundle.js"].content
    assert 'data-spec="/schema/openapi.json"' in page.text and spec.status_code == 200
    policy = csp_of(page.headers["content-security-policy"])
    assert policy["default-src"] == ["'none'"] and policy["script-src"] == ["'self'"]
    assert policy["connect-src"] == ["'self'"] and policy["frame-ancestors"] == ["'none'"]
    assert all(source in ("'self'", "'none'", "data:")
               for sources in policy.values() for source in sources)  # no other host, ever
    assert page.headers["x-content-type-options"] == "nosniff"
    assert not [path for path in spec.json()["paths"] if path.startswith("/schema")]  # not operations
    assert unknown.status_code == 404 and unknown.headers["content-type"] == "application/problem+json"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[App]:
    """``shifo migrate`` and ``shifo serve`` on SQLite, with the medical card."""
    need_chromium()
    root = tmp_path_factory.mktemp("docs-browser")
    cluster = Cluster({"SHIFO_DATABASE_URL": f"sqlite+aiosqlite:///{root / 'shifo.db'}", "SHIFO_EXTRA": FAST,
                       "SHIFO_MODULES": "medcard", "SHIFO_SIGNATURE_DEV_KEYS_DIR": str(root / "keys"),
                       "SHIFO_AUDIT_KEY_FILE": str(root / "audit.key")}, root / "logs")
    try:
        done = cluster.run("migrate")
        assert done.returncode == 0, done.stdout + done.stderr
        [app] = cluster.apps(1)
        yield app
    except BaseException:
        print(cluster.tails())
        raise
    finally:
        cluster.close()


def test_chromium_offline_renders_the_operation_list(server: App) -> None:
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.wait import WebDriverWait

    with chromium(OFFLINE) as browser:
        with pytest.raises(WebDriverException, match="ERR_NAME_NOT_RESOLVED"):  # offline indeed
            browser.get("http://example.org/")
        browser.get(server.url + "/schema")
        WebDriverWait(browser, 30).until(lambda b: b.find_elements(By.CSS_SELECTOR, ".opblock"))
        paths = {e.get_attribute("data-path") for e in browser.find_elements(
            By.CSS_SELECTOR, ".opblock .opblock-summary-path")}
        login = browser.find_element(By.CSS_SELECTOR, ".opblock-post .opblock-summary-path[data-path='/api/v1/auth/login']")
        shown = login.is_displayed()
        login.click()  # opens: its request body's schema and example are drawn
        WebDriverWait(browser, 10).until(lambda b: b.find_elements(By.CSS_SELECTOR, ".opblock.is-open .opblock-section-request-body"))
        logged: list[dict[str, Any]] = browser.get_log("browser")
    assert shown and {"/api/v1/medcard/patients", "/fhir/metadata"} <= paths and len(paths) > 20
    assert not [e for e in logged if e["level"] == "SEVERE"], logged  # no blocked file, no CSP refusal
