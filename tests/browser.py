"""A headless Chromium for the browser tests (the operator console, the API docs page).

Selenium drives Debian's ``chromium`` through Debian's ``chromium-driver``: the two come from the
same source package at the same version, so the driver always speaks the browser's protocol, and
nothing is downloaded at test time (Playwright would want a browser build of its own or a
protocol match with whatever Chromium the system has). Without Chromium the tests skip, except
under CI, where ``.ci/run`` installs it and its absence is a failure.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
# no name resolves except the loopback address: a page that reaches for another host fails to load it
OFFLINE = "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"


def need_chromium() -> None:
    if CHROMIUM and DRIVER:
        return
    if os.environ.get("CI"):
        pytest.fail("chromium and chromium-driver must be installed in CI (.ci/run installs them)")
    pytest.skip("no chromium / chromedriver here")


@contextmanager
def chromium(*args: str) -> Iterator[Any]:
    """A headless Chromium under Selenium, with ``args`` added to its command line."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    need_chromium()
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM or ""
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1280,1000", *args):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})  # the console, for get_log
    driver = webdriver.Chrome(options=options, service=Service(executable_path=DRIVER))
    try:
        yield driver
    finally:
        driver.quit()
