"""A real browser for the review page's tests and benchmark: Debian's Chromium, headless,
driven by Selenium through chromium-driver (both installed by ``.ci/run``)."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
    "--window-size=1400,1000",
)


def browser_paths() -> tuple[str, str] | None:
    """(chromium, chromedriver) from the distribution's packages, or ``None`` when absent."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver") or (
        "/usr/bin/chromedriver" if Path("/usr/bin/chromedriver").exists() else None
    )
    return (chromium, driver) if chromium and driver else None


@contextmanager
def chromium() -> Iterator[Any]:
    """A headless Chromium under Selenium with a fresh profile, quit at the end."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    paths = browser_paths()
    assert paths is not None, "chromium and chromium-driver are not installed"
    profile = tempfile.mkdtemp(prefix="schoolsync-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = paths[0]
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    service = Service(executable_path=paths[1], log_output=os.devnull)
    driver = webdriver.Chrome(options=options, service=service)
    # Scripts over a 1,500-row page can outlast Selenium's 30 s default on a loaded machine.
    driver.set_script_timeout(120)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)
