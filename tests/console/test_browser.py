"""The console in a real Chromium, on the demo data: sign in as the demo operator, move a request
to installed and see the board change, certify a user, see the SLA chart, sign out.

Chromium comes from :mod:`tests.browser` (Debian's, through Selenium; skipped without it, except
under CI). A real ``shifo serve`` runs on a free port over a migrated, demo-seeded SQLite database.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from core.clock import utcnow
from tests.browser import chromium, need_chromium
from tests.scaleout.cluster import FAST, Cluster


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """``shifo demo`` (it migrates first) and ``shifo serve`` on SQLite; the operator's password
    and an installation request, applied through the API, for the board to show."""
    need_chromium()
    root = tmp_path_factory.mktemp("console-browser")
    env = {"SHIFO_DATABASE_URL": f"sqlite+aiosqlite:///{root / 'shifo.db'}", "SHIFO_EXTRA": FAST,
           "SHIFO_SIGNATURE_DEV_KEYS_DIR": str(root / "keys"), "SHIFO_AUDIT_KEY_FILE": str(root / "audit.key")}
    cluster = Cluster(env, root / "logs")
    try:
        done = cluster.run("demo", "--accounts-file", str(root / "accounts.json"))  # migrates first
        assert done.returncode == 0, done.stdout + done.stderr
        password = next(a["password"] for a in json.loads((root / "accounts.json").read_text())
                        if a["login"] == "operator")
        [app] = cluster.apps(1)
        api = f"{app.url}/api/v1"
        tok = httpx.post(f"{api}/auth/login", json={"login": "operator", "password": password}).json()
        applied = httpx.post(f"{api}/operator/installations", headers={
            "Authorization": f"Bearer {tok['access_token']}"}, json={
            "facility": "pharm-01", "modules": ["polyclinic"], "applied_on": utcnow().date().isoformat()})
        assert applied.status_code == 201, applied.text
        yield {"url": app.url + "/console", "password": password, "request": applied.json()[0]["id"]}
    except BaseException:
        print(cluster.tails())
        raise
    finally:
        cluster.close()


@pytest.fixture(scope="module")
def browser(demo: dict[str, Any]) -> Iterator[Any]:
    with chromium() as driver:
        yield driver


def test_operator_story_in_chromium(demo: dict[str, Any], browser: Any) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.wait import WebDriverWait

    base, card = demo["url"], f"#request-{demo['request']}"

    def css(selector: str) -> list[Any]:
        """The elements now, without waiting (to check something is gone)."""
        return browser.find_elements(By.CSS_SELECTOR, selector)  # type: ignore[no-any-return]

    def shows(selector: str) -> bool:
        """Waits (a little) for the element: a submitted form's answer is still loading."""
        WebDriverWait(browser, 10).until(lambda b: b.find_elements(By.CSS_SELECTOR, selector))
        return True

    def lands(url: str) -> bool:
        WebDriverWait(browser, 10).until(lambda b: b.current_url.startswith(url))
        return True

    # sign in: an unsigned visit goes to the sign-in form and comes back after it
    browser.get(base + "/requests")
    assert "/console/login" in browser.current_url
    browser.find_element(By.NAME, "login").send_keys("operator")
    browser.find_element(By.NAME, "password").send_keys(demo["password"])
    browser.find_element(By.CSS_SELECTOR, "form[action='/console/login'] button[type=submit]").click()
    assert lands(base + "/requests")

    # move the request to installed: the card walks across the board
    assert shows(f"#column-applied {card}")
    browser.find_element(By.CSS_SELECTOR, f"{card} form:has(input[name=state][value=in_progress]) button").click()
    assert shows(f"#column-in_progress {card}") and not css(f"#column-applied {card}")
    browser.find_element(By.CSS_SELECTOR, f"{card} form:has(input[name=state][value=installed]) button").click()
    assert shows(f"#column-installed {card}") and not css(f"#column-in_progress {card}")

    # certify a user: open a campaign, give the reason, certify the nurse's grant
    browser.get(base + "/reviews")
    browser.find_element(By.CSS_SELECTOR, "#open-campaign input[name=title]").send_keys("Yearly review")
    browser.find_element(By.CSS_SELECTOR, "#open-campaign button[type=submit]").click()
    shows("#decisions")
    browser.find_element(By.CSS_SELECTOR, "#decisions input[name=comment]").send_keys("still on the ward")
    browser.find_element(By.CSS_SELECTOR, "tr[data-login=nurse] button.certify").click()
    assert shows("tr[data-login=nurse] .decided") and not css("tr[data-login=nurse] button.certify")
    assert css("tr[data-login=doctor] button.certify")  # the others still wait

    # the SLA chart: an SVG drawn by the server, with a bar for the request just installed
    browser.get(base + "/sla")
    assert shows("#chart-months svg rect.bar")

    # sign out: back to the sign-in form, and the pages want a sign-in again
    browser.find_element(By.CSS_SELECTOR, "form[action='/console/logout'] button").click()
    assert lands(base + "/login")
    browser.get(base + "/reviews")
    assert "/console/login" in browser.current_url
